"""Crash safety: the controller killed with SIGKILL in the middle of writes, 100 times.

Each run of the controller takes a mix of commands until the kill: in three runs out of
four, three writers at once ask partners in and answer for the client (consent request
and answer), write, change and delete notes, agree next steps and invite partners by
link; in every fourth run one writer follows the talk's whole course, again and again
(notes, a step, consent, an invitation, the outcome, session end, survey begin, survey
answered or skipped, which closes the session and erases its notes, session start).

A ledger keeps every command the controller acknowledged (an ack is sent only after the
transaction committed) and, per writer, the one command still waiting for its ack when
the kill came: that one may or may not have been committed. After every kill the
room's SQLite file passes ``PRAGMA integrity_check``, and after every restart on the
same file the room's state (as the restarted controller publishes it) and the file are
exactly the acknowledged commands plus some of those still waiting: the phase and
session, every note with its last acked text, the deleted ones gone, the next steps,
the partners with their consent; every acked consent answer has its row in the consent
log, every acked invitation link still opens, every closed session's notes and steps
stay erased, every acked survey answer is stored.

Start-up cost dominates such a test, so the controller processes are forked from a
small parent that has already imported the room's code: each run is still a
separate process with its own sockets and its own SQLite connection, started the
way ``kiosk serve`` starts a controller (``Room(config).start()``) and killed by the
kernel without any chance to clean up.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import zmq.asyncio

from kiosk.exceptions import BusError
from kiosk.room.link import RoomLink
from kiosk.room.messages import Reply

KILLS = 100
#: Each run of the controller writes for a random 20 to 200 ms before it is killed.
WRITE_MS = (20, 200)
WRITERS = 3
#: Every this many runs, one writer follows the talk's whole course instead.
COURSE_EVERY = 4

#: The parent that forks controllers: "start" forks one (it prints "ready <pid>" once it
#: serves), "wait <pid>" reaps a killed one (prints "dead <pid>").
ZYGOTE = r"""
import asyncio, os, sys
from pathlib import Path

from kiosk.config import RoomConfig
from kiosk.app.room import Room

data_dir = Path(sys.argv[1])


async def serve():
    config = RoomConfig(data_dir=data_dir, run=("controller",), room_id="r1",
                        bus_router="tcp://127.0.0.1:0", bus_pub="tcp://127.0.0.1:0")
    await Room(config).start()
    print("ready", os.getpid(), flush=True)
    await asyncio.Event().wait()


print("zygote", flush=True)
for line in sys.stdin:
    verb, *rest = line.split()
    if verb == "start":
        if os.fork() == 0:
            os.close(0)
            asyncio.run(serve())
            os._exit(0)
    elif verb == "wait":
        os.waitpid(int(rest[0]), 0)
        print("dead", rest[0], flush=True)
"""


class Controllers:
    """Start controller processes on one data dir and kill them with SIGKILL."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.live: set[int] = set()

    async def __aenter__(self) -> Controllers:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", ZYGOTE, str(self.data_dir),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert await self._line() == ["zygote"]
        return self

    async def __aexit__(self, *exc) -> None:
        # A controller still running (the test failed) holds the parent's pipes: without
        # it killed, waiting for the parent would wait for ever.
        for pid in self.live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.kill()
        await self.proc.wait()

    async def _line(self, timeout: float = 30.0) -> list[str]:
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        assert line, "the controllers' parent ended"
        return line.decode().split()

    async def _say(self, text: str) -> None:
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    async def start(self) -> int:
        await self._say("start")
        verb, pid = await self._line()
        assert verb == "ready"
        self.live.add(int(pid))
        return int(pid)

    async def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        self.live.discard(pid)
        await self._say(f"wait {pid}")
        assert await self._line() == ["dead", str(pid)]




# -- what the controller acknowledged ---------------------------------------------------
#: Who sends what (the operator's key may speak for every role); the counsellor else.
ROLES = {"consent.answer": "kiosk", "survey.begin": "kiosk", "survey.submit": "kiosk",
         "survey.skip": "kiosk"}
#: The talk's course: the phase each of these commands leads to.
LEADS_TO = {"session.start": "consulting", "session.end": "wrap_up", "survey.begin": "survey",
            "survey.submit": "idle", "survey.skip": "idle"}
#: Commands whose ack carries the id of what they made.
MAKES = {"note.add": "notes", "step.add": "steps", "consent.request": "partners",
         "partner.invite": "partners"}


class View(NamedTuple):
    """The room as one source shows it: the state a restarted controller publishes, or
    the file a killed one left. Items of the running session only."""

    phase: str
    session: str | None
    notes: dict[int, tuple[str, bool]]  #: id -> (text, visible)
    steps: dict[int, str]  #: id -> what
    partners: dict[int, tuple[str, str]]  #: id -> (name, consent)
    outcome: str | None


class Ledger:
    """Every command the controller acknowledged, as the room must show it after a kill
    and a restart, and per writer the one command still waiting for its ack."""

    def __init__(self) -> None:
        self.phase: str = "idle"
        self.session: str | None = None
        self.notes: dict[int, tuple[str, bool]] = {}
        self.steps: dict[int, str] = {}
        self.partners: dict[int, tuple[str, str]] = {}
        self.outcome: str | None = None
        self.invitations: dict[int, str] = {}  #: partner id -> link token, this session
        self.consent_rows: set[tuple[str, str]] = set()  #: (text version, answer)
        self.closed: set[str] = set()  #: sessions closed by an acked command
        self.surveys = 0
        self.waiting: dict[str, tuple[str, dict[str, Any]]] = {}
        self.acked: Counter[str] = Counter()

    async def send(self, link: RoomLink, writer: str, command: str, /, **args: Any) -> Reply:
        """Send a command for ``writer``; once acked, the ledger holds what it did."""
        self.waiting[writer] = (command, args)
        reply = await link.client.request(command, args, role=ROLES.get(command, "counsellor"),
                                          timeout=2)
        assert reply.ok, (command, args, reply)
        del self.waiting[writer]
        self.acked[command] += 1
        apply(self, command, args, reply.data)
        return reply

    def view(self) -> View:
        return View(self.phase, self.session, dict(self.notes), dict(self.steps),
                    dict(self.partners), self.outcome)


def apply(room: Ledger | Expected, name: str, args: dict[str, Any],
          data: dict[str, Any]) -> None:
    """What an acknowledged (or, for :class:`Expected`, committed) command changed.
    ``data["id"]`` is the id of what a command made (a placeholder when not acked)."""
    if name == "note.add":
        room.notes[data["id"]] = (args["text"], args["visible"])
    elif name == "note.update":
        room.notes[args["id"]] = (args["text"], args["visible"])
    elif name == "note.delete":
        room.notes.pop(args["id"])
    elif name == "step.add":
        room.steps[data["id"]] = args["what"]
    elif name in ("consent.request", "partner.invite"):
        room.partners[data["id"]] = (args["name"], "pending")
        if name == "partner.invite" and isinstance(room, Ledger):
            room.invitations[data["id"]] = data["token"]
    elif name == "consent.answer":
        answer = "granted" if args["yes"] else "declined"
        room.partners[args["partner"]] = (room.partners[args["partner"]][0], answer)
        if isinstance(room, Ledger):
            room.consent_rows.add((args["version"], answer))
    elif name == "session.outcome":
        room.outcome = args["outcome"]
    elif name in LEADS_TO:
        room.phase = LEADS_TO[name]
        if name == "session.start":
            room.session = data["id"]
        elif room.phase == "idle":  # the session closes: its notes and steps are erased
            if isinstance(room, Ledger):
                room.closed.add(room.session)
                room.invitations = {}
                room.surveys += name == "survey.submit"
            room.session, room.outcome = None, None
            room.notes, room.steps, room.partners = {}, {}, {}


class Expected:
    """The room as the ledger says it must be, with some of the waiting commands
    committed; what those made has placeholder ids (("new", writer))."""

    def __init__(self, ledger: Ledger) -> None:
        view = ledger.view()
        self.phase, self.session, self.outcome = view.phase, view.session, view.outcome
        self.notes, self.steps, self.partners = view.notes, view.steps, view.partners


def normal(view: View | Expected, ledger: Ledger) -> tuple:
    """``view`` with the ids the ledger does not know (made by a command whose ack never
    came) left out: what they hold is compared, in any order."""
    def split(items: dict, known: dict) -> tuple:
        return ({k: v for k, v in items.items() if k in known},
                sorted(v for k, v in items.items() if k not in known))
    session = view.session
    if session is not None and session != ledger.session and session not in ledger.closed:
        session = "new"
    return (view.phase, session, split(view.notes, ledger.notes),
            split(view.steps, ledger.steps), split(view.partners, ledger.partners),
            view.outcome)


def possible(ledger: Ledger) -> list[tuple]:
    """The normal form of the room for every subset of the waiting commands committed."""
    waiting = list(ledger.waiting.items())
    out = []
    for committed in itertools.product((False, True), repeat=len(waiting)):
        room = Expected(ledger)
        for done, (writer, (name, args)) in zip(committed, waiting, strict=True):
            if done:
                apply(room, name, args, {"id": "new" if name == "session.start"
                                         else ("new", writer)})
        out.append(normal(room, ledger))
    return out


def state_view(link: RoomLink) -> View:
    state = link.state
    return View(state.phase, state.session_id,
                {n.id: (n.text, n.visible) for n in state.notes},
                {s.id: s.what for s in state.next_steps},
                {p.id: (p.name, p.consent) for p in state.partners},
                (state.outcome or {}).get("outcome"))


class FileReport(NamedTuple):
    check: str
    view: View
    consent_rows: set[tuple[str, str]]
    surveys: int
    invitations: set[str]  #: hashes of the running session's unused, unrevoked links
    leftovers: int  #: notes and steps still stored of sessions closed by an acked command
    open_closed: int  #: sessions closed by an acked command without their closing time


def inspect(db_path: Path, ledger: Ledger) -> FileReport:
    """What a killed controller left in the file (read-only: the next controller finds the
    file, and its WAL, as the kill left them)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        def rows(sql: str, *params: Any) -> list[tuple]:
            return conn.execute(sql, params).fetchall()
        check = "; ".join(row[0] for row in rows("PRAGMA integrity_check"))
        phase, session = rows("SELECT phase, session_id FROM rooms WHERE id = 'r1'")[0]
        outcome = (rows("SELECT outcome FROM sessions WHERE id = ?", session) or [(None,)]
                   )[0][0]
        view = View(
            phase, session,
            {i: (t, bool(v)) for i, t, v in rows(
                "SELECT id, text, visible FROM notes WHERE session_id = ?", session)},
            dict(rows("SELECT id, what FROM next_steps WHERE session_id = ?", session)),
            {i: (n, c) for i, n, c in rows(
                "SELECT id, name, consent FROM partners WHERE session_id = ?", session)},
            outcome)
        closed = sorted(s for s in ledger.closed if s)
        marks = ",".join("?" * len(closed))
        leftovers = sum(rows(f"SELECT count(*) FROM {table} WHERE session_id IN ({marks})",
                             *closed)[0][0] for table in ("notes", "next_steps"))
        open_closed = rows(f"SELECT count(*) FROM sessions WHERE id IN ({marks}) "
                           "AND closed_at IS NULL", *closed)[0][0]
        return FileReport(
            check, view, set(rows("SELECT text_version, answer FROM consent_log")),
            rows("SELECT count(*) FROM survey_answers")[0][0],
            {h for (h,) in rows("SELECT token_hash FROM invitations WHERE session_id = ? "
                                "AND used = 0 AND revoked = 0", session)},
            leftovers, open_closed)
    finally:
        conn.close()


def check_file(report: FileReport, ledger: Ledger, kill: int) -> None:
    """Everything acked is in the file a kill left, as the ledger says."""
    where = f"after kill {kill}"
    assert report.check == "ok", f"{where}: {report.check}"
    assert normal(report.view, ledger) in possible(ledger), (
        f"{where}: the file holds {report.view}, acked {ledger.view()}, waiting "
        f"{ledger.waiting}")
    assert ledger.consent_rows <= report.consent_rows, (
        f"{where}: acked consent rows lost: {ledger.consent_rows - report.consent_rows}")
    submitting = sum(name == "survey.submit" for name, _ in ledger.waiting.values())
    assert ledger.surveys <= report.surveys <= ledger.surveys + submitting, where
    if report.view.session == ledger.session:
        links = {hashlib.sha256(t.encode()).hexdigest() for t in ledger.invitations.values()}
        assert links <= report.invitations, f"{where}: acked invitation links lost"
    assert (report.leftovers, report.open_closed) == (0, 0), (
        f"{where}: closed sessions not closed, or their notes back: {report}")


async def check_restart(link: RoomLink, report: FileReport, ledger: Ledger, kill: int) -> None:
    """The restarted controller shows exactly what the file held, and the acked links
    still open; then the ledger takes what the waiting commands did as acked."""
    where = f"restart after kill {kill}"
    view = state_view(link)
    assert normal(view, ledger) == normal(report.view, ledger), (
        f"{where}: the state {view} is not the file's {report.view}")
    if view.session == ledger.session and view.phase in ("consulting", "wrap_up"):
        for partner, token in ledger.invitations.items():
            reply = await link.send("media", "invite.check", token=token)
            assert reply.ok and reply.data["partner"] == partner, f"{where}: {reply}"
    if view.session != ledger.session and ledger.session is not None:
        ledger.closed.add(ledger.session)  # a waiting survey answer or skip closed it
        ledger.invitations = {}
    ledger.phase, ledger.session, ledger.outcome = view.phase, view.session, view.outcome
    ledger.notes, ledger.steps, ledger.partners = view.notes, view.steps, view.partners
    ledger.invitations = {p: t for p, t in ledger.invitations.items() if p in view.partners}
    ledger.surveys = report.surveys
    ledger.waiting = {}


# -- the writers ----------------------------------------------------------------------
async def talk(ledger: Ledger, link: RoomLink, writer: str) -> None:
    """One of three writers at once in the talk, until cancelled."""
    mine: list[int] = []
    for n in itertools.count(1):
        tag = f"{writer}-{n}"
        asked = await ledger.send(link, writer, "consent.request", name=f"Frau {tag}",
                                  agency="Jobcenter", purpose="Bürgergeld")
        await ledger.send(link, writer, "consent.answer", partner=asked.data["id"],
                          yes=n % 3 != 0, version=tag)
        note = await ledger.send(link, writer, "note.add", text=f"Notiz {tag} " + "x" * 200,
                                 visible=n % 2 == 0)
        mine.append(note.data["id"])
        await ledger.send(link, writer, "step.add", what=f"Schritt {tag}")
        await ledger.send(link, writer, "partner.invite", agency="IHK", name=f"Herr {tag}")
        await ledger.send(link, writer, "note.update", id=mine[-1], text=f"Notiz {tag} neu",
                          visible=n % 2 == 1)
        if n % 3 == 0:
            await ledger.send(link, writer, "note.delete", id=mine.pop(0))


async def course(ledger: Ledger, link: RoomLink, writer: str) -> None:
    """The talk's whole course, again and again, until cancelled."""
    for n in itertools.count(1):
        tag = f"{writer}-{n}"
        if ledger.phase == "idle":
            await ledger.send(link, writer, "session.start")
        await ledger.send(link, writer, "note.add", text=f"Notiz {tag}", visible=True)
        await ledger.send(link, writer, "step.add", what=f"Schritt {tag}")
        asked = await ledger.send(link, writer, "consent.request", name=f"Frau {tag}",
                                  agency="Jobcenter", purpose="Bürgergeld")
        await ledger.send(link, writer, "consent.answer", partner=asked.data["id"],
                          yes=True, version=tag)
        await ledger.send(link, writer, "partner.invite", agency="IHK", name=f"Herr {tag}")
        await ledger.send(link, writer, "session.outcome", outcome="settled")
        await ledger.send(link, writer, "session.end")
        await ledger.send(link, writer, "survey.begin")
        if n % 2:
            await ledger.send(link, writer, "survey.submit", satisfaction=4, ease=5,
                              recommend=9)
        else:
            await ledger.send(link, writer, "survey.skip")


async def into_the_talk(ledger: Ledger, link: RoomLink) -> None:
    """From wherever the last run left the room to a running session (acked commands)."""
    if ledger.phase in ("wrap_up", "survey"):
        await ledger.send(link, "setup", "survey.skip")
    if ledger.phase == "idle":
        await ledger.send(link, "setup", "session.start")
    assert ledger.phase == "consulting", ledger.phase


@pytest.mark.timeout(400)
async def test_kill_the_controller_a_hundred_times_during_writes(data_dir):
    from kiosk.room.keys import Keyring

    Keyring(data_dir / "keys").init()  # provisioning: the controller refuses to run without
    rng = random.Random(9)
    ctx = zmq.asyncio.Context()
    ledger = Ledger()
    ok_checks, restarts, startups = 0, 0, []
    killed_waiting: Counter[str] = Counter()
    report: FileReport | None = None
    started = time.monotonic()
    try:
        async with Controllers(data_dir) as controllers:
            for i in range(KILLS + 1):  # the last start only checks the last kill
                t0 = time.monotonic()
                pid = await controllers.start()
                link = await RoomLink.connect(data_dir, context=ctx)
                startups.append(time.monotonic() - t0)
                try:
                    if report is not None:
                        await check_restart(link, report, ledger, i)
                        restarts += 1
                    if i == KILLS:
                        await controllers.kill(pid)
                        break
                    await into_the_talk(ledger, link)
                    if i % COURSE_EVERY == COURSE_EVERY - 1:
                        writers = [asyncio.create_task(course(ledger, link, f"{i}.c"))]
                    else:
                        writers = [asyncio.create_task(talk(ledger, link, f"{i}.{w}"))
                                   for w in range(WRITERS)]
                    await asyncio.sleep(rng.uniform(*WRITE_MS) / 1000)
                    assert not any(w.done() for w in writers), [w.exception() for w in writers
                                                                if w.done()]
                    await controllers.kill(pid)  # SIGKILL while the writers wait for replies
                    killed_waiting.update(name for name, _ in ledger.waiting.values())
                    for w in writers:
                        w.cancel()
                    for w in writers:
                        try:
                            await w
                        except (asyncio.CancelledError, BusError):
                            pass
                finally:
                    await link.close()
                report = inspect(data_dir / "room.db", ledger)
                check_file(report, ledger, i + 1)
                ok_checks += report.check == "ok"
    finally:
        ctx.destroy(linger=0)
    took = time.monotonic() - started
    print(f"crash safety: integrity_check ok {ok_checks}/{KILLS}; every acked command found "
          f"after each of {restarts} kills and restarts, 0 lost: {sum(ledger.acked.values())} "
          f"acked ({dict(sorted(ledger.acked.items()))}); {len(ledger.consent_rows)} acked "
          f"consent rows, {len(ledger.closed)} closed sessions erased; kills while waiting "
          f"for: {dict(sorted(killed_waiting.items()))} (start to first command "
          f"{sum(startups) / len(startups) * 1000:.0f} ms on average; {took:.0f} s)")
    assert ok_checks == KILLS and restarts == KILLS
    assert len(ledger.consent_rows) > KILLS  # the runs did write
    assert ledger.acked["survey.submit"] and ledger.acked["survey.skip"] and ledger.closed
    assert killed_waiting["session.end"] + killed_waiting["survey.begin"] + killed_waiting[
        "survey.submit"] + killed_waiting["survey.skip"] + killed_waiting["session.start"] > 0
