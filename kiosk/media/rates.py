"""How much the room sends to a partner: no more than their link carries.

A partner behind an office firewall reaches the room through TURN over TLS, one TCP
connection that carries both directions. On a poor link (loss, 150 ms round trip,
1.5 Mbit/s) TCP carries less than the nominal rate, and whatever the room sends beyond
that waits in the connection's queue: the room's reports to the partner's browser (RTCP
receiver reports, its bandwidth estimate) wait there too, seconds late, and the browser
takes the late reports for congestion and throttles the partner's camera to its floor.

aiortc's video encoders follow the receiver's estimate (REMB) but never go below
250 kbit/s (VP8) or 500 kbit/s (H.264), and its Opus encoder sends 96 kbit/s of
stereo. A browser on the same link goes down to 30 kbit/s of video and sends speech at
about 32 kbit/s. :func:`install` gives the room's encoders the browser's floors: the
room's picture to a partner gets coarser on a poor link, and the partner's picture to
the room, which is what the consultation needs, keeps its rate.
"""

from __future__ import annotations

import functools

from aiortc.codecs import h264, opus, vpx

#: The lowest video rate the room sends at when the partner's estimate is lower
#: (a browser's floor, bit/s).
VIDEO_FLOOR = 30_000
#: The room's speech to a partner (bit/s): Opus at a browser's default rate for voice.
SPEECH_RATE = 32_000

_installed = False


def install() -> None:
    """Lower aiortc's encoder floors and its Opus rate (idempotent)."""
    global _installed
    if _installed:
        return
    vpx.MIN_BITRATE = VIDEO_FLOOR
    h264.MIN_BITRATE = VIDEO_FLOOR
    init = opus.OpusEncoder.__init__

    @functools.wraps(init)
    def speech_rate(self: opus.OpusEncoder) -> None:
        init(self)
        self.codec.bit_rate = SPEECH_RATE

    opus.OpusEncoder.__init__ = speech_rate  # type: ignore[method-assign]
    _installed = True


def needs() -> list[tuple[str, str, bool]]:
    """What :func:`install` relies on in aiortc: (name, what it must be, holds)."""
    return [
        ("aiortc.codecs.vpx.MIN_BITRATE", "the VP8 encoder's floor, read by target_bitrate",
         isinstance(getattr(vpx, "MIN_BITRATE", None), int)
         and "MIN_BITRATE" in vpx.Vp8Encoder.target_bitrate.fset.__code__.co_names),
        ("aiortc.codecs.h264.MIN_BITRATE", "the H.264 encoder's floor, read by target_bitrate",
         isinstance(getattr(h264, "MIN_BITRATE", None), int)
         and "MIN_BITRATE" in h264.H264Encoder.target_bitrate.fset.__code__.co_names),
        ("aiortc.codecs.opus.OpusEncoder.codec", "a PyAV codec context with bit_rate",
         hasattr(opus.OpusEncoder(), "codec")),
    ]
