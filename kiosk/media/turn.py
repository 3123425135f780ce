"""TURN for the room: configuration, time-limited credentials, relay checks and a probe.

Partners on office networks that drop UDP and allow only TCP 443 reach the room
through a TURN relay, best ``turns:`` on port 443. The room hands browsers
credentials of the TURN REST API scheme that coturn's ``use-auth-secret`` checks:
username ``"<expiry unix time>:<label>"``, credential base64(HMAC-SHA1(secret,
username)). Other servers can be given a static username and credential instead.

What aiortc (1.16) and aioice (0.13) do with TURN, read from their source:

* ``aiortc.rtcicetransport.connection_kwargs`` maps ``RTCIceServer`` urls to
  aioice. It takes ``turn:`` over udp or tcp and ``turns:`` over tcp only, and
  only the *first* usable TURN url of all servers: the others are silently
  skipped. Hence ``room_ice_servers`` hands the room's peers exactly one url.
* Its url pattern takes no IPv6 literal (``turn:[::1]`` raises "malformed uri").
* ``turns:`` is passed as ``ssl=True``, so asyncio verifies the certificate and
  the host name with ``ssl.create_default_context()``; there is no way to hand
  aiortc another context. A private CA is trusted through OpenSSL's
  ``SSL_CERT_FILE`` (or ``SSL_CERT_DIR``) environment variable, read when the
  context is made. ``probe`` takes an explicit ``ssl_context`` for tests.
* A failing TURN server is silent: aioice drops the failed allocation (401,
  TLS error, unreachable after its 5 s gathering timeout) and gathers on without
  a relay candidate. ``relay_check`` and ``explain_missing_relay`` make that
  visible, ``probe`` finds the cause.
* ``RTCConfiguration(iceTransportPolicy=RTCIceTransportPolicy.RELAY)`` exists
  and gathers relay candidates only.

Neither the secret nor a credential may reach a page, log or status output:
both are left out of ``repr`` and of ``public_dict``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import os
import re
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aioice import stun
from aioice.turn import create_turn_endpoint
from aiortc import RTCIceServer

from kiosk.exceptions import ConfigError

SECTION = "[media.turn]"
DEFAULT_TTL = 4 * 3600
TTL_RANGE = (300, 2 * 86400)
MIN_SECRET = 16
LABEL_MAX = 32
KEYS = ("urls", "secret", "ttl", "username", "credential", "room_url")

WRONG_SECRET = "wrong secret or clock skew"
WRONG_STATIC = "wrong username or credential"
CERT_UNTRUSTED = "certificate not trusted"
CERT_WRONG_HOST = "certificate does not name the host"
UNREACHABLE = "unreachable"

_URL = re.compile(
    r"(?P<scheme>turns?):(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)"
    r"(?::(?P<port>[0-9]{1,5}))?(?:\?transport=(?P<transport>[A-Za-z0-9]+))?"
)
_RELAY = re.compile(r"^(?:a=)?candidate:.*\btyp relay\b", re.MULTILINE)
_URL_FORM = "turn:host[:port][?transport=udp|tcp] or turns:host[:port][?transport=tcp]"


def _error(key: str, message: str) -> ConfigError:
    return ConfigError(f"{SECTION} {key}: {message}")


@dataclass(frozen=True)
class TurnUrl:
    """One parsed ``turn:``/``turns:`` URI (RFC 7065)."""

    text: str
    "The URI as configured; handed out unchanged."
    scheme: str
    "``turn`` or ``turns`` (TLS)."
    host: str
    "Host name or IP address, without IPv6 brackets."
    port: int
    "Port; 3478 for ``turn``, 5349 for ``turns`` unless given."
    transport: str
    "``udp`` or ``tcp``; ``turns`` is always ``tcp``."

    @property
    def tls(self) -> bool:
        return self.scheme == "turns"

    @property
    def aiortc_usable(self) -> bool:
        """False for IPv6 literals, which aiortc's url pattern does not take."""
        return ":" not in self.host

    @classmethod
    def parse(cls, text: Any, key: str = "urls") -> TurnUrl:
        """Parse ``text``; raise ConfigError naming ``key`` if it is no TURN URI."""
        if not isinstance(text, str):
            raise _error(key, f"{text!r} is not a string")
        match = _URL.fullmatch(text)
        if match is None:
            hint = " (no '//' after the scheme)" if "://" in text else ""
            raise _error(key, f"{text!r} is not a TURN URI{hint}; expected {_URL_FORM}")
        scheme, host, port, transport = match.group("scheme", "host", "port", "transport")
        if host.startswith("["):
            host = host[1:-1]
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise _error(key, f"{text!r}: {host!r} is no IPv6 address") from None
        number = int(port) if port else (5349 if scheme == "turns" else 3478)
        if not 1 <= number <= 65535:
            raise _error(key, f"{text!r}: port {number} is out of range")
        transport = transport or ("tcp" if scheme == "turns" else "udp")
        if transport not in ("udp", "tcp"):
            raise _error(key, f"{text!r}: transport must be udp or tcp, not {transport!r}")
        if scheme == "turns" and transport == "udp":
            raise _error(key, f"{text!r}: turns (TLS) runs over tcp; DTLS is not supported")
        return cls(text, scheme, host, number, transport)


@dataclass(frozen=True)
class TurnConfig:
    """The ``[media.turn]`` section; build it with ``from_mapping``."""

    urls: tuple[str, ...]
    "TURN URIs handed to browsers, e.g. ``turns:turn.example:443?transport=tcp``."
    secret: str | None = field(default=None, repr=False)
    "coturn's ``static-auth-secret``; mints time-limited credentials. Never shown."
    ttl: int = DEFAULT_TTL
    "Lifetime of minted credentials in seconds: a call plus the reconnect grace."
    username: str | None = None
    "Static username, for servers without the REST scheme (instead of secret)."
    credential: str | None = field(default=None, repr=False)
    "Static credential belonging to ``username``. Never shown."
    room_url: str | None = None
    "The one TURN URI the room's own aiortc peers use; chosen from urls if unset."

    def __post_init__(self) -> None:
        if not self.urls:
            raise _error("urls", "must list at least one TURN URI")
        for text in self.urls:
            TurnUrl.parse(text)
        if len(set(self.urls)) != len(self.urls):
            raise _error("urls", "lists a URI twice")
        static = self.username is not None or self.credential is not None
        if self.secret is not None and static:
            raise _error("secret", "give either secret or username + credential, not both")
        if self.secret is None and not static:
            raise _error("secret", "missing; give secret (coturn's static-auth-secret) "
                                   "or username + credential")
        if self.secret is not None:
            if not isinstance(self.secret, str) or len(self.secret) < MIN_SECRET:
                raise _error("secret", f"must be a string of at least {MIN_SECRET} characters: "
                                       "a short secret can be guessed offline from any "
                                       "credential handed out (e.g. `openssl rand -hex 32`)")
            if isinstance(self.ttl, bool) or not isinstance(self.ttl, int):
                raise _error("ttl", f"must be a whole number of seconds, not {self.ttl!r}")
            if not TTL_RANGE[0] <= self.ttl <= TTL_RANGE[1]:
                raise _error("ttl", f"{self.ttl} s is outside {TTL_RANGE[0]}..{TTL_RANGE[1]} s")
        for key in ("username", "credential"):
            value = getattr(self, key)
            if static and (not isinstance(value, str) or not value):
                raise _error(key, "must be a non-empty string (username and credential "
                                  "go together)")
        if self.room_url is not None:
            if not TurnUrl.parse(self.room_url, "room_url").aiortc_usable:
                raise _error("room_url", "aiortc cannot parse IPv6 literals; "
                                         "use a host name or an IPv4 address")
        elif not any(url.aiortc_usable for url in self.parsed_urls):
            raise _error("room_url", "needed: urls hold only IPv6 literals, "
                                     "which aiortc cannot parse")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> TurnConfig | None:
        """Validate a ``[media.turn]`` table; None or an empty table means TURN is off."""
        if data is None:
            return None
        if not isinstance(data, Mapping):
            raise ConfigError(f"{SECTION} must be a table, not {type(data).__name__}")
        if not data:
            return None
        for key in data:
            if key not in KEYS:
                raise _error(str(key), f"unknown key (known: {', '.join(KEYS)})")
        if "urls" not in data:
            raise _error("urls", "missing; list the TURN URIs browsers may use")
        urls = data["urls"]
        if not isinstance(urls, list | tuple) or not all(isinstance(u, str) for u in urls):
            raise _error("urls", f"must be a list of strings, not {urls!r}")
        static_ttl = "ttl" in data and "secret" not in data
        if static_ttl and ("username" in data or "credential" in data):
            raise _error("ttl", "only applies with secret; static credentials do not expire")
        return cls(
            urls=tuple(str(u) for u in urls),
            secret=data.get("secret"),
            ttl=data.get("ttl", DEFAULT_TTL),
            username=data.get("username"),
            credential=data.get("credential"),
            room_url=data.get("room_url"),
        )

    @property
    def mode(self) -> str:
        """``secret`` (minted REST credentials) or ``static``."""
        return "secret" if self.secret is not None else "static"

    @property
    def parsed_urls(self) -> tuple[TurnUrl, ...]:
        return tuple(TurnUrl.parse(text) for text in self.urls)

    def public_dict(self) -> dict[str, Any]:
        """Status output: urls, mode, ttl and the room's choice; never a secret."""
        url, reason = room_choice(self)
        return {
            "urls": list(self.urls),
            "mode": self.mode,
            "ttl": self.ttl if self.mode == "secret" else None,
            "room_url": url.text,
            "room_reason": reason,
        }

    def describe(self) -> str:
        """One line for logs and ``kiosk`` status output."""
        ttl = f", credentials valid {self.ttl} s" if self.mode == "secret" else ""
        return f"TURN {', '.join(self.urls)} ({self.mode}{ttl}); {room_choice_reason(self)}"


@dataclass(frozen=True)
class TurnCredentials:
    """Credentials for some TURN urls, as handed to a browser or a room peer."""

    urls: tuple[str, ...]
    "The TURN URIs these credentials are good for."
    username: str
    "``<expiry>:<label>`` in secret mode, else the static username."
    credential: str = field(repr=False)
    "HMAC-SHA1 of the username (base64), or the static credential. Never logged."
    expires: int | None = None
    "Unix time the credentials stop working; None for static ones."

    def ice_server(self) -> dict[str, Any]:
        """A W3C ``RTCIceServer`` dictionary for a browser's ``RTCPeerConnection``."""
        return {"urls": list(self.urls), "username": self.username,
                "credential": self.credential}

    def rtc_ice_server(self) -> RTCIceServer:
        """The same for aiortc."""
        return RTCIceServer(urls=list(self.urls), username=self.username,
                            credential=self.credential)


def safe_label(label: str) -> str:
    """``label`` reduced to letters, digits, ``.``, ``_`` and ``-``, at most 32 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-")[:LABEL_MAX]
    return cleaned or "kiosk"


def rest_credential(secret: str, username: str) -> str:
    """base64(HMAC-SHA1(secret, username)), as coturn's ``use-auth-secret`` computes it."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def mint(config: TurnConfig, label: str, now: float | None = None,
         urls: tuple[str, ...] | None = None) -> TurnCredentials:
    """Fresh credentials for ``urls`` (default: all of the config's) labelled ``label``."""
    urls = config.urls if urls is None else urls
    if config.secret is None:
        assert config.username is not None and config.credential is not None
        return TurnCredentials(urls, config.username, config.credential)
    expires = int(time.time() if now is None else now) + config.ttl
    username = f"{expires}:{safe_label(label)}"
    return TurnCredentials(urls, username, rest_credential(config.secret, username), expires)


def room_choice(config: TurnConfig) -> tuple[TurnUrl, str]:
    """The one TURN url for the room's aiortc peers, and why it was chosen."""
    if config.room_url is not None:
        return TurnUrl.parse(config.room_url, "room_url"), "room_url is set"
    usable = [url for url in config.parsed_urls if url.aiortc_usable]
    for url in usable:
        if url.tls:
            return url, "the TLS server of urls; aioice uses only one TURN server"
    return usable[0], "the first of urls; aioice uses only one TURN server"


def room_choice_reason(config: TurnConfig) -> str:
    """A log line: which TURN server the room's peers use and why."""
    url, reason = room_choice(config)
    return f"the room's peers use TURN {url.text} ({reason})"


def room_ice_servers(config: TurnConfig, label: str,
                     now: float | None = None) -> list[RTCIceServer]:
    """``iceServers`` for the room's aiortc peers: one TURN url with fresh credentials."""
    url, _ = room_choice(config)
    return [mint(config, label, now, urls=(url.text,)).rtc_ice_server()]


def relay_check(sdp: str) -> bool:
    """True if an SDP (or candidate lines) holds a relay candidate (``typ relay``)."""
    return _RELAY.search(sdp) is not None


def explain_missing_relay(config: TurnConfig) -> str:
    """A warning for a local description without relay candidate, with the likely causes."""
    url, _ = room_choice(config)
    auth = ("the secret differs from coturn's static-auth-secret, or the clock of the room "
            "or of the TURN server is off (credentials look expired)"
            if config.mode == "secret" else "the static username or credential is wrong")
    lines = [
        f"No TURN relay candidate from {url.text}: partners behind UDP-blocking firewalls "
        "will not connect. aiortc does not say why; likely causes:",
        f"- 401 Unauthorized: {auth};",
        "- server unreachable: wrong host or port, coturn not running, or a firewall "
        "blocks the port (aioice gives up after 5 s);",
    ]
    if url.tls:
        lines.append("- certificate not trusted or not naming the host: aiortc verifies turns "
                     "with the default SSL context (a private CA needs SSL_CERT_FILE);")
    lines.append("- if a relay candidate appears but calls still fail: coturn's "
                 "denied-peer-ip/allowed-peer-ip rules (or no allow-loopback-peers) "
                 "refuse the peer addresses.")
    lines.append("Run `kiosk devices check` to probe each TURN url.")
    return "\n".join(lines)


@dataclass(frozen=True)
class UrlProbe:
    """The outcome of one allocation attempt."""

    url: str
    "The TURN URI probed."
    ok: bool
    "True if the server granted a relay allocation."
    relayed: tuple[str, int] | None = None
    "The relayed transport address the server allocated."
    cause: str = ""
    "Why it failed, e.g. ``wrong secret or clock skew``; empty when ok."
    detail: str = ""
    "The underlying error, for the curious."

    def line(self) -> str:
        if self.ok and self.relayed is not None:
            return f"{self.url}: ok, relay {self.relayed[0]}:{self.relayed[1]}"
        return f"{self.url}: {self.cause}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class ProbeResult:
    """Per-url outcomes of ``probe``."""

    results: tuple[UrlProbe, ...]
    "One entry per probed url, in configuration order (room_url last if extra)."

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    def lines(self) -> list[str]:
        return [result.line() for result in self.results]


#: 437 Allocation Mismatch: the server still holds state for this client address (a
#: retransmitted request of a slow exchange); RFC 8656 §7.4 says to retry from another
#: address, which a new endpoint is.
_MISMATCH_TRIES = 3


class _Sink(asyncio.DatagramProtocol):
    """Discards relayed data and reports when the allocation is gone."""

    def __init__(self) -> None:
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def _probe_url(url: TurnUrl, credentials: TurnCredentials, static: bool,
                     timeout: float, ssl_context: ssl.SSLContext | None) -> UrlProbe:
    context = (ssl_context or ssl.create_default_context()) if url.tls else None

    def failed(cause: str, detail: str) -> UrlProbe:
        return UrlProbe(url.text, False, cause=cause, detail=detail)

    try:
        async with asyncio.timeout(timeout):
            for attempt in range(_MISMATCH_TRIES):
                try:
                    transport, sink = await create_turn_endpoint(
                        _Sink, (url.host, url.port), credentials.username,
                        credentials.credential, lifetime=60, ssl=context,
                        transport=url.transport)
                    break
                except stun.TransactionFailed as exc:
                    code, _ = exc.response.attributes.get("ERROR-CODE", (0, ""))
                    if code != 437 or attempt == _MISMATCH_TRIES - 1:
                        raise
    except TimeoutError:
        return failed(UNREACHABLE, f"no answer within {timeout:g} s")
    except stun.TransactionTimeout:
        return failed(UNREACHABLE, "no answer from the server")
    except stun.TransactionFailed as exc:
        code, reason = exc.response.attributes.get("ERROR-CODE", (0, "no error code"))
        if code == 401:
            return failed(WRONG_STATIC if static else WRONG_SECRET, f"{code} {reason}")
        return failed(f"refused by the server ({code} {reason})", str(exc))
    except ssl.SSLCertVerificationError as exc:
        cause = CERT_WRONG_HOST if exc.verify_code == 62 else CERT_UNTRUSTED
        return failed(cause, exc.verify_message or str(exc))
    except ssl.SSLError as exc:
        return failed("TLS handshake failed", exc.reason or str(exc))
    except socket.gaierror as exc:
        return failed(UNREACHABLE, f"host name does not resolve: {exc.strerror}")
    except OSError as exc:
        if type(exc) is ConnectionError:  # aioice: a malformed Allocate response
            return failed("not a TURN server", str(exc))
        return failed(UNREACHABLE, os.strerror(exc.errno) if exc.errno else str(exc))
    relayed = transport.get_extra_info("sockname")
    transport.close()  # deletes the allocation
    try:
        await asyncio.wait_for(asyncio.shield(sink.closed), 2.0)
    except TimeoutError:
        pass
    return UrlProbe(url.text, True, relayed=relayed)


async def probe(config: TurnConfig, *, timeout: float = 5.0,
                ssl_context: ssl.SSLContext | None = None, label: str = "probe",
                now: float | None = None) -> ProbeResult:
    """Allocate a relay on every configured url (and room_url) with fresh credentials.

    ``ssl_context`` verifies ``turns`` servers; by default the one aiortc uses.
    """
    urls = list(config.parsed_urls)
    if config.room_url is not None and config.room_url not in config.urls:
        urls.append(TurnUrl.parse(config.room_url, "room_url"))
    credentials = mint(config, label, now, urls=tuple(url.text for url in urls))
    static = config.mode == "static"
    results = await asyncio.gather(
        *(_probe_url(url, credentials, static, timeout, ssl_context) for url in urls))
    return ProbeResult(tuple(results))
