"""Soak: 500 talks in a row on one room process; does anything grow?

One room runs as its own process (``kiosk serve`` with a config file, as on the room PC);
Debian's Chromium keeps /kiosk, /display and /control (signed in) open the whole time.
Each talk, driven over the room's bus with the operator's key (as ``kiosk ctl`` is):
session start, two topics, a visible and an internal note, a next step, a partner
invited by link who joins from this process (a simulated partner: aiortc with a test
pattern and a tone, the demo's bot), is admitted and consented to, sends and receives
frames, a mute and unmute; the handout as PDF (HTTP, signed in); the end; the survey,
answered on the kiosk's behalf. The talk's pages follow each phase in Chromium (the
kiosk is awaited on its "Zusammenfassung" and welcome screens).

Figures, read from the room's /healthz (``process``: /proc of the room process): resident
memory, OS threads, open files and asyncio tasks after talk 50 (the baseline: pages,
caches and pools warm) and after the last talk. Targets: memory at most 1.1× the
baseline; threads, open files and tasks flat (at most the baseline plus a margin of
10 %, at least 2, for what is in flight at the moment of reading). The room loop's
hold-ups (over 1 s) are printed beside. A soak has no alternating baseline: its
baseline is the same process, earlier. A soak that stops (a screen that does not follow)
fails on the talks completed. The last line is the verdict (exit code 1 if it
fails).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from verdict import verdict  # noqa: E402

from kiosk.access.web import cookie_secret, staff_cookie  # noqa: E402
from kiosk.cli.common import bus_keys  # noqa: E402
from kiosk.config import read_runtime  # noqa: E402
from kiosk.media.bot import PartnerBot  # noqa: E402
from kiosk.room.bus import free_port  # noqa: E402
from kiosk.room.client import CommandClient  # noqa: E402
from kiosk.room.keys import Keyring  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "soak-passwort-123"
MEMORY_RATIO = 1.1


class Room:
    """The room process and the bench's bus client to it."""

    def __init__(self, tmp: Path, dump: bool = False) -> None:
        self.data = tmp / "data"
        Keyring(self.data / "keys").init()
        self.port = free_port()
        conf = tmp / "room.toml"
        conf.write_text(f'[room]\ndata_dir = "{self.data}"\n\n[http]\nport = {self.port}\n'
                        '\n[bus]\nrouter = "tcp://127.0.0.1:0"\npub = "tcp://127.0.0.1:0"\n')
        env = dict(os.environ)
        if dump:  # scripts/debug/sitecustomize.py: the room's inner state on SIGUSR1
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [
                str(ROOT / "scripts" / "debug"), env.get("PYTHONPATH")]))
        self.dump = dump
        self.proc = subprocess.Popen([sys.executable, "-m", "kiosk", "serve", "--config",
                                      str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=open(tmp / "room.log", "w"), env=env)
        self.base = f"http://localhost:{self.port}"
        self.client: CommandClient | None = None

    async def start(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.health()["status"] == "ok":
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the room did not start: see room.log")
            await asyncio.sleep(0.2)
        info = read_runtime(self.data)
        self.client = CommandClient(info["bus"]["router"], keys=bus_keys(info), timeout=15)

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.base}/healthz", timeout=10) as resp:
            return json.loads(resp.read())

    async def send(self, role: str, name: str, /, **args) -> dict:
        reply = await self.client.request(name, args, role=role)
        if not reply.ok:
            raise SystemExit(f"{name} refused: {reply.error}")
        return reply.data

    async def cookie(self, role: str) -> str:
        """A signed-in staff cookie's value, as /login would set it."""
        from tornado.web import create_signed_value

        await self.send("admin", "staff.add", name=f"soak-{role}", role=role,
                        password=PASSWORD)
        token = (await self.send("admin", "staff.signin", name=f"soak-{role}",
                                 password=PASSWORD))["token"]
        return create_signed_value(cookie_secret(self.data), staff_cookie("raum-1"),
                                   token).decode()

    async def dump_state(self) -> None:
        """With ``--dump``: the room writes its inner state (see scripts/debug/)."""
        if self.dump and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
            await asyncio.sleep(2)

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def until(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"soak stopped: {what} within {timeout:g} s")
        await asyncio.sleep(0.05)


async def talk(room: Room, shows, cookie: str, n: int) -> None:
    """One whole talk, as the counsellor, the client and a partner would have it."""
    await room.send("counsellor", "session.start")
    await room.send("counsellor", "session.topics", topics=["Arbeit", "Ausbildung"])
    await room.send("counsellor", "note.add", text=f"Gespräch {n}: Unterlagen besprochen",
                    visible=True)
    await room.send("counsellor", "note.add", text="intern: Rückfrage Jobcenter")
    await room.send("counsellor", "step.add", what="Lebenslauf schicken", who="client")
    invite = await room.send("counsellor", "partner.invite", agency="Jobcenter",
                             name=f"Partner {n}")
    bot = PartnerBot(room.base + invite["link"], "Jobcenter")
    try:
        await bot.join()
        await room.send("counsellor", "partner.admit", partner=invite["id"])
        await room.send("kiosk", "consent.answer", partner=invite["id"], yes=True,
                        version="de:soak")

        async def frames_both_ways() -> bool:
            await bot.poll()
            counters = room.health()["media"]["partners"].get(str(invite["id"]), {})
            return bot.received["video"] >= 10 and counters.get("received", 0) >= 10

        await until(frames_both_ways, "no frames in the partner's call")
        await room.send("counsellor", "partner.mute", partner=invite["id"], on=True)
        await room.send("counsellor", "partner.mute", partner=invite["id"], on=False)
    finally:
        await bot.leave()
    request = urllib.request.Request(f"{room.base}/summary.pdf",
                                     headers={"Cookie": f"{staff_cookie('raum-1')}={cookie}"})
    pdf = await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=30).read())
    if not pdf.startswith(b"%PDF"):
        raise SystemExit("the handout is no PDF")
    await room.send("counsellor", "session.end")
    await shows("Zusammenfassung")
    await room.send("kiosk", "survey.begin")
    await room.send("kiosk", "survey.submit", satisfaction=5, ease=4, recommend=9)
    await shows("Willkommen")


async def bench(talks: int, baseline_at: int, dump: bool = False) -> int:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        room = Room(Path(tmp), dump)
        run = ThreadRunner()  # playwright's sync API, all on one thread of its own
        pw = await run(lambda: sync_playwright().start())
        try:
            await room.start()
            cookie = await room.cookie("counsellor")
            browser = await run(pw.chromium.launch, executable_path=CHROMIUM, args=ARGS)
            pages = {}
            # Each screen in a window of its own, as on its own device: tabs of one window
            # are background tabs, which Chromium throttles after five minutes hidden.
            for name in ("kiosk", "display", "control"):
                context = await run(browser.new_context,
                                    viewport={"width": 1280, "height": 800})
                await run(context.add_cookies, [{
                    "name": staff_cookie("raum-1"), "value": cookie, "domain": "localhost",
                    "path": "/"}])
                pages[name] = await run(context.new_page)
                await run(pages[name].goto, f"{room.base}/{name}")
            kiosk = pages["kiosk"]
            started = time.monotonic()
            events: list[str] = []  # the kiosk page's connection to the room, as it saw it

            def note(what: str) -> None:
                events.append(f"{time.monotonic() - started:7.1f} s {what}")

            def watch_socket(ws) -> None:
                note(f"websocket open {ws.url}")
                ws.on("close", lambda _ws: note(f"websocket closed {ws.url}"))
                ws.on("socketerror", lambda error: note(f"websocket error {error}"))

            kiosk.on("websocket", watch_socket)
            kiosk.on("console", lambda msg: note(f"console {msg.type}: {msg.text[:200]}")
                     if msg.type in ("error", "warning") or "isconnect" in msg.text else None)
            kiosk.on("crash", lambda _page: note("page crashed"))

            async def shows(heading: str) -> None:  # the kiosk shows this screen
                try:
                    await run(lambda: kiosk.locator("h1").get_by_text(heading).wait_for(
                        timeout=30_000))
                except Exception:  # say what the kiosk shows, and keep the room's log
                    await room.dump_state()
                    await run(lambda: kiosk.screenshot(path="/tmp/soak-kiosk.png"))
                    shown = await run(lambda: kiosk.locator("h1").all_inner_texts())
                    health = room.health()
                    shutil.copy(Path(tmp) / "room.log", "/tmp/soak-room.log")
                    print("the kiosk page's connection:", *events[-20:], sep="\n  ")
                    raise SystemExit(
                        f"/kiosk did not show {heading!r} within 30 s; it shows {shown}; the "
                        f"room: phase {health['phase']}, {health['process']} (screenshot "
                        "/tmp/soak-kiosk.png, the room's log /tmp/soak-room.log)") from None
            at: dict[int, dict] = {}
            done = 0
            for n in range(1, talks + 1):
                try:
                    await talk(room, shows, cookie, n)
                except SystemExit as stopped:  # the soak ends here; the verdict says so
                    print(f"talk {n}: {stopped}", flush=True)
                    at[talks] = room.health()["process"]
                    break
                done = n
                if n in (baseline_at, talks):
                    await asyncio.sleep(3)  # closes and sessions settle as between two talks
                    await room.dump_state()
                    at[n] = room.health()["process"]
                    print(f"after talk {n}: {at[n]} ({time.monotonic() - started:.0f} s)",
                          flush=True)
                elif n % 25 == 0:
                    print(f"talk {n} ({time.monotonic() - started:.0f} s): "
                          f"{room.health()['process']} {fd_kinds(room.proc.pid)}", flush=True)
            await run(browser.close)
        finally:
            await room.stop()
            await run(pw.stop)
    base, last = at.get(baseline_at), at[talks]
    lines = [(f"talks completed: {done} vs {talks} = {done / talks:.2f}x (target 1.00x)",
              talks / max(done, 1), done == talks)]
    if base is None:  # stopped before the baseline: nothing to compare
        line, _ = verdict(lines)
        print(line, flush=True)
        return 1
    ratio = last["rss_kb"] / base["rss_kb"]
    lines.append((f"resident memory after talk {done}: {last['rss_kb'] / 1024:.1f} MB vs "
                  f"after talk {baseline_at} {base['rss_kb'] / 1024:.1f} MB = {ratio:.2f}x "
                  f"(target ≤ {MEMORY_RATIO}x)", ratio / MEMORY_RATIO, ratio <= MEMORY_RATIO))
    for key, what in (("threads", "threads"), ("open_files", "open files"),
                      ("tasks", "asyncio tasks")):
        limit = base[key] + max(2, round(base[key] * 0.1))
        ratio = last[key] / base[key]
        lines.append((f"{what} after talk {done}: {last[key]} vs after talk {baseline_at} "
                      f"{base[key]} = {ratio:.2f}x (target flat: ≤ {limit})",
                      last[key] / limit, last[key] <= limit))
    print(f"room loop held up over 1 s: {last['loop_stalls']} times, longest "
          f"{last['longest_stall_s']} s")
    line, ok = verdict(lines)
    print(line, flush=True)
    return 0 if ok else 1


def fd_kinds(pid: int) -> dict[str, int]:
    """The room process's open files by kind (socket, pipe, anon_inode, file)."""
    kinds: dict[str, int] = {}
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        kind = target.split(":", 1)[0] if ":" in target and not target.startswith("/") \
            else "file"
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


class ThreadRunner:
    """Runs playwright's sync calls on one thread of their own, awaited from the loop."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(1)

    async def __call__(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(
            self.pool, lambda: fn(*args, **kwargs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--talks", type=int, default=500)
    parser.add_argument("--baseline", type=int, default=50, help="talk of the baseline")
    parser.add_argument("--dump", action="store_true", help="the room writes its inner "
                        "state to $KIOSK_DUMP (/tmp/kiosk-dump.txt) at the baseline, the "
                        "last talk and a stop (scripts/debug/sitecustomize.py)")
    args = parser.parse_args()
    if not 0 < args.baseline < args.talks:
        parser.error("--baseline must lie between 0 and --talks")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return asyncio.run(bench(args.talks, args.baseline, args.dump))


if __name__ == "__main__":
    sys.exit(main())
