"""The room bus, controller side, after zguide's Clone pattern.

One ROUTER answers two requests from DEALER peers, each ``[verb, req_id, body]``:

* ``CMD``: a JSON command; the reply is ``[REPLY, req_id, reply-json]`` (``req_id`` at
  most 64 bytes);
* ``SNAP``: a key prefix; the reply is one ``[KV, req_id, *update]`` per key and
  then ``[END, req_id, stamp]``.

Both endpoints are CURVE servers: only clients whose key is on the room's
allow-list connect (:mod:`kiosk.room.keys`), and each command is checked against
the bus role of the key that sent it. Peers in the controller's own process
connect over inproc, which carries no key, and count as the ``room``.

One PUB sends every change as ``[key, stamp, body]`` (``stamp``: sequence
number and controller epoch) and, every heartbeat interval, ``[HUGZ, stamp,
""]`` so that mirrors notice both a silent controller and a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import zmq
import zmq.asyncio

from kiosk.exceptions import CommandError, ConfigError, MessageError
from kiosk.room.controller import Controller
from kiosk.room.keys import COMMAND_DOMAIN, UPDATE_DOMAIN, BusAuthenticator, Keyring
from kiosk.room.messages import HEARTBEAT_KEY, MAX_FRAME_BYTES, Command, Reply, Update, stamp

log = logging.getLogger(__name__)

CMD, SNAP, REPLY, KV, END = b"CMD", b"SNAP", b"REPLY", b"KV", b"END"
#: Longest request id a peer may use. The id comes back in the reply, where a refusal
#: also spells it out in JSON (up to six bytes per byte): a long one would make the
#: reply larger than the peer's own ZMQ_MAXMSGSIZE, and libzmq would cut the peer off.
MAX_REQ_ID_BYTES = 64


def configure(sock: zmq.Socket) -> zmq.Socket:
    """Options every bus socket gets: no linger, a hard message size limit."""
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
    return sock


async def _bind(sock: zmq.Socket, endpoint: str, patience: float = 2.0) -> None:
    """Bind, waiting briefly while a just-closed socket (a restarted controller's own)
    still holds the address: libzmq releases it in its I/O thread, not at close()."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while True:
        try:
            sock.bind(endpoint)
            return
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EADDRINUSE or loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)



def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def with_port(endpoint: str) -> str:
    """A ``tcp://host:0`` endpoint as ZeroMQ's wildcard port: the bind itself takes a free
    port (choosing one first and binding later could lose it to another process)."""
    if endpoint.startswith("tcp://") and endpoint.endswith(":0"):
        return endpoint[:-2] + ":*"
    return endpoint


class BusServer:
    """Serves one controller's commands, snapshots and updates on two endpoints.

    The controller may be any object with ``handle(cmd) -> (Reply, updates)``,
    ``sweep() -> updates``, ``snapshot(prefix) -> updates``, ``seq`` and ``epoch``
    (the room's :class:`Controller`, the site's ``SiteController``); the
    keyring's :class:`~kiosk.room.keys.BusPolicy` says which key may send and read what.
    """

    def __init__(self, controller: Controller, router: str, pub: str, *,
                 keyring: Keyring, context: zmq.asyncio.Context | None = None,
                 heartbeat: float = 1.0) -> None:
        self.controller = controller
        self.keyring = keyring
        self.auth: BusAuthenticator | None = None
        self.context = context or zmq.asyncio.Context.instance()
        self.heartbeat = heartbeat
        self._endpoints = (router, pub)
        self._tasks: list[asyncio.Task] = []
        self.router: zmq.asyncio.Socket | None = None
        self.pub: zmq.asyncio.Socket | None = None
        self.refused = 0

    @property
    def endpoints(self) -> tuple[str, str]:
        """The bound (router, pub) endpoints, with real ports when 0 was asked."""
        return self._endpoints

    @property
    def local_endpoints(self) -> tuple[str, str]:
        """In-process (inproc) endpoints, also bound: the fastest path for a peer that
        shares this process and context, such as the page server of ``kiosk demo``."""
        tag = f"{id(self):x}"
        return f"inproc://bus-router-{tag}", f"inproc://bus-pub-{tag}"

    async def start(self) -> None:
        """Bind both endpoints as CURVE servers; ConfigError without the room's keys."""
        router_ep, pub_ep = self._endpoints
        public, secret = self.keyring.server_secret()
        if not self.keyring.clients():
            raise ConfigError(f"the bus allow-list {self.keyring.path} names no client; "
                              "run 'kiosk keys init'")
        self.auth = BusAuthenticator(self.context, self.keyring)
        try:
            self.auth.start()
        except zmq.ZMQError as exc:
            self.auth = None
            raise ConfigError(f"cannot start the bus authenticator: {exc} (one room "
                              "controller per ZeroMQ context)") from None
        self.router = self._curve(zmq.ROUTER, COMMAND_DOMAIN, public, secret)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 0)
        self.pub = self._curve(zmq.PUB, UPDATE_DOMAIN, public, secret)
        self.pub.setsockopt(zmq.SNDHWM, 100_000)
        try:
            await _bind(self.router, router_ep)
            await _bind(self.pub, pub_ep)
            self._endpoints = (self.router.getsockopt_string(zmq.LAST_ENDPOINT),
                               self.pub.getsockopt_string(zmq.LAST_ENDPOINT))
            for sock, endpoint in zip((self.router, self.pub), self.local_endpoints, strict=True):
                sock.bind(endpoint)
        except zmq.ZMQError:
            self.router.close()
            self.pub.close()
            self.auth.stop()
            self.auth = None
            raise
        # PUB never blocks (it drops at the high-water mark), so updates go out
        # through a plain socket on the same handle, without a future per send.
        self._pub_now = zmq.Socket.shadow(self.pub.underlying)
        self._router_now = zmq.Socket.shadow(self.router.underlying)
        self._tasks = [asyncio.create_task(self._serve(), name="bus-serve"),
                       asyncio.create_task(self._beat(), name="bus-heartbeat"),
                       asyncio.create_task(self._sweep(), name="bus-sweep")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for sock in (self.router, self.pub):
            if sock is not None:
                sock.close(linger=0)
        if self.auth is not None:
            self.auth.stop()
            self.auth = None

    def _curve(self, kind: int, domain: str, public: bytes, secret: bytes) -> zmq.Socket:
        sock = configure(self.context.socket(kind))
        sock.curve_server = True
        sock.curve_publickey, sock.curve_secretkey = public, secret
        sock.zap_domain = domain.encode()
        return sock

    def bus_role(self, frame: zmq.Frame) -> str | None:
        """The bus role of the key that sent ``frame``; None when it is not (or no
        longer) on the allow-list. Frames from inproc peers carry no key."""
        try:
            key = frame.get("User-Id")
        except zmq.ZMQError:
            return self.keyring.policy.local
        entry = self.keyring.allowed().get(key)
        return entry[1] if entry else None

    def publish(self, updates: list[Update]) -> None:
        """Send updates to every subscriber, in order."""
        send = self._pub_now.send_multipart
        for update in updates:
            send(update.encode())

    async def _beat(self) -> None:
        while True:
            ctl = self.controller
            self._pub_now.send_multipart(
                [HEARTBEAT_KEY.encode(), stamp(ctl.seq, ctl.epoch), b""])
            await asyncio.sleep(self.heartbeat)

    async def _sweep(self, every: float = 0.25) -> None:
        """Publish what expired (a silent device goes offline within a quarter second)."""
        while True:
            await asyncio.sleep(every)
            try:
                self.publish(self.controller.sweep())
            except Exception:  # a failed sweep is retried on the next turn
                log.exception("bus: sweep failed")

    async def _serve(self) -> None:
        while True:
            frames = await self.router.recv_multipart(copy=False)
            try:
                await self._answer(frames)
            except asyncio.CancelledError:
                raise
            except Exception:  # the bus must keep answering whatever one message does
                log.exception("bus: failed to answer a request")

    async def _answer(self, raw: list[zmq.Frame]) -> None:
        bus_role = self.bus_role(raw[-1])
        frames = [frame.bytes for frame in raw]
        ident, rest = frames[0], frames[1:]
        req_id = rest[1] if len(rest) == 3 else b""
        try:
            if len(rest) != 3:
                raise MessageError(f"request must have 3 frames (verb, id, body), got {len(rest)}")
            if len(req_id) > MAX_REQ_ID_BYTES:  # echoed in the reply: never amplify it
                raise MessageError(f"request id is {len(req_id)} bytes, more than "
                                   f"{MAX_REQ_ID_BYTES}")
            verb, _, body = rest
            if bus_role is None:
                raise CommandError("role", "this device's bus key has been revoked")
            if verb == CMD:
                cmd = Command.decode(body)
                if not self.keyring.policy.may_send(bus_role, cmd.role, cmd.name):
                    raise CommandError("role", f"the {bus_role} key may not send {cmd.name!r} "
                                               f"as {cmd.role}")
                reply, updates = self.controller.handle(cmd)
                self.publish(updates)
                self._router_now.send_multipart([ident, REPLY, req_id, reply.encode()])
            elif verb == SNAP:
                if bus_role not in self.keyring.policy.readers:
                    raise CommandError("role", f"the {bus_role} key may not read this state")
                await self._snapshot(ident, req_id, body.decode("utf-8", "replace"))
            else:
                raise MessageError(f"unknown request {verb[:16]!r}; expected CMD or SNAP")
        except (MessageError, CommandError) as exc:
            self.refused += 1
            req_id = req_id[:MAX_REQ_ID_BYTES]
            code = exc.code if isinstance(exc, CommandError) else "schema"
            reply = Reply(req_id.decode("ascii", "replace"), False, self.controller.seq,
                          code, str(exc))
            await self.router.send_multipart([ident, REPLY, req_id, reply.encode()])

    async def _snapshot(self, ident: bytes, req_id: bytes, prefix: str) -> None:
        ctl = self.controller
        for update in ctl.snapshot(prefix):
            await self.router.send_multipart([ident, KV, req_id, *update.encode()])
        await self.router.send_multipart([ident, END, req_id, stamp(ctl.seq, ctl.epoch)])
