"""The site service: partner directory, presence and ringing for every room of a site.

``Site`` runs the site's store (``site.db``), its :class:`SiteController` and a
:class:`~kiosk.room.bus.BusServer` on the site's own CURVE keyring
(``<data_dir>/site-keys`` with :data:`SITE_POLICY`: bus roles room, console,
admin), and writes ``site.json`` so that ``kiosk site …`` finds it. ``kiosk
serve --site`` runs it alone; ``kiosk demo`` runs it beside the room, which
connects to it by endpoint on loopback like any other room.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq.asyncio

from kiosk.access.proxies import TrustedProxies
from kiosk.config import SITE_RUNTIME_FILE, SiteConfig, forget_runtime, write_runtime
from kiosk.exceptions import ConfigError
from kiosk.room.bus import BusServer, with_port
from kiosk.room.keys import Keyring
from kiosk.room.messages import Command
from kiosk.room.store import Store
from kiosk.site.controller import SITE_POLICY, SiteController
from kiosk.site.directory import DEMO_DIRECTORY, SITE_MIGRATIONS

log = logging.getLogger(__name__)


def site_keyring(path: str | Path) -> Keyring:
    """The site bus's keyring in ``path`` (its own folder, not the room's)."""
    return Keyring(path, SITE_POLICY)


def read_site_runtime(data_dir: Path) -> dict[str, Any] | None:
    """What a running site wrote about itself (endpoints, keys folder, pid), or None."""
    path = Path(data_dir) / SITE_RUNTIME_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ConfigError(f"{path} is damaged: {exc}") from None
    return info if isinstance(info, dict) and "bus" in info else None


class Site:
    """The site service's parts, started and stopped together on the current loop."""

    def __init__(self, config: SiteConfig, *, context: zmq.asyncio.Context | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        # Its own context: a ZeroMQ context has one authenticator, and the room has its own.
        self._own_context = context is None
        self.context = context or zmq.asyncio.Context()
        self.clock = clock
        self.keyring = site_keyring(config.keys_dir)
        self.store: Store | None = None
        self.controller: SiteController | None = None
        self.bus: BusServer | None = None
        #: In a demo: every demo partner's password (made anew each start).
        self.demo_password = ""
        self._maintenance: asyncio.Task | None = None
        self.console: Any = None
        self.console_server: Any = None

    @property
    def endpoints(self) -> tuple[str, str]:
        if self.bus is not None:
            return self.bus.endpoints
        return self.config.router, self.config.pub

    async def start(self) -> None:
        cfg = self.config
        if cfg.demo:
            self.keyring.fresh()
        self.keyring.server_secret()  # ConfigError before anything opens
        self.store = Store(cfg.db_path, SITE_MIGRATIONS)
        self.controller = SiteController(self.store, clock=self.clock)
        if cfg.demo:
            self.demo_password = self._demo_directory()

        self.bus = BusServer(self.controller, with_port(cfg.router), with_port(cfg.pub),
                             keyring=self.keyring, context=self.context,
                             heartbeat=cfg.heartbeat)
        try:
            await self.bus.start()
        except BaseException:
            self.bus = None
            self.store.close()
            raise
        self._maintenance = asyncio.create_task(self._checkpoints(), name="site-checkpoints")
        try:
            await self._serve_console()
        except BaseException:  # e.g. its port is taken: nothing stays open
            await self.stop()
            raise
        self._write_runtime()

    async def _serve_console(self) -> None:
        """The partner console's page server: a console-role client over inproc."""
        from kiosk.site.console import PartnerConsole
        from kiosk.site.console_page import ConsoleServer

        router, pub = self.bus.local_endpoints
        self.console = PartnerConsole(router, pub, keys=None, context=self.context)
        await self.console.start()
        self.console_server = ConsoleServer(self.console, address=self.config.http_address,
                                            port=self.config.http_port,
                                            data_dir=self.config.data_dir,
                                            proxies=TrustedProxies.parse(
                                                self.config.trusted_proxies),
                                            public_url=self.config.public_url)
        self.console_server.start()

    @property
    def console_url(self) -> str:
        """Where partners open their console (``/partner``); "" before start."""
        return self.console_server.url if self.console_server is not None else ""

    def command(self, name: str, /, role: str = "admin", **args: Any) -> Any:
        """Run one command in this process and publish its updates; return the reply."""
        reply, updates = self.controller.handle(Command(name, args, role))
        if self.bus is not None and self.bus.pub is not None:
            self.bus.publish(updates)
        return reply

    def _demo_directory(self) -> str:
        """Demo only: the fictional district, each contact with one fresh password."""
        if not self.controller.directory.contacts():
            reply = self.command("directory.import",
                                 csv=DEMO_DIRECTORY.read_text(encoding="utf-8"))
            assert reply.ok, reply.error
        password = secrets.token_urlsafe(9)
        for contact in self.controller.directory.contacts():
            self.command("account.set", contact=contact.id, password=password)
        return password

    async def _checkpoints(self, every: float = 5.0) -> None:
        """Move the WAL into the file now and then, off the command path."""
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(self.store.checkpoint)
            except Exception:  # the WAL stays; nothing is lost
                log.exception("site checkpoint failed")

    def _write_runtime(self) -> None:
        router, pub = self.endpoints
        info = {"bus": {"router": router, "pub": pub, "keys": str(self.keyring.path.resolve())},
                "console": self.console_url}
        write_runtime(self.config.runtime_path, info)

    async def stop(self) -> None:
        if self.console_server is not None:
            await self.console_server.stop()
            self.console_server = None
        if self.console is not None:
            await self.console.close()
            self.console = None
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
            self._maintenance = None
        if self.bus is not None:
            await self.bus.close()
            self.bus = None
        if self.store is not None:
            self.store.close()
            self.store = None
        if self._own_context:
            self.context.term()
        forget_runtime(self.config.runtime_path)
