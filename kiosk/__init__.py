"""kiosk: a consultation room for networked hybrid counselling."""

from kiosk.app.features import RoomController
from kiosk.config import RoomConfig
from kiosk.notebook import connect, connect_async
from kiosk.room.link import RoomLink
from kiosk.room.state import Note, RoomState, Step

__all__ = ["Note", "RoomConfig", "RoomController", "RoomLink", "RoomState", "Step", "connect",
           "connect_async"]
