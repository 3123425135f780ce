"""Connection quality of a partner's call, from aiortc's getStats, as the counsellor sees it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiortc import RTCPeerConnection


@dataclass
class Sample:
    at: float
    bytes_received: int
    packets_received: int
    packets_lost: int
    frames: int


async def measure(pc: RTCPeerConnection, frames: int,
                  previous: Sample | None) -> tuple[dict[str, int] | None, Sample]:
    """Round-trip time, packet loss, bitrate and frame rate since ``previous``."""
    rtt, received, lost, bytes_in = None, 0, 0, 0
    for stats in (await pc.getStats()).values():
        if stats.type == "remote-inbound-rtp" and stats.kind == "video":
            rtt = stats.roundTripTime
        elif stats.type == "inbound-rtp":
            received += stats.packetsReceived
            lost += max(0, stats.packetsLost)
        elif stats.type == "transport":
            bytes_in += stats.bytesReceived
    sample = Sample(time.monotonic(), bytes_in, received, lost, frames)
    if previous is None:
        return None, sample
    span = max(sample.at - previous.at, 1e-3)
    got = sample.packets_received - previous.packets_received
    missed = sample.packets_lost - previous.packets_lost
    return {
        "rtt_ms": round((rtt or 0) * 1000),
        "loss_pct": round(100 * missed / (got + missed)) if got + missed > 0 else 0,
        "kbps": round((sample.bytes_received - previous.bytes_received) * 8 / span / 1000),
        "fps": round((sample.frames - previous.frames) / span),
    }, sample
