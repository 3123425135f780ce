"""Benchmark of a site of 20 rooms: rings on 100 partner consoles, presence in every room.

Every part is real and runs as its own process, as on a site's machines:

* the site service, ``kiosk serve --config site.toml --site``, its directory filled
  beforehand with one contact per console, each with an account (the commands of
  ``kiosk site import`` and ``kiosk site account``), its bus keys made as ``kiosk keys
  --site init`` and, per room, ``kiosk keys --site add raum-N --role room`` do;
* ``--rooms`` room processes, ``kiosk serve --config raum-N.toml``: controller, bus and
  the site link (``[site]`` with the room's own site key in its own folder). The site
  link lives in the page part (``run = ["controller"]`` has none), so each room serves
  its pages, with no browser on them, and the media engine starts with the camera
  unwatched (``[media] camera_watch = false``): no frame is made, no peer is open.
  A room's site mirror shows on no page without a browser and in no figure of /healthz,
  so each room process runs ``kiosk serve`` through the CLI's own entry point with one
  addition: its :class:`~kiosk.site.link.SiteLink` also writes each presence change
  its mirror applies to stdout, stamped on the machine's monotonic clock at that moment
  (``CLOCK_MONOTONIC`` is one clock for every process of the machine). The process
  also holds this script's module: about 2 MB more than a plain ``kiosk serve`` of the
  same config (175.4 against 173.3 MB resident, measured once);
* ``--consoles`` signed-in partner consoles, in this process, speaking to ``/partner``
  exactly as ``assets/partner.js`` does in a browser: sign in (``POST /partner``, the
  signed cookie), load the console page, open the websocket ``/partner/ws`` (which is
  the heartbeat and pushes the contact's rings and status), and ``POST /partner/status``
  to change status. The console is no Panel page but a small page over its own
  websocket, so a client at the protocol level is what its browsers send and receive,
  without 100 Chromium pages that 2 cores could not bear.

Measured in alternating blocks (``--blocks``), each: the baseline, then rings, then
presence changes:

* baseline: the room bus round trip, ``ping`` over tcp with CURVE to each room in turn,
  with the operator's key as ``kiosk ctl`` uses it (as bench_ring and bench_bus do);
* ring shown on the console: from this process sending a room's ``ring.start`` (with
  that room's site key, as its site link sends it) for one contact, to that contact's
  console receiving the ring on its websocket; both on this process's clock. The room
  then cancels it and the console shows it gone before the next ring. Rooms and
  consoles take turns;
* presence seen by all rooms: from a console's ``POST /partner/status`` (away, then
  available again) to the moment the last room's site mirror shows it, and per room;
  the console's own answer to the post beside it.

Memory: resident memory of each room process (its /healthz ``process.rss_kb``, read
from /proc) and its proportional share (PSS, shared pages split between the processes),
and the site service's, after the run. Targets: ring shown p95 at most 200 ms,
presence seen by all rooms p95 at most 500 ms. The last line is the verdict; the exit
code is 1 if it fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_bus import pct  # noqa: E402
from bench_soak import Room  # noqa: E402
from verdict import verdict  # noqa: E402

from kiosk.room.bus import free_port  # noqa: E402
from kiosk.room.client import CommandClient  # noqa: E402
from kiosk.room.keys import Keyring  # noqa: E402
from kiosk.site.link import SiteLink  # noqa: E402

RING_TARGET_MS = 200.0
PRESENCE_TARGET_MS = 500.0
#: Seconds one ring or one presence change may take before it counts as lost.
TIMEOUT = 10.0
#: Rooms started at once (each imports Panel, Bokeh and aiortc: 2 cores), and how long
#: one may take to start on a machine that others load too.
START_BATCH = 4
START_WAIT = 300.0
PASSWORD = "bench-konsole-123"
#: Where the processes' logs are kept when the bench fails.
LOGS = Path(tempfile.gettempdir()) / "bench-site-logs"
#: Every process this bench started, stopped by pid at the end, also on Ctrl-C.
PROCESSES: list[subprocess.Popen] = []


class Stopped(Exception):
    """The bench cannot go on (what went wrong is its message)."""


# -- the room process ---------------------------------------------------------------
class ReportingSiteLink(SiteLink):
    """The room's site link, which also writes each presence change its mirror applies:
    ``presence <contact> <status or -> <monotonic seconds>``, one line each."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.state.param.watch(self._report, "presence")

    def _report(self, event) -> None:
        at = time.monotonic()
        old, new = event.old or {}, event.new or {}
        lines = []
        for contact in old.keys() | new.keys():
            status = (new.get(contact) or {}).get("status", "-")
            if (old.get(contact) or {}).get("status", "-") != status:
                lines.append(f"presence {contact} {status} {at:.6f}\n")
        if lines:
            os.write(1, "".join(lines).encode())


def room_process(config: str) -> None:
    """``kiosk serve --config CONFIG``, with the reporting site link."""
    import kiosk.site.link
    from kiosk.cli.main import main

    kiosk.site.link.SiteLink = ReportingSiteLink  # the room imports it when it connects
    main(["serve", "--config", config], prog_name="kiosk")


# -- the site, the rooms and the consoles, seen from the bench -----------------------
def spawn(args: list[str], log: Path, **kwargs) -> subprocess.Popen:
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, *args], stderr=err, **kwargs)
    PROCESSES.append(proc)
    return proc


class SiteService:
    """``kiosk serve --site`` with a directory of ``consoles`` contacts with accounts."""

    def __init__(self, tmp: Path, rooms: int, consoles: int) -> None:
        from kiosk.site.service import site_keyring

        self.tmp, self.data = tmp, tmp / "site"
        self.keys = site_keyring(self.data / "site-keys")
        self.keys.init()
        for n in range(1, rooms + 1):
            self.keys.add(f"raum-{n}", "room")
        self.emails = [f"partner-{i}@bench.example.org" for i in range(1, consoles + 1)]
        #: e-mail address -> contact id
        self.contacts: dict[str, int] = {}

    def _directory(self) -> None:
        """The contacts and their accounts, in ``site.db`` before the site starts."""
        from kiosk.cli.site import site_command

        rows = ["agency,agency_type,name,role,languages,topics,email,phone,hours"]
        for i, email in enumerate(self.emails, 1):
            rows.append(f"Jobcenter Bench {i % 10},Jobcenter,Partnerin {i},Arbeitsvermittlung,"
                        f"de;en,Arbeit,{email},0123 456 {i:04d},Mo–Fr 8–12 Uhr")
        site_command(self.data, "directory.import", csv="\n".join(rows) + "\n")
        for email in self.emails:
            self.contacts[email] = site_command(self.data, "account.set", contact=email,
                                                password=PASSWORD)["contact"]

    async def start(self) -> None:
        from kiosk.site.service import read_site_runtime

        await asyncio.to_thread(self._directory)
        conf = self.tmp / "site.toml"
        conf.write_text(f'[site]\ndata_dir = "{self.data}"\nrouter = "tcp://127.0.0.1:0"\n'
                        'pub = "tcp://127.0.0.1:0"\nhttp_port = 0\n', encoding="utf-8")
        self.proc = spawn(["-m", "kiosk", "serve", "--config", str(conf), "--site"],
                          self.tmp / "site.log", stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + START_WAIT
        while (info := read_site_runtime(self.data)) is None or info["pid"] != self.proc.pid:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise Stopped("the site service did not start: see site.log")
            await asyncio.sleep(0.1)
        self.router, self.pub = info["bus"]["router"], info["bus"]["pub"]
        self.console = info["console"].removesuffix("/partner")


class SiteRoom(Room):
    """One room process (bench_soak's, with ``[site]``) and its presence reports."""

    def __init__(self, tmp: Path, n: int, site: SiteService) -> None:
        from kiosk.site.service import site_keyring

        self.id, self.name = f"raum-{n}", f"Beratungsraum {n}"
        home = tmp / self.id
        self.data = home / "data"
        Keyring(self.data / "keys").init()
        site_keys = home / "site-keys"  # what the site's operator hands this room
        site_keys.mkdir(parents=True)
        for name in ("server.key", f"{self.id}.key", f"{self.id}.key_secret"):
            shutil.copy2(site.keys.path / name, site_keys / name)
        self.port = free_port()
        conf = home / "room.toml"
        conf.write_text(
            f'[room]\nid = "{self.id}"\nname = "{self.name}"\ndata_dir = "{self.data}"\n\n'
            f'[http]\nport = {self.port}\n\n'
            '[bus]\nrouter = "tcp://127.0.0.1:0"\npub = "tcp://127.0.0.1:0"\n\n'
            '[media]\ncamera_watch = false\n\n'
            f'[site]\nrouter = "{site.router}"\npub = "{site.pub}"\nkeys = "{site_keys}"\n'
            f'key = "{self.id}"\n', encoding="utf-8")
        self.proc = spawn([__file__, "--room", str(conf)], home / "room.log",
                          stdout=subprocess.PIPE)
        self.base = f"http://localhost:{self.port}"
        self.client: CommandClient | None = None
        self.site = CommandClient(site.router, role="room", timeout=TIMEOUT,
                                  keys=site_keyring(site_keys).client(self.id))
        #: (contact, status) -> when this room's site mirror last showed it
        self.seen: dict[tuple[int, str], float] = {}
        self.reported = asyncio.Event()
        self._reader: asyncio.Task | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        stream = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream),
                                     self.proc.stdout)
        self._reader = asyncio.create_task(self._read(stream))
        deadline = time.monotonic() + START_WAIT
        while True:  # bench_soak's room waits 60 s for health, at most
            try:
                return await super().start()
            except SystemExit as exc:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise Stopped(f"{self.id} did not start: see its room.log") from exc

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            if line.startswith(b"presence "):
                _, contact, status, at = line.split()
                self.seen[int(contact), status.decode()] = float(at)
                self.reported.set()

    def shows(self, contact: int, status: str, since: float = 0.0) -> bool:
        return self.seen.get((contact, status), -1.0) >= since

    def memory_kb(self) -> tuple[int, int]:
        """(resident, proportional) memory of the room process in kB, after the run."""
        rss = self.health()["process"]["rss_kb"]
        return rss, proc_kb(self.proc.pid, "smaps_rollup", "Pss")

    async def close(self) -> None:
        for client in (self.client, self.site):
            if client is not None:
                await client.close()
        if self._reader is not None:
            self._reader.cancel()


def proc_kb(pid: int, name: str, field: str) -> int:
    """A kB figure of /proc/<pid>/<name> (status: VmRSS, smaps_rollup: Pss)."""
    for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


class Console:
    """One partner's console, as its page's script speaks to the site (assets/partner.js)."""

    def __init__(self, http, base: str, email: str, contact: int) -> None:
        self.http, self.base, self.email, self.contact = http, base, email, contact
        self.origin = {"Origin": base}
        self.cookie = ""
        self.ws = None
        #: ring id -> when this console first received it; the rings it shows now
        self.shown: dict[str, float] = {}
        self.showing: set[str] = set()
        self.status = ""
        self.changed = asyncio.Event()
        self._reader: asyncio.Task | None = None

    async def sign_in(self) -> Console:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        from kiosk.site.console_page import COOKIE

        answer = await self.http.fetch(
            f"{self.base}/partner", method="POST", raise_error=False, follow_redirects=False,
            body=urlencode({"email": self.email, "password": PASSWORD}),
            headers={**self.origin, "Content-Type": "application/x-www-form-urlencoded"})
        cookies = [c.split(";", 1)[0] for c in answer.headers.get_list("Set-Cookie")]
        self.cookie = next((c for c in cookies if c.startswith(f"{COOKIE}=")), "")
        if answer.code != 303 or not self.cookie:
            raise Stopped(f"{self.email} could not sign in: {answer.code}")
        page = await self.http.fetch(f"{self.base}/partner", headers={"Cookie": self.cookie})
        if b"/assets/partner.js" not in page.body:
            raise Stopped(f"{self.email} did not get the console page")
        self.ws = await websocket_connect(HTTPRequest(
            f"ws{self.base.removeprefix('http')}/partner/ws",
            headers={**self.origin, "Cookie": self.cookie}))
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        while (message := await self.ws.read_message()) is not None:
            at = time.monotonic()
            state = json.loads(message)
            if state.get("type") != "state":
                continue
            self.showing = {ring["id"] for ring in state["rings"]}
            for ring in self.showing:
                self.shown.setdefault(ring, at)
            self.status = state["status"]
            self.changed.set()

    async def until(self, predicate, timeout: float = TIMEOUT) -> bool:
        return await until(predicate, self.changed, timeout)

    async def set_status(self, status: str) -> int:
        """The status switch: ``POST /partner/status``; the answer's code."""
        answer = await self.http.fetch(
            f"{self.base}/partner/status", method="POST", raise_error=False,
            body=json.dumps({"status": status}),
            headers={**self.origin, "Cookie": self.cookie, "Content-Type": "application/json"})
        return answer.code

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        if self._reader is not None:
            self._reader.cancel()


async def until(predicate, changed: asyncio.Event, timeout: float = TIMEOUT) -> bool:
    """Wait, woken by ``changed``, until ``predicate()``; False after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        changed.clear()
        try:
            await asyncio.wait_for(changed.wait(), left)
        except TimeoutError:
            pass
    return True


# -- the measurements ---------------------------------------------------------------
class Site:
    """Everything the bench runs and what it measured."""

    def __init__(self, site: SiteService, rooms: list[SiteRoom], consoles: list[Console]):
        self.site, self.rooms, self.consoles = site, rooms, consoles
        self.reported = asyncio.Event()  # any room reported a presence change
        for room in rooms:
            room.reported = self.reported
        self.rtt: list[float] = []
        self.shown: list[float] = []
        self.seen_all: list[float] = []
        self.seen_by: dict[str, list[float]] = {room.id: [] for room in rooms}
        self.answered: list[float] = []
        self.lost = {"rings": 0, "changes": 0}

    async def pings(self, n: int, start: int) -> None:
        for i in range(start, start + n):
            room = self.rooms[i % len(self.rooms)]
            t0 = time.monotonic()
            reply = await room.client.request("ping")
            self.rtt.append((time.monotonic() - t0) * 1000)
            assert reply.ok, reply.error

    async def ring(self, i: int, count: bool = True) -> None:
        room = self.rooms[i % len(self.rooms)]
        console = self.consoles[i % len(self.consoles)]
        t0 = time.monotonic()
        reply = await room.site.request("ring.start", {
            "room": room.id, "room_name": room.name, "counsellor": "Frau Beispiel",
            "topic": "Arbeit", "contact": console.contact})
        if not reply.ok:
            raise Stopped(f"{room.id} could not ring {console.email}: {reply.error}")
        ring = reply.data["id"]
        if await console.until(lambda: ring in console.shown):
            if count:
                self.shown.append((console.shown[ring] - t0) * 1000)
        elif count:
            self.lost["rings"] += 1
            self.shown.append(TIMEOUT * 1000)
        cancelled = await room.site.request("ring.cancel", {"room": room.id, "ring": ring})
        assert cancelled.ok, cancelled.error
        await console.until(lambda: ring not in console.showing)

    async def change(self, j: int, count: bool = True) -> None:
        """Change #j: console j//2 goes away (j even) or is available again (j odd)."""
        console = self.consoles[(j // 2) % len(self.consoles)]
        status = "available" if j % 2 else "away"
        t0 = time.monotonic()
        code = await console.set_status(status)
        answered = time.monotonic()
        if code != 200:
            raise Stopped(f"{console.email} could not set {status}: {code}")
        everywhere = await until(
            lambda: all(r.shows(console.contact, status, t0) for r in self.rooms),
            self.reported)
        if not count:
            return
        self.answered.append((answered - t0) * 1000)
        if not everywhere:
            self.lost["changes"] += 1
        last = 0.0
        for room in self.rooms:
            at = room.seen[console.contact, status] if room.shows(
                console.contact, status, t0) else t0 + TIMEOUT
            self.seen_by[room.id].append((at - t0) * 1000)
            last = max(last, at - t0)
        self.seen_all.append(last * 1000)


def share(total: int, parts: int, k: int) -> range:
    """The k-th of ``parts`` nearly equal consecutive slices of range(total)."""
    return range(total * k // parts, total * (k + 1) // parts)


async def bench(n_rooms: int, n_consoles: int, rings: int, changes: int, pings: int,
                blocks: int) -> int:
    from tornado.httpclient import AsyncHTTPClient

    started = time.monotonic()
    main_task, loop = asyncio.current_task(), asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # also where a shell left SIGINT ignored
        loop.add_signal_handler(sig, main_task.cancel)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} cores)", flush=True)
    rooms: list[SiteRoom] = []
    consoles: list[Console] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            site = SiteService(Path(tmp), n_rooms, n_consoles)
            await site.start()
            print(f"site service up, {n_consoles} contacts with accounts "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
            for k in range(0, n_rooms, START_BATCH):
                batch = [SiteRoom(Path(tmp), n, site)
                         for n in range(k + 1, min(k + START_BATCH, n_rooms) + 1)]
                rooms += batch
                await asyncio.gather(*(room.start() for room in batch))
            print(f"{n_rooms} rooms up ({time.monotonic() - started:.0f} s)", flush=True)
            http = AsyncHTTPClient()
            consoles = [Console(http, site.console, email, site.contacts[email])
                        for email in site.emails]
            for k in range(0, n_consoles, 10):
                await asyncio.gather(*(c.sign_in() for c in consoles[k:k + 10]))
            net = Site(site, rooms, consoles)
            if not await until(lambda: all(r.shows(c.contact, "available") for r in rooms
                                           for c in consoles), net.reported, 60):
                raise Stopped("not every room shows every console present")
            print(f"{n_consoles} consoles signed in, present in every room "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
            await net.pings(pings, 0)  # warm-up, not counted
            for i in range(min(n_rooms, n_consoles)):
                await net.ring(i, count=False)
            for j in range(2):
                await net.change(j, count=False)
            net.rtt.clear()
            for b in range(blocks):
                await net.pings(pings, b * pings)
                for i in share(rings, blocks, b):
                    await net.ring(i)
                for j in share(changes, blocks, b):
                    await net.change(j)
                print(f"block {b + 1:>2}/{blocks}, so far: bus p95 {pct(net.rtt, .95):.2f} ms, "
                      f"ring shown p95 {pct(net.shown, .95):.1f} ms, presence in all rooms "
                      f"p95 {pct(net.seen_all, .95):.1f} ms "
                      f"({time.monotonic() - started:.0f} s)", flush=True)
            memory = {room.id: room.memory_kb() for room in rooms}
            site_rss = proc_kb(site.proc.pid, "status", "VmRSS")
            site_pss = proc_kb(site.proc.pid, "smaps_rollup", "Pss")
            load = os.getloadavg()
        except BaseException:  # keep what the processes said
            keep_logs(Path(tmp))
            raise
        finally:
            for console in consoles:
                console.close()
            for room in rooms:
                await room.close()
            await asyncio.to_thread(stop_all)
    return report(net, memory, (site_rss, site_pss), load, n_rooms, n_consoles)


def report(net: Site, memory: dict[str, tuple[int, int]], site_memory: tuple[int, int],
           load: tuple[float, ...], n_rooms: int, n_consoles: int) -> int:
    def row(what: str, values: list[float], note: str = "") -> None:
        print(f"{what:44}{statistics.median(values):9.1f}{pct(values, .95):9.1f}"
              f"{max(values):9.1f}  {note}")

    print(f"\n{n_rooms} rooms, {n_consoles} signed-in consoles; load average at the end: "
          f"{' '.join(f'{x:.2f}' for x in load)}")
    print(f"{'':44}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    row("room bus round trip (ping, baseline)", net.rtt, f"{len(net.rtt)} pings")
    row("ring shown on the console", net.shown,
        f"{len(net.shown)} rings, {net.lost['rings']} not shown in {TIMEOUT:g} s")
    row(f"presence change seen by all {n_rooms} rooms", net.seen_all,
        f"{len(net.seen_all)} changes, {net.lost['changes']} not everywhere in {TIMEOUT:g} s")
    row("the console's status post answered", net.answered)
    print(f"\n{'room':10}{'presence p50':>13}{'p95':>8}{'max ms':>9}"
          f"{'RSS MB':>9}{'PSS MB':>9}")
    for room, times in net.seen_by.items():
        rss, pss = memory[room]
        print(f"{room:10}{statistics.median(times):13.1f}{pct(times, .95):8.1f}"
              f"{max(times):9.1f}{rss / 1024:9.1f}{pss / 1024:9.1f}")
    rss = [m[0] / 1024 for m in memory.values()]
    pss = [m[1] / 1024 for m in memory.values()]
    print(f"memory per room process: RSS median {statistics.median(rss):.1f} MB (min "
          f"{min(rss):.1f}, max {max(rss):.1f}), PSS median {statistics.median(pss):.1f} MB; "
          f"all {n_rooms} rooms: PSS {sum(pss):.0f} MB; the site service: RSS "
          f"{site_memory[0] / 1024:.1f} MB, PSS {site_memory[1] / 1024:.1f} MB")
    base = pct(net.rtt, .95)
    ring, presence = pct(net.shown, .95), pct(net.seen_all, .95)
    line, ok = verdict([
        (f"ring shown on the console p95: {ring:.1f} ms vs room bus round trip p95 "
         f"{base:.2f} ms = {ring / base:.1f}x (target ≤ {RING_TARGET_MS:.0f} ms)",
         ring / RING_TARGET_MS, ring <= RING_TARGET_MS),
        (f"presence seen by all {n_rooms} rooms p95: {presence:.1f} ms vs room bus round "
         f"trip p95 {base:.2f} ms = {presence / base:.1f}x (target ≤ "
         f"{PRESENCE_TARGET_MS:.0f} ms)", presence / PRESENCE_TARGET_MS,
         presence <= PRESENCE_TARGET_MS)])
    print(line, flush=True)
    return 0 if ok else 1


def keep_logs(tmp: Path) -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    for log in tmp.rglob("*.log"):
        shutil.copy(log, LOGS / "-".join(log.relative_to(tmp).parts))
    print(f"the processes' logs: {LOGS}", file=sys.stderr)


def stop_all(grace: float = 30.0) -> None:
    """Stop every process this bench started, by pid: SIGTERM (a started room or site
    stops cleanly, one still starting at once), then SIGKILL after ``grace`` s."""
    for proc in PROCESSES:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in PROCESSES:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    PROCESSES.clear()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=20, help="room processes")
    parser.add_argument("--consoles", type=int, default=100, help="signed-in consoles")
    parser.add_argument("--rings", type=int, default=200, help="rings timed")
    parser.add_argument("--changes", type=int, default=100, help="presence changes timed")
    parser.add_argument("--pings", type=int, default=40, help="bus round trips per block")
    parser.add_argument("--blocks", type=int, default=10, help="alternating blocks")
    parser.add_argument("--room", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.room:  # a room process of the bench
        room_process(args.room)
        return 0
    if min(args.rooms, args.consoles, args.rings, args.changes, args.pings, args.blocks) < 1:
        parser.error("every count must be at least 1")
    try:
        return asyncio.run(bench(args.rooms, args.consoles, args.rings, args.changes,
                                 args.pings, args.blocks))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted", file=sys.stderr)
        return 130
    except Stopped as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return 1
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
