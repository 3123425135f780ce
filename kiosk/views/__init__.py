"""The room's pages: one Viewer per page, one instance per browser session."""

from kiosk.views.admin import AdminView
from kiosk.views.control import ControlView
from kiosk.views.display import DisplayView
from kiosk.views.kiosk import KioskView

__all__ = ["AdminView", "ControlView", "DisplayView", "KioskView"]
