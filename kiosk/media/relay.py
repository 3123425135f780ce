"""Relay of a partner's encoded video to the display, without decoding or re-encoding.

aiortc decodes every received frame and encodes every sent one. For a partner's
picture on its way to the display that costs a third of a core per 720p stream
and a frame interval of latency. Here the partner's video receiver hands out
the encoded frames themselves (``av.Packet``), which aiortc's sender packs as
they are. Three pieces make that work:

* ``passthrough(receiver, track)`` marks the receiver's output queue, and the
  decoder worker (patched once, ``install``) forwards encoded frames for marked
  queues instead of decoding them;
* the receiver gets a jitter buffer that releases a frame when its last packet
  (RTP marker bit) arrives, not when the next frame's first packet does;
* keyframe requests of the display (PLI/FIR) go on to the partner
  (``forward_keyframe_requests``), and the engine asks for one whenever a
  display starts or a gate opens.

Both ends are held to the same codec (``relay_codec`` picks VP8, which every
browser speaks, else H.264; ``prefer`` sets it on a transceiver).

All of this leans on aiortc's private names. Should one of them change, aiortc
would quietly decode and re-encode again; ``check`` (called when the media
engine starts) refuses to go on instead, naming what is missing.
"""

from __future__ import annotations

import asyncio
import fractions
import inspect
import weakref
from collections.abc import Callable

import av
from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc import rtcpeerconnection as _connection_module
from aiortc import rtcrtpreceiver as _receiver_module
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

from kiosk.exceptions import DependencyError
from kiosk.media import arrival, rates

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
_PASSTHROUGH: weakref.WeakSet = weakref.WeakSet()
_original_worker = getattr(_receiver_module, "decoder_worker", None)  # see check()


class MarkerJitterBuffer(JitterBuffer):
    """Releases a video frame as soon as its marker packet completes it."""

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        packets = []
        timestamp = None
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self._capacity]
            if packet is None:
                return None
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:  # no marker seen: the next frame began
                self.remove(count)
                return JitterFrame(b"".join(p._data for p in packets), timestamp)
            packets.append(packet)
            if packet.marker:
                self.remove(count + 1)
                return JitterFrame(b"".join(p._data for p in packets), timestamp)
        return None


def _worker(loop, input_q, output_q, decode_error) -> None:
    if output_q not in _PASSTHROUGH:
        return _original_worker(loop, input_q, output_q, decode_error)
    while True:
        task = input_q.get()
        if task is None:
            asyncio.run_coroutine_threadsafe(output_q.put(None), loop)
            return
        _, encoded = task
        packet = av.Packet(encoded.data)
        packet.pts = encoded.timestamp
        packet.time_base = VIDEO_TIME_BASE
        asyncio.run_coroutine_threadsafe(output_q.put(packet), loop)


def install() -> None:
    """Route marked receivers around the decoder (idempotent)."""
    _receiver_module.decoder_worker = _worker


def passthrough(receiver: RTCRtpReceiver, track) -> None:
    """Make this video receiver hand out encoded frames, released on the marker bit.

    Call it from the ``track`` event, before the connection starts receiving.
    """
    install()
    _PASSTHROUGH.add(track._queue)
    receiver._RTCRtpReceiver__jitter_buffer = MarkerJitterBuffer(capacity=512, is_video=True)


def request_keyframe(receiver: RTCRtpReceiver) -> None:
    """Ask the partner for a keyframe (RTCP PLI) on every stream they send."""
    for source in receiver.getSynchronizationSources():
        asyncio.ensure_future(receiver._send_rtcp_pli(source.source))


def forward_keyframe_requests(sender: RTCRtpSender, ask: Callable[[], None]) -> None:
    """When the display asks this sender for a keyframe, ask the partner instead."""
    sender._send_keyframe = ask


def relay_codec(offer: str) -> str | None:
    """The codec to relay encoded: VP8 if the offer has it, else H.264, else None."""
    for name in ("VP8", "H264"):
        if f" {name}/90000" in offer:
            return name
    return None


def prefer(transceiver: RTCRtpTransceiver, codec: str) -> bool:
    """Answer with ``codec`` (VP8 or H264, with its retransmission) on this transceiver.

    aiortc settles an answerer's codecs while it applies the offer, so
    ``setCodecPreferences`` comes too late; the negotiated list is narrowed instead.
    Returns False (and changes nothing) when the offer did not have the codec.
    """
    mime = f"video/{codec}".lower()
    kept = [c for c in transceiver._codecs if c.mimeType.lower() == mime]
    if not kept:
        return False
    types = {c.payloadType for c in kept}
    rtx = [c for c in transceiver._codecs if c.mimeType.lower() == "video/rtx"
           and c.parameters.get("apt") in types]
    transceiver._codecs = kept + rtx
    return True


def vp8_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 keyframe's header; None for other frames."""
    if len(data) < 10 or data[0] & 1 or data[3:6] != b"\x9d\x01\x2a":
        return None
    return (data[6] | data[7] << 8) & 0x3FFF, (data[8] | data[9] << 8) & 0x3FFF


# -- the guard ------------------------------------------------------------------------
def _params(func) -> list[str]:
    return list(inspect.signature(func).parameters)


def _names(code) -> set[str]:
    """Globals and attributes a function's (or code object's) bytecode uses, nested
    code included: what it calls or sets, whatever its source looks like. A function
    the kiosk wrapped (kiosk/media/arrival.py) is read as aiortc wrote it."""
    if inspect.isfunction(code):
        code = inspect.unwrap(code)
    code = getattr(code, "__code__", code)
    names = set(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= _names(const)
    return names


def _uses(func, *names: str) -> bool:
    return set(names) <= _names(func)


def _aiortc_worker():
    current = getattr(_receiver_module, "decoder_worker", None)
    return _original_worker if current is _worker else current


def _fields(buffer: JitterBuffer) -> tuple:
    return buffer._packets, buffer._origin, buffer._capacity


def _marker_release() -> bool:
    buffer = MarkerJitterBuffer(capacity=4, is_video=True)
    packet = RtpPacket(payload_type=96, marker=1, sequence_number=7, timestamp=90)
    packet._data = b"frame"
    _, frame = buffer.add(packet)
    return (frame is not None and (frame.data, frame.timestamp) == (b"frame", 90)
            and _fields(buffer) == ([None] * 4, 8, 4))


_Receiver, _Sender, _Connection = RTCRtpReceiver, RTCRtpSender, _connection_module

#: (private name, what the relay needs of it, a test that holds when it is so).
_NEEDS: list[tuple[str, str, Callable[[], bool]]] = [
    ("aiortc.rtcrtpreceiver.decoder_worker",
     "a function (loop, input_q, output_q, decode_error)",
     lambda: _params(_aiortc_worker()) == ["loop", "input_q", "output_q", "decode_error"]),
    ("RTCRtpReceiver.receive",
     "a thread on the module's decoder_worker, writing to self._track._queue",
     lambda: _uses(_Receiver.receive, "decoder_worker", "_track", "_queue")),
    ("RemoteStreamTrack._queue",
     "an asyncio.Queue",
     lambda: isinstance(_receiver_module.RemoteStreamTrack("video")._queue, asyncio.Queue)),
    ("RTCRtpReceiver._RTCRtpReceiver__jitter_buffer",
     "the jitter buffer that _handle_rtp_packet adds to",
     lambda: _uses(_Receiver.__init__, "_RTCRtpReceiver__jitter_buffer")
     and _uses(_Receiver._handle_rtp_packet, "_RTCRtpReceiver__jitter_buffer", "add")),
    ("RtpPacket._data",
     "the depayloaded data, set by RTCRtpReceiver._handle_rtp_packet",
     lambda: _uses(_Receiver._handle_rtp_packet, "_data", "depayload")),
    ("RTCRtpReceiver._send_rtcp_pli",
     "a coroutine (self, media_ssrc)",
     lambda: inspect.iscoroutinefunction(_Receiver._send_rtcp_pli)
     and _params(_Receiver._send_rtcp_pli) == ["self", "media_ssrc"]),
    ("RTCRtpSender._send_keyframe",
     "a method (self) called on a PLI or FIR",
     lambda: _params(_Sender._send_keyframe) == ["self"]
     and _uses(_Sender._handle_rtcp_packet, "_send_keyframe")),
    ("RTCRtpSender._next_encoded_frame",
     "encoded frames (av.Packet) packed as they are",
     lambda: _uses(_Sender._next_encoded_frame, "pack")),
    ("RTCRtpTransceiver._codecs",
     "the negotiated codecs, which RTCPeerConnection sets, then answers and sends with",
     lambda: RTCRtpTransceiver("video", None, None)._codecs == []
     and all(_uses(func, "_codecs") for func in (
         _Connection.RTCPeerConnection.setRemoteDescription,
         _Connection.create_media_description_for_transceiver,
         _Connection.RTCPeerConnection._RTCPeerConnection__localRtp))),
    ("JitterBuffer._packets, _origin, _capacity",
     "capacity empty slots, None, the capacity",
     lambda: _fields(JitterBuffer(capacity=4)) == ([None] * 4, None, 4)),
    ("JitterBuffer._remove_frame, JitterBuffer.remove",
     "(self, sequence_number), called by add; (self, count)",
     lambda: _params(JitterBuffer._remove_frame) == ["self", "sequence_number"]
     and _uses(JitterBuffer.add, "_remove_frame")
     and _params(JitterBuffer.remove) == ["self", "count"]),
    ("JitterFrame",
     "JitterFrame(data, timestamp)",
     lambda: _params(JitterFrame) == ["data", "timestamp"]),
    ("MarkerJitterBuffer",
     "a frame released as soon as its marker packet arrives",
     _marker_release),
]


def _holds(test: Callable[[], bool]) -> bool:
    try:
        return bool(test())
    except Exception:  # a missing name fails its test, whatever it raises
        return False


def check() -> None:
    """Raise :class:`DependencyError` unless aiortc has every private name the relay uses."""
    problems = [("aiortc", name, need) for name, need, test in _NEEDS if not _holds(test)]
    problems += [("aiortc", name, need) for name, need, holds in
                 (*rates.needs(), *arrival.needs()) if not holds]
    if problems:
        raise DependencyError(problems)
