"""A whole room in one process: store, controller, bus and page server.

``Room`` runs the parts its config names on the current asyncio loop, and
writes ``room.json`` into the data dir so that ``kiosk ctl`` and notebooks
find the bus endpoints and page URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import zmq.asyncio

from kiosk.access.proxies import trust_proxies
from kiosk.app.features import RoomController
from kiosk.app.memory import give_back, worker_pool
from kiosk.app.stalls import LoopWatch, process_facts
from kiosk.config import RoomConfig, SiteConfig, forget_runtime, write_runtime
from kiosk.handout.commands import SummaryCommands
from kiosk.partners.commands import PartnerCommands
from kiosk.room.bus import BusServer, free_port, with_port
from kiosk.room.keys import Keyring
from kiosk.room.link import RoomLink
from kiosk.room.store import Store
from kiosk.visits.appointments import AppointmentCommands

log = logging.getLogger(__name__)

#: Seconds between two runs of the retention purge (it also runs at start).
PURGE_EVERY = 24 * 3600.0


class Room:
    """The parts of one room that this process runs, started and stopped together."""

    def __init__(self, config: RoomConfig, *, context: zmq.asyncio.Context | None = None,
                 purge_every: float = PURGE_EVERY, site: SiteConfig | None = None) -> None:
        self.config = config
        #: A site service to run in this process too (``kiosk demo``); the room then
        #: connects to it by endpoint like any other room.
        self.site_config = site
        self.site: Any = None
        self.site_link: Any = None
        self._own_context = context is None
        self.context = context or zmq.asyncio.Context()
        self.started = time.monotonic()
        self.store: Store | None = None
        self.controller: RoomController | None = None
        self.bus: BusServer | None = None
        self.link: RoomLink | None = None
        self.server: Any = None
        self.engine: Any = None
        self._maintenance: asyncio.Task | None = None
        self.purge_every = purge_every
        self._purging: asyncio.Task | None = None
        self._bots: set[asyncio.Task] = set()
        self.port = config.http_port
        #: In a demo room: the password of its staff accounts (made anew each start).
        self.demo_password = ""
        self.keyring = Keyring(config.keys_dir)
        #: True once every part runs and ``room.json`` is written: /healthz says ok
        #: only then, so that whatever waits for health finds what ``kiosk ctl`` needs.
        self.ready = False
        #: Logs where the room's loop is held up when it is (see :mod:`kiosk.app.stalls`).
        self.loop_watch = LoopWatch(f"room {config.room_id}")
        self.media_watch = LoopWatch(f"room {config.room_id} media")
        self.media_loop: Any = None
        self.workers: Any = None
        self._trims: asyncio.Task | None = None

    @property
    def endpoints(self) -> tuple[str, str]:
        if self.bus is not None:
            return self.bus.endpoints
        return self.config.bus_router, self.config.bus_pub

    @property
    def urls(self) -> dict[str, str]:
        if "web" not in self.config.run:
            return {}
        host = self.config.http_address
        host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "") else host
        base = f"http://{host}:{self.port}"
        return {name: f"{base}/{name}"
                for name in ("kiosk", "control", "display", "admin", "stats", "healthz")}

    async def start(self) -> None:
        self.loop_watch.start()
        self.workers = worker_pool()
        asyncio.get_running_loop().set_default_executor(self.workers)
        self._trims = asyncio.create_task(give_back(), name="memory-trim")
        if self.site_config is not None:
            from kiosk.site.service import Site

            self.site = Site(self.site_config)
            await self.site.start()
            router, pub = self.site.endpoints
            self.config = self.config.with_(site_router=router, site_pub=pub,
                                            site_keys=self.site.keyring.path)
        cfg = self.config
        if "controller" in cfg.run:
            if cfg.demo:  # a demo room makes fresh keys each time; a real one needs its own
                self.keyring.fresh()
            self.keyring.server_secret()  # ConfigError before anything opens
            self.store = Store(cfg.db_path)
            self.controller = RoomController(self.store, cfg.room_id, cfg.room_name,
                                             retention=cfg.retention)
            self.controller.feature(AppointmentCommands).on_appointment = self._invite
            summary = self.controller.feature(SummaryCommands)
            summary.on_summary, summary.agency = self._mail_summary, cfg.agency
            if cfg.mail.ready:
                self.controller.feature(PartnerCommands).on_partner_link = \
                    self._mail_partner_link
            self.bus = BusServer(self.controller, with_port(cfg.bus_router),
                                 with_port(cfg.bus_pub), keyring=self.keyring,
                                 context=self.context, heartbeat=cfg.heartbeat)
            await self.bus.start()
            if cfg.demo:
                self.demo_password = self._demo_accounts()
            self._maintenance = asyncio.create_task(self._checkpoints(), name="checkpoints")
            self._purging = asyncio.create_task(self._purges(), name="retention-purge")
        if "web" in cfg.run:
            from kiosk.access.web import cookie_secret
            from kiosk.app.server import build_server  # Panel only where pages are served

            # In one process the pages reach the controller over inproc; other
            # processes (kiosk ctl, split deployments) use the configured endpoints.
            router, pub = self.bus.local_endpoints if self.bus else self.endpoints
            keys = None if self.bus else self.keyring.client("room")
            self.link = RoomLink(router, pub, context=self.context, silence=cfg.silence,
                                 keys=keys)
            self.link.kiosk_idle = (cfg.idle_timeout, cfg.idle_warning)
            self.link.agency = cfg.agency
            self.link.mail_ready = cfg.mail.ready
            self.link.cookie_secret = cookie_secret(cfg.data_dir)
            await self.link.start()
            if cfg.staff_directory is not None:  # the agency's directory signs staff in
                from kiosk.access.ldap import StaffDirectory

                self.link.directory = StaffDirectory(cfg.staff_directory)
                self.link.directory.watch(functools.partial(self.link.send, "admin"))
            from kiosk.media import MediaEngine
            from kiosk.media.loop import MediaLoop, call_on
            from kiosk.media.signaling import routes
            from kiosk.media.visit_api import routes as visit_api_routes
            from kiosk.visits.page import routes as visit_routes
            from kiosk.visits.page import visit_limit

            self.engine = MediaEngine(self.link, label=cfg.room_name,
                                      ice_servers=cfg.ice_servers, camera=cfg.camera,
                                      microphone=cfg.microphone,
                                      microphone_format=cfg.microphone_format,
                                      camera_watch=cfg.camera_watch, turn=cfg.turn)
            # Peer connections on a loop of their own: a page build on this loop must
            # not delay their packets (kiosk/media/loop.py says why).
            self.media_loop = MediaLoop(f"room {cfg.room_id} media")
            self.media_loop.start()
            self.engine.loop = self.media_loop.loop
            self.engine.loop.set_default_executor(self.workers)  # one pool for both loops

            async def watch_media_loop() -> None:
                self.media_watch.start()
            await call_on(self.engine.loop, watch_media_loop())
            await self.engine.start()
            limit = visit_limit()  # wrong visit links, on the pages and the client's API
            self.port = cfg.http_port or free_port(cfg.http_address)
            origins = [f"{h}:{self.port}" for h in ("localhost", "127.0.0.1",
                                                    cfg.http_address)]
            if cfg.public_url:  # pages opened through the agency's proxy
                origins.append(urlsplit(cfg.public_url).netloc)
            self.server = build_server(
                self.link, address=cfg.http_address, port=self.port,
                origins=sorted(set(origins) | set(cfg.allowed_origins)),
                health=self._health,
                extra_routes=[*routes(self.engine), *visit_routes(self.link, cfg.phone, limit,
                                                           self.engine.page_ice_servers),
                              *visit_api_routes(self.engine, limit)],
                facts=self._facts,
                cookie_secret=self.link.cookie_secret)
            trust_proxies(self.server._http, cfg.proxies)
            self.server.start()
            self.link.urls = self.urls
            self.link.base_url = cfg.public_url or self.urls["kiosk"].rsplit("/", 1)[0]
            if cfg.demo:
                self.link.simulate_partner = self._simulate_partner
            if cfg.site_router:
                await self._connect_site()
        self._write_runtime()
        self.ready = True
        # Everything built so far lives as long as the room: keep it out of the
        # collector's way, so that collections during a talk stay short.
        gc.freeze()

    async def _connect_site(self) -> None:
        """Join the site service (partner directory and ringing) as this room."""
        from kiosk.exceptions import ConfigError
        from kiosk.site.link import SiteLink
        from kiosk.site.service import site_keyring

        cfg = self.config
        keyring = site_keyring(cfg.site_keys_dir)
        keys = keyring.client(cfg.site_key)
        try:  # the site's admin key, where the room holds it: /admin edits the directory
            admin = keyring.client("admin")
        except (ConfigError, OSError):
            admin = None
        self.site_link = SiteLink(self.link, cfg.site_router, cfg.site_pub,
                                  room_id=cfg.room_id, room_name=cfg.room_name, keys=keys,
                                  context=self.context, silence=cfg.silence, admin_keys=admin)
        await self.site_link.start()
        self.link.site = self.site_link

    def _demo_accounts(self) -> str:
        """Demo only: one account per staff role, all with a fresh password each start."""
        from kiosk.access.staff import DEMO_ACCOUNTS
        from kiosk.room.messages import Command

        password = secrets.token_urlsafe(9)
        for name, role in DEMO_ACCOUNTS.items():
            for cmd in ("staff.add", "staff.password"):
                reply, _ = self.controller.handle(Command(
                    cmd, {"name": name, "password": password,
                          **({"role": role} if cmd == "staff.add" else {})}, "admin"))
                if reply.ok:
                    break
        return password

    def base_url(self) -> str:
        """How clients and partners reach the pages (for links in mails)."""
        if self.config.public_url:
            return self.config.public_url
        if self.link is not None and self.link.base_url:
            return self.link.base_url
        return f"http://localhost:{self.port}"

    def _invite(self, appointment: Any, visit: str, optout: str, to: str) -> None:
        """Mail a booked appointment's invitation, off the command's path."""
        task = asyncio.ensure_future(self._send_invitation(appointment, visit, optout, to))
        self._bots.add(task)
        task.add_done_callback(self._bots.discard)

    async def _send_invitation(self, appointment: Any, visit: str, optout: str,
                               to: str) -> None:
        from kiosk.exceptions import MailError
        from kiosk.mail import send_async
        from kiosk.room.messages import Command
        from kiosk.visits.invitation import invitation

        cfg, base = self.config, self.base_url()
        try:
            msg = invitation(cfg.mail, to, appointment, link=f"{base}/visit/{visit}",
                             optout=f"{base}/visit/optout/{optout}", agency=cfg.agency,
                             room_id=cfg.room_id, phone=cfg.phone)
            where = await send_async(cfg.mail, msg)
            ok, detail = True, "" if cfg.mail.host else f"Demo: als Datei {where}"
        except MailError as exc:
            ok, detail = False, str(exc)
        except Exception as exc:  # the counsellor must learn that no mail left
            log.exception("invitation for appointment %s failed", appointment.id)
            ok, detail = False, f"unexpected error: {exc}"
        reply, updates = self.controller.handle(Command(
            "appointment.mailed", {"id": appointment.id, "ok": ok, "detail": detail[:300]},
            "admin"))
        if self.bus is not None:
            self.bus.publish(updates)

    def _mail_partner_link(self, partner: Any, link: str, to: str, expires: str) -> None:
        """Mail a partner's join link (the fallback to ringing), off the command's path."""
        task = asyncio.ensure_future(self._send_partner_link(partner, link, to, expires))
        self._bots.add(task)
        task.add_done_callback(self._bots.discard)

    async def _send_partner_link(self, partner: Any, link: str, to: str, expires: str) -> None:
        from kiosk.exceptions import MailError
        from kiosk.mail import send_async
        from kiosk.partners.mail import join_mail
        from kiosk.room.messages import Command

        cfg = self.config
        try:
            await send_async(cfg.mail, join_mail(
                cfg.mail, to, link=self.base_url() + link, expires=expires, name=partner.name,
                topic=partner.purpose, room=cfg.room_name, agency=cfg.agency))
            ok = True
        except MailError as exc:
            log.warning("the join link for partner %s did not leave: %s", partner.id, exc)
            ok = False
        except Exception:
            log.exception("the join link for partner %s failed", partner.id)
            ok = False
        reply, updates = self.controller.handle(Command(
            "partner.mailed", {"partner": partner.id, "ok": ok}, "admin"))
        if self.bus is not None:
            self.bus.publish(updates)

    def _mail_summary(self, summary: Any, to: str) -> None:
        """Mail the client's summary with its PDF, off the command's path; the address
        lives only in this task and the mail itself."""
        task = asyncio.ensure_future(self._send_summary(summary, to))
        self._bots.add(task)
        task.add_done_callback(self._bots.discard)

    async def _send_summary(self, summary: Any, to: str) -> None:
        from kiosk.exceptions import MailError
        from kiosk.handout.pdf import pdf
        from kiosk.handout.summary import mail
        from kiosk.mail import send_async
        from kiosk.room.messages import Command

        ok = False
        try:
            document = await asyncio.to_thread(pdf, summary)
        except Exception:  # no address is involved yet
            log.exception("the summary PDF could not be made")
        else:
            try:
                await send_async(self.config.mail,
                                 mail(self.config.mail, to, summary, document))
                ok = True
            except MailError:
                # Not even the reason is logged: a refusal by the server names the address.
                log.warning("the summary mail did not leave (mail server refused or away)")
            except Exception as exc:
                log.error("the summary mail failed: %s", type(exc).__name__)
        del to
        reply, updates = self.controller.handle(Command("summary.mailed", {"ok": ok}, "admin"))
        if self.bus is not None:
            self.bus.publish(updates)

    def _facts(self) -> Any:
        """The evaluation's anonymous facts, read from the room's file (read-only)."""
        from kiosk.evaluation.stats import load_facts

        return load_facts(self.config.db_path)

    def _simulate_partner(self, url: str, agency: str) -> None:
        """Demo only: a partner bot answers the link and stays until the call ends."""
        from kiosk.media.bot import PartnerBot

        async def run() -> None:
            bot = PartnerBot(url, agency)
            try:
                await bot.join()
                while await bot.poll() in ("lobby", "in_call", "paused"):
                    await asyncio.sleep(0.5)
            except Exception:
                log.exception("simulated partner failed")
            finally:
                await bot.leave()
        task = asyncio.ensure_future(run())
        self._bots.add(task)
        task.add_done_callback(self._bots.discard)

    async def _checkpoints(self, every: float = 2.0) -> None:
        """Move the SQLite WAL into the file every few seconds, in a worker thread.

        A truncating checkpoint (after an erasure) waits for readers only briefly
        (:data:`~kiosk.room.store.TRUNCATE_WAIT_MS`) and is tried again next time.
        """
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(self.store.checkpoint)
            except Exception:  # a failed checkpoint loses nothing: the WAL stays
                log.exception("checkpoint failed")

    async def _purges(self) -> None:
        """Apply the retention policy at start, then every ``purge_every`` seconds (a day);
        the WAL is truncated right after anything was erased."""
        while True:
            try:
                erased = self.controller.purge()
                if any(erased.values()):
                    log.info("retention purge: %s", erased)
                    await asyncio.to_thread(self.store.checkpoint)
            except Exception:  # tried again at the next run; the room goes on
                log.exception("retention purge failed")
            await asyncio.sleep(self.purge_every)

    def _health(self) -> dict[str, Any]:
        """/healthz: ``starting`` until the room is ready, then the link's view."""
        from kiosk.app.server import health_of

        body = health_of(self.link, self.started)
        if not self.ready:
            body["status"] = "starting"
        body["media"] = {"peers": self.engine.peer_count, "partners": self.engine.counters(),
                         "loop_stalls": self.media_watch.stalls,
                         "longest_stall_s": round(self.media_watch.longest, 3)}
        body["process"] = process_facts(self.loop_watch)
        return body

    def _write_runtime(self) -> None:
        router, pub = self.endpoints
        info = {"room_id": self.config.room_id,
                "bus": {"router": router, "pub": pub,
                        "keys": str(self.keyring.path.resolve())}, "urls": self.urls,
                "base_url": self.link.base_url if self.link else ""}
        write_runtime(self.config.runtime_path, info)

    async def stop(self) -> None:
        self.ready = False
        if self.server is not None:
            self.server.unlisten()
            self.server.stop()
            self.server = None
        for bot in list(self._bots):
            bot.cancel()
        if self.engine is not None:
            await self.engine.close()
        if self.media_loop is not None:
            self.media_watch.stop()
            self.media_loop.stop()
            self.media_loop = None
        if self.site_link is not None:
            await self.site_link.close()
        if self.link is not None and self.link.directory is not None:
            await self.link.directory.close()
        if self.link is not None:
            await self.link.close()
        if self._purging is not None:
            self._purging.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purging
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        if self.bus is not None:
            await self.bus.close()
        if self.store is not None:
            self.store.close()
        if self.site is not None:
            await self.site.stop()
        if self._own_context:
            self.context.term()
        forget_runtime(self.config.runtime_path)
        if self._trims is not None:
            self._trims.cancel()
        if self.workers is not None:  # what still runs in it finishes on its own
            self.workers.shutdown(wait=False)
        self.loop_watch.stop()
