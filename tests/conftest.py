"""Shared fixtures: free ports, fresh data dirs, rooms on real sockets, Chromium pages.

Everything is made fresh per test in ``tmp_path``: keys, databases and
ports never leak from one test into another.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import os
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import zmq
import zmq.asyncio
from hypothesis import settings as hypothesis_settings

from kiosk.app.features import RoomController
from kiosk.app.room import Room, free_port
from kiosk.config import RoomConfig
from kiosk.room.bus import BusServer, configure
from kiosk.room.client import CommandClient
from kiosk.room.keys import Keyring
from kiosk.room.mirror import Mirror
from kiosk.room.state import RoomState
from kiosk.room.store import Store

# hypothesis keeps caches (and by default an example database) in ./.hypothesis, in the
# checkout: its caches go to .cache/hypothesis (ignored by git; hypothesis reads the
# variable at its first write), and no example database is kept at all.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY",
                      str(Path(__file__).resolve().parent.parent / ".cache" / "hypothesis"))
hypothesis_settings.register_profile("kiosk", database=None)
hypothesis_settings.load_profile("kiosk")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    s = Store(data_dir / "room.db")
    yield s
    s.close()


@pytest.fixture
def controller(store: Store) -> RoomController:
    return RoomController(store, "r1", "Raum 1")


@pytest.fixture
async def zctx() -> AsyncIterator[zmq.asyncio.Context]:
    ctx = zmq.asyncio.Context()
    yield ctx
    ctx.destroy(linger=0)


class Clock:
    """A monotonic clock the test moves by hand: call it, or use it as ``time``
    (``clock.monotonic()``) where the code under test reads that."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class BusRoom:
    """A controller and its bus on real sockets in the test's loop."""

    def __init__(self, store_path: Path, ctx: zmq.asyncio.Context, router: str, pub: str,
                 heartbeat: float = 1.0) -> None:
        self.store_path, self.ctx, self.heartbeat = store_path, ctx, heartbeat
        self.keyring = Keyring(store_path.parent / "keys")
        self.keyring.init()
        #: The operator's key: may speak for every role.
        self.keys = self.keyring.client("operator")
        self.router, self.pub = router, pub
        self._mirrors: list[Mirror] = []
        self._clients: list[CommandClient] = []
        self._sockets: list[zmq.asyncio.Socket] = []
        self.bus: BusServer | None = None

    async def start(self) -> BusRoom:
        self.store = Store(self.store_path)
        self.controller = RoomController(self.store, "r1", "Raum 1")
        self.bus = BusServer(self.controller, self.router, self.pub, keyring=self.keyring,
                             context=self.ctx, heartbeat=self.heartbeat)
        await self.bus.start()
        self.router, self.pub = self.bus.endpoints
        return self

    async def stop(self) -> None:
        if self.bus is not None:
            await self.bus.close()
            self.store.close()
            self.bus = None

    async def mirror(self, silence: float = 5.0) -> Mirror:
        m = Mirror(RoomState(), self.router, self.pub, context=self.ctx, silence=silence,
                   keys=self.keys)
        await m.start()
        self._mirrors.append(m)
        return m

    def client(self, role: str = "counsellor") -> CommandClient:
        c = CommandClient(self.router, role=role, context=self.ctx, keys=self.keys)
        self._clients.append(c)
        return c

    def dealer(self) -> zmq.asyncio.Socket:
        """A raw DEALER connected to the controller's ROUTER (closed with the room)."""
        sock = self.keys.apply(configure(self.ctx.socket(zmq.DEALER)))
        sock.connect(self.router)
        self._sockets.append(sock)
        return sock

    async def close(self) -> None:
        for m in self._mirrors:
            await m.close()
        for c in self._clients:
            await c.close()
        for sock in self._sockets:
            sock.close(linger=0)
        await self.stop()


def endpoints(transport: str, tmp_path: Path) -> tuple[str, str]:
    if transport == "tcp":
        return "tcp://127.0.0.1:0", "tcp://127.0.0.1:0"
    if transport == "ipc":
        return f"ipc://{tmp_path}/router.sock", f"ipc://{tmp_path}/pub.sock"
    name = os.urandom(4).hex()
    return f"inproc://router-{name}", f"inproc://pub-{name}"


@pytest.fixture
async def bus_room(tmp_path: Path, zctx) -> AsyncIterator[BusRoom]:
    """A room's controller and bus on tcp loopback, running in the test's loop."""
    room = BusRoom(tmp_path / "room.db", zctx, *endpoints("tcp", tmp_path))
    await room.start()
    yield room
    await room.close()


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` holds, or fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """``until`` for tests outside an event loop (a room in a thread, a browser)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


#: Rooms serving pages in this test process, by HTTP port (for signing in browsers).
ROOMS_BY_PORT: dict[int, ThreadedRoom] = {}
#: Who signs in when a test opens a staff page: page -> staff role.
STAFF_FOR_PAGE = {"control": "counsellor", "admin": "admin", "stats": "evaluator"}
TEST_PASSWORD = "test-passwort-123"


class ThreadedRoom:
    """A whole room (controller, bus, pages) on its own loop in a thread."""

    def __init__(self, config: RoomConfig, site=None) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.room = Room(config, site=site)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._cookies: list[dict] | None = None

    def start(self) -> ThreadedRoom:
        self._thread.start()
        self.call(self.room.start())
        if self.room.server is not None:
            ROOMS_BY_PORT[self.room.port] = self
        return self

    def sign_in(self, role: str = "counsellor") -> str:
        """The signed cookie value of a fresh sign-in of a test account with ``role``."""
        from tornado.web import create_signed_value

        from kiosk.access.web import staff_cookie

        name = f"test-{role}"
        if not any(a["name"] == name for a in self.command("staff.list", as_="admin")
                   .data["accounts"]):
            assert self.command("staff.add", as_="admin", name=name, role=role,
                                password=TEST_PASSWORD).ok
        reply = self.command("staff.signin", as_="admin", name=name, password=TEST_PASSWORD)
        cookie = staff_cookie(self.room.config.room_id)
        return create_signed_value(self.room.link.cookie_secret, cookie,
                                   reply.data["token"]).decode()

    def test_cookies(self) -> list[dict]:
        """Browser cookies that open each staff page of this room signed in (one sign-in
        per page, each cookie limited to its page's path), made once per room."""
        if self._cookies is None:
            from kiosk.access.web import staff_cookie

            name = staff_cookie(self.room.config.room_id)
            self._cookies = [
                {"name": name, "value": self.sign_in(role), "domain": host, "path": f"/{page}"}
                for page, role in STAFF_FOR_PAGE.items() for host in ("localhost", "127.0.0.1")]
        return self._cookies

    def call(self, coro, timeout: float = 60.0):
        """Run a coroutine on the room's loop and return its result; when it takes longer
        than ``timeout``, fail with where the room's thread and tasks stood."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            raise TimeoutError(f"the room's loop did not finish {coro.__qualname__} within "
                               f"{timeout:g} s\n{self.where()}") from None

    def where(self) -> str:
        """The stack of the room's thread and of each of its loop's tasks (diagnostics)."""
        import sys
        import traceback

        frame = sys._current_frames().get(self._thread.ident)
        lines = ["--- room thread", *traceback.format_stack(frame)] if frame else []
        for task in list(asyncio.all_tasks(self.loop)):
            lines.append(f"--- task {task.get_name()}, awaiting:\n")
            awaited = task.get_coro()
            while awaited is not None:  # down the chain of awaits to what it waits for
                frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
                if frame is None:
                    lines.append(f"    {awaited!r:.200}\n")
                    break
                lines.append(f"    {frame.f_code.co_filename}:{frame.f_lineno} "
                             f"{frame.f_code.co_name}\n")
                awaited = (getattr(awaited, "cr_await", None)
                           or getattr(awaited, "gi_yieldfrom", None))
        return "".join(lines)

    def sql(self, statement: str, *params) -> list[tuple]:
        """Read or change the room's file as its controller would: on the room's loop,
        between two commands (from the test's thread the one connection would be used by
        two threads at once, and a transaction of one could swallow or break the other's).
        Returns the rows."""
        async def run() -> list[tuple]:
            return self.room.store.db.conn.execute(statement, params).fetchall()
        return self.call(run())

    def command(self, name: str, /, as_: str = "counsellor", **args):
        # The harness's own commands wait longer than a view would: a loaded CI machine
        # (two cores, Chromium running axe) may hold the room's loop for a moment.
        return self.call(self.room.link.send(as_, name, timeout=15.0, **args))

    @property
    def urls(self) -> dict[str, str]:
        return self.room.urls

    @property
    def state(self) -> RoomState:
        return self.room.link.state

    def stop(self) -> None:
        ROOMS_BY_PORT.pop(self.room.port, None)
        self.call(self.room.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def room_config(data_dir: Path, port: int) -> RoomConfig:
    # The camera's watchdog draws the test pattern 30 times a second; tests of
    # health turn it on where they need the frame rate.
    Keyring(data_dir / "keys").init()
    return RoomConfig(data_dir=data_dir, http_port=port, bus_router="tcp://127.0.0.1:0",
                      bus_pub="tcp://127.0.0.1:0", camera_watch=False)


@pytest.fixture
def live_room(room_config: RoomConfig) -> Iterator[ThreadedRoom]:
    """A whole room with its pages, served from a thread for browser and HTTP tests."""
    room = ThreadedRoom(room_config).start()
    yield room
    room.stop()


class _Stalls(logging.Handler):
    """Every held-up room loop of the run, by test (printed at the end of the run)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.test = ""
        self.seen: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((self.test, record.getMessage()))


STALLS = _Stalls()
logging.getLogger("kiosk.app.stalls").addHandler(STALLS)
#: Figures a test reports (p50, p99, ...), printed at the end of the run.
REPORTS: list[str] = []


#: Fixtures of the end-to-end tests: Chromium, whole rooms with pages and media.
END_TO_END = {"browser", "live_room"}


def pytest_collection_modifyitems(config, items) -> None:
    """End-to-end tests run again, up to twice, when they fail (as Playwright's own test
    runner does on CI): on a loaded two-core machine a browser or a peer can miss a
    moment. Each rerun is listed in the summary; a test that fails three times fails."""
    for item in items:
        if END_TO_END & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.flaky(reruns=2, reruns_delay=1))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logstart(nodeid: str, location) -> None:
    STALLS.test = nodeid


def pytest_terminal_summary(terminalreporter) -> None:
    """Figures the tests report, and where a room's loop was held up during the run (a
    stall freezes every screen)."""
    if REPORTS:
        terminalreporter.section("figures")
        for line in REPORTS:
            terminalreporter.write_line(line)
    if STALLS.seen:
        terminalreporter.section(f"room loops held up: {len(STALLS.seen) // 2 or 1}")
        for test, message in STALLS.seen:
            terminalreporter.write_line(f"{test}: {message}")


def pytest_report_header(config) -> str:
    """Debian's chromium cannot be pinned: say which one this run used."""
    import subprocess

    try:
        out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True,
                             timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = "missing"
    return f"chromium: {out}"


@pytest.fixture(scope="module")
def browser():
    """One headless Debian Chromium per test module.

    Module scope, not session: playwright's sync API keeps an event loop running
    in the main thread while it is open, which would stop later asyncio tests.
    """
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run the README's test command, which installs it")
    from playwright.sync_api import expect, sync_playwright

    # A loaded 2-core CI machine can take seconds for one WebRTC offer; the tests
    # check what a person sees, not how fast, so assertions wait up to 15 s.
    expect.set_options(timeout=15_000)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser):
    """Open a page in a fresh browser context (its own cookies and storage)."""
    contexts = []

    def open_page(url: str | None = None, *, signed_in: bool = True, **kwargs):
        """``url`` in a new context, in which the staff pages of the test's rooms open
        signed in (unless ``signed_in`` is false)."""
        ctx = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, **kwargs})
        contexts.append(ctx)
        if signed_in:  # staff pages of the test's rooms open as a signed-in member of staff
            for room in list(ROOMS_BY_PORT.values()):
                ctx.add_cookies(room.test_cookies())
        page = ctx.new_page()
        if url:
            page.goto(url)
        return page

    yield open_page
    for ctx in contexts:
        ctx.close()


AXE = Path(__file__).resolve().parent.parent / ".cache/axe/node_modules/axe-core/axe.min.js"


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run the README's test command, which installs axe-core")
    return AXE.read_text(encoding="utf-8")


def axe_findings(page, source: str, impacts=("serious", "critical")) -> list[str]:
    """Run axe-core (WCAG 2.1 A and AA rules) over the page; the findings of these impacts."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=source)
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary)}));
    }""")
    return [f"{v['impact']} {v['id']}: {v['help']} {v['nodes']}" for v in result
            if v["impact"] in impacts]


class Mail(NamedTuple):
    sender: str
    to: list[str]
    message: email.message.EmailMessage


class Inbox:
    """What an SMTP server started by a test (aiosmtpd) received."""

    def __init__(self) -> None:
        self.received: list[Mail] = []

    @property
    def mails(self) -> list[email.message.EmailMessage]:
        return [m.message for m in self.received]

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.received.append(Mail(envelope.mail_from, envelope.rcpt_tos, email.message_from_bytes(
            envelope.content, policy=email.policy.default)))
        return "250 OK"


@pytest.fixture
def smtp():
    """A real SMTP server on loopback: (its aiosmtpd controller, the Inbox)."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield controller, inbox
    controller.stop()
