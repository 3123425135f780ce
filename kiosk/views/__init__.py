"""The room's pages: one Viewer per page, one instance per browser session."""

from .control import ControlView
from .display import DisplayView
from .kiosk import KioskView

__all__ = ["ControlView", "DisplayView", "KioskView"]
