"""Media: the room's camera and microphone, partner calls, and the consent gate."""

from .engine import MediaEngine, SignalingError
from .gate import Gate, GatedTrack
from .source import PatternTrack, RoomMedia, ToneTrack, open_room_media

__all__ = ["Gate", "GatedTrack", "MediaEngine", "PatternTrack", "RoomMedia", "SignalingError",
           "ToneTrack", "open_room_media"]
