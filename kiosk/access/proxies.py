"""Behind the agency's reverse proxy: whose ``X-Forwarded-*`` headers count.

From outside, the room PC is reachable only through the agency's TLS reverse
proxy. The proxy tells the room who really asked (``X-Forwarded-For``), over
what (``X-Forwarded-Proto``) and for which name (``X-Forwarded-Host``). Anyone
can send those headers, so they count only when the TCP peer is one of
``[http] trusted_proxies``; from any other peer they change nothing. A request
that came through a proxy (trusted or not) is never "the room PC", even when
the proxy runs on the room PC itself: the pages that open only on the room PC
(/kiosk, /display, the summary, the room's own WHEP stream) ask
:func:`from_room_pc`, never the peer address alone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tornado import httputil
from tornado.httpserver import HTTPServer

from kiosk.exceptions import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Headers by which a proxy says a request is not its own.
FORWARDING = ("X-Forwarded-For", "X-Real-Ip", "Forwarded", "X-Forwarded-Proto",
              "X-Forwarded-Host", "Via")


@dataclass(frozen=True)
class TrustedProxies:
    """The proxies whose forwarded headers the room believes."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, values: Iterable[Any] | None,
              key: str = "[http] trusted_proxies") -> TrustedProxies:
        """Addresses or networks (``127.0.0.1``, ``10.0.0.0/24``, ``::1``); a bad entry
        is a ConfigError that names the key and the entry."""
        if values is None:
            return cls()
        if isinstance(values, str) or not isinstance(values, Iterable):
            raise ConfigError(f"{key} must be a list of addresses or networks, "
                              f'like ["127.0.0.1", "10.1.0.0/24"]')
        nets = []
        for value in values:
            if not isinstance(value, str):
                raise ConfigError(f"{key}: {value!r} is not an address or network")
            try:
                nets.append(ipaddress.ip_network(value.strip(), strict=False))
            except ValueError:
                raise ConfigError(f"{key}: {value!r} is not an address or network "
                                  "(like 127.0.0.1 or 10.1.0.0/24)") from None
        return cls(tuple(nets))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str | None) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in net for net in self.networks)

    def as_strings(self) -> tuple[str, ...]:
        return tuple(str(n) for n in self.networks)


def _ip(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address((address or "").strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def client_address(peer: str, forwarded_for: str, proxies: TrustedProxies) -> str:
    """The address that asked: walk ``X-Forwarded-For`` from the right (the entry the
    nearest proxy added), skipping trusted proxies; the first other entry is the client.
    A malformed entry stops the walk at the last proxy that was believed."""
    current = peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if not proxies.trusts(current):
            break
        if _ip(hop) is None:
            break
        current = str(_ip(hop))
    return current


class _Forwarded(httputil.HTTPMessageDelegate):
    """Applies a trusted proxy's headers to one request, as tornado's ``xheaders`` would,
    but only for a trusted peer; marks every request that carries forwarding headers."""

    def __init__(self, delegate: httputil.HTTPMessageDelegate, connection: Any,
                 proxies: TrustedProxies) -> None:
        self.delegate, self.connection, self.proxies = delegate, connection, proxies

    def headers_received(self, start_line: Any, headers: httputil.HTTPHeaders) -> Any:
        context = self.connection.context
        peer = context.address[0] if isinstance(context.address, tuple) else ""
        proxied = any(h in headers for h in FORWARDING)
        context.proxied = proxied
        context.remote_ip = peer or context.remote_ip
        context.protocol = getattr(context, "_kiosk_protocol", context.protocol)
        context._kiosk_protocol = context.protocol
        if proxied and self.proxies.trusts(peer):
            context.remote_ip = client_address(peer, headers.get("X-Forwarded-For", ""),
                                               self.proxies)
            proto = headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                context.protocol = proto
            host = headers.get("X-Forwarded-Host", "").split(",")[-1].strip()
            if host and all(c.isalnum() or c in "-.:[]" for c in host):
                headers["Host"] = host
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.delegate.on_connection_close()


def trust_proxies(server: HTTPServer, proxies: TrustedProxies) -> None:
    """Make a tornado server (Panel's, the console's) believe forwarded headers from
    ``proxies`` only, and mark proxied requests (see :func:`from_room_pc`)."""
    server.xheaders = False  # tornado's own would believe anyone
    start_request = server.start_request

    def start(server_conn: object, request_conn: httputil.HTTPConnection) -> Any:
        return _Forwarded(start_request(server_conn, request_conn), request_conn, proxies)

    server.start_request = start  # type: ignore[method-assign]


def from_room_pc(request: httputil.HTTPServerRequest) -> bool:
    """Whether a request comes from a browser on the room PC itself: a loopback peer,
    and no proxy in between (a proxy on the room PC forwards the whole internet)."""
    if getattr(request.connection.context, "proxied", False) if request.connection else False:
        return False
    if any(h in request.headers for h in FORWARDING):
        return False
    ip = _ip(request.remote_ip)
    return ip is not None and ip.is_loopback


def secure_cookie(handler: Any) -> bool:
    """Whether a cookie set by ``handler`` gets ``Secure``: the request came over https
    (directly, or as a trusted proxy says), or the room's public address is https."""
    return (handler.request.protocol == "https"
            or getattr(handler, "link", None) is not None
            and str(getattr(handler.link, "base_url", "")).startswith("https://"))
