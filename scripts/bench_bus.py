"""Benchmark of the room bus against raw pyzmq on the same transport, in one run.

Figures (controller in a second process, tcp on loopback, CURVE-encrypted on both
sides: the baseline encrypts as the bus does):

* command → update seen by a mirror, p50 and p99, beside the raw asyncio
  DEALER→ROUTER round trip;
* updates per second from the controller's PUB into a mirror's state, beside
  raw PUB/SUB with JSON.

Targets: p99 at most 3× the raw round trip; at least 50,000 updates/s.
The last line is the latency verdict; the exit code is 1 if any target fails.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq
import zmq.asyncio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kiosk.app.features import RoomController  # noqa: E402
from kiosk.app.room import free_port  # noqa: E402
from kiosk.room.bus import BusServer  # noqa: E402
from kiosk.room.client import CommandClient  # noqa: E402
from kiosk.room.keys import Keyring  # noqa: E402
from kiosk.room.messages import Command  # noqa: E402
from kiosk.room.mirror import Mirror  # noqa: E402
from kiosk.room.state import RoomState, room_key  # noqa: E402
from kiosk.room.store import Store  # noqa: E402

HWM = 100_000


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# -- server side (run in a child process) -----------------------------------------
async def serve(mode: str, router: str, pub: str, tmp: str) -> None:
    ctx = zmq.asyncio.Context()
    loop = asyncio.get_running_loop()
    keyring = Keyring(Path(tmp) / "keys")
    if mode == "raw":
        # The baseline encrypts as the room's bus does (CURVE), without authenticator.
        rsock, psock = ctx.socket(zmq.ROUTER), zmq.Context.instance().socket(zmq.PUB)
        public, secret = keyring.server_secret()
        for sock in (rsock, psock):
            sock.curve_server = True
            sock.curve_publickey, sock.curve_secretkey = public, secret
        psock.sndhwm = HWM
        rsock.bind(router)
        psock.bind(pub)

        async def echo() -> None:
            while True:
                await rsock.send_multipart(await rsock.recv_multipart())
        task = asyncio.create_task(echo())
    else:
        store = Store(Path(tmp) / "room.db")
        ctl = RoomController(store, "bench", "Bench")
        bus = BusServer(ctl, router, pub, keyring=keyring, context=ctx)
        await bus.start()

        async def checkpoints() -> None:  # as a room does (kiosk.app.room.Room)
            while True:
                await asyncio.sleep(2)
                await asyncio.to_thread(store.checkpoint)
        task = asyncio.create_task(checkpoints())
        ctl.handle(Command("session.start"))
    gc.freeze()  # as a room does after start (kiosk.app.room.Room)
    print("ready", flush=True)
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        n = int(line.split()[1])
        if mode == "raw":
            for i in range(n):
                body = json.dumps({"id": i % 20, "text": f"note {i}", "visible": True})
                psock.send_multipart([b"room/bench/notes/1", body.encode()])
            psock.send_multipart([b"END", b""])
        else:
            updates = [ctl._publishable(room_key("bench", "notes", i % 20 + 1),
                                        {"id": i % 20 + 1, "text": f"note {i}", "visible": True})
                       for i in range(n)]
            bus.publish(updates)
        print("sent", flush=True)
    if task:
        task.cancel()


# -- client side --------------------------------------------------------------------
class Server:
    def __init__(self, mode: str, tmp: str) -> None:
        keyring = Keyring(Path(tmp) / "keys")
        keyring.init()
        #: The operator's bus key, as `kiosk ctl` uses it.
        self.keys = keyring.client("operator")
        self.router = f"tcp://127.0.0.1:{free_port()}"
        self.pub = f"tcp://127.0.0.1:{free_port()}"
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", mode, self.router, self.pub, tmp],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def burst(self, n: int) -> None:
        self.proc.stdin.write(f"burst {n}\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


class RawClient:
    """A plain asyncio DEALER against the echoing ROUTER: the baseline round trip."""

    def __init__(self, server: Server) -> None:
        self.ctx = zmq.asyncio.Context()
        self.sock = server.keys.apply(self.ctx.socket(zmq.DEALER))
        self.sock.connect(server.router)

    async def round_trips(self, rounds: int) -> list[float]:
        times = []
        for i in range(rounds):
            t0 = time.perf_counter()
            await self.sock.send_multipart([b"CMD", b"%d" % i, b'{"name":"ping"}'])
            await self.sock.recv_multipart()
            times.append(time.perf_counter() - t0)
        return times

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


async def raw_pubsub(server: Server, n: int) -> float:
    """Plain blocking pyzmq SUB with json.loads: the fastest a receiver gets."""
    ctx = zmq.Context()
    sub = server.keys.apply(ctx.socket(zmq.SUB))
    sub.rcvhwm = HWM
    sub.connect(server.pub)
    sub.subscribe(b"")
    await asyncio.sleep(0.3)  # let the subscription reach the publisher
    t0 = time.perf_counter()
    server.burst(n)
    count = 0
    while True:
        key, body = sub.recv_multipart()
        if key == b"END":
            break
        json.loads(body)
        count += 1
    elapsed = time.perf_counter() - t0
    sub.close(0)
    ctx.term()
    if count != n:
        print(f"  raw PUB/SUB dropped {n - count} of {n}")
    return count / elapsed


class RoomClient:
    """A mirror and a command client, as a room's page server has them."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.ctx = zmq.asyncio.Context()
        self.state = RoomState()
        self.mirror = Mirror(self.state, server.router, server.pub, context=self.ctx,
                             keys=server.keys)
        self.client = CommandClient(server.router, context=self.ctx, keys=server.keys)
        self.seen = asyncio.Event()
        self.target = 0
        self.state.param.watch(self._seq, "seq")

    def _seq(self, event) -> None:
        if event.new >= self.target:
            self.seen.set()

    async def start(self) -> None:
        await self.mirror.start()
        reply = await self.client.request("note.add", {"text": "start", "visible": True})
        self.note_id = reply.data["id"]

    async def latencies(self, rounds: int) -> list[float]:
        """Command sent → its update applied by the mirror, one command at a time."""
        times = []
        for i in range(rounds):
            self.target = self.state.seq + 1
            self.seen.clear()
            t0 = time.perf_counter()
            request = asyncio.ensure_future(
                self.client.request("note.update", {"id": self.note_id, "text": f"Text {i}"}))
            await self.seen.wait()
            times.append(time.perf_counter() - t0)
            assert (await request).ok
        return times

    async def close(self) -> None:
        await self.client.close()
        await self.mirror.close()
        self.ctx.term()


async def room_updates(server: Server, n: int) -> float:
    ctx = zmq.asyncio.Context()
    state = RoomState()
    mirror = Mirror(state, server.router, server.pub, context=ctx, keys=server.keys)
    await mirror.start()
    await asyncio.sleep(0.3)
    target = state.seq + n
    done = asyncio.Event()
    state.param.watch(lambda e: done.set() if e.new >= target else None, "seq")
    t0 = time.perf_counter()
    server.burst(n)
    await asyncio.wait_for(done.wait(), 60)
    elapsed = time.perf_counter() - t0
    resyncs = mirror.resyncs
    await mirror.close()
    ctx.term()
    if resyncs:
        print(f"  mirror resynchronised {resyncs} times during the burst")
    return n / elapsed


def verdict(figure: str, value: float, base: float, ratio: float, target: str, ok: bool,
            unit: str) -> str:
    return (f"{figure}: {value:.3f} {unit} vs {base:.3f} {unit} = {ratio:.2f}x "
            f"(target {target}) {'PASS' if ok else 'FAIL'}")


async def bench(rounds: int, burst: int, blocks: int = 10) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        raw_server, room_server = Server("raw", tmp), Server("room", tmp)
        raw, room = RawClient(raw_server), RoomClient(room_server)
        await room.start()
        gc.freeze()  # as a room does after start (kiosk.app.room.Room)
        rt: list[float] = []
        lat: list[float] = []
        per_block = max(1, rounds // blocks)
        await raw.round_trips(per_block // 5)  # warm-up, not counted
        await room.latencies(per_block // 5)
        for _ in range(blocks):  # alternate, so that load changes hit both alike
            rt += await raw.round_trips(per_block)
            lat += await room.latencies(per_block)
        raw.close()
        await room.close()
        raw_rates, rates = [], []
        for _ in range(3):  # alternate bursts; take the median of each
            raw_rates.append(await raw_pubsub(raw_server, burst))
            rates.append(await room_updates(room_server, burst))
        raw_rate, rate = statistics.median(raw_rates), statistics.median(rates)
        raw_server.close()
        room_server.close()
    ms = 1000
    print(f"{'':34}{'p50 ms':>10}{'p99 ms':>10}   "
          f"({len(lat)} each, in {blocks} alternating blocks)")
    print(f"{'raw DEALER→ROUTER round trip':34}{statistics.median(rt) * ms:10.3f}"
          f"{pct(rt, .99) * ms:10.3f}")
    print(f"{'room command → mirror update':34}{statistics.median(lat) * ms:10.3f}"
          f"{pct(lat, .99) * ms:10.3f}")
    print(f"{'raw PUB/SUB with JSON':34}{raw_rate:>14,.0f} msg/s   (median of 3 bursts)")
    print(f"{'room updates into a mirror':34}{rate:>14,.0f} updates/s")
    rate_ok = rate >= 50_000
    print(verdict("updates/s", rate, raw_rate, rate / raw_rate, ">= 50,000/s", rate_ok, "/s"))
    p99, base = pct(lat, .99) * ms, pct(rt, .99) * ms
    lat_ok = p99 <= 3 * base
    print(verdict("command→update p99", p99, base, p99 / base, "<= 3x raw round trip", lat_ok,
                  "ms"))
    return 0 if rate_ok and lat_ok else 1


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(serve(*sys.argv[2:6]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10_000, help="commands timed")
    parser.add_argument("--burst", type=int, default=50_000, help="updates in each burst")
    args = parser.parse_args()
    return asyncio.run(bench(args.rounds, args.burst))


if __name__ == "__main__":
    sys.exit(main())
