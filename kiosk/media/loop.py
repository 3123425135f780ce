"""The media loop: an event loop on a thread of its own for the room's peer connections.

The room's page server runs on one asyncio loop, and building a page for a browser
holds that loop for up to seconds under load. Media must not wait for it: aiortc stamps
every packet's arrival time in the loop it runs on and derives the bandwidth estimate it
sends back to the partner (REMB) from those stamps, so a late loop reads as a congested
link and the partner's browser throttles its camera to a stamp-sized picture. The media
engine therefore runs on a loop of its own; the page server's handlers and the engine
call each other across with :func:`call_on`.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def call_on(loop: asyncio.AbstractEventLoop | None, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on ``loop`` and await its result from the current loop (directly
    when it is the same loop or None). Cancelling the caller cancels the coroutine."""
    if loop is None or loop is asyncio.get_running_loop():
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


def on_own_loop(method: Callable[..., Coroutine[Any, Any, T]]
                ) -> Callable[..., Awaitable[T]]:
    """Make an ``async`` method of an object with a ``loop`` attribute run on that loop,
    whichever loop awaits it."""

    @functools.wraps(method)
    async def run(self: Any, *args: Any, **kwargs: Any) -> T:
        return await call_on(self.loop, method(self, *args, **kwargs))

    return run


class LinkOn:
    """The room link as seen from another loop: ``send`` runs on the link's own loop."""

    def __init__(self, link: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.link, self.loop = link, loop

    async def send(self, role: str, name: str, /, **args: Any) -> Any:
        return await call_on(self.loop, self.link.send(role, name, **args))


class MediaLoop:
    """A thread running an asyncio loop until :meth:`stop`."""

    def __init__(self, name: str = "media") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"{name}-loop", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:  # whatever is left (closes of vanished peers) is dropped with the loop
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            if tasks:
                self.loop.run_until_complete(asyncio.wait(tasks, timeout=1.0))
            self.loop.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and wait for its thread (at most ``timeout`` seconds)."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
