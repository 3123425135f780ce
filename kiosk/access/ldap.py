"""The agency's directory (LDAP or Active Directory): staff sign in with their own account.

A room names the directory in ``[staff.directory]`` (:class:`DirectoryConfig`).
A sign-in on /login that names no local account of the room goes to
:class:`StaffDirectory`, which asks the directory in three steps:

1. find the person: the service account (``bind_dn``) binds and searches
   ``user_base`` with ``user_filter``, which must find exactly one entry; a
   disabled account is one the filter leaves out. With ``user_dn_template`` the
   person's DN is made from the name instead and step 2 comes first;
2. the person's DN binds with the password typed (an empty one never: LDAP
   would take it as an anonymous bind);
3. the role: the first of ``groups`` (counsellor, admin, evaluator, in the
   order written) whose group lists the DN in ``member_attribute``. In no
   group: refused.

The name typed goes into the filter only through ldap3's ``escape_filter_chars``
(into a DN through ``escape_rdn``), so ``*``, ``)(`` or ``\\`` find nobody;
names with control characters are refused outright. Every call runs in this
object's own few worker threads, off the event loop, and is answered within
``timeout`` seconds: a directory that hangs cannot hold up the room.

The password is handed to ldap3 and forgotten: it is never stored, logged or
put into an answer. TLS is required (ldaps:// or StartTLS) unless
``allow_plain``; the server's certificate must chain to ``ca_file`` (or the
system's CAs) and name the host.

Between sign-ins, :meth:`StaffDirectory.watch` asks again every
``recheck_minutes`` for each directory account signed in to the room (as the
service account; with ``user_dn_template`` and none, anonymously) and ends the
sign-ins of those no longer in their group, disabled, or in another role. While
the directory cannot be asked, sign-ins stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import param
from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import (
    LDAPCertificateError,
    LDAPException,
    LDAPInvalidFilterError,
    LDAPStartTLSError,
)
from ldap3.operation.search import parse_filter
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from kiosk.access.staff import STAFF_ROLES
from kiosk.exceptions import ConfigError

log = logging.getLogger(__name__)

SECTION = "[staff.directory]"
NAME_MAX = 64
#: Worker threads of one directory: enough for a few sign-ins at once; a directory
#: that hangs holds these, never the room's own.
WORKERS = 4
_URL = re.compile(r"(?P<scheme>ldaps?)://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)"
                  r"(?::(?P<port>[0-9]{1,5}))?/?")


def _error(key: str, message: str) -> ConfigError:
    return ConfigError(f"{SECTION} {key}: {message}")


@dataclass(frozen=True)
class DirectoryConfig:
    """The agency's directory, as ``[staff.directory]`` describes it (see README)."""

    url: str
    """``ldaps://host[:636]``, or ``ldap://host[:389]`` with ``starttls = true``."""
    user_base: str
    """Where people are searched, e.g. ``OU=Mitarbeitende,DC=agentur,DC=example``."""
    user_filter: str
    """Finds one enabled person by the name typed, ``{name}``, e.g.
    ``(&(objectClass=user)(sAMAccountName={name})(!(userAccountControl:1.2.840.113556.1.4.803:=2)))``."""
    groups: tuple[tuple[str, str], ...]
    """Role -> group DN (``[staff.directory.groups]``); the first that lists a person wins."""
    starttls: bool = False
    """Upgrade ``ldap://`` with StartTLS before anything else is sent."""
    allow_plain: bool = False
    """Allow ``ldap://`` without TLS (passwords travel readable: test networks only)."""
    ca_file: str = ""
    """PEM file of the CA that signed the directory's certificate; empty: the system's CAs."""
    bind_dn: str = ""
    """The room's service account, which searches people and reads groups."""
    bind_password_file: str = ""
    """File holding the service account's password (owner-readable; read at each bind)."""
    user_dn_template: str = ""
    """The person binds as this DN with ``{name}`` put in (e.g. ``uid={name},ou=people,dc=…``)
    before anything is searched; without ``bind_dn`` people are looked up between
    sign-ins anonymously."""
    member_attribute: str = "member"
    """The groups' attribute listing members' DNs; for AD's nested groups
    ``member:1.2.840.113556.1.4.1941:``."""
    timeout: int = 5
    """Seconds the room waits for the directory (per connection and per answer)."""
    recheck_minutes: float = 10.0
    """How often signed-in directory accounts are asked about again: a person removed
    from the group or disabled is signed out within this time."""

    def __post_init__(self) -> None:
        match = _URL.fullmatch(self.url)
        if not match:
            raise _error("url", f"{self.url!r} is not ldaps://host[:port] or ldap://host[:port]")
        if match["port"] and not 0 < int(match["port"]) < 65536:
            raise _error("url", f"port {match['port']} is out of range")
        if self.ldaps and self.starttls:
            raise _error("starttls", "ldaps:// is TLS already; StartTLS goes with ldap://")
        if not self.ldaps and not self.starttls and not self.allow_plain:
            raise _error("url", "plain ldap:// sends passwords readable: use ldaps://, set "
                                "starttls = true, or (test networks only) allow_plain = true")
        if self.ca_file:
            try:
                ssl.create_default_context(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise _error("ca_file", f"{self.ca_file}: not a readable PEM certificate "
                                        f"({exc})") from None
        if bool(self.bind_dn) != bool(self.bind_password_file):
            raise _error("bind_dn" if not self.bind_dn else "bind_password_file",
                         "the service account needs both bind_dn and bind_password_file")
        if self.bind_password_file and not os.access(self.bind_password_file, os.R_OK):
            raise _error("bind_password_file", f"{self.bind_password_file} is not readable")
        if not self.bind_dn and not self.user_dn_template:
            raise _error("bind_dn", "give a service account (bind_dn, bind_password_file) "
                                    "or a user_dn_template")
        if self.user_dn_template and "{name}" not in self.user_dn_template:
            raise _error("user_dn_template", "must contain {name}")
        if not self.user_base:
            raise _error("user_base", "missing: where people are searched")
        if "{name}" not in self.user_filter:
            raise _error("user_filter", "must contain {name}, where the name typed goes")
        try:
            parse_filter(self.user_filter.replace("{name}", "x"), None, False, True, None, False)
        except LDAPInvalidFilterError as exc:
            raise _error("user_filter", f"{self.user_filter!r} is no LDAP filter ({exc})") \
                from None
        if not self.groups:
            raise _error("groups", "map at least one role to a group, e.g. "
                                   "[staff.directory.groups] counsellor = \"CN=…\"")
        for role, dn in self.groups:
            if role not in STAFF_ROLES:
                raise _error("groups", f"{role!r} is no role (roles: {', '.join(STAFF_ROLES)})")
            if not isinstance(dn, str) or "=" not in dn:
                raise _error("groups", f"{role}: {dn!r} is not a group's DN")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*(:[0-9.]+:)?", self.member_attribute):
            raise _error("member_attribute", f"{self.member_attribute!r} is no attribute name")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, int) \
                or not 1 <= self.timeout <= 60:
            raise _error("timeout", "whole seconds from 1 to 60")
        if isinstance(self.recheck_minutes, bool) or not isinstance(
                self.recheck_minutes, int | float) or not 0 < self.recheck_minutes <= 60:
            raise _error("recheck_minutes", "more than 0 and at most 60 minutes")

    @classmethod
    def from_mapping(cls, raw: Any) -> DirectoryConfig:
        """The section as read from TOML; unknown keys and wrong types raise ConfigError."""
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{SECTION} must be a section like {SECTION}")
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in known:
                raise _error(key, f"unknown setting (known: {', '.join(known)})")
            if key == "groups":
                if not isinstance(value, Mapping):
                    raise _error("groups", "must be a section [staff.directory.groups] "
                                           "role = \"group DN\"")
                value = tuple(value.items())
            elif known[key].type in ("str",) and not isinstance(value, str):
                raise _error(key, "must be text")
            elif known[key].type == "bool" and not isinstance(value, bool):
                raise _error(key, "must be true or false")
            values[key] = value
        for key in ("url", "user_base", "user_filter", "groups"):
            if key not in values:
                raise _error(key, "missing")
        return cls(**values)

    @property
    def ldaps(self) -> bool:
        return self.url.startswith("ldaps://")

    @property
    def host(self) -> str:
        return _URL.fullmatch(self.url)["host"].strip("[]")

    @property
    def port(self) -> int:
        port = _URL.fullmatch(self.url)["port"]
        return int(port) if port else (636 if self.ldaps else 389)

    @property
    def recheck_seconds(self) -> float:
        return self.recheck_minutes * 60

    def describe(self) -> str:
        """One line for people (no secret in it)."""
        tls = "TLS" if self.ldaps else "StartTLS" if self.starttls else "no TLS"
        how = f"service account {self.bind_dn}" if self.bind_dn else \
            f"bind as {self.user_dn_template}"
        roles = ", ".join(f"{role} = {dn}" for role, dn in self.groups)
        return f"{self.url} ({tls}; {how}); roles: {roles}"


@dataclass(frozen=True)
class Outcome:
    """What the directory said of a name: a role, a refusal, or that it could not be asked."""

    name: str
    role: str | None = None
    """The role the directory gives (the person may sign in)."""
    dn: str = ""
    refused: str = ""
    """Why not, for the log and ``kiosk staff check`` (a page says only that the name
    or password is wrong)."""
    unavailable: str = ""
    """Why the directory could not be asked (unreachable, TLS, service account)."""
    detail: str = ""
    """What was found, in words (for ``kiosk devices check``)."""

    @property
    def ok(self) -> bool:
        return self.role is not None


class DirectoryStatus(param.Parameterized):
    """Whether the directory answered when last asked; the log notes each change."""

    reachable = param.Boolean(default=None, allow_None=True, doc="None: not asked yet.")
    cause = param.String(default="", doc="Why it could not be asked (empty when it answered).")
    checked = param.Number(default=None, allow_None=True,
                           doc="time.monotonic() of the last answer or failure.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.param.watch(self._note, "reachable")

    def record(self, outcome: Outcome) -> None:
        self.param.update(cause=outcome.unavailable, checked=time.monotonic(),
                          reachable=not outcome.unavailable)

    def _note(self, event: Any) -> None:
        if not event.new:
            log.warning("the staff directory cannot be asked: %s", self.cause)
        elif event.old is False:
            log.info("the staff directory answers again")


class _Refused(Exception):
    """The directory answered no (internal: becomes an :class:`Outcome`)."""


class _Misconfigured(LDAPException):
    """The room's own settings keep it from asking (internal: becomes an :class:`Outcome`)."""


def user_filter(config: DirectoryConfig, name: str) -> str:
    """``user_filter`` with ``name`` escaped for a filter (RFC 4515)."""
    return config.user_filter.replace("{name}", escape_filter_chars(name))


def _cause(exc: Exception, config: DirectoryConfig) -> str:
    """A directory error as a cause people can act on."""
    text = str(exc)
    where = f"{config.host}:{config.port}"
    if isinstance(exc, _Misconfigured):
        return text
    if "CERTIFICATE_VERIFY_FAILED" in text:
        trust = f"the CA in ca_file {config.ca_file}" if config.ca_file else \
            "a CA this system trusts (set ca_file)"
        return f"certificate of {where} not trusted: not signed by {trust}"
    if isinstance(exc, LDAPCertificateError) or "doesn't match any name" in text:
        return f"certificate of {where} does not name the host {config.host}"
    if isinstance(exc, LDAPStartTLSError):
        return f"StartTLS failed at {where}: {text[:160]}"
    if "refused" in text.lower():
        return f"unreachable: {where} refused the connection"
    if "timed out" in text.lower() or "timeout" in text.lower():
        return f"unreachable: no answer from {where} within {config.timeout} s"
    if "name or service not known" in text.lower() or "nodename nor servname" in text:
        return f"unreachable: unknown host {config.host}"
    return f"unreachable: {type(exc).__name__}: {text[:160]}"


class StaffDirectory:
    """The directory as the room asks it: each call off the event loop, within the timeout."""

    def __init__(self, config: DirectoryConfig) -> None:
        self.config = config
        self.status = DirectoryStatus(name="staff_directory")
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="directory")
        self._watch: asyncio.Task | None = None
        self._tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config.ca_file or None,
                        sni=config.host) if config.ldaps or config.starttls else None

    # -- what the room asks ---------------------------------------------------------
    async def sign_in(self, name: str, password: str) -> Outcome:
        """Whether ``name`` with ``password`` may sign in, and in which role."""
        return await self._run(self._sign_in, name.lower(), password)

    async def look_up(self, name: str) -> Outcome:
        """The role the directory gives ``name`` now, asked without a password (as the
        service account, or anonymously)."""
        return await self._run(self._look_up, name.lower())

    async def probe(self) -> Outcome:
        """Reach the directory and check the settings: who looks people up binds, and
        reads ``user_base`` and every group (``kiosk devices check``)."""
        return await self._run(self._probe)

    async def _run(self, func: Callable[..., Outcome], *args: Any) -> Outcome:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.config.timeout):
                outcome = await loop.run_in_executor(self._pool, func, *args)
        except TimeoutError:
            outcome = Outcome(args[0] if args else "", unavailable=(
                f"unreachable: no answer from {self.config.host}:{self.config.port} "
                f"within {self.config.timeout} s"))
        self.status.record(outcome)
        return outcome

    # -- in a worker thread -------------------------------------------------------------
    @contextlib.contextmanager
    def _bound(self, user: str | None, password: str | None, *,
               service: bool = False) -> Iterator[Connection]:
        """A connection (TLS as configured) bound as ``user``; _Refused on wrong
        credentials, LDAPException when the directory cannot be asked (which includes
        the ``service`` account's refusal: that is the room's settings, not the user)."""
        # A fresh Server each time: ldap3's remembers an address that failed once as
        # unusable, and a directory that is back would stay "down" for the room.
        server = Server(self.config.host, port=self.config.port, use_ssl=self.config.ldaps,
                        tls=self._tls, connect_timeout=self.config.timeout, get_info=NONE)
        conn = Connection(server, user=user, password=password, read_only=True,
                          receive_timeout=self.config.timeout, auto_referrals=False,
                          raise_exceptions=False)
        try:
            conn.open()
            if self.config.starttls:
                conn.start_tls()
            if not conn.bind():
                why = conn.result.get("description") or "bind refused"
                if service:
                    raise _Misconfigured(
                        f"the bind of {user} was refused ({why}): check bind_dn and "
                        "bind_password_file" if user else f"the anonymous bind was refused "
                        f"({why}): give a service account (bind_dn, bind_password_file)")
                if conn.result.get("result") in (49, 48, 50, 53):  # credentials, rights
                    raise _Refused(f"the directory refused the password ({why})")
                raise LDAPException(f"bind failed: {conn.result.get('description')}")
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.unbind()

    def _service(self) -> contextlib.AbstractContextManager[Connection]:
        """Bound as the service account; its refusal is the directory's fault, not the user's."""
        try:
            secret = Path(self.config.bind_password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise _Misconfigured(f"bind_password_file cannot be read: {exc.strerror}") \
                from None
        if not secret:
            raise _Misconfigured("bind_password_file is empty")
        return self._bound(self.config.bind_dn, secret, service=True)

    @staticmethod
    def _entries(conn: Connection) -> list[str]:
        return [e["dn"] for e in conn.response or () if e.get("type") == "searchResEntry"]

    def _find(self, conn: Connection, name: str) -> str:
        """The one DN ``user_filter`` finds for ``name``."""
        conn.search(self.config.user_base, user_filter(self.config, name), SUBTREE,
                    attributes=[], size_limit=2)
        if conn.result.get("result") not in (0, 4):  # success, sizeLimitExceeded
            raise LDAPException(f"search failed: {conn.result.get('description')}")
        found = self._entries(conn)
        if not found:
            raise _Refused("no enabled account of that name (user_filter finds none)")
        if len(found) > 1:
            raise _Refused("the name is not unique (user_filter finds several accounts)")
        return found[0]

    def _role(self, conn: Connection, dn: str) -> str:
        """The first role whose group lists ``dn``."""
        member = f"({self.config.member_attribute}={escape_filter_chars(dn)})"
        for role, group in self.config.groups:
            conn.search(group, member, BASE, attributes=[])
            if conn.result.get("result") not in (0, 32):  # success, noSuchObject
                raise LDAPException(f"reading group {group} failed: "
                                    f"{conn.result.get('description')}")
            if self._entries(conn):
                return role
        raise _Refused("in none of the groups of [staff.directory.groups]")

    def _guarded(self, name: str, work: Callable[[], tuple[str, str]]) -> Outcome:
        if not name or len(name) > NAME_MAX or not name.isprintable():
            return Outcome(name, refused="not a possible name (empty, too long or control "
                                         "characters)")
        try:
            dn, role = work()
        except _Refused as exc:
            return Outcome(name, refused=str(exc))
        except LDAPException as exc:
            return Outcome(name, unavailable=_cause(exc, self.config))
        return Outcome(name, role=role, dn=dn)

    def _sign_in(self, name: str, password: str) -> Outcome:
        def work() -> tuple[str, str]:
            if not password:  # an empty password would be an anonymous bind
                raise _Refused("empty password")
            if self.config.user_dn_template:
                dn = self.config.user_dn_template.replace("{name}", escape_rdn(name))
                with self._bound(dn, password) as conn:
                    # The filter decides even then: a disabled account is refused.
                    found = self._find(conn, name)
                    if self.config.bind_dn:
                        with self._service() as service:
                            return found, self._role(service, found)
                    return found, self._role(conn, found)
            with self._service() as service:
                dn = self._find(service, name)
                with self._bound(dn, password):
                    pass
                return dn, self._role(service, dn)
        return self._guarded(name, work)

    def _reader(self) -> contextlib.AbstractContextManager[Connection]:
        """Bound as who looks people up without their password: the service account, or
        without one (``user_dn_template`` alone) anonymously."""
        if self.config.bind_dn:
            return self._service()
        return self._bound(None, None, service=True)

    def _look_up(self, name: str) -> Outcome:
        def work() -> tuple[str, str]:
            with self._reader() as reader:
                dn = self._find(reader, name)
                return dn, self._role(reader, dn)
        return self._guarded(name, work)

    def _probe(self) -> Outcome:
        """Refused: a setting is wrong; unavailable: the directory cannot be asked."""
        tls = "TLS" if self.config.ldaps or self.config.starttls else "no TLS"
        who = "the service account" if self.config.bind_dn else "an anonymous bind"
        try:
            with self._reader() as reader:
                missing = []
                for dn in (self.config.user_base, *(g for _, g in self.config.groups)):
                    reader.search(dn, "(objectClass=*)", BASE, attributes=[])
                    if not self._entries(reader):
                        missing.append(dn)
        except LDAPException as exc:
            return Outcome("", unavailable=_cause(exc, self.config))
        if missing:
            return Outcome("", refused=f"not found, or not readable by {who} (which looks "
                                       "people up between sign-ins): " + "; ".join(missing))
        return Outcome("", detail=f"{self.config.url} answers ({tls}); {who} reads user_base "
                                  f"and {len(self.config.groups)} groups")

    # -- rechecks -------------------------------------------------------------------------
    def watch(self, send: Callable[..., Awaitable[Any]]) -> None:
        """Recheck the signed-in directory accounts every ``recheck_minutes``, sending
        commands to the room with ``send(name, **args)``."""
        if self._watch is None:
            self._watch = asyncio.ensure_future(self._watching(send))

    async def _watching(self, send: Callable[..., Awaitable[Any]]) -> None:
        while True:
            await asyncio.sleep(self.config.recheck_seconds)
            try:
                await self.recheck(send)
            except Exception:  # the next round tries again; the room goes on
                log.exception("rechecking the directory's accounts failed")

    async def recheck(self, send: Callable[..., Awaitable[Any]]) -> list[str]:
        """End the sign-ins of directory accounts that the directory no longer vouches for
        in the same role; return their names. While it cannot be asked, nobody is ended."""
        reply = await send("staff.list")
        ended = []
        for account in reply.data["accounts"]:
            if account["source"] != "directory" or not account["signins"]:
                continue
            outcome = await self.look_up(account["name"])
            if outcome.unavailable:
                return ended  # logged by the status; tried again next round
            if outcome.role != account["role"]:
                why = outcome.refused or f"now {outcome.role}, not {account['role']}"
                await send("staff.remove", name=account["name"])
                log.info("directory account %s signed out: %s", account["name"], why)
                ended.append(account["name"])
        return ended

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        self._pool.shutdown(wait=False, cancel_futures=True)

