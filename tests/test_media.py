"""The media engine with real aiortc peers: WHIP/WHEP signalling and the consent gate."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import time
import urllib.error
import urllib.request

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from conftest import until

import kiosk.media.engine as engine_module
from kiosk.media import PatternTrack, ToneTrack
from kiosk.media.loop import call_on


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, str]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def get_json(url: str) -> dict:
    import json

    with urllib.request.urlopen(url, timeout=20) as resp:
        return json.loads(resp.read())


def delete(url: str) -> int:
    req = urllib.request.Request(url, method="DELETE")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


class Peer:
    """An aiortc peer as a partner's browser or the display would be."""

    def __init__(self, label: str | None, receive: bool = True) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.frames = {"audio": 0, "video": 0}
        self.tasks: list[asyncio.Task] = []
        if label:  # a partner sends and receives
            self.pc.addTrack(PatternTrack(label, 320, 240))
            self.pc.addTrack(ToneTrack())
        elif receive:  # the display only receives
            self.pc.addTransceiver("video", direction="recvonly")
            self.pc.addTransceiver("audio", direction="recvonly")

        @self.pc.on("track")
        def on_track(track):
            self.tasks.append(asyncio.ensure_future(self._consume(track)))

    @classmethod
    def sending_only(cls, label: str):
        """A standard WHIP client: one send-only video track; returns (peer, transceiver)."""
        peer = cls(label=None, receive=False)
        transceiver = peer.pc.addTransceiver(PatternTrack(label, 320, 240),
                                             direction="sendonly")
        return peer, transceiver

    async def _consume(self, track) -> None:
        with contextlib.suppress(Exception):
            while True:
                await track.recv()
                self.frames[track.kind] += 1

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def connect(self, url: str, headers: dict[str, str]) -> tuple[int, dict, str]:
        sdp = await self.offer()
        status, hdrs, body = await asyncio.to_thread(
            post, url, sdp.encode(), {"Content-Type": "application/sdp", **headers})
        if status == 201:
            await self.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
        return status, hdrs, body

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.pc.close()


def base(room) -> str:
    return room.urls["kiosk"].rsplit("/", 1)[0]


async def invite(room) -> tuple[int, str]:
    reply = await asyncio.to_thread(room.command, "partner.invite", agency="Jobcenter",
                                    name="Herr Kaya", purpose="Bürgergeld")
    assert reply.ok, reply
    return reply.data["id"], reply.data["token"]


async def grows(counter, seconds: float = 1.0) -> int:
    before = counter()
    await asyncio.sleep(seconds)
    return counter() - before


async def joined(room) -> tuple[int, Peer, str]:
    """An invited partner who has joined by WHIP: in the lobby, their frames arriving."""
    partner_id, token = await invite(room)
    peer = Peer("Jobcenter")
    status, headers, _ = await peer.connect(f"{base(room)}/api/whip",
                                            {"Authorization": f"Bearer {token}"})
    assert status == 201 and headers["Location"].startswith("/api/whip/")
    engine = room.room.engine
    await until(lambda: engine.counters().get(partner_id, {}).get("received", 0) > 0, 15)
    return partner_id, peer, base(room) + headers["Location"]


async def let_in(room, partner_id: int) -> None:
    """The counsellor admits the partner and the client consents."""
    assert (await asyncio.to_thread(room.command, "partner.admit", partner=partner_id)).ok
    assert (await asyncio.to_thread(room.command, "consent.answer", as_="kiosk",
                                    partner=partner_id, yes=True, version="de:test")).ok


@pytest.fixture
def talk(live_room):
    assert live_room.command("session.start").ok
    return live_room


async def test_the_gate_opens_only_with_consent_and_admission_and_closes_on_pause(talk):
    room, engine = talk, talk.room.engine
    partner_id, token = await invite(room)
    partner = Peer("Jobcenter")
    status, headers, _ = await partner.connect(f"{base(room)}/api/whip",
                                               {"Authorization": f"Bearer {token}"})
    assert status == 201 and headers["Location"].startswith("/api/whip/")
    await until(lambda: engine.counters().get(partner_id, {}).get("received", 0) > 10, 15)
    display = Peer(None)
    status, whep_headers, _ = await display.connect(
        f"{base(room)}/api/whep/partners/{partner_id}", {})
    assert status == 201
    await asyncio.sleep(1.5)
    assert partner.frames["video"] == 0 and display.frames["video"] == 0  # lobby: nothing

    assert (await asyncio.to_thread(room.command, "partner.admit", partner=partner_id)).ok
    await asyncio.sleep(1.0)
    assert partner.frames["video"] == 0 and display.frames["video"] == 0  # no consent yet
    reply = await asyncio.to_thread(room.command, "consent.answer", as_="kiosk",
                                    partner=partner_id, yes=True, version="de:test")
    assert reply.ok
    await until(lambda: partner.frames["video"] > 10 and display.frames["video"] > 10, 15)
    assert partner.frames["audio"] > 0 and display.frames["audio"] > 0

    assert (await asyncio.to_thread(room.command, "privacy.set", on=True)).ok
    await asyncio.sleep(1.0)  # within one second, media stops both ways
    assert await grows(lambda: partner.frames["video"] + display.frames["video"]) == 0
    assert (await asyncio.to_thread(room.command, "privacy.set", on=False)).ok
    await until(lambda: display.frames["video"] > 0 and partner.frames["video"] > 0)
    assert await grows(lambda: display.frames["video"]) > 5

    reply = await asyncio.to_thread(room.command, "consent.withdraw", as_="kiosk",
                                    partner=partner_id, version="de:test")
    assert reply.ok
    await asyncio.sleep(1.0)
    assert await grows(lambda: partner.frames["video"] + display.frames["video"]) == 0

    # Without consent the call has no purpose: the partner is told why and disconnected.
    await until(lambda: engine.peer_count == 0)  # the display's pull went with it
    status = await asyncio.to_thread(get_json, base(room) + headers["Location"])
    assert status["state"] == "withdrawn" and "zurückgezogen" in status["text"]
    await until(lambda: room.state.partners[0].state == "gone")
    await partner.close()
    await display.close()


async def test_a_partner_leaves_and_a_declined_one_is_told_politely(talk):
    room, engine = talk, talk.room.engine
    _, partner, where = await joined(room)
    assert (await asyncio.to_thread(get_json, where))["state"] == "lobby"
    assert await asyncio.to_thread(delete, where) == 200
    assert engine.peer_count == 0
    assert (await asyncio.to_thread(get_json, where))["state"] == "left"
    await partner.close()

    partner_id, partner, where = await joined(room)
    reply = await asyncio.to_thread(room.command, "consent.answer", as_="kiosk",
                                    partner=partner_id, yes=False, version="de:test")
    assert reply.ok
    await until(lambda: engine.peer_count == 0)
    status = await asyncio.to_thread(get_json, where)
    assert status["state"] == "declined" and "keine Nachteile" in status["text"]
    await partner.close()


async def test_hang_up_closes_every_peer_connection(talk):
    room, engine = talk, talk.room.engine
    partner_id, partner, _ = await joined(room)
    display = Peer(None)
    assert (await display.connect(f"{base(room)}/api/whep/partners/{partner_id}", {}))[0] == 201
    assert engine.peer_count == 2
    partner_call = next(c for c in engine.calls.values() if c.kind == "partner")
    assert partner_call.video_receiver is not None  # VP8 offered: relayed as encoded frames
    assert "VP8" in display.pc.remoteDescription.sdp
    assert (await asyncio.to_thread(room.command, "partner.remove", partner=partner_id)).ok
    await until(lambda: engine.peer_count == 0)
    await partner.close()
    await display.close()


async def test_a_peer_connection_that_will_not_close_does_not_hold_the_room(talk, monkeypatch):
    """aioice's close swallows a cancellation and then waits out TURN retries: a hang-up
    (and the room's stop) goes on after CLOSE_WAIT and leaves that close behind."""
    room, engine = talk, talk.room.engine
    monkeypatch.setattr(engine_module, "CLOSE_WAIT", 0.2)
    partner_id, partner, _ = await joined(room)
    resource, call = next((r, c) for r, c in engine.calls.items() if c.kind == "partner")
    close, cancelled = call.pc.close, []

    async def stubborn_close():
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:  # swallowed, as aioice's close does
            cancelled.append(True)
            await asyncio.sleep(60)

    async def drop_left_over():
        for task in list(engine._closing):
            task.cancel()

    call.pc.close = stubborn_close
    try:
        # room.call fails with TimeoutError (and where the loop stood) if it hangs
        assert await asyncio.to_thread(room.call, engine.hang_up(resource), 20)
        assert engine.peer_count == 0 and len(engine._closing) == 1
        await asyncio.to_thread(room.call, engine.close(), 20)  # what the room's stop does
        await until(lambda: cancelled == [True])
    finally:
        # on the engine's own loop, as everything of its peer connections
        await asyncio.wait_for(call_on(engine.loop, drop_left_over()), 20)
        await asyncio.wait_for(call_on(engine.loop, close()), 20)
        await partner.close()


def open_sockets() -> int:
    """Sockets this process holds (the room runs in it, beside the test's peers)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


async def test_a_pull_that_ends_while_it_gathers_leaves_no_socket_open(talk):
    """A display's pull that ends (the partner leaves, the talk ends, the room stops)
    while it is still gathering its candidates: its close waits for the gathering, else
    aioice opens its sockets after the close and they stay open for the room's life (the
    soak's open files grew by one every two talks)."""
    room, engine = talk, talk.room.engine
    partner_id, partner, _ = await joined(room)
    before = open_sockets()
    for _ in range(3):
        display = Peer(None)
        offer = await display.offer()

        async def end_while_gathering(offer: str) -> None:
            pulling = asyncio.ensure_future(engine.watch(partner_id, offer))
            while not engine._gathering:  # the pull is answering: its sockets are opening
                await asyncio.sleep(0)
            pull = next(r for r, c in engine.calls.items() if c.kind == "display")
            await engine.hang_up(pull)
            await pulling

        await asyncio.wait_for(call_on(engine.loop, end_while_gathering(offer)), 20)
        await display.close()
    await until(lambda: open_sockets() <= before, 10)
    await partner.close()


def test_a_datagram_is_timed_when_it_arrived_not_when_it_was_read():
    """kiosk/media/arrival.py: the kernel's receive time, however late the loop reads."""
    import socket

    from aiortc import clock

    from kiosk.media import arrival

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as room, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as partner:
        room.bind(("127.0.0.1", 0))
        partner.sendto(b"\x80", room.getsockname())
        room.recv(10)
        arrival.stamp(room.fileno(), b"")  # the first read enables the kernel's stamps
        for _ in range(3):
            partner.sendto(b"\x80", room.getsockname())
            time.sleep(0.3)  # a busy loop reads it late
            room.recv(10)
            stamped = arrival.stamp(room.fileno(), b"\x80")
            assert clock.current_ms() - stamped.at >= 250


async def test_a_partners_packets_carry_the_kernels_arrival_time(talk):
    room, engine = talk, talk.room.engine
    partner_id, partner, _ = await joined(room)
    call = next(c for c in list(engine.calls.values()) if c.kind == "partner")
    connection = call.video_receiver.transport.transport._connection
    await until(lambda: getattr(connection, "_kiosk_at", None) is not None, 10)
    await partner.close()


async def test_a_send_only_whip_client_is_accepted(talk):
    room, engine = talk, talk.room.engine
    partner_id, token = await invite(room)
    peer, _ = Peer.sending_only("OBS")
    status, _, answer = await peer.connect(f"{base(room)}/api/whip",
                                           {"Authorization": f"Bearer {token}"})
    assert status == 201 and "a=recvonly" in answer
    await until(lambda: engine.counters().get(partner_id, {}).get("received", 0) > 5, 15)
    await peer.close()


async def test_bad_offers_and_links_get_a_reason_and_change_nothing(talk):
    room = talk
    partner_id, token = await invite(room)
    whip = f"{base(room)}/api/whip"
    offer = (await Peer("x").offer()).encode()
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}
    cases = [
        (b"this is not sdp", auth, 400, "not an SDP offer"),
        (b"v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", auth, 400, "could not be used"),
        (offer, {"Content-Type": "application/sdp"}, 401, "Bearer token"),
        (offer, {**auth, "Content-Type": "text/plain"}, 415, "application/sdp"),
        (offer, {**auth, "Authorization": "Bearer " + "A" * 32}, 401, "nicht gültig"),
        (b"v=0\n" + b"x" * 70_000, auth, 413, "too large"),
    ]
    for body, headers, status, reason in cases:
        got = await asyncio.to_thread(post, whip, body, headers)
        assert (got[0], reason in got[2]) == (status, True), (status, got)
    assert room.state.partners[0].state == "invited"  # the link was not used up

    first = Peer("Jobcenter")
    assert (await first.connect(whip, {"Authorization": f"Bearer {token}"}))[0] == 201
    second = await asyncio.to_thread(post, whip, offer, auth)
    assert second[0] == 409 and "schon benutzt" in second[2]
    await first.close()

    revoked_id, revoked = await invite(room)
    assert (await asyncio.to_thread(room.command, "invite.revoke", partner=revoked_id)).ok
    got = await asyncio.to_thread(post, whip, offer, {**auth, "Authorization":
                                                     f"Bearer {revoked}"})
    assert got[0] == 403 and "zurückgezogen" in got[2]

    expired_id, expired = await invite(room)
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
    await asyncio.to_thread(lambda: room.call(_expire(room, past)))
    got = await asyncio.to_thread(post, whip, offer, {**auth, "Authorization":
                                                     f"Bearer {expired}"})
    assert got[0] == 410 and "abgelaufen" in got[2]
    assert await asyncio.to_thread(delete, f"{base(room)}/api/whip/{'0' * 32}") == 404


async def _expire(room, when: str) -> None:
    room.room.store.db.conn.execute("UPDATE invitations SET expires_at = ?", [when])


def test_no_public_stun_server_by_default(live_room):
    assert live_room.room.engine.config.iceServers == []


async def test_the_counsellor_switches_the_room_camera_and_microphone(talk):
    room = talk
    partner_id, partner, _ = await joined(room)
    await let_in(room, partner_id)
    await until(lambda: partner.frames["video"] > 5 and partner.frames["audio"] > 5, 15)
    assert (await asyncio.to_thread(room.command, "room.mic", on=False)).ok
    await asyncio.sleep(1.0)
    assert await grows(lambda: partner.frames["audio"]) == 0
    assert await grows(lambda: partner.frames["video"]) > 5  # the picture goes on
    assert (await asyncio.to_thread(room.command, "room.camera", on=False)).ok
    await asyncio.sleep(1.0)
    assert await grows(lambda: partner.frames["video"]) == 0
    assert (await asyncio.to_thread(room.command, "room.camera", on=True)).ok
    assert (await asyncio.to_thread(room.command, "room.mic", on=True)).ok
    await until(lambda: partner.frames["audio"] > 0)
    assert await grows(lambda: partner.frames["video"] + partner.frames["audio"]) > 10
    await partner.close()


async def test_connection_quality_reaches_the_counsellor(talk):
    from kiosk.room.state import is_poor

    room = talk
    partner_id, partner, _ = await joined(room)
    await until(lambda: partner_id in room.state.quality, 15)  # measured every 2 s
    await until(lambda: room.state.quality[partner_id]["fps"] > 10, 10)
    quality = room.state.quality[partner_id]
    assert quality["kbps"] > 0 and 0 <= quality["loss_pct"] <= 100
    assert not is_poor(quality)
    assert is_poor({**quality, "rtt_ms": 900}) and is_poor({**quality, "loss_pct": 12})
    assert (await asyncio.to_thread(room.command, "partner.remove", partner=partner_id)).ok
    await until(lambda: partner_id not in room.state.quality)
    await partner.close()


async def test_a_dropped_partner_comes_back_without_a_new_admission(talk):
    room, engine = talk, talk.room.engine
    partner_id, first, where = await joined(room)
    await let_in(room, partner_id)
    await until(lambda: first.frames["video"] > 5, 15)
    await first.close()  # the partner's network drops; their page makes a new connection
    await engine_call(room, engine.lost(where.rsplit("/", 1)[1]))
    await until(lambda: room.state.partners[0].state == "reconnecting")
    again = Peer("Jobcenter")
    status, _, _ = await again.connect(where, {})  # POST on the call's own resource
    assert status == 201
    await until(lambda: again.frames["video"] > 5, 15)  # no new link, no new admission
    await until(lambda: room.state.partners[0].state == "connected")
    assert room.state.partners[0].admitted
    await again.close()


async def test_a_partner_who_does_not_come_back_is_removed_and_the_counsellor_told(talk):
    room, engine = talk, talk.room.engine
    engine.reconnect_grace = 0.5  # 60 s in a room
    _, peer, where = await joined(room)
    await peer.close()
    await engine_call(room, engine.lost(where.rsplit("/", 1)[1]))
    await until(lambda: room.state.partners[0].state == "gone", 5)  # /control: nicht mehr da
    assert engine.peer_count == 0
    gone = await asyncio.to_thread(post, where, b"v=0\nm=x", {"Content-Type": "application/sdp"})
    assert gone[0] == 404


async def engine_call(room, coro):
    """Run an engine coroutine on the room's loop (the engine lives there)."""
    return await asyncio.to_thread(room.call, coro)


async def test_two_partners_and_the_self_view_share_the_room_camera(talk):
    room = talk
    first_id, first, _ = await joined(room)
    second_id, second, _ = await joined(room)
    for partner_id in (first_id, second_id):
        await let_in(room, partner_id)
    self_view = Peer(None)
    assert (await self_view.connect(f"{base(room)}/api/whep/room", {}))[0] == 201
    await until(lambda: min(first.frames["video"], second.frames["video"],
                            self_view.frames["video"]) > 30, 20)
    for peer in (first, second, self_view):
        await peer.close()


async def test_an_h264_only_partner_is_relayed_in_h264(talk):
    from aiortc import RTCRtpSender

    room, engine = talk, talk.room.engine
    partner_id, token = await invite(room)
    peer, transceiver = Peer.sending_only("H264")
    transceiver.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                                     if c.mimeType.lower() == "video/h264"])
    status, _, answer = await peer.connect(f"{base(room)}/api/whip",
                                           {"Authorization": f"Bearer {token}"})
    assert status == 201 and "H264" in answer and "VP8" not in answer
    await until(lambda: engine.counters().get(partner_id, {}).get("received", 0) > 5, 15)
    await let_in(room, partner_id)
    display = Peer(None)
    assert (await display.connect(f"{base(room)}/api/whep/partners/{partner_id}", {}))[0] == 201
    await until(lambda: display.frames["video"] > 10, 15)
    assert "H264" in display.pc.remoteDescription.sdp
    assert "VP8" not in display.pc.remoteDescription.sdp.split("m=video")[1]
    call = next(c for c in engine.calls.values() if c.kind == "partner")
    assert call.codec == "H264" and call.video_receiver is not None
    await peer.close()
    await display.close()


def test_encoded_frames_pass_the_relay_unchanged():
    from kiosk.media.relay import vp8_size

    keyframe = bytes([0x50, 0x42, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01])
    assert vp8_size(keyframe) == (640, 480)
    assert vp8_size(bytes([0x51]) + keyframe[1:]) is None  # not a keyframe
