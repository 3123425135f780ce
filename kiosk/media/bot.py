"""A simulated partner: joins by an invitation link exactly as a browser would.

It sends a test pattern labelled with its agency and a tone, receives the
room, and leaves (DELETE) when stopped. ``kiosk partner-bot LINK`` runs one;
``kiosk demo`` uses one so that a whole call can be shown without a second
person.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from kiosk.exceptions import KioskError
from kiosk.media.source import PatternTrack, ToneTrack


def _http(method: str, url: str, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


@dataclass
class PartnerBot:
    """One simulated partner call."""

    link: str
    agency: str = "Partner"
    received: dict[str, int] = field(default_factory=lambda: {"audio": 0, "video": 0})
    state: str = "new"

    def __post_init__(self) -> None:
        parts = urlsplit(self.link)
        if not parts.scheme.startswith("http") or "/join/" not in parts.path:
            raise KioskError(f"{self.link!r} is not a join link (http://host/join/TOKEN)")
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.token = parts.path.rsplit("/", 1)[1]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.resource: str | None = None
        self._tasks: list[asyncio.Task] = []

    async def join(self) -> None:
        pc = self.pc
        pc.addTrack(PatternTrack(self.agency))
        pc.addTrack(ToneTrack(frequency=523.25))

        @pc.on("track")
        def on_track(track) -> None:
            self._tasks.append(asyncio.ensure_future(self._consume(track)))

        await pc.setLocalDescription(await pc.createOffer())
        status, headers, body = await asyncio.to_thread(
            _http, "POST", f"{self.base}/api/whip", pc.localDescription.sdp.encode(),
            {"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"})
        if status != 201:
            await pc.close()
            raise KioskError(f"the room refused the link ({status}): {body}")
        self.resource = headers["Location"]
        await pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
        self.state = "lobby"

    async def _consume(self, track) -> None:
        with contextlib.suppress(Exception):
            while True:
                await track.recv()
                self.received[track.kind] += 1

    async def poll(self) -> str:
        """Where the call stands, as the partner's page would see it."""
        status, _, body = await asyncio.to_thread(_http, "GET", f"{self.base}{self.resource}")
        self.state = json.loads(body)["state"] if status == 200 else "gone"
        return self.state

    async def leave(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.resource and self.state not in ("gone", "left", "declined", "withdrawn",
                                                "removed"):
            await asyncio.to_thread(_http, "DELETE", f"{self.base}{self.resource}")
        await self.pc.close()
        self.state = "left"
