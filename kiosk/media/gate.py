"""The consent gate: a track that passes frames only while the gate is open.

The engine puts one in front of every stream that leaves the room for a
partner and every stream of a partner that goes to the display. While the
gate is closed, frames are taken from the source and dropped, so nothing is
sent and nothing piles up; the moment it opens, the next frame goes out.
"""

from __future__ import annotations

from aiortc import MediaStreamTrack


class Gate:
    """Open only while the client consents, the counsellor admits and no pause is on."""

    def __init__(self) -> None:
        self.open = False


class GatedTrack(MediaStreamTrack):
    """Frames of ``source`` while ``gate`` is open; counts what passed and what not."""

    def __init__(self, source: MediaStreamTrack, gate: Gate) -> None:
        self.kind = source.kind
        super().__init__()
        self._source, self._gate = source, gate
        self.passed = 0
        self.held = 0

    async def recv(self):
        while True:
            frame = await self._source.recv()
            if self._gate.open:
                self.passed += 1
                return frame
            self.held += 1

    def stop(self) -> None:
        super().stop()
        self._source.stop()
