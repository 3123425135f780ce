"""The room's pages: one Viewer per page, one instance per browser session."""

from .admin import AdminView
from .control import ControlView
from .display import DisplayView
from .kiosk import KioskView

__all__ = ["AdminView", "ControlView", "DisplayView", "KioskView"]
