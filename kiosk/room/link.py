"""A process's link to its room: the mirrored state plus a command sender.

Views, the CLI and notebooks all reach the room through a :class:`RoomLink`;
none of them opens a socket of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq.asyncio

from kiosk.config import default_data_dir, read_runtime
from kiosk.exceptions import CommandError
from kiosk.room.client import CommandClient
from kiosk.room.keys import ClientKeys, Keyring
from kiosk.room.messages import Command, Reply
from kiosk.room.mirror import Mirror
from kiosk.room.state import RoomState


def runtime_keyring(info: dict[str, Any]) -> Keyring:
    """The keyring a running room names in its runtime file."""
    return Keyring(info["bus"]["keys"])


class RoomLink:
    """Mirror of one room's state and the way to send it commands."""

    def __init__(self, router: str, pub: str, *, context: zmq.asyncio.Context | None = None,
                 silence: float = 5.0, urls: dict[str, str] | None = None,
                 keys: ClientKeys | None = None) -> None:
        self.state = RoomState()
        self.router, self.pub = router, pub
        self.urls = urls or {}
        #: (timeout, warning) in seconds for the kiosk's idle reset; set by the room.
        self.kiosk_idle: tuple[float, float] = (120.0, 20.0)
        #: The agency that runs the room, for the screens; set by the room.
        self.agency = ""
        #: How tablets and partners reach the page server (scheme, host, port); set by the room.
        self.base_url = ""
        #: Signs the page server's cookies (sign-ins, device credentials); set by the room.
        self.cookie_secret = ""
        #: Whether the room can mail the client's summary (a mail server or outbox is set).
        self.mail_ready = False
        #: In a demo room: lets a simulated partner answer a link (url, agency).
        self.simulate_partner: Callable[[str, str], None] | None = None
        #: The site service (partner directory, presence, ringing): a
        #: :class:`~kiosk.site.link.SiteLink`, or None without ``[site]``; set by the room.
        self.site: Any = None
        #: The agency's staff directory for /login: a
        #: :class:`~kiosk.access.ldap.StaffDirectory`, or None without ``[staff.directory]``.
        self.directory: Any = None
        self.mirror = Mirror(self.state, router, pub, context=context, silence=silence, keys=keys)
        self.client = CommandClient(router, context=context, keys=keys)

    @classmethod
    async def connect(cls, data_dir: str | Path | None = None, *, key: str = "operator",
                      **kwargs: Any) -> RoomLink:
        """Join the room running with ``data_dir`` (e.g. from JupyterLab) with the
        bus key ``key`` from the room's keyring (readable on the room PC only)."""
        info = read_runtime(Path(data_dir) if data_dir else default_data_dir())
        keys = runtime_keyring(info).client(key)
        link = cls(info["bus"]["router"], info["bus"]["pub"], urls=info.get("urls"),
                   keys=keys, **kwargs)
        await link.start()
        return link

    async def start(self, wait: float | None = 5.0) -> None:
        await self.mirror.start(wait=wait)

    async def close(self) -> None:
        await self.mirror.close()
        await self.client.close()

    def post(self, role: str, name: str, /, **args: Any) -> asyncio.Future:
        """Put a command on the wire now; return the future of its reply."""
        return self.client.post(Command(name, args, role))

    async def settle(self, future: asyncio.Future) -> Reply:
        """The reply of a posted command, once this process's mirror shows it."""
        reply = await self.client.settle(future)
        if reply.ok and self.mirror.state.synced:
            await self.mirror.caught_up(reply.seq)
        return reply

    async def send(self, role: str, name: str, /, timeout: float | None = None,
                   **args: Any) -> Reply:
        """Send a command as ``role``; return the reply (ack or error).

        An ack returns once this process's mirror shows the change, so that a
        view that acts and then reads the state sees its own write. ``timeout``
        (seconds) overrides the client's for this command.
        """
        reply = await self.client.request(name, args, role=role, timeout=timeout)
        if reply.ok and self.mirror.state.synced:
            await self.mirror.caught_up(reply.seq)
        return reply

    async def must(self, role: str, name: str, /, **args: Any) -> Reply:
        """Like :meth:`send`, but raise CommandError when refused."""
        reply = await self.send(role, name, **args)
        if not reply.ok:
            raise CommandError(reply.code, reply.error)
        return reply
