"""The room process's memory and worker threads, steady over a day of talks.

Media and pages allocate from many threads (encoders, decoders, the page server);
glibc keeps what they free in per-thread arenas instead of returning it, so a room
that has held 50 talks held 130 MB of freed memory it never gave back (resident
memory grew by a fifth over 500 talks while live objects did not). :func:`give_back`
returns it every minute (``malloc_trim``). Worker threads come from one pool of fixed
size, started whole (:func:`worker_pool`), shared by the room's loop and the media loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import threading
from concurrent.futures import ThreadPoolExecutor, wait

log = logging.getLogger(__name__)

#: Threads for blocking work: encoding and decoding, drawing the test pattern, the
#: database's checkpoints.
WORKERS = 6


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


def trim() -> bool:
    """Return freed heap memory to the system; False where glibc is not the allocator."""
    if _LIBC is None:
        return False
    _LIBC.malloc_trim(0)  # ctypes lets go of the GIL meanwhile
    return True


async def give_back(every: float = 60.0) -> None:
    """Trim the heap every ``every`` seconds (in a worker thread), for the process's life."""
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(trim)
        except RuntimeError:  # the pool is shutting down with the room
            return


def worker_pool(size: int = WORKERS) -> ThreadPoolExecutor:
    """A pool of ``size`` threads, all started now (a pool that starts threads on demand
    grows under a burst and keeps them: the soak's thread count rose from 12 to 16)."""
    pool = ThreadPoolExecutor(size, thread_name_prefix="room-worker")
    barrier = threading.Barrier(size)
    wait([pool.submit(barrier.wait) for _ in range(size)])
    return pool
