"""Token safety: invitation links, pairing codes and tablet credentials resist guessing.

``test_ten_thousand_guesses_get_nothing`` hands 10,000 random guesses of each kind
straight to the room controller (``RoomController.handle``, the checks behind every
page), past HTTP and past the rate limits: the secrets alone must hold (0 accepted).
Over HTTP a guesser gets far fewer tries: the limits stop one address after its fifth
failure a minute (tests/test_guessing.py for every page; here WHIP's, with 429).
"""

from __future__ import annotations

import asyncio
import secrets
import urllib.error
import urllib.request

from aiortc import RTCPeerConnection

from kiosk.access.pairing import CODE_ALPHABET, CODE_LENGTH
from kiosk.app.features import RoomController
from kiosk.room.messages import Command
from kiosk.room.store import Store

GUESSES = 10_000


def controller(tmp_path) -> RoomController:
    ctl = RoomController(Store(tmp_path / "room.db"), "r1", "Raum 1")
    for name, role, args in [("session.start", "counsellor", {}),
                             ("partner.invite", "counsellor", {"agency": "Jobcenter"}),
                             ("pairing.start", "admin", {})]:
        assert ctl.handle(Command(name, args, role))[0].ok
    return ctl


def test_ten_thousand_guesses_get_nothing(tmp_path):
    ctl = controller(tmp_path)
    accepted = {"invitation": 0, "pairing code": 0, "tablet credential": 0}
    for _ in range(GUESSES):
        guesses = [("invitation", "invite.claim", "media",
                    {"token": secrets.token_urlsafe(24)}),
                   ("pairing code", "pairing.claim", "admin",
                    {"code": "".join(secrets.choice(CODE_ALPHABET)
                                     for _ in range(CODE_LENGTH))}),
                   ("tablet credential", "tablet.verify", "admin",
                    {"token": secrets.token_urlsafe(32)})]
        for what, name, role, args in guesses:
            reply, updates = ctl.handle(Command(name, args, role))
            accepted[what] += reply.ok
            assert updates == []
    print(f"guesses per kind straight to the controller (no HTTP, no rate limit): {GUESSES}, "
          f"accepted: {accepted}")
    assert accepted == {"invitation": 0, "pairing code": 0, "tablet credential": 0}
    # Nothing of the guesses changed the room: the real link and code still wait unused.
    assert ctl.state.partners[0].state == "invited" and ctl.state.pairing is not None
    ctl.store.close()


def test_secrets_are_long_and_kept_only_as_hashes(tmp_path):
    ctl = controller(tmp_path)
    reply, _ = ctl.handle(Command("partner.invite", {"agency": "IHK"}, "counsellor"))
    token = reply.data["token"]
    code = ctl.state.pairing["code"]
    paired, _ = ctl.handle(Command("pairing.claim", {"code": code}, "admin"))
    credential = paired.data["token"]
    # token_urlsafe(n) carries 8n bits: invitations 192, tablet credentials 256.
    assert len(token) >= 32 and len(credential) >= 43
    ctl.store.close()
    raw = (tmp_path / "room.db").read_bytes()
    wal = tmp_path / "room.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    for secret in (token, code, credential):
        assert secret.encode() not in raw


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


async def an_offer() -> bytes:
    """A usable SDP offer (the room checks the offer before the link)."""
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp.encode()
    await pc.close()
    return sdp


def test_link_guessing_is_stopped_after_five_failures_a_minute(live_room):
    assert live_room.command("session.start").ok
    good = live_room.command("partner.invite", agency="Jobcenter").data["token"]
    whip = live_room.urls["kiosk"].rsplit("/", 1)[0] + "/api/whip"
    offer = asyncio.run(an_offer())
    statuses = [post(whip, offer, {"Authorization": f"Bearer {secrets.token_urlsafe(24)}",
                                   "Content-Type": "application/sdp"}) for _ in range(6)]
    print(f"statuses of six wrong links from one address: {statuses}")
    assert statuses == [401] * 5 + [429]
    # Even the right link waits out the minute; it is not used up by the refusal.
    assert post(whip, offer, {"Authorization": f"Bearer {good}",
                              "Content-Type": "application/sdp"}) == 429
    assert live_room.state.partners[0].state == "invited"
