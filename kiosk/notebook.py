"""``kiosk.connect()``: a script's or notebook's live connection to a running room.

Watching is not acting. A connection without a role mirrors the room's state
and sends nothing: its bus key (``notebook``) is a *viewer*'s, and the room
controller refuses every command it might send. One that asks for a role
(``role="counsellor"``: the key ``notebook-counsellor``) or names a key of the
room's keyring speaks for that key's role only; the controller refuses every
other role's command. Both keys are made in the room's keyring on first use
(``kiosk keys list`` shows them, ``kiosk keys revoke`` takes them back). Room
views shown with such a link only watch (:class:`kiosk.views.base.RoomView`).

Two flavours over the same :class:`~kiosk.room.link.RoomLink` (mirror and
command client):

* :func:`connect` returns a :class:`Connection` whose calls block. It runs on an
  event loop of its own in a background thread, so it works in a script, in a
  notebook and in a notebook served by ``panel serve`` alike.
* ``await`` :func:`connect_async` returns an :class:`AsyncConnection` on the
  running loop, for asyncio code.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import param

from kiosk.config import default_data_dir, read_runtime
from kiosk.exceptions import BusError, CommandError, ConfigError
from kiosk.room.keys import ROOM_POLICY, Keyring
from kiosk.room.link import RoomLink, runtime_keyring
from kiosk.room.messages import Reply
from kiosk.room.state import ROLES, RoomState

T = TypeVar("T")

#: The keyring's key of a notebook that only watches; one that asks for a role gets
#: ``notebook-<role>``.
WATCH_KEY = "notebook"
#: State fields the journal leaves out: the bus's counter, which changes with everything,
#: and the partners' call measurements, which come every second.
UNRECORDED = frozenset({"name", "seq", "quality"})


def notebook_key(keyring: Keyring, role: str | None) -> str:
    """The name of the keyring's key for a notebook with ``role`` (None: watch only),
    made on first use with the bus role ``viewer`` or ``role``."""
    if role is not None and role not in ROLES:
        raise ConfigError(f"role {role!r} must be one of: {', '.join(ROLES)}")
    name, bus_role = (f"{WATCH_KEY}-{role}", role) if role else (WATCH_KEY, "viewer")
    have = keyring.clients().get(name)
    if have is not None and have[0] != bus_role:
        raise ConfigError(f"the room's key {name!r} has the bus role {have[0]!r}, not "
                          f"{bus_role!r}; take it back first ('kiosk keys revoke {name}')")
    if have is None:
        try:
            keyring.add(name, bus_role)
        except ConfigError:
            if name not in keyring.clients():  # not made meanwhile by another notebook
                raise
        except OSError as exc:
            raise ConfigError(f"cannot add the key {name!r} to {keyring.path} ({exc}); ask "
                              f"whoever runs the room for a key with the bus role "
                              f"{bus_role!r}") from None
    return name


def speaks_for(bus_role: str) -> frozenset[str]:
    """The command roles a key with ``bus_role`` sends commands for; none: it only watches."""
    roles, commands = ROOM_POLICY.roles.get(bus_role, (frozenset(), frozenset()))
    return frozenset() if commands is not None and commands <= {"ping"} else roles


def _brief(name: str, old: Any, new: Any) -> str:
    """A change in a few words: how many items, not what they say (notes stay on screens)."""
    if isinstance(new, list) or isinstance(old, list):
        return f"{len(old or ())} → {len(new or ())}"
    if isinstance(new, dict) or isinstance(old, dict):
        return f"{'gesetzt' if old else 'leer'} → {'gesetzt' if new else 'leer'}"
    if name == "draft":
        return f"{len(new or '')} Zeichen"
    return f"{old} → {new}"


class Journal(param.Parameterized):
    """What one connection saw of the room, newest last: each change of its state as it
    came over the bus, the devices' health whenever it changed, the commands it sent."""

    changes = param.DataFrame(doc="time, seq, what (a field of the state), change (in short).")
    health = param.DataFrame(doc="time, device, kind, label, online, alert, fps: a row per "
                                 "device whenever its health changed.")
    sent = param.DataFrame(doc="time, role, command, ok, answer: this connection's commands.")
    limit = param.Integer(default=2000, bounds=(10, None), doc="Rows kept in each table.")

    COLUMNS = {"changes": ["time", "seq", "what", "change"],
               "health": ["time", "device", "kind", "label", "online", "alert", "fps"],
               "sent": ["time", "role", "command", "ok", "answer"]}

    def __init__(self, state: RoomState, **params: Any) -> None:
        params.update({name: pd.DataFrame(columns=cols) for name, cols in self.COLUMNS.items()})
        super().__init__(**params)
        self._last: dict[str, tuple] = {}
        self._watcher = state.param.watch(
            self._record, [p for p in state.param if p not in UNRECORDED])
        self._health(state.devices)

    def _add(self, table: str, rows: list[dict[str, Any]]) -> None:
        new = pd.DataFrame(rows, columns=self.COLUMNS[table])
        old = getattr(self, table)
        frame = new if old.empty else pd.concat([old, new], ignore_index=True)
        setattr(self, table, frame.tail(self.limit).reset_index(drop=True))

    def _record(self, *events: param.parameterized.Event) -> None:
        now, seq = pd.Timestamp.now(), events[0].obj.seq
        rows = []
        for e in events:
            if e.name != "devices":
                rows.append({"time": now, "seq": seq, "what": e.name,
                             "change": _brief(e.name, e.old, e.new)})
                continue
            changed = self._health(e.new, now)  # a heartbeat alone is no change worth a row
            if changed:
                rows.append({"time": now, "seq": seq, "what": e.name, "change": ", ".join(
                    f"{r['device']}: {r['alert'] or 'online'}" for r in changed)})
        if rows:
            self._add("changes", rows)

    def _health(self, devices: dict, now: pd.Timestamp | None = None) -> list[dict[str, Any]]:
        """Rows for the devices whose health changed (or that are new); they are added."""
        now = now or pd.Timestamp.now()
        rows = []
        for device in devices.values():
            seen = (device.online, device.alert, device.fps)
            if self._last.get(device.id) != seen:
                self._last[device.id] = seen
                rows.append({"time": now, "device": device.id, "kind": device.kind,
                             "label": device.label or device.id, "online": device.online,
                             "alert": device.alert or "", "fps": device.fps})
        if rows:
            self._add("health", rows)
        return rows

    def note_sent(self, role: str, name: str, reply: Reply) -> None:
        self._add("sent", [{"time": pd.Timestamp.now(), "role": role, "command": name,
                            "ok": reply.ok, "answer": "ok" if reply.ok else
                            f"{reply.code}: {reply.error}"}])

    def stop(self, state: RoomState) -> None:
        state.param.unwatch(self._watcher)


class AsyncConnection:
    """A live mirror of one room and, with a role, that role's commands; on one loop."""

    def __init__(self, link: RoomLink, key: str, roles: frozenset[str]) -> None:
        #: The link views take (``KioskView(link=room.link)``): they only watch.
        self.link = link
        #: The keyring's key this connection speaks with.
        self.key = key
        #: The command roles it speaks for; empty: it only watches.
        self.roles = roles
        self.journal = Journal(link.state)

    @property
    def state(self) -> RoomState:
        """The room's state, kept equal to the controller's."""
        return self.link.state

    def role_for(self, as_: str | None) -> str:
        """The role a command goes out as; CommandError when this connection has none."""
        if not self.roles:
            raise CommandError("role", "this connection only watches; ask for a role, e.g. "
                                       "kiosk.connect(role='counsellor')")
        if as_ is None and len(self.roles) == 1:
            return next(iter(self.roles))
        if as_ not in self.roles:
            raise CommandError("role", f"this connection speaks for {', '.join(sorted(self.roles))}"
                                       f"; name one of them with as_=… (not {as_!r})")
        return as_

    async def send(self, name: str, /, *, as_: str | None = None,
                   timeout: float | None = None, **args: Any) -> Reply:
        """Send one command as this connection's role (``as_`` when it has several); return
        the controller's reply, an ack or an error. An ack returns once the mirror shows it."""
        role = self.role_for(as_)
        reply = await self.link.send(role, name, timeout=timeout, **args)
        self.journal.note_sent(role, name, reply)
        return reply

    async def must(self, name: str, /, *, as_: str | None = None, **args: Any) -> Reply:
        """Like :meth:`send`, but raise CommandError when the controller refuses."""
        reply = await self.send(name, as_=as_, **args)
        if not reply.ok:
            raise CommandError(reply.code, reply.error)
        return reply

    async def wait_until(self, predicate: Callable[[RoomState], bool], timeout: float = 10.0,
                         what: str = "the state asked for") -> RoomState:
        """Return the state once ``predicate(state)`` holds; TimeoutError after ``timeout`` s."""
        state = self.state
        changed = asyncio.Event()
        watcher = state.param.watch(lambda *events: changed.set(), list(state.param))
        try:
            async with asyncio.timeout(timeout):
                while not (state.synced and predicate(state)):
                    changed.clear()
                    await changed.wait()
        except TimeoutError:
            raise TimeoutError(f"the room did not reach {what} within {timeout:g} s "
                               f"(phase {state.phase!r})") from None
        finally:
            state.param.unwatch(watcher)
        return state

    async def wait_for(self, timeout: float = 10.0, **values: Any) -> RoomState:
        """Return the state once each named field equals its value, e.g. ``phase="survey"``."""
        unknown = sorted(set(values) - set(self.state.param))
        if unknown:
            raise TypeError(f"the room's state has no {', '.join(unknown)}")
        what = ", ".join(f"{k}={v!r}" for k, v in values.items())
        return await self.wait_until(
            lambda s: all(getattr(s, k) == v for k, v in values.items()), timeout, what)

    async def close(self) -> None:
        self.journal.stop(self.state)
        await self.link.close()

    async def __aenter__(self) -> AsyncConnection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def connect_async(data_dir: str | Path | None = None, *, role: str | None = None,
                        key: str | None = None, timeout: float = 5.0) -> AsyncConnection:
    """Join the room running with ``data_dir`` (default ``$KIOSK_DATA_DIR``) on this loop.

    Without ``role`` or ``key`` the connection only watches. ``role`` (``counsellor``,
    ``kiosk``, ``display``, ``media``, ``admin``) lets it send that role's commands;
    ``key`` names a key of the room's keyring and sends what its bus role allows.
    BusError when the room sends no state within ``timeout`` seconds.
    """
    if role and key:
        raise ConfigError("ask for a role or name a key, not both")
    data = Path(data_dir) if data_dir else default_data_dir()
    info = read_runtime(data)
    keyring = runtime_keyring(info)
    name = key or notebook_key(keyring, role)
    link = RoomLink(info["bus"]["router"], info["bus"]["pub"], urls=info.get("urls"),
                    keys=keyring.client(name))
    link.base_url = info.get("base_url", "")
    await link.start(wait=timeout)
    if not link.state.synced:
        await link.close()
        raise BusError(f"the room of {data} sent no state within {timeout:g} s (does it "
                       f"run? may the key {name!r} read it?)")
    return AsyncConnection(link, name, speaks_for(keyring.clients().get(name, ("",))[0]))


class Connection:
    """An :class:`AsyncConnection` whose calls block, on an event loop of its own."""

    def __init__(self, inner: AsyncConnection, loop: asyncio.AbstractEventLoop,
                 thread: threading.Thread) -> None:
        self._inner, self._loop, self._thread = inner, loop, thread
        #: The link views take (``KioskView(link=room.link)``): they only watch.
        self.link = inner.link
        self.key, self.roles, self.journal = inner.key, inner.roles, inner.journal

    @property
    def state(self) -> RoomState:
        """The room's state, kept equal to the controller's (by a thread of its own)."""
        return self._inner.state

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:  # interrupted (Ctrl-C, a notebook's stop button): stop it too
            future.cancel()
            raise

    def send(self, name: str, /, *, as_: str | None = None, timeout: float | None = None,
             **args: Any) -> Reply:
        """:meth:`AsyncConnection.send`, blocking."""
        self._inner.role_for(as_)  # refused here, before the loop is asked
        return self._run(self._inner.send(name, as_=as_, timeout=timeout, **args))

    def must(self, name: str, /, *, as_: str | None = None, **args: Any) -> Reply:
        """:meth:`AsyncConnection.must`, blocking."""
        self._inner.role_for(as_)
        return self._run(self._inner.must(name, as_=as_, **args))

    def wait_until(self, predicate: Callable[[RoomState], bool],
                   timeout: float = 10.0) -> RoomState:
        """:meth:`AsyncConnection.wait_until`, blocking."""
        return self._run(self._inner.wait_until(predicate, timeout))

    def wait_for(self, timeout: float = 10.0, **values: Any) -> RoomState:
        """:meth:`AsyncConnection.wait_for`, blocking: ``room.wait_for(phase="survey")``."""
        return self._run(self._inner.wait_for(timeout, **values))

    def close(self) -> None:
        """Leave the room and stop the connection's thread (again: nothing happens)."""
        if self._loop.is_closed():
            return
        self._run(self._inner.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(data_dir: str | Path | None = None, *, role: str | None = None,
            key: str | None = None, timeout: float = 5.0) -> Connection:
    """:func:`connect_async`, blocking; the connection runs on a thread of its own.

    ``with kiosk.connect() as room:`` closes it at the end; one made while a served page
    (``panel serve``) builds its session closes with that session.
    """
    room = _open(data_dir, role, key, timeout)
    pn = sys.modules.get("panel")  # a script that shows no view has none: nothing served
    if pn is not None and pn.state.curdoc is not None and pn.state.curdoc.session_context:
        pn.state.on_session_destroyed(lambda context: room.close())
    return room


def _open(data_dir: str | Path | None, role: str | None, key: str | None,
          timeout: float = 5.0) -> Connection:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="kiosk-connection", daemon=True)
    thread.start()
    try:
        inner = asyncio.run_coroutine_threadsafe(
            connect_async(data_dir, role=role, key=key, timeout=timeout), loop).result()
    except BaseException:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        raise
    return Connection(inner, loop, thread)


_watching: dict[Path, Connection] = {}
_watching_lock = threading.Lock()


def watching(data_dir: str | Path | None = None) -> Connection:
    """The process's one watch-only connection to the room of ``data_dir``, made on first
    use. Served apps share it between sessions, as the room's pages share one link."""
    path = (Path(data_dir) if data_dir else default_data_dir()).resolve()
    with _watching_lock:
        room = _watching.get(path)
        if room is None or room._loop.is_closed():
            room = _watching[path] = _open(path, None, None)
        return room
