"""Partners: one-call invitation links, admission, and what the engine may report."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.app.features import RoomController
from kiosk.partners.commands import token_hash
from kiosk.room.messages import Command
from kiosk.room.store import Store


@pytest.fixture
def talk(tmp_path):
    store = Store(tmp_path / "room.db")
    ctl = RoomController(store, "r1", "Raum 1")
    assert ctl.handle(Command("session.start"))[0].ok
    yield ctl
    store.close()


def invite(ctl, **args):
    reply, _ = ctl.handle(Command("partner.invite", {"agency": "Jobcenter", **args}))
    assert reply.ok, reply
    return reply.data


def claim(ctl, token):
    return ctl.handle(Command("invite.claim", {"token": token}, "media"))[0]


def test_a_link_is_random_hashed_and_works_once(talk):
    data = invite(talk, name="Herr Kaya", purpose="Bürgergeld")
    token = data["token"]
    assert len(token) >= 32 and data["link"] == f"/join/{token}"  # 192 random bits
    assert invite(talk)["token"] != token
    raw = talk.store.path.read_bytes() + talk.store.path.with_name("room.db-wal").read_bytes()
    assert token.encode() not in raw and token_hash(token).encode() in raw
    assert not any(token in str(u.value) for u in talk.kv.values())  # never on the bus
    reply = claim(talk, token)
    assert reply.ok and reply.data["partner"] == data["id"]
    assert talk.state.partners[0].state == "lobby"
    second = claim(talk, token)
    assert (second.ok, second.code) == (False, "token_used")


@pytest.mark.parametrize(("setup", "code"), [
    (lambda ctl, d: None, "token_unknown"),
    (lambda ctl, d: ctl.store.db.conn.execute(
        "UPDATE invitations SET expires_at = ?",
        [(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()]), "token_expired"),
    (lambda ctl, d: ctl.handle(Command("invite.revoke", {"partner": d["id"]})), "token_revoked"),
])
def test_bad_links_are_refused_and_change_nothing(talk, setup, code):
    data = invite(talk)
    setup(talk, data)
    before = talk.state.to_updates()
    reply = claim(talk, "x" * 32 if code == "token_unknown" else data["token"])
    assert (reply.ok, reply.code) == (False, code) and reply.error
    assert talk.state.to_updates() == before


def test_admission_needs_the_lobby_and_media_needs_consent_too(talk):
    data = invite(talk)
    refused = talk.handle(Command("partner.admit", {"partner": data["id"]}))[0]
    assert (refused.ok, refused.code) == (False, "state") and "not in the lobby" in refused.error
    assert claim(talk, data["token"]).ok
    assert talk.handle(Command("partner.admit", {"partner": data["id"]}))[0].ok
    partner = talk.state.partners[0]
    assert partner.admitted and not partner.media_allowed  # the client has not agreed yet
    assert talk.handle(Command("consent.answer", {"partner": partner.id, "yes": True,
                                                  "version": "de:x"}, "kiosk"))[0].ok
    assert talk.state.partners[0].media_allowed


def test_only_the_media_engine_reports_connections_and_claims_links(talk):
    data = invite(talk)
    for role in ("counsellor", "kiosk", "display"):
        reply = talk.handle(Command("invite.claim", {"token": data["token"]}, role))[0]
        assert (reply.ok, reply.code) == (False, "role")
        reply = talk.handle(Command("partner.state", {"partner": data["id"],
                                                      "state": "connected"}, role))[0]
        assert (reply.ok, reply.code) == (False, "role")
