"""Media: the room's camera and microphone, partner calls, and the consent gate."""

from kiosk.media.engine import MediaEngine, SignalingError
from kiosk.media.gate import Gate, GatedTrack
from kiosk.media.source import PatternTrack, RoomMedia, ToneTrack, open_room_media

__all__ = ["Gate", "GatedTrack", "MediaEngine", "PatternTrack", "RoomMedia", "SignalingError",
           "ToneTrack", "open_room_media"]
