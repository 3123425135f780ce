"""Stalls: notice when the room's event loop is held up, and say where.

Everything a room does for its screens runs on one asyncio loop: a synchronous call
that blocks it (a thread join, a file lock, a slow query) freezes every page at once
and logs nothing by itself. :class:`LoopWatch` keeps a beat on the loop and, from a
thread of its own, logs a warning with the loop thread's stack when the beat is late,
and how long the stall lasted once the loop runs again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
import traceback

log = logging.getLogger(__name__)

#: Seconds the loop may be late before a stall is logged.
STALL_AFTER = 1.0


class LoopWatch:
    """Watch one running loop; ``stalls`` and ``longest`` (seconds) count what was seen."""

    def __init__(self, name: str = "room", after: float = STALL_AFTER,
                 every: float = 0.1) -> None:
        self.name, self.after, self.every = name, after, every
        self.stalls = 0
        self.longest = 0.0
        self._beat = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._handle: asyncio.TimerHandle | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start watching the running loop (call from its thread)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stop.clear()
        self._tick()
        self._thread = threading.Thread(target=self._watch, name=f"{self.name}-loop-watch",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._thread is not None:
            self._thread.join(1.0)
            self._thread = None

    def _tick(self) -> None:
        self._beat = time.monotonic()
        self._handle = self._loop.call_later(self.every, self._tick)

    def _watch(self) -> None:
        stalled_since = 0.0
        while not self._stop.wait(self.every):
            beat = self._beat
            late = time.monotonic() - beat
            if not stalled_since and late > self.after:
                stalled_since = beat
                self.stalls += 1
                frame = sys._current_frames().get(self._loop_thread)
                where = "".join(traceback.format_stack(frame)[-12:]) if frame else "?"
                log.warning("the %s's event loop has been held up for %.1f s, in:\n%s",
                            self.name, late, where)
            elif stalled_since and beat > stalled_since:
                took = beat - stalled_since
                self.longest = max(self.longest, took)
                log.warning("the %s's event loop runs again after %.1f s", self.name, took)
                stalled_since = 0.0


def process_facts(watch: LoopWatch | None = None) -> dict[str, float | int | None]:
    """What an operator watches for leaks: resident memory (kB), OS threads, open files,
    the loop's asyncio tasks, and the loop's hold-ups so far (Linux /proc; None elsewhere)."""
    def proc(path: str) -> str | None:
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                return f.read()
        except OSError:
            return None

    status = proc("/proc/self/status") or ""
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss = fields.get("VmRSS", "").split()
    threads = fields.get("Threads", "").strip()
    try:
        files = len(os.listdir("/proc/self/fd"))
    except OSError:
        files = None
    try:
        tasks = len(asyncio.all_tasks())
    except RuntimeError:  # no running loop
        tasks = None
    return {"rss_kb": int(rss[0]) if rss else None,
            "threads": int(threads) if threads.isdigit() else threading.active_count(),
            "open_files": files, "tasks": tasks,
            "loop_stalls": watch.stalls if watch else None,
            "longest_stall_s": round(watch.longest, 3) if watch else None}
