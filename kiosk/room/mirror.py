"""A live copy of the room state, fed by the bus (the Clone pattern's client).

The mirror subscribes first, then asks for a snapshot, drops queued updates
older than the snapshot and applies the rest in order. A sequence gap, a new
controller epoch, a bad message or ``silence`` seconds without even a
heartbeat make it resynchronise by itself with fresh sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import zmq
import zmq.asyncio

from kiosk.exceptions import BusError, MessageError
from kiosk.room.bus import END, KV, REPLY, SNAP, configure
from kiosk.room.keys import ClientKeys, require_keys, secure
from kiosk.room.messages import HEARTBEAT_KEY, Reply, Update, new_id, unstamp
from kiosk.room.state import RoomState

log = logging.getLogger(__name__)

DRAIN = 1000  # most updates folded into one batch


async def fetch_snapshot(context: zmq.asyncio.Context, router: str, prefix: str = "",
                         timeout: float = 3.0, keys: ClientKeys | None = None
                         ) -> tuple[list[Update], int, bytes]:
    """Ask the controller for every key under ``prefix``: (updates, seq, epoch)."""
    sock = secure(configure(context.socket(zmq.DEALER)), keys)
    sock.connect(router)
    req = new_id().encode()
    items: list[Update] = []
    try:
        await sock.send_multipart([SNAP, req, prefix.encode()])
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not await sock.poll(left * 1000):
                raise BusError(f"no snapshot from the room controller at {router}")
            frames = await sock.recv_multipart()
            if len(frames) < 2 or frames[1] != req:
                continue
            if frames[0] == KV:
                items.append(Update.decode(frames[2:]))
            elif frames[0] == END and len(frames) == 3:
                seq, epoch = unstamp(frames[2])
                return items, seq, epoch
            elif frames[0] == REPLY and len(frames) == 3:  # refused
                raise BusError(f"the room controller refused the snapshot: "
                               f"{Reply.decode(frames[2]).error}")
            else:
                raise MessageError(f"unexpected snapshot frame {frames[0][:16]!r}")
    finally:
        sock.close(linger=0)


class _Resync(Exception):
    """Internal: the mirror must take a fresh snapshot."""


class Mirror:
    """Keeps a :class:`RoomState` equal to the controller's, across gaps and restarts."""

    def __init__(self, state: RoomState, router: str, pub: str, *, prefix: str = "room/",
                 context: zmq.asyncio.Context | None = None, silence: float = 5.0,
                 keys: ClientKeys | None = None) -> None:
        require_keys(keys, router)
        self.state = state
        self.router, self.pub = router, pub
        self.keys = keys
        self.prefix = prefix
        self.context = context or zmq.asyncio.Context.instance()
        self.silence = silence
        self.epoch = b""
        self.resyncs = 0
        self.last_heard = 0.0
        self._task: asyncio.Task | None = None
        self._synced = asyncio.Event()
        self._waiters: list[tuple[int, asyncio.Future]] = []

    async def start(self, wait: float | None = 5.0) -> None:
        """Start following; with ``wait``, return once the first snapshot is in."""
        self._task = asyncio.create_task(self._run(), name="mirror")
        if wait:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):  # not wait_for: see client.settle
                    await self._synced.wait()

    async def wait_synced(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            await self._synced.wait()

    async def caught_up(self, seq: int, timeout: float = 1.0) -> bool:
        """Wait until updates up to ``seq`` are applied (read your own writes)."""
        if self.state.seq >= seq and self.state.synced:
            return True
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, future))
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            return False

    def _wake(self, *, all_: bool = False) -> None:
        keep = []
        for seq, future in self._waiters:
            if all_ or seq <= self.state.seq:
                if not future.done():
                    future.set_result(not all_)
            else:
                keep.append((seq, future))
        self._waiters = keep

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.state.synced = False

    async def _run(self) -> None:
        while True:
            sub = secure(configure(self.context.socket(zmq.SUB)), self.keys)
            sub.setsockopt(zmq.RCVHWM, 100_000)
            try:
                sub.connect(self.pub)
                sub.subscribe(self.prefix.encode())
                sub.subscribe(HEARTBEAT_KEY.encode())
                await self._follow(sub)
            except (_Resync, BusError, MessageError) as exc:
                self._synced.clear()
                self._wake(all_=True)  # sequence numbers may start anew
                if self.state.synced:
                    log.info("mirror: resynchronising (%s)", exc)
                self.state.synced = False
                self.resyncs += 1
                await asyncio.sleep(0.05)
            finally:
                sub.close(linger=0)

    async def _follow(self, sub: zmq.asyncio.Socket) -> None:
        items, seq, epoch = await fetch_snapshot(self.context, self.router, self.prefix,
                                                 timeout=self.silence, keys=self.keys)
        self.epoch, self.last_heard = epoch, time.monotonic()
        self.state.apply([(u.key, u.value) for u in items], replace=True, seq=seq)
        self.state.synced = True
        self._synced.set()
        drain = zmq.Socket.shadow(sub.underlying)
        while True:
            try:
                async with asyncio.timeout(self.silence):
                    frames = await sub.recv_multipart()
            except TimeoutError:
                raise _Resync(f"nothing heard for {self.silence:g} s") from None
            batch: list[tuple[str, object]] = []
            self.last_heard = time.monotonic()
            try:
                seq = self._accept(Update.decode(frames), seq, batch)
                for _ in range(DRAIN):  # fold whatever else is queued into one batch
                    seq = self._accept(Update.decode(drain.recv_multipart(zmq.NOBLOCK)), seq,
                                       batch)
            except zmq.Again:
                pass
            finally:
                if batch:
                    self.state.apply(batch, seq=seq)
                    if self._waiters:
                        self._wake()

    def _accept(self, update: Update, seq: int, batch: list) -> int:
        """Check one update against the stream; return the new last sequence number."""
        if update.epoch != self.epoch:
            raise _Resync("the controller restarted")
        if update.key == HEARTBEAT_KEY:
            if update.seq > seq:
                raise _Resync(f"heartbeat at {update.seq}, mirror at {seq}")
            return seq
        if update.seq <= seq:
            return seq  # older than the snapshot
        if update.seq != seq + 1:
            raise _Resync(f"gap: expected {seq + 1}, got {update.seq}")
        batch.append((update.key, update.value))
        return update.seq
