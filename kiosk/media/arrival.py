"""When a partner's packets arrived: the kernel's receive time, not the loop's.

aiortc estimates the rate a partner's link carries from the arrival times of their
packets and sends the result to the partner's browser (REMB), which never sends more.
It stamps a packet when the loop gets to it, and on a busy room PC the loop is late by
tens of milliseconds, at random: the estimator reads that jitter as a queue building
up, and lowers the estimate until the browser sends a stamp-sized picture at its floor
(30 kbit/s), while a browser-to-browser call over the same link keeps 200–300 kbit/s.

Linux stamps every datagram when it arrives; ``SIOCGSTAMPNS`` reads the stamp of the
last one read from a socket. :func:`install` reads it for each RTP/RTCP datagram as
aioice reads it (the datagram carries it along, :class:`Stamped`), and hands it to the
receiver as the packet's arrival time. Datagrams that come another way (through the
room's own TURN allocation) keep aiortc's time.
"""

from __future__ import annotations

import fcntl
import functools
import struct

from aioice import ice
from aiortc import RTCIceTransport, RTCRtpReceiver

#: ioctl: the receive time (struct timespec, CLOCK_REALTIME) of the last datagram read.
SIOCGSTAMPNS = 0x8907
_TIMESPEC = struct.Struct("qq")
_installed = False


class Stamped(bytes):
    """A datagram and ``at``, the kernel's receive time (ms since the NTP epoch, the
    clock of aiortc's arrival times)."""

    at: int


#: Seconds between 1900 (NTP, aiortc's clock) and 1970 (the kernel's).
_NTP_OFFSET_MS = 2_208_988_800 * 1000


def stamp(fd: int, data: bytes) -> bytes:
    """``data`` with the receive time of the last datagram read from ``fd``, if known."""
    try:
        sec, nsec = _TIMESPEC.unpack(fcntl.ioctl(fd, SIOCGSTAMPNS, bytes(_TIMESPEC.size)))
    except OSError:  # the first read enables stamping; not a socket
        return data
    stamped = Stamped(data)
    stamped.at = sec * 1000 + nsec // 1_000_000 + _NTP_OFFSET_MS
    return stamped


def install() -> None:
    """Stamp RTP and RTCP datagrams in aioice; time the receiver's packets by it."""
    global _installed
    if _installed:
        return
    received = ice.StunProtocol.datagram_received

    @functools.wraps(received)
    def stamped(self, data, addr) -> None:
        if isinstance(data, bytes) and data and 127 < data[0] < 192:  # RTP/RTCP (RFC 7983)
            fd = self.__dict__.get("_kiosk_fd")
            if fd is None:
                sock = self.transport.get_extra_info("socket")
                fd = self.__dict__["_kiosk_fd"] = sock.fileno() if sock is not None else -1
            if fd >= 0:
                data = stamp(fd, data)
        received(self, data, addr)

    recv = ice.Connection.recv

    @functools.wraps(recv)
    async def keep(self) -> bytes:
        data = await recv(self)
        self._kiosk_at = getattr(data, "at", None)  # read next, by the same task
        return data

    handle = RTCRtpReceiver._handle_rtp_packet

    @functools.wraps(handle)
    async def timed(self, packet, arrival_time_ms: int) -> None:
        at = getattr(self.transport.transport._connection, "_kiosk_at", None)
        await handle(self, packet, at if at is not None else arrival_time_ms)

    ice.StunProtocol.datagram_received = stamped
    ice.Connection.recv = keep  # type: ignore[method-assign]
    RTCRtpReceiver._handle_rtp_packet = timed  # type: ignore[method-assign]
    _installed = True


def needs() -> list[tuple[str, str, bool]]:
    """What :func:`install` relies on: (name, what it must be, holds)."""
    import inspect

    def unwrapped(func):
        return inspect.unwrap(func)

    return [
        ("aioice.ice.StunProtocol.datagram_received",
         "a method (self, data, addr) of a datagram protocol with .transport",
         list(inspect.signature(unwrapped(ice.StunProtocol.datagram_received)).parameters)
         == ["self", "data", "addr"]),
        ("aioice.Connection.recv", "a coroutine returning the next datagram, which "
         "RTCIceTransport receives with (as ._connection)",
         inspect.iscoroutinefunction(unwrapped(ice.Connection.recv))
         and {"_connection", "recv", "_recv"} <= set(RTCIceTransport.__init__.__code__.co_names)),
        ("RTCRtpReceiver._handle_rtp_packet", "a coroutine (self, packet, arrival_time_ms)",
         list(inspect.signature(unwrapped(RTCRtpReceiver._handle_rtp_packet)).parameters)
         == ["self", "packet", "arrival_time_ms"]),
    ]
