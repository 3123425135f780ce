"""kiosk: a consultation room for networked hybrid counselling."""

from .config import RoomConfig
from .controller import RoomController
from .link import RoomLink
from .state import Note, RoomState, Step

__all__ = ["Note", "RoomConfig", "RoomController", "RoomLink", "RoomState", "Step"]
