"""Crash safety: the controller killed with SIGKILL in the middle of writes, 100 times.

After every kill the room's SQLite file passes ``PRAGMA integrity_check`` and holds
every consent answer the controller acknowledged (an ack is sent only after the
transaction committed). The controller then starts again on the same file.

Start-up cost dominates such a test, so the controller processes are forked from a
small parent that has already imported the room's code: each run is still a
separate process with its own sockets and its own SQLite connection, started the
way ``kiosk serve`` starts a controller (``Room(config).start()``) and killed by the
kernel without any chance to clean up.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest
import zmq.asyncio

from kiosk.exceptions import BusError
from kiosk.room.link import RoomLink

KILLS = 100
#: Each run of the controller writes for a random 20 to 200 ms before it is killed.
WRITE_MS = (20, 200)
WRITERS = 3

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

    async def __aenter__(self) -> Controllers:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", ZYGOTE, str(self.data_dir),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert await self._line() == ["zygote"]
        return self

    async def __aexit__(self, *exc) -> None:
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
        return int(pid)

    async def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        await self._say(f"wait {pid}")
        assert await self._line() == ["dead", str(pid)]


async def write(link: RoomLink, tag: str, acked: list[tuple[str, str]]) -> None:
    """Ask for consent, answer it, write a note; again and again, until cancelled.
    ``acked`` gets (text version, answer) of every consent answer the controller acked."""
    request = link.client.request
    n = 0
    while True:
        n += 1
        asked = await request("consent.request", {"name": f"Frau {tag}", "agency": "Jobcenter",
                                                  "purpose": "Bürgergeld"},
                              role="counsellor", timeout=2)
        assert asked.ok, asked
        version, yes = f"{tag}-{n}", n % 3 != 0
        reply = await request("consent.answer", {"partner": asked.data["id"], "yes": yes,
                                                 "version": version}, role="kiosk", timeout=2)
        assert reply.ok, reply
        acked.append((version, "granted" if yes else "declined"))
        note = await request("note.add", {"text": f"Notiz {version} " + "x" * 200},
                             role="counsellor", timeout=2)
        assert note.ok, note


def inspect(db_path: Path) -> tuple[str, set[tuple[str, str]]]:
    """integrity_check of the file a killed controller left, and its consent rows
    (read-only: the next controller finds the file, and its WAL, as the kill left them)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        check = "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
        rows = set(conn.execute("SELECT text_version, answer FROM consent_log"))
    finally:
        conn.close()
    return check, rows


@pytest.mark.timeout(400)
async def test_kill_the_controller_a_hundred_times_during_writes(data_dir):
    from kiosk.room.keys import Keyring

    Keyring(data_dir / "keys").init()  # provisioning: the controller refuses to run without
    rng = random.Random(9)
    ctx = zmq.asyncio.Context()
    acked: list[tuple[str, str]] = []
    ok_checks, lost, in_flight, startups = 0, set(), 0, []
    started = time.monotonic()
    try:
        async with Controllers(data_dir) as controllers:
            for i in range(KILLS):
                t0 = time.monotonic()
                pid = await controllers.start()
                link = await RoomLink.connect(data_dir, context=ctx)
                startups.append(time.monotonic() - t0)
                try:
                    if link.state.phase != "consulting":
                        assert (await link.send("counsellor", "session.start")).ok
                    writers = [asyncio.create_task(write(link, f"{i}.{w}", acked))
                               for w in range(WRITERS)]
                    await asyncio.sleep(rng.uniform(*WRITE_MS) / 1000)
                    assert not any(w.done() for w in writers), [w.exception() for w in writers
                                                                if w.done()]
                    await controllers.kill(pid)  # SIGKILL while the writers wait for replies
                    in_flight += 1
                    for w in writers:
                        w.cancel()
                    for w in writers:
                        try:
                            await w
                        except (asyncio.CancelledError, BusError):
                            pass
                finally:
                    await link.close()
                check, rows = inspect(data_dir / "room.db")
                ok_checks += check == "ok"
                lost |= set(acked) - rows
                assert check == "ok", f"kill {i + 1}: {check}"
    finally:
        ctx.destroy(linger=0)
    took = time.monotonic() - started
    print(f"crash safety: integrity_check ok {ok_checks}/{KILLS}, acked consent rows lost: "
          f"{len(lost)} ({len(acked)} acked consent answers, {in_flight} kills during writes; "
          f"start to first command {sum(startups) / len(startups) * 1000:.0f} ms on average; "
          f"{took:.0f} s)")
    assert ok_checks == KILLS
    assert lost == set()
    assert len(acked) > KILLS  # the runs did write
