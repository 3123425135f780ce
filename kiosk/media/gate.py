"""The consent gate: a track that passes frames only while the gate is open.

The engine puts one in front of every stream that leaves the room for a
partner and every stream of a partner that goes to the display. While the
gate is closed, frames are taken from the source and dropped, so nothing is
sent and nothing piles up; the moment it opens, the next frame goes out.

Each gate remembers, in memory only, when it first and last let a frame
through: the proof that media began after consent and stopped when it was
withdrawn (see tests/test_consent_log.py).
"""

from __future__ import annotations

import time

from aiortc import MediaStreamTrack


class Gate:
    """Open only while the client consents, the counsellor admits and no pause is on."""

    def __init__(self) -> None:
        self.open = False
        #: Wall-clock times (``time.time()``) of the first and the latest frame let
        #: through; None until one passed. Never persisted.
        self.first_passed: float | None = None
        self.last_passed: float | None = None

    def passed(self) -> None:
        """Note that a frame went through just now."""
        self.last_passed = time.time()
        if self.first_passed is None:
            self.first_passed = self.last_passed


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
                self._gate.passed()
                return frame
            self.held += 1

    def stop(self) -> None:
        super().stop()
        self._source.stop()


class BothGates:
    """Open only while both gates are: one participant's media to another's page."""

    def __init__(self, first: Gate, second: Gate) -> None:
        self.gates = (first, second)

    @property
    def open(self) -> bool:
        return all(g.open for g in self.gates)

    def passed(self) -> None:
        for g in self.gates:
            g.passed()
