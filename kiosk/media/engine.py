"""The media engine: aiortc peer connections for partners and for the display.

It is a peer of the room bus: it claims invitations and reports connections
with the ``media`` role, and it follows the mirrored room state to open and
close every gate (consent given, admitted, no privacy pause). Nothing it
handles is ever written to disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay

from kiosk.exceptions import BusError, KioskError
from kiosk.media import arrival, rates, relay
from kiosk.media.gate import BothGates, Gate, GatedTrack
from kiosk.media.loop import LinkOn, call_on, on_own_loop
from kiosk.media.quality import Sample, measure
from kiosk.media.source import RoomMedia, open_room_media
from kiosk.media.turn import (
    TurnConfig,
    explain_missing_relay,
    mint,
    relay_check,
    room_choice_reason,
    room_ice_servers,
)
from kiosk.media.watchdog import CameraWatch
from kiosk.room.link import RoomLink

log = logging.getLogger(__name__)

#: Seconds a hang-up waits for a peer connection to close before it goes on.
CLOSE_WAIT = 5.0

#: What a partner's page says when the call ends for them (title, text).
ENDINGS = {
    "declined": ("Kein Video in diesem Termin",
                 "Die Klientin oder der Klient möchte heute kein Video. Das ist ihr gutes Recht "
                 "und hat keine Nachteile. Vielen Dank für Ihre Bereitschaft."),
    "withdrawn": ("Das Video wurde beendet",
                  "Die Klientin oder der Klient hat die Zustimmung zurückgezogen. Vielen Dank."),
    "removed": ("Das Gespräch ist beendet", "Die Beratung hat Sie aus dem Gespräch genommen. "
                "Vielen Dank."),
    "left": ("Sie haben das Gespräch verlassen", "Vielen Dank."),
    "ended": ("Das Gespräch ist beendet", "Die Beratung hat das Gespräch beendet. Vielen Dank "
              "für Ihre Zeit und Ihre Unterstützung."),
}

#: What a refused token means for the WHIP client.
TOKEN_STATUS = {"token_unknown": 401, "token_expired": 410, "token_revoked": 403,
                "token_used": 409, "schema": 401, "phase": 409, "state": 409}


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class SignalingError(KioskError):
    """An offer or token was refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass
class Call:
    """One peer connection: a partner's (WHIP) or the display's (WHEP)."""

    pc: RTCPeerConnection
    partner: int
    kind: str  # "partner", "screen" (a partner's shared screen), "display" (a pull of a
    # partner's camera or screen, by the display or a participant's page), "self" (self-view)
    gate: Gate | BothGates
    sent: list[GatedTrack] = field(default_factory=list)
    incoming: dict[str, MediaStreamTrack] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=lambda: {"audio": 0, "video": 0})
    tasks: list[asyncio.Task] = field(default_factory=list)
    grace: asyncio.TimerHandle | None = None  # running while a dropped partner may come back
    video_receiver: RTCRtpReceiver | None = None  # the partner's video, relayed as encoded
    codec: str | None = None  # its codec (VP8 or H264), or None: decoded and re-encoded
    size: tuple[int, int] = (0, 0)  # of the partner's last video frame
    viewer: str | None = None  # a pull for a participant's page: that participant's call
    screen: bool = False  # a pull of the partner's shared screen, not their camera
    owner: str | None = None  # a screen: the resource of the partner's call it belongs to


class MediaEngine:
    """Owns every peer connection of the room and the gates in front of them."""

    def __init__(self, link: RoomLink, *, label: str, ice_servers: tuple[str, ...] = (),
                 camera: str | None = None, microphone: str | None = None,
                 microphone_format: str = "alsa", camera_watch: bool = True,
                 turn: TurnConfig | None = None) -> None:
        self.link = link
        #: The loop the engine's peer connections run on (see kiosk/media/loop.py);
        #: None: the loop of whoever starts it.
        self.loop: asyncio.AbstractEventLoop | None = None
        self.bus: LinkOn | RoomLink = link  # the link, reached from the engine's loop
        self.camera_watch = camera_watch
        self.label = label
        # Explicit ICE servers (none by default): aiortc would otherwise ask a public
        # STUN server, and the room must not talk to hosts it was not told about.
        self.ice_servers = tuple(ice_servers)
        self.config = RTCConfiguration(iceServers=[RTCIceServer(urls=u) for u in ice_servers])
        #: TURN for the peers of partners and remote clients (they sit behind firewalls);
        #: the display's pulls on the room PC itself never need it.
        self.turn = turn
        self._relay_warned = False
        self.camera, self.microphone = camera, microphone
        self.microphone_format = microphone_format
        self.relay = MediaRelay()
        self.media: RoomMedia | None = None
        self.calls: dict[str, Call] = {}
        self.gates: dict[int, Gate] = {}
        #: Per partner: open unless the counsellor muted them; in front of their sound
        #: wherever it goes (the display, other participants).
        self.mutes: dict[int, Gate] = {}
        #: The counsellor's switches for the room's own camera and microphone.
        self.room_gates = {"video": Gate(), "audio": Gate()}
        self.ended: dict[str, str] = {}  # resource -> why it ended (for the partner's page)
        #: Seconds a dropped partner may take to come back before they are removed.
        self.reconnect_grace = 60.0
        self._watcher = None
        self._quality: asyncio.Task | None = None
        self.watchdog: CameraWatch | None = None
        #: Peer connections being closed (see ``_drop_media``); the engine's close waits
        #: for them up to :data:`CLOSE_WAIT`.
        self._closing: set[asyncio.Task] = set()
        #: Peer connections gathering candidates for their answer, and when that ends.
        self._gathering: dict[RTCPeerConnection, asyncio.Future] = {}

    # -- life cycle -------------------------------------------------------------------
    async def start(self, quality_every: float = 2.0) -> None:
        """Start on :attr:`loop` (or the caller's); the room link stays on the caller's."""
        here = asyncio.get_running_loop()
        if self.loop is not None and self.loop is not here:
            self.bus = LinkOn(self.link, here)
        await call_on(self.loop, self._start(quality_every))
        self._watcher = self.link.state.param.watch(
            self._state_changed, ["partners", "privacy", "phase", "camera_on", "mic_on",
                                  "screens"])
        self._state_changed()

    async def _start(self, quality_every: float) -> None:
        relay.check()  # aiortc's private names, or a clear error instead of silent decoding
        rates.install()  # no more to a partner than their link carries
        arrival.install()  # and what it carries, timed by the kernel, not by our loop
        if self.turn is not None:
            log.info("TURN: %s", room_choice_reason(self.turn))
        self.media = open_room_media(self.label, self.camera, self.microphone,
                                     self.microphone_format)
        self._quality = asyncio.ensure_future(self._watch_quality(quality_every))
        self.watchdog = CameraWatch(self.bus, self.media.video, self.relay,
                                    label=self.camera or "Testbild (synthetisch)",
                                    count=self.camera_watch)
        self.watchdog.start()

    def _state_changed(self, *events) -> None:
        """The mirrored room state changed (on the link's loop): gates follow, on ours."""
        if self.loop is None or self.loop is _running_loop():
            self._update_gates(*events)
        else:
            self.loop.call_soon_threadsafe(self._update_gates, *events)

    async def close(self) -> None:
        if self._watcher is not None:
            self.link.state.param.unwatch(self._watcher)
            self._watcher = None
        await call_on(self.loop, self._close())

    async def _close(self) -> None:
        if self._quality is not None:
            self._quality.cancel()
            self._quality = None
        if self.watchdog is not None:
            await self.watchdog.stop()
            self.watchdog = None
        for resource in list(self.calls):
            await self.hang_up(resource, report=False)
        if self._closing:  # closes still under way get a last moment; the rest is dropped
            _, late = await asyncio.wait(set(self._closing), timeout=CLOSE_WAIT)
            if late:
                log.warning("%d peer connection(s) did not close in time; dropped", len(late))
            for task in late:
                task.cancel()
        if self.media is not None:
            self.media.stop()
            self.media = None

    @property
    def peer_count(self) -> int:
        return len(self.calls)

    def gate(self, partner: int) -> Gate:
        gate = self.gates.setdefault(partner, Gate())
        self._update_gates()
        return gate

    def mute_gate(self, partner: int) -> Gate:
        """The gate of a partner's sound: closed while the counsellor mutes them."""
        gate = self.mutes.setdefault(partner, Gate())
        self._update_gates()
        return gate

    def _update_gates(self, *events) -> None:
        state = self.link.state
        for event in events:  # the counsellor stopped a screen (or the talk dropped it)
            if getattr(event, "name", "") == "screens":
                for partner in set(event.old or {}) - set(event.new or {}):
                    for resource, call in list(self.calls.items()):
                        if call.kind == "screen" and call.partner == partner:
                            asyncio.ensure_future(self.hang_up(resource, report=False))
        self.room_gates["video"].open = state.camera_on
        self.room_gates["audio"].open = state.mic_on
        allowed = {p.id for p in state.partners if p.media_allowed}
        muted = {p.id for p in state.partners if p.muted}
        for partner, gate in self.mutes.items():
            gate.open = partner not in muted
        talking = state.phase == "consulting"  # the talk ends for everyone at once
        for partner, gate in self.gates.items():
            was = gate.open
            gate.open = partner in allowed and not state.privacy and talking
            if gate.open and not was:  # the display needs a keyframe to start from
                for call in list(self.calls.values()):
                    if call.kind in ("partner", "screen") and call.partner == partner:
                        with contextlib.suppress(RuntimeError):
                            self._keyframe_soon(call)
        partners = {p.id: p for p in state.partners}
        for resource, call in list(self.calls.items()):
            if call.kind in ("self", "screen"):  # a screen goes with its partner's call
                continue
            partner = partners.get(call.partner)
            if not talking:  # the counsellor ended the talk (or the room went idle)
                why = "ended"
            elif partner is None or partner.state == "gone":  # hung up, revoked
                why = "removed"
            elif partner.consent in ("declined", "withdrawn"):  # told politely, disconnected
                why = partner.consent
            else:
                continue
            if call.kind == "partner":
                self.ended[resource] = why
            asyncio.ensure_future(self.hang_up(resource, report=partner is not None))

    def status(self, resource: str) -> dict[str, str] | None:
        """What a partner's page shows: lobby, in_call, paused, or why it ended."""
        call = self.calls.get(resource)
        if call is None or call.kind != "partner":
            why = self.ended.get(resource)
            if why is None:
                return None
            title, text = ENDINGS[why]
            return {"state": why, "title": title, "text": text}
        screen = "on" if any(c.kind == "screen" and c.owner == resource
                             for c in list(self.calls.values())) else "off"
        if call.gate.open:
            return {"state": "in_call", "others": self.others(call), "screen": screen}
        partner = next((p for p in self.link.state.partners if p.id == call.partner), None)
        if partner is not None and partner.media_allowed and self.link.state.privacy:
            return {"state": "paused"}
        return {"state": "lobby"}

    # -- ICE servers ------------------------------------------------------------------
    def remote_config(self, label: str) -> RTCConfiguration:
        """The configuration of a peer connection with someone outside the room: the
        TURN server the room uses (aioice takes only one), fresh credentials, then the
        configured STUN/TURN urls."""
        servers = list(self.config.iceServers or [])
        if self.turn is not None:
            servers = room_ice_servers(self.turn, label) + servers
        return RTCConfiguration(iceServers=servers)

    def page_ice_servers(self, label: str) -> list[dict[str, object]]:
        """``iceServers`` for a partner's or remote client's page: every TURN url with
        credentials minted now for this page (never the secret), then STUN urls."""
        servers: list[dict[str, object]] = []
        if self.turn is not None:
            servers.append(mint(self.turn, label).ice_server())
        return servers + [{"urls": u} for u in self.ice_servers]

    def _check_relay(self, sdp: str) -> None:
        """aiortc says nothing when TURN fails: without a relay candidate in the room's
        own description, partners behind strict firewalls cannot connect."""
        if self.turn is None:
            return
        if relay_check(sdp):
            self._relay_warned = False
        elif not self._relay_warned:  # once until TURN works again, not at every call
            self._relay_warned = True
            log.warning(explain_missing_relay(self.turn))

    # -- signalling -------------------------------------------------------------------
    @staticmethod
    def _check_offer(offer: str) -> None:
        if not offer.startswith("v=0") or "\nm=" not in offer.replace("\r\n", "\n"):
            raise SignalingError(400, "The body is not an SDP offer.")

    async def _apply(self, pc: RTCPeerConnection, offer: str) -> None:
        """Apply the offer; 400 (and the connection closed) if aiortc cannot use it."""
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        except Exception as exc:  # aiortc raises ValueError and friends on bad SDP
            await pc.close()
            raise SignalingError(400, f"The SDP offer could not be used: {exc}") from None

    async def _try_offer(self, offer: str) -> None:
        """400 unless aiortc can use the offer; tried on a throwaway peer connection."""
        self._check_offer(offer)
        probe = RTCPeerConnection(self.config)
        await self._apply(probe, offer)
        await probe.close()

    async def _answer(self, pc: RTCPeerConnection) -> str:
        """Answer (gathering candidates); a close in the meantime waits for the end."""
        done = asyncio.get_running_loop().create_future()
        self._gathering[pc] = done
        try:
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        finally:
            del self._gathering[pc]
            done.set_result(None)
        return pc.localDescription.sdp

    async def _close_pc(self, pc: RTCPeerConnection) -> None:
        """Close a peer connection, after the gathering of its answer if one is under way:
        aioice adds the sockets it is opening after a close has cleared them, and they
        stay open for the process's life (two per connection: /healthz's open files grew
        by about one every two talks)."""
        gathering = self._gathering.get(pc)
        if gathering is not None:
            await asyncio.wait({gathering}, timeout=CLOSE_WAIT)
        await pc.close()

    @on_own_loop
    async def join(self, token: str, offer: str, claim: str = "invite.claim") -> tuple[str, str]:
        """WHIP: a partner's page (or any WHIP client) joins with an invitation's token,
        or an admitted remote client with their visit link (``claim="visit.claim"``);
        returns (resource, answer)."""
        await self._try_offer(offer)  # the offer must be usable before the link is used up
        try:
            reply = await self.bus.send("media", claim, token=token)
        except BusError:
            raise SignalingError(503, "The room is not reachable right now.") from None
        if not reply.ok:
            raise SignalingError(TOKEN_STATUS.get(reply.code, 403), reply.error)
        partner = reply.data["partner"]
        for old, c in list(self.calls.items()):  # the same person again (a reloaded page)
            if c.kind == "partner" and c.partner == partner:
                await self.hang_up(old, report=False)
        resource = uuid.uuid4().hex
        call = Call(RTCPeerConnection(self.remote_config(f"room-p{partner}")), partner,
                    "partner", self.gate(partner))
        self.calls[resource] = call
        return resource, await self._connect(resource, call, offer)

    @on_own_loop
    async def rejoin(self, resource: str, offer: str) -> str:
        """A partner's page comes back after a dropped network: a new peer connection
        for the same call, without a new link or a new admission."""
        call = self.calls.get(resource)
        if call is None or call.kind != "partner":
            raise SignalingError(404, "There is no such call (it may have ended).")
        await self._try_offer(offer)  # a bad offer must not break the running call
        await self._drop_media(call)
        for other, c in list(self.calls.items()):  # the display pulls again when it is back
            if c.kind == "display" and (c.partner == call.partner or c.viewer == resource):
                await self.hang_up(other, report=False)
        call.pc = RTCPeerConnection(self.remote_config(f"room-p{call.partner}"))
        call.incoming.clear()
        return await self._connect(resource, call, offer)

    async def _connect(self, resource: str, call: Call, offer: str) -> str:
        """Apply the offer on the call's peer connection, add the gated room tracks."""
        pc, partner = call.pc, call.partner
        # Relay encoded frames in a codec the partner offers (VP8, else H.264); a
        # client offering neither is decoded and re-encoded instead.
        call.codec = relay.relay_codec(offer)

        pc.on("track", lambda track: self._take(call, track))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if call.pc is not pc or resource not in self.calls:
                return  # an old connection of a call that has moved on
            if pc.connectionState == "connected":
                if call.grace is not None:
                    call.grace.cancel()
                    call.grace = None
                await self._report(partner, "connected")
            elif pc.connectionState in ("failed", "disconnected"):
                await self.lost(resource)

        try:
            await self._apply(pc, offer)
        except SignalingError:
            self.calls.pop(resource, None)
            raise
        assert self.media is not None
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "video" and call.codec:
                relay.prefer(transceiver, call.codec)
        offered = {t.kind for t in pc.getTransceivers()}  # a WHIP client may send only video
        for source in (self.media.video, self.media.audio):
            if source.kind in offered:
                switched = GatedTrack(self.relay.subscribe(source), self.room_gates[source.kind])
                track = GatedTrack(switched, call.gate)
                call.sent.append(track)
                pc.addTrack(track)
        answer = await self._answer(pc)
        self._check_relay(answer)
        return answer

    async def lost(self, resource: str) -> None:
        """The partner's connection dropped: show it, and remove them after the grace."""
        call = self.calls.get(resource)
        if call is None or call.grace is not None:
            return
        await self._report(call.partner, "reconnecting")
        call.grace = asyncio.get_running_loop().call_later(
            self.reconnect_grace, lambda: asyncio.ensure_future(self.hang_up(resource)))

    async def _drop_media(self, call: Call) -> None:
        for task in call.tasks:
            task.cancel()
        call.tasks.clear()
        for track in call.sent:
            track.stop()
        call.sent.clear()
        # A peer that vanished must not hold us up. Not wait_for: on a timeout it waits
        # for the cancelled close to end, and aioice's close swallows the cancellation
        # (it awaits its own cancelled consent task) and then waits out the retries of a
        # TURN refresh to a relay that may be gone: a room's stop hung for a minute.
        closing = asyncio.ensure_future(self._close_pc(call.pc))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        done, _ = await asyncio.wait({closing}, timeout=CLOSE_WAIT)
        if not done:
            log.info("a peer connection is still closing after %g s; it goes on in the "
                     "background", CLOSE_WAIT)

    def _take(self, call: Call, track: MediaStreamTrack) -> None:
        """An incoming track of a partner's call or shared screen: video in the call's
        codec goes on as encoded frames (no decode, no re-encode); every track is counted."""
        call.incoming[track.kind] = track
        if track.kind == "video" and call.codec:
            receiver = next(t.receiver for t in call.pc.getTransceivers()
                            if t.receiver.track is track)
            relay.passthrough(receiver, track)
            call.video_receiver = receiver
        call.tasks.append(asyncio.ensure_future(self._count(call, track)))

    async def _count(self, call: Call, track: MediaStreamTrack) -> None:
        """Take the partner's frames as they come (counted), so nothing piles up."""
        sink = self.relay.subscribe(track)
        with contextlib.suppress(Exception):
            while True:
                frame = await sink.recv()
                call.received[track.kind] += 1
                if isinstance(frame, av.Packet):  # relayed video: size from keyframes
                    call.size = relay.vp8_size(bytes(frame)) or call.size
                elif track.kind == "video":
                    call.size = (frame.width, frame.height)

    def others(self, viewer: Call) -> list[dict[str, object]]:
        """Who else in the talk a participant's page may see and hear (their gates open):
        a remote client sees the partners, a partner the remote client and the others."""
        names = {p.id: p for p in self.link.state.partners}
        out = []
        for c in list(self.calls.values()):
            p = names.get(c.partner)
            if (c.kind in ("partner", "screen") and c is not viewer
                    and c.partner != viewer.partner and c.incoming and c.gate.open
                    and p is not None):
                out.append({"id": p.id, "name": p.name, "agency": p.agency,
                            "screen": c.kind == "screen"})
        return out

    @on_own_loop
    async def watch(self, partner: int, offer: str, viewer: str | None = None,
                    screen: bool = False) -> tuple[str, str]:
        """WHEP: the display pulls one partner's picture and sound (or, with ``screen``,
        their shared screen) through the gate; or, with ``viewer`` (a participant's
        resource), that participant's page pulls another participant, through both gates."""
        kind = "screen" if screen else "partner"
        source = next((c for c in list(self.calls.values())
                       if c.kind == kind and c.partner == partner), None)
        if source is None or not source.incoming:
            what = "shares no screen" if screen else "has no media yet"
            raise SignalingError(404, f"Partner {partner} {what}.")
        seer = None
        if viewer is not None:
            seer = self.calls.get(viewer)
            if seer is None or seer.kind != "partner" or seer is source:
                raise SignalingError(404, "There is no such call.")
        self._check_offer(offer)
        pc = RTCPeerConnection(self.config if seer is None
                               else self.remote_config(f"room-p{seer.partner}"))
        await self._apply(pc, offer)
        resource = uuid.uuid4().hex
        gate = source.gate if seer is None else BothGates(source.gate, seer.gate)
        call = Call(pc, partner, "display", gate, viewer=viewer, screen=screen)
        if source.video_receiver is not None and source.codec:
            for transceiver in pc.getTransceivers():
                if transceiver.kind == "video" and not relay.prefer(transceiver, source.codec):
                    await pc.close()
                    raise SignalingError(415, f"The display must accept {source.codec}.")
        for track in source.incoming.values():
            heard = self.relay.subscribe(track)
            if track.kind == "audio":  # the counsellor's mute, in front of the consent gate
                heard = GatedTrack(heard, self.mute_gate(partner))
            gated = GatedTrack(heard, call.gate)
            call.sent.append(gated)
            sender = pc.addTrack(gated)
            if track.kind == "video" and source.video_receiver is not None:
                receiver = source.video_receiver
                relay.forward_keyframe_requests(sender,
                                                lambda r=receiver: relay.request_keyframe(r))
        if source.video_receiver is not None:
            receiver = source.video_receiver

            @pc.on("connectionstatechange")
            def on_state() -> None:  # the pull can carry a picture now: start it at once
                if pc.connectionState == "connected":
                    relay.request_keyframe(receiver)

        self.calls[resource] = call
        answer = await self._answer(pc)
        if seer is not None:
            self._check_relay(answer)
        self._keyframe_soon(source)  # a late display must not wait seconds for a picture
        return resource, answer

    def _keyframe_soon(self, call: Call) -> None:
        if call.video_receiver is None:
            return
        loop = asyncio.get_running_loop()
        for delay in (0.0, 0.2, 1.0):
            loop.call_later(delay, relay.request_keyframe, call.video_receiver)

    @on_own_loop
    async def share(self, resource: str, offer: str) -> tuple[str, str]:
        """A participant's page shares a screen: a send-only connection of its own beside
        their call, relayed like their camera, behind the same gate; returns (resource,
        answer). A second share replaces the first."""
        owner = self.calls.get(resource)
        if owner is None or owner.kind != "partner":
            raise SignalingError(404, "There is no such call (it may have ended).")
        await self._try_offer(offer)
        if relay.relay_codec(offer) is None:
            raise SignalingError(415, "A shared screen must be sent as VP8 or H.264.")
        for other, c in list(self.calls.items()):
            if c.kind == "screen" and c.owner == resource:
                await self.hang_up(other, report=False)
        screen = uuid.uuid4().hex
        pc = RTCPeerConnection(self.remote_config(f"room-s{owner.partner}"))
        call = Call(pc, owner.partner, "screen", owner.gate, owner=resource,
                    codec=relay.relay_codec(offer))

        pc.on("track", lambda track: track.kind == "video" and self._take(call, track))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and screen in self.calls:
                await self.hang_up(screen)

        await self._apply(pc, offer)
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "video":
                relay.prefer(transceiver, call.codec)
        self.calls[screen] = call
        answer = await self._answer(pc)
        self._check_relay(answer)
        await self._report_screen(owner.partner, True)
        return screen, answer

    async def _report_screen(self, partner: int, on: bool) -> None:
        try:
            reply = await self.bus.send("media", "partner.screen", partner=partner, on=on)
        except BusError:
            log.warning("could not tell the room that partner %s's screen is %s", partner,
                        "shared" if on else "gone")
            return
        if not reply.ok and on:
            log.info("the room refused partner %s's screen: %s", partner, reply.error)

    @on_own_loop
    async def self_view(self, offer: str) -> tuple[str, str]:
        """WHEP: the display's small self-view, the room's camera as partners get it."""
        assert self.media is not None
        self._check_offer(offer)
        pc = RTCPeerConnection(self.config)
        await self._apply(pc, offer)
        resource = uuid.uuid4().hex
        call = Call(pc, 0, "self", self.room_gates["video"])
        track = GatedTrack(self.relay.subscribe(self.media.video), call.gate)
        call.sent.append(track)
        pc.addTrack(track)
        self.calls[resource] = call
        return resource, await self._answer(pc)

    @on_own_loop
    async def hang_up(self, resource: str, *, report: bool = True) -> bool:
        """Close one peer connection (DELETE on its resource, or a hang-up)."""
        call = self.calls.pop(resource, None)
        if call is None:
            return False
        if call.grace is not None:
            call.grace.cancel()
        if call.kind == "partner":
            self.ended.setdefault(resource, "left")
            while len(self.ended) > 1000:  # keep only recent endings
                self.ended.pop(next(iter(self.ended)))
        await self._drop_media(call)
        if call.kind == "partner":
            for other, c in list(self.calls.items()):  # pulls of this partner, by them, and
                if (c.kind == "display" and (c.partner == call.partner  # their screen
                                             or c.viewer == resource)) or c.owner == resource:
                    await self.hang_up(other, report=False)
            if report:
                await self._report(call.partner, "gone")
        elif call.kind == "screen":
            for other, c in list(self.calls.items()):  # who was pulling the screen
                if c.kind == "display" and c.screen and c.partner == call.partner:
                    await self.hang_up(other, report=False)
            if call.partner in self.link.state.screens:
                await self._report_screen(call.partner, False)
        return True

    async def _watch_quality(self, every: float) -> None:
        """Measure every partner's connection and tell the room, every few seconds."""
        samples: dict[str, Sample] = {}
        while True:
            await asyncio.sleep(every)
            for resource, call in list(self.calls.items()):
                if call.kind != "partner":
                    continue
                try:
                    quality, samples[resource] = await measure(
                        call.pc, call.received["video"], samples.get(resource))
                except Exception:  # a call closing under our feet
                    continue
                if quality is not None:
                    with contextlib.suppress(BusError):
                        await self.bus.send("media", "partner.quality",
                                             partner=call.partner, **quality)
            for resource in set(samples) - set(self.calls):
                del samples[resource]

    async def _report(self, partner: int, state: str) -> None:
        with contextlib.suppress(BusError):
            await self.bus.send("media", "partner.state", partner=partner, state=state)

    def counters(self) -> dict[int, dict[str, int]]:
        """Per partner: frames received from them, and frames sent on to the display."""
        out: dict[int, dict[str, int]] = {}
        for call in list(self.calls.values()):
            if call.kind == "self":
                continue
            entry = out.setdefault(call.partner, {"received": 0, "to_display": 0,
                                                  "to_partner": 0, "to_viewers": 0})
            if call.kind == "partner":
                entry["received"] += call.received["video"]
                entry["width"], entry["height"] = call.size
                entry["to_partner"] += sum(t.passed for t in call.sent if t.kind == "video")
            elif call.kind == "screen":
                entry["screen_received"] = call.received["video"]
            else:
                sent = sum(t.passed for t in call.sent if t.kind == "video")
                where = "to_viewers" if call.viewer else "to_display"
                where = f"screen_{where}" if call.screen else where
                entry[where] = entry.get(where, 0) + sent
                heard = sum(t.passed for t in call.sent if t.kind == "audio")
                entry["audio_out"] = entry.get("audio_out", 0) + heard
        return out
