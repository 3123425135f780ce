"""The camera's watchdog: reads the room camera between calls, counts its frames and
reports the rate to the room every second as the ``camera`` device's heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from kiosk.exceptions import BusError
from kiosk.room.link import RoomLink

log = logging.getLogger(__name__)


class CameraWatch:
    """Heartbeats for the room camera; with ``count`` off, presence only (no frame rate)."""

    def __init__(self, link: RoomLink, video: MediaStreamTrack, relay: MediaRelay, *,
                 label: str, count: bool = True, every: float = 1.0) -> None:
        self.link, self.label, self.every = link, label, every
        self.frames = 0
        self._track = relay.subscribe(video) if count else None
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.ensure_future(self._report())]
        if self._track is not None:
            self._tasks.append(asyncio.ensure_future(self._count()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:  # bounded: a room that stops must not wait on its camera's count
            await asyncio.wait(self._tasks, timeout=5.0)
        if self._track is not None:
            self._track.stop()

    async def _count(self) -> None:
        try:
            while True:
                await self._track.recv()
                self.frames += 1
        except MediaStreamError:
            log.error("the room camera stopped delivering frames")

    async def _report(self) -> None:
        seen = self.frames
        while True:
            await asyncio.sleep(self.every)
            fps = None if self._track is None else round((self.frames - seen) / self.every)
            seen = self.frames
            args = {"device": "camera", "kind": "camera", "label": self.label}
            if fps is not None:
                args["fps"] = min(fps, 1000)
            with contextlib.suppress(BusError):
                reply = await self.link.send("media", "device.heartbeat", **args)
                if not reply.ok:
                    log.error("camera heartbeat refused: %s", reply.error)
