"""Sending commands to the room controller (DEALER→ROUTER) and awaiting the reply."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import zmq
import zmq.asyncio

from kiosk.exceptions import BusError, MessageError
from kiosk.room.bus import CMD, REPLY, configure
from kiosk.room.keys import ClientKeys, require_keys, secure
from kiosk.room.messages import Command, Reply


class CommandClient:
    """One DEALER shared by every sender in a process; replies matched by id."""

    def __init__(self, router: str, *, role: str = "counsellor",
                 context: zmq.asyncio.Context | None = None, timeout: float = 3.0,
                 keys: ClientKeys | None = None) -> None:
        require_keys(keys, router)
        self.router = router
        self.keys = keys
        self.role = role
        self.context = context or zmq.asyncio.Context.instance()
        self.timeout = timeout
        self._sock: zmq.asyncio.Socket | None = None
        self._reader: asyncio.Task | None = None
        self._waiting: dict[bytes, asyncio.Future] = {}

    def _socket(self) -> zmq.asyncio.Socket:
        if self._sock is None:
            sock = secure(configure(self.context.socket(zmq.DEALER)), self.keys)
            # Queue nothing while the controller is away: a stale command must
            # not run minutes later when it comes back.
            sock.setsockopt(zmq.IMMEDIATE, 1)
            sock.connect(self.router)
            self._sock = sock
            self._reader = asyncio.create_task(self._read(), name="command-replies")
        return self._sock

    async def request(self, name: str, args: dict[str, Any] | None = None, *,
                      role: str | None = None, timeout: float | None = None) -> Reply:
        """Send one command; return the controller's reply (ack or error)."""
        cmd = Command(name, args or {}, role or self.role)
        return await self.send(cmd, timeout=timeout)

    def post(self, cmd: Command) -> asyncio.Future:
        """Send one command right now; return the future of its reply.

        Raises BusError at once when the controller is not connected. Lets a
        click handler put its command on the wire before it returns.
        """
        sock = self._socket()
        req = cmd.id.encode()
        # Through the asyncio socket, not a plain shadow of it: a non-blocking send
        # happens at once either way, but only this one then checks whether a reply
        # came in meanwhile. The socket's file descriptor signals edges, and a send
        # behind the reader's back can take the edge of a waiting reply, leaving the
        # reader asleep, and every later command unanswered.
        sent = sock.send_multipart([CMD, req, cmd.encode()], flags=zmq.NOBLOCK)
        failed = sent.exception() if sent.done() else None
        if isinstance(failed, zmq.Again):
            raise BusError(f"the room controller at {self.router} is not connected")
        if failed is not None:
            raise BusError(f"cannot send to the room controller: {failed}")
        future = asyncio.get_running_loop().create_future()
        self._waiting[req] = future
        future.add_done_callback(lambda f: self._waiting.pop(req, None))
        return future

    async def send(self, cmd: Command, *, timeout: float | None = None) -> Reply:
        timeout = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(timeout):
                while True:
                    try:
                        future = self.post(cmd)
                        break
                    except BusError:  # not connected (yet): retry until the timeout
                        await asyncio.sleep(0.02)
                return await self.settle(future, timeout)
        except TimeoutError:
            raise BusError(
                f"the room controller at {self.router} did not answer within {timeout:g} s"
            ) from None

    async def settle(self, future: asyncio.Future, timeout: float | None = None) -> Reply:
        """Await a posted command's reply; BusError after ``timeout`` seconds."""
        timeout = self.timeout if timeout is None else timeout
        try:
            # Not wait_for: on Python 3.11 it can swallow a cancellation that comes as the
            # reply does, and the cancelled caller (a heartbeat loop, say) runs on for good.
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise BusError(
                f"the room controller at {self.router} did not answer within {timeout:g} s"
            ) from None

    async def _read(self) -> None:
        while True:
            frames = await self._sock.recv_multipart()
            if len(frames) != 3 or frames[0] != REPLY:
                continue
            future = self._waiting.get(frames[1])
            if future is None or future.done():
                continue
            try:
                future.set_result(Reply.decode(frames[2]))
            except MessageError as exc:
                future.set_exception(exc)

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
