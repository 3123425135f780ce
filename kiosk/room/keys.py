"""The bus's CURVE keys: the controller's key pair and the allow-list of clients.

A keyring is one folder (by default ``<data dir>/keys``)::

    server.key, server.key_secret     the controller's key pair
    clients.toml                      the allow-list: name -> public key and bus role
    <name>.key, <name>.key_secret     a client's key pair (copy it to the device it is for)

Every client key has a *bus role*; the role says which command roles that key
may speak for (:data:`BUS_ROLES`). Removing a client from ``clients.toml``
(``kiosk keys revoke``) refuses its next connection and its next command.
Secret files are readable by their owner only.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit
import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from kiosk.exceptions import ConfigError
from kiosk.room.state import ROLES

#: bus role -> (command roles it may speak for, commands it may send; None: all)
BUS_ROLES: dict[str, tuple[frozenset[str], frozenset[str] | None]] = {
    # The page server and media engine: it signs in the people it speaks for.
    "room": (frozenset(ROLES), None),
    # `kiosk ctl`, `kiosk devices check`, notebooks of the facility staff.
    "operator": (frozenset(ROLES), None),
    # `kiosk devices agent` on a room PC: its heartbeat, nothing else.
    "agent": (frozenset({"display"}), frozenset({"device.heartbeat", "ping"})),
    # Reads the state (snapshots and updates) and pings; sends no command.
    "viewer": (frozenset(ROLES), frozenset({"ping"})),
    # One role's commands and nothing else: a notebook that asked for that role
    # (kiosk.connect(role="counsellor")).
    **{role: (frozenset({role}), None) for role in ROLES},
}
#: Bus roles that may read the room's state (snapshots and updates hold the notes).
READERS = frozenset({"room", "operator", "viewer", *ROLES})
#: ZAP domains of the two endpoints: every known key may send commands (its bus
#: role limits what); only readers may subscribe to updates.
COMMAND_DOMAIN, UPDATE_DOMAIN = "commands", "updates"
#: The clients ``kiosk keys init`` (and every demo start) provisions.
STANDARD_CLIENTS = {"room": "room", "operator": "operator", "agent": "agent"}
ALLOW_LIST = "clients.toml"
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


def may_send(bus_role: str, role: str, command: str) -> bool:
    """Whether a client with ``bus_role`` may send ``command`` speaking as ``role``."""
    return ROOM_POLICY.may_send(bus_role, role, command)


@dataclass(frozen=True)
class BusPolicy:
    """Who may do what on one kind of bus: the room's (:data:`ROOM_POLICY`) or the
    site's (:data:`kiosk.site.service.SITE_POLICY`). A keyring carries the policy of its bus."""

    #: bus role -> (command roles it may speak for, commands it may send; None: all)
    roles: dict[str, tuple[frozenset[str], frozenset[str] | None]]
    #: Bus roles that may read the state (snapshots and updates).
    readers: frozenset[str]
    #: The clients :meth:`Keyring.init` provisions: name -> bus role.
    standard: dict[str, str] = field(default_factory=dict)
    #: The bus role of in-process (inproc) peers, which carry no key.
    local: str = "room"

    def may_send(self, bus_role: str, role: str, command: str) -> bool:
        """Whether a client with ``bus_role`` may send ``command`` speaking as ``role``."""
        roles, commands = self.roles.get(bus_role, (frozenset(), frozenset()))
        return role in roles and (commands is None or command in commands)


ROOM_POLICY = BusPolicy(BUS_ROLES, READERS, STANDARD_CLIENTS, local="room")


@dataclass(frozen=True)
class ClientKeys:
    """What a bus client needs: the controller's public key and its own key pair."""

    server_public: bytes
    public: bytes
    secret: bytes

    def apply(self, sock: zmq.Socket) -> zmq.Socket:
        """Make ``sock`` a CURVE client of the controller (before connect)."""
        sock.curve_serverkey = self.server_public
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret
        return sock


def require_keys(keys: ClientKeys | None, endpoint: str) -> None:
    """ConfigError unless ``keys`` are given or ``endpoint`` is in this process (inproc)."""
    if keys is None and not endpoint.startswith("inproc://"):
        raise ConfigError(f"connecting to {endpoint} needs a bus key (see 'kiosk keys')")


def secure(sock: zmq.Socket, keys: ClientKeys | None) -> zmq.Socket:
    """Make ``sock`` a CURVE client with ``keys`` (an inproc socket has none)."""
    return keys.apply(sock) if keys is not None else sock


class Keyring:
    """One folder of bus keys: the controller's pair, the clients' pairs, the allow-list."""

    def __init__(self, path: str | Path, policy: BusPolicy = ROOM_POLICY) -> None:
        self.path = Path(path)
        self.policy = policy
        self._cache: tuple[int, dict, dict] | None = None

    # -- reading -------------------------------------------------------------------
    def _load(self, name: str, secret: bool) -> tuple[bytes, bytes | None]:
        path = self.path / f"{name}.key_secret" if secret else self.path / f"{name}.key"
        if not path.exists():
            raise ConfigError(f"there is no bus key {path}; create the room's keys with "
                              "'kiosk keys init' (or 'kiosk keys add') first")
        try:
            return zmq.auth.load_certificate(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"no bus key {path} ({exc}); create the room's keys with "
                              f"'kiosk keys init --data-dir …' first") from None

    def server_public(self) -> bytes:
        return self._load("server", secret=False)[0]

    def server_secret(self) -> tuple[bytes, bytes]:
        """The controller's (public, secret) pair; ConfigError when there is none."""
        public, secret = self._load("server", secret=True)
        if not secret:
            raise ConfigError(f"{self.path / 'server.key_secret'} holds no secret key")
        return public, secret

    def client(self, name: str) -> ClientKeys:
        """The keys with which client ``name`` connects."""
        public, secret = self._load(name, secret=True)
        if not secret:
            raise ConfigError(f"{self.path / (name + '.key_secret')} holds no secret key")
        return ClientKeys(self.server_public(), public, secret)

    def _lists(self) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
        """(by name, by key) of the allow-list, read anew only when the file changed."""
        path = self.path / ALLOW_LIST
        try:
            stamp = path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}, {}
        if self._cache is None or self._cache[0] != stamp:
            doc = tomlkit.parse(path.read_text(encoding="utf-8"))
            by_name = {name: (str(entry["role"]), str(entry["key"]))
                       for name, entry in doc.items()}
            by_key = {key: (name, role) for name, (role, key) in by_name.items()}
            self._cache = (stamp, by_name, by_key)
        return self._cache[1], self._cache[2]

    def clients(self) -> dict[str, tuple[str, str]]:
        """The allow-list: name -> (bus role, z85 public key)."""
        return self._lists()[0]

    def allowed(self) -> dict[str, tuple[str, str]]:
        """z85 public key -> (client name, bus role), for every message the bus checks."""
        return self._lists()[1]

    # -- writing -------------------------------------------------------------------
    def init(self) -> list[str]:
        """Create what is missing: the controller's pair and the standard clients."""
        made = []
        self.path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        if not (self.path / "server.key_secret").exists():
            self._pair("server")
            made.append("server")
        have = self.clients()
        for name, role in self.policy.standard.items():
            if name not in have:
                self.add(name, role)
                made.append(name)
        return made

    def fresh(self) -> None:
        """Throw every key away and make new ones (``kiosk demo`` at each start)."""
        if self.path.exists():
            shutil.rmtree(self.path)
        self._cache = None
        self.init()

    def add(self, name: str, role: str) -> Path:
        """A new client key pair with ``role``; returns the secret file to hand over."""
        if not _NAME.fullmatch(name) or name == "server":
            raise ConfigError(f"key name {name!r} must be 1-40 lower-case letters, digits "
                              "or dashes (and not 'server')")
        if role not in self.policy.roles:
            raise ConfigError(f"bus role {role!r} must be one of: "
                              f"{', '.join(self.policy.roles)}")
        if name in self.clients():
            raise ConfigError(f"there is already a key named {name!r}; revoke it first")
        public = self._pair(name)
        entry = {"role": role, "key": public.decode("ascii"),
                 "added": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        self._edit(lambda doc: doc.add(name, entry))
        return self.path / f"{name}.key_secret"

    def revoke(self, name: str) -> None:
        """Take ``name`` off the allow-list and delete its key files."""
        if name not in self.clients():
            raise ConfigError(f"there is no key named {name!r}")
        self._edit(lambda doc: doc.remove(name))
        for suffix in (".key", ".key_secret"):
            (self.path / f"{name}{suffix}").unlink(missing_ok=True)

    def _pair(self, name: str) -> bytes:
        for suffix in (".key", ".key_secret"):
            (self.path / f"{name}{suffix}").unlink(missing_ok=True)
        public_file, secret_file = zmq.auth.create_certificates(self.path, name)
        os.chmod(secret_file, 0o600)
        return zmq.auth.load_certificate(public_file)[0]

    def _edit(self, change: Callable[[tomlkit.TOMLDocument], object]) -> None:
        path = self.path / ALLOW_LIST
        text = path.read_text(encoding="utf-8") if path.exists() else (
            "# Bus clients allowed to connect to the room controller, with their bus role.\n"
            "# Remove an entry (kiosk keys revoke NAME) to refuse that device.\n")
        doc = tomlkit.parse(text)
        change(doc)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
        tmp.replace(path)
        self._cache = None


class BusAuthenticator(ThreadAuthenticator):
    """ZAP handler of one context: CURVE clients on the keyring's allow-list only.

    NULL and PLAIN peers never reach it on a CURVE server socket (their
    handshake fails); an unknown client key is refused here. A client's
    User-Id is its z85 public key, which the bus maps to the bus role. It runs
    in its own thread (pyzmq's), apart from the room's loop, and is stopped
    completely before :meth:`stop` returns, so a restarted bus gets a new one.
    """

    def __init__(self, context: zmq.Context, keyring: Keyring) -> None:
        super().__init__(context)
        self.keyring = keyring
        self.refused = 0

    def start(self) -> None:
        super().start()
        for domain in (COMMAND_DOMAIN, UPDATE_DOMAIN):
            self.configure_curve_callback(domain, credentials_provider=self)

    def callback(self, domain: str, key: bytes) -> bool:
        entry = self.keyring.allowed().get(key.decode("ascii", "replace"))
        allowed = entry is not None and (domain != UPDATE_DOMAIN
                                         or entry[1] in self.keyring.policy.readers)
        if not allowed:
            self.refused += 1
        return allowed
