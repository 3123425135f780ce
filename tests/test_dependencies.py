"""Dependencies: the start-time guard over the private names the kiosk patches, and
the proof that a partner's VP8 picture reaches the display without being decoded."""

from __future__ import annotations

import inspect
import threading
from importlib.metadata import version

import pytest
from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc import rtcrtpreceiver as receiver_module
from aiortc.codecs import h264, opus, vpx
from aiortc.codecs.vpx import Vp8Decoder
from aiortc.jitterbuffer import JitterBuffer
from bokeh.server.views.ws import WSHandler as BokehWSHandler
from conftest import until
from media_calls import Display, TimedBot, command, consent

from kiosk.app import server, writes
from kiosk.exceptions import DependencyError
from kiosk.media import rates, relay


def test_the_installed_versions_pass_the_guard(monkeypatch):
    relay.check()
    server.check()
    writes.check()
    # ... and still do once the patches are in place (restored after the test).
    monkeypatch.setattr(receiver_module, "decoder_worker", receiver_module.decoder_worker)
    monkeypatch.setattr(server, "per_app_patterns", list(server.per_app_patterns))
    relay.install()
    server._use_nodelay_websocket()
    relay.check()
    server.check()


def test_the_room_sends_a_partner_no_more_than_their_estimate(monkeypatch):
    """The room's encoders follow a partner's estimate down to a browser's floor, and
    speak at a browser's rate for voice (kiosk/media/rates.py says why)."""
    for module in (vpx, h264):
        monkeypatch.setattr(module, "MIN_BITRATE", module.MIN_BITRATE)
    # aiortc's own encoder, even when a room of an earlier test installed the floors
    monkeypatch.setattr(opus.OpusEncoder, "__init__", inspect.unwrap(opus.OpusEncoder.__init__))
    monkeypatch.setattr(rates, "_installed", False)
    assert opus.OpusEncoder().codec.bit_rate == 96_000
    rates.install()
    for encoder in (vpx.Vp8Encoder(), h264.H264Encoder()):
        encoder.target_bitrate = 40_000  # a REMB from a partner on a poor link
        assert encoder.target_bitrate == 40_000
        encoder.target_bitrate = 1_000
        assert encoder.target_bitrate == rates.VIDEO_FLOOR
    assert opus.OpusEncoder().codec.bit_rate == rates.SPEECH_RATE
    relay.check()


async def _handle_rtp_packet(self, packet, arrival_time_ms) -> None:
    """A receiver that no longer goes through its jitter buffer."""


#: What breaks -> the one private name the guard must name for it.
AIORTC_BREAKS = {
    "RTCRtpSender._send_keyframe":
        lambda mp: mp.delattr(RTCRtpSender, "_send_keyframe"),
    "aiortc.rtcrtpreceiver.decoder_worker":  # aiortc 1.9 to 1.15: three arguments
        lambda mp: mp.setattr(receiver_module, "decoder_worker",
                              lambda loop, input_q, output_q: None),
    "RTCRtpReceiver._send_rtcp_pli":
        lambda mp: mp.delattr(RTCRtpReceiver, "_send_rtcp_pli"),
    "RTCRtpReceiver._RTCRtpReceiver__jitter_buffer":
        lambda mp: mp.setattr(RTCRtpReceiver, "_handle_rtp_packet", _handle_rtp_packet),
    "RTCRtpTransceiver._codecs":
        lambda mp: mp.setattr(RTCRtpTransceiver, "__init__", lambda self, *a, **k: None),
    "JitterBuffer._remove_frame, JitterBuffer.remove":
        lambda mp: mp.delattr(JitterBuffer, "_remove_frame"),
    "aiortc.codecs.vpx.MIN_BITRATE":  # a floor read elsewhere than target_bitrate
        lambda mp: mp.delattr(vpx, "MIN_BITRATE"),
    "aiortc.codecs.opus.OpusEncoder.codec":
        lambda mp: mp.setattr(opus.OpusEncoder, "__init__", lambda self: None),
    "JitterBuffer._packets, _origin, _capacity":
        lambda mp: mp.setattr(JitterBuffer, "__init__",
                              lambda self, capacity, prefetch=0, is_video=False: None),
}


@pytest.mark.parametrize("name", AIORTC_BREAKS)
def test_the_guard_names_what_aiortc_lacks(monkeypatch, name):
    AIORTC_BREAKS[name](monkeypatch)
    with pytest.raises(DependencyError) as caught:
        relay.check()
    assert name in [problem[1] for problem in caught.value.problems]
    assert f"aiortc {version('aiortc')}: {name} is missing or changed" in str(caught.value)


def test_the_guard_names_a_changed_websocket_route(monkeypatch):
    patterns = server.per_app_patterns
    monkeypatch.setattr(server, "per_app_patterns", [p for p in patterns if p[0] != r"/ws"])
    with pytest.raises(DependencyError, match=rf"bokeh {version('bokeh')}: "
                       r"bokeh\.server\.urls\.per_app_patterns '/ws'"):
        server.check()
    # Another handler on the route: our subclass of Panel's would quietly replace it.
    monkeypatch.setattr(server, "per_app_patterns",
                        [(p, BokehWSHandler if p == r"/ws" else h) for p, h in patterns])
    with pytest.raises(DependencyError, match=rf"panel {version('panel')}: "
                       r"panel\.io\.server\.WSHandler on '/ws'"):
        server.check()


def test_the_guard_names_panels_write_queue(monkeypatch):
    from panel.io import document
    monkeypatch.delattr(document, "_WRITE_BLOCK")
    with pytest.raises(DependencyError, match=rf"panel {version('panel')}: "
                       r"panel\.io\.document\._WRITE_BLOCK"):
        writes.install()


def test_the_guard_names_panels_session_check(monkeypatch):
    monkeypatch.delattr(type(server.panel_state), "_unblocked")
    with pytest.raises(DependencyError, match=rf"panel {version('panel')}: "
                       r"panel\.io\.state\.state\._unblocked"):
        server.check()


async def test_a_vp8_partner_reaches_the_display_without_being_decoded(live_room, monkeypatch):
    decoded_in: list[threading.Thread] = []  # the thread of every VP8 decode in this process
    decode = Vp8Decoder.decode

    def counted(self, encoded_frame):
        decoded_in.append(threading.current_thread())
        return decode(self, encoded_frame)

    monkeypatch.setattr(Vp8Decoder, "decode", counted)
    room, engine = live_room, live_room.room.engine
    base = room.urls["kiosk"].rsplit("/", 1)[0]
    await command(room, "session.start")
    data = await command(room, "partner.invite", agency="Jobcenter")
    partner = data["id"]
    bot, display = TimedBot(base + data["link"], "Jobcenter"), Display()
    try:
        await bot.join()
        await until(lambda: engine.counters().get(partner, {}).get("received", 0) > 0, 15)
        await command(room, "partner.admit", partner=partner)
        await consent(room, partner)
        await display.pull(base, partner)
        await until(lambda: display.received["video"] >= 15, 30)
        call = next(c for c in engine.calls.values()
                    if c.kind == "partner" and c.partner == partner)
        assert call.codec == "VP8" and call.video_receiver is not None
        # The thread aiortc runs the decoder in for the partner's video (relay._worker).
        partner_decoder = call.video_receiver._RTCRtpReceiver__decoder_thread
        assert partner_decoder is not None
        assert decoded_in.count(partner_decoder) == 0
        # The counter is not blind: the display (a plain aiortc peer) decodes each frame.
        assert len(decoded_in) >= display.received["video"] >= 15
    finally:
        await bot.leave()
        await display.close()
