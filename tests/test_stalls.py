"""The loop watch says when and where the room's loop is held up."""

from __future__ import annotations

import asyncio
import logging
import time

from kiosk.app.stalls import LoopWatch


def hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # a synchronous call on the loop, as a thread join would be


async def test_a_held_loop_is_logged_with_where_it_waits_and_how_long(caplog):
    caplog.set_level(logging.WARNING, logger="kiosk.app.stalls")
    watch = LoopWatch("room test", after=0.3, every=0.05)
    watch.start()
    try:
        await asyncio.sleep(0.3)
        assert watch.stalls == 0  # a loop that runs is not reported
        hold_the_loop(0.8)
        await asyncio.sleep(0.3)  # the loop runs again
    finally:
        watch.stop()
    assert watch.stalls == 1
    assert 0.5 <= watch.longest <= 2.0
    held, again = [r.getMessage() for r in caplog.records]
    assert "room test's event loop has been held up" in held
    assert "hold_the_loop" in held and "time.sleep(seconds)" in held
    assert "runs again after" in again


async def test_a_stopped_watch_stops_its_thread():
    watch = LoopWatch(after=0.3, every=0.05)
    watch.start()
    thread = watch._thread
    watch.stop()
    assert not thread.is_alive()
    hold_the_loop(0.5)
    assert watch.stalls == 0
