"""Partner calls over real WebRTC for the privacy tests: a simulated partner and a
display that note when frames reach them, and the room's commands from a test's loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from conftest import ThreadedRoom

from kiosk.media.bot import PartnerBot, _http

VERSION = "de:test-v1"


@dataclass
class TimedBot(PartnerBot):
    """A simulated partner that notes when the room's frames reach it."""

    first: dict[str, float] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)

    async def _consume(self, track) -> None:
        with contextlib.suppress(Exception):
            while True:
                await track.recv()
                at = time.time()
                self.received[track.kind] += 1
                self.first.setdefault(track.kind, at)
                self.last[track.kind] = at


async def command(room: ThreadedRoom, name: str, /, **args) -> dict:
    reply = await asyncio.to_thread(room.command, name, **args)
    assert reply.ok, (name, reply)
    return reply.data


async def consent(room: ThreadedRoom, partner: int, name: str = "consent.answer") -> float:
    """The client answers yes (or withdraws) on the kiosk; returns when it was sent."""
    args = {"yes": True} if name == "consent.answer" else {}
    sent = time.time()
    await command(room, name, as_="kiosk", partner=partner, version=VERSION, **args)
    return sent


async def on_room_loop(room: ThreadedRoom, func) -> object:
    async def run():
        return func()
    return await asyncio.to_thread(room.call, run())


def partner_state(room: ThreadedRoom, partner: int) -> str | None:
    return next((p.state for p in room.state.partners if p.id == partner), None)


def has_call(room: ThreadedRoom, partner: int) -> bool:
    return any(c.partner == partner for c in list(room.room.engine.calls.values()))


class Display:
    """The second display as an aiortc peer: pulls one partner over WHEP, notes arrivals."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.received = {"audio": 0, "video": 0}
        self.last: dict[str, float] = {}
        self.tasks: list[asyncio.Task] = []

        @self.pc.on("track")
        def on_track(track) -> None:
            self.tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track) -> None:
        with contextlib.suppress(Exception):
            while True:
                await track.recv()
                self.received[track.kind] += 1
                self.last[track.kind] = time.time()

    async def pull(self, base: str, partner: int) -> None:
        status, body = await self.pull_path(base, f"/api/whep/partners/{partner}")
        assert status == 201, body

    async def pull_path(self, base: str, path: str) -> tuple[int, str]:
        """WHEP: offer, and apply the answer; returns the status and the body."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        status, _, body = await asyncio.to_thread(
            _http, "POST", base + path, self.pc.localDescription.sdp.encode(),
            {"Content-Type": "application/sdp"})
        if status == 201:
            await self.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
        return status, body

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.pc.close()
