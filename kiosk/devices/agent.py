"""The device agent of a room PC: tells the room, every half second, how its
hardware stands (the assigned screens connected, the touch screen present).

It runs as its own process (``kiosk devices agent``, systemd unit
``kiosk-agent.service``) so that /admin notices when the PC's devices, or the
agent itself, stop answering. The room camera's frame rate comes from the
media engine, which owns the camera.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path
from typing import Any

import zmq.asyncio

from kiosk.config import RoomConfig, read_runtime
from kiosk.devices import hardware
from kiosk.exceptions import KioskError
from kiosk.room.client import CommandClient
from kiosk.room.keys import ClientKeys, Keyring

log = logging.getLogger(__name__)

#: Seconds between an agent's heartbeats (the room marks it offline after 5 s).
AGENT_INTERVAL = 0.5


def report(config: RoomConfig, root: Path) -> dict[str, Any]:
    """What the agent reports now: assigned screens and touch screen, in words."""
    found = {d.id: d for d in hardware.displays(root)}
    parts, connected = [], []
    for what, connector in (("Touchscreen", config.kiosk_output),
                            ("Zweite Anzeige", config.display_output)):
        if not connector:
            continue
        ok = connector in found and found[connector].details["connected"]
        connected.append(ok)
        parts.append(f"{what} {connector}: {'verbunden' if ok else 'nicht verbunden'}")
    if config.touch:
        present = any(d.id == config.touch for d in hardware.touch_screens(root))
        parts.append(f"Touch {config.touch}: {'erkannt' if present else 'fehlt'}")
        connected.append(present)
    out: dict[str, Any] = {"detail": "; ".join(parts) or "keine Geräte zugeordnet"}
    if connected:
        out["display"] = all(connected)
    return out


class DeviceAgent:
    """Sends ``device.heartbeat`` for one room PC until stopped."""

    def __init__(self, config: RoomConfig, *, root: Path = Path("/"), device: str | None = None,
                 interval: float = AGENT_INTERVAL, role: str = "display",
                 context: zmq.asyncio.Context | None = None, key: str = "agent") -> None:
        self.config, self.root, self.interval, self.role = config, Path(root), interval, role
        self.key = key
        self.device = device or f"agent-{socket.gethostname().split('.')[0]}"[:64]
        self.context = context
        self.client: CommandClient | None = None
        self.sent = 0

    def _router(self) -> str:
        """The room's command endpoint: from the running room, else from the config."""
        try:
            return read_runtime(self.config.data_dir)["bus"]["router"]
        except (KioskError, KeyError, TypeError):
            return self.config.bus_router

    def _keys(self) -> ClientKeys:
        """The agent's bus key, from the keyring the room names (else the config's)."""
        try:
            path = read_runtime(self.config.data_dir)["bus"]["keys"]
        except (KioskError, KeyError, TypeError):
            path = self.config.keys_dir
        return Keyring(path).client(self.key)

    async def beat(self) -> bool:
        """One heartbeat; False when the room did not answer (it is tried again)."""
        router = self._router()
        if self.client is None or self.client.router != router:
            if self.client is not None:
                await self.client.close()
            self.client = CommandClient(router, role=self.role, context=self.context,
                                        keys=self._keys(),
                                        timeout=max(self.interval, 0.5))
        args = {"device": self.device, "kind": "agent", "label": "Raum-PC",
                **report(self.config, self.root)}
        try:
            reply = await self.client.request("device.heartbeat", args)
        except KioskError as exc:
            log.warning("heartbeat not answered: %s", exc)
            return False
        if not reply.ok:
            log.error("heartbeat refused: %s", reply.error)
        self.sent += 1
        return reply.ok

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        try:
            while not stop.is_set():
                await self.beat()
                try:
                    await asyncio.wait_for(stop.wait(), self.interval)
                except TimeoutError:
                    pass
        finally:
            if self.client is not None:
                await self.client.close()
