"""Guessing secrets over real HTTP: the rate limits stop a guesser long before the size
of a secret matters.

Every secret a stranger could guess has a page that checks it, and each page counts
failed tries over a sliding minute (kiosk/access/ratelimit.py): invitation links on the
partner's page (shared with WHIP joins), pairing codes on /control/pair and staff
passwords on /login allow five failures a minute from one address and thirty from all;
visit links on /visit/<token> ten and a hundred. After that the page answers 429 with
``Retry-After: 60`` and says so, even to the right secret, which the refusal does not
use up. Only failures count, so the minute ends the block.

Addresses are real: each guesser is its own TCP peer on loopback (127.0.0.x), or a
client behind a trusted proxy (the room believes ``X-Forwarded-For`` from loopback).
The limits' clock is the test's, so "a minute" is exactly a minute, whatever the load.
"""

from __future__ import annotations

import datetime as dt
import http.client
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlencode

import pytest
from conftest import TEST_PASSWORD, Clock, ThreadedRoom

from kiosk.access import ratelimit
from kiosk.access.pairing import CODE_ALPHABET, CODE_LENGTH
from kiosk.access.pairing_page import TOO_MANY as PAIRING_TOO_MANY
from kiosk.access.web import TOO_MANY as LOGIN_TOO_MANY
from kiosk.visits.page import TOO_MANY as VISIT_TOO_MANY

JOIN_TOO_MANY = "Bitte warten Sie eine Minute und öffnen Sie dann den Link aus Ihrer Einladung."
MINUTE = 60.0


@dataclass(frozen=True)
class Client:
    """Who asks: a TCP peer of its own, or a client behind the trusted proxy (loopback)."""

    peer: str
    forwarded_for: str | None = None

    @property
    def address(self) -> str:
        return self.forwarded_for or self.peer


def clients(mode: str) -> Iterator[Client]:
    """Distinct addresses, one after the other, as a test room sees them."""
    for n in range(1, 250):
        yield (Client(f"127.0.0.{n + 1}") if mode == "peers"
               else Client("127.0.0.1", f"203.0.113.{n}"))


class Answer(NamedTuple):
    status: int
    retry_after: str | None
    text: str


def ask(room: ThreadedRoom, who: Client, method: str, path: str, *,
        form: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Answer:
    """One request from ``who`` (its own source address), redirects not followed."""
    conn = http.client.HTTPConnection("127.0.0.1", room.room.port, timeout=15,
                                      source_address=(who.peer, 0))
    hdrs = dict(headers or {})
    if who.forwarded_for:
        hdrs["X-Forwarded-For"] = who.forwarded_for
    body = None
    if form is not None:
        body = urlencode(form)
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return Answer(resp.status, resp.getheader("Retry-After"),
                      resp.read().decode("utf-8", "replace"))
    finally:
        conn.close()


@dataclass(frozen=True)
class Secret:
    """A guessable secret and the page that checks it."""

    what: str
    per_address: int  #: failures a minute from one address before 429
    total: int  #: failures a minute from all addresses before 429
    wrong: int  #: the status of a wrong guess
    right: int  #: the status of the right secret
    blocked: str  #: what the 429 page says
    guess: Callable[[ThreadedRoom, Client, str], Answer]
    make_wrong: Callable[[], str]
    #: The right secret (a new one where a secret works once: a pairing code).
    make_right: Callable[[Rig], str]


class Rig(NamedTuple):
    """A room with a partner's link, a visit link and a staff account."""

    room: ThreadedRoom
    mode: str  #: "peers": every client its own TCP peer; "proxy": behind a trusted proxy
    invitation: str
    visit: str


def join_page(room: ThreadedRoom, who: Client, token: str) -> Answer:
    return ask(room, who, "GET", f"/join/{token}")


def visit_page(room: ThreadedRoom, who: Client, token: str) -> Answer:
    return ask(room, who, "GET", f"/visit/{token}")


def pair_page(room: ThreadedRoom, who: Client, code: str) -> Answer:
    return ask(room, who, "POST", "/control/pair", form={"code": code, "name": "Tablet"})


def login_page(room: ThreadedRoom, who: Client, password: str) -> Answer:
    return ask(room, who, "POST", "/login", form={"name": "frau-roth", "password": password})


def pairing_code(rig: Rig) -> str:
    return rig.room.command("pairing.start", as_="admin").data["code"]


SECRETS = [
    Secret("invitation link (/join)", 5, 30, 401, 200, JOIN_TOO_MANY, join_page,
           lambda: secrets.token_urlsafe(24), lambda rig: rig.invitation),
    Secret("visit link (/visit)", 10, 100, 404, 200, VISIT_TOO_MANY, visit_page,
           lambda: secrets.token_urlsafe(24), lambda rig: rig.visit),
    Secret("pairing code (/control/pair)", 5, 30, 403, 303, PAIRING_TOO_MANY, pair_page,
           lambda: "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)),
           pairing_code),
    Secret("staff password (/login)", 5, 30, 403, 303, LOGIN_TOO_MANY, login_page,
           lambda: secrets.token_urlsafe(12), lambda rig: TEST_PASSWORD),
]


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(ratelimit, "time", c)  # FailureLimit reads time.monotonic()
    return c


@pytest.fixture(params=["peers", "proxy"])
def rig(request, room_config) -> Iterator[Rig]:
    """A room with its secrets; it trusts loopback as its proxy in the "proxy" mode."""
    mode = request.param
    config = room_config.with_(trusted_proxies=("127.0.0.1",)) if mode == "proxy" \
        else room_config
    room = ThreadedRoom(config).start()
    try:
        assert room.command("staff.add", as_="admin", name="frau-roth", role="admin",
                            password=TEST_PASSWORD).ok
        assert room.command("session.start").ok
        invitation = room.command("partner.invite", agency="Jobcenter").data["token"]
        start = (dt.datetime.now().astimezone() + dt.timedelta(minutes=5)).isoformat(
            timespec="seconds")  # a visit link opens 15 minutes before the start
        visit = room.command("appointment.create", at=start, minutes=30,
                             email="klientin@example.org").data["visit_token"]
        yield Rig(room, mode, invitation, visit)
    finally:
        room.stop()


def assert_blocked(answer: Answer, secret: Secret, why: str) -> None:
    assert answer.status == 429, (secret.what, why, answer.status)
    assert answer.retry_after == "60", (secret.what, why)
    assert secret.blocked in answer.text, (secret.what, why, answer.text[:300])


@pytest.mark.parametrize("rig", ["peers"], indirect=True)
def test_one_address_is_stopped_after_its_failures_a_minute(rig, clock):
    room = rig.room
    guesser, other = list(clients(rig.mode))[:2]
    figures = []
    for secret in SECRETS:
        right = secret.make_right(rig)
        wrong = [secret.guess(room, guesser, secret.make_wrong()).status
                 for _ in range(secret.per_address)]
        assert wrong == [secret.wrong] * secret.per_address, secret.what
        # The next guess is refused unchecked, and so is the right secret from there...
        assert_blocked(secret.guess(room, guesser, secret.make_wrong()), secret, "wrong")
        assert_blocked(secret.guess(room, guesser, right), secret, "right")
        clock.advance(MINUTE - 1)
        assert_blocked(secret.guess(room, guesser, right), secret, "59 s later")
        # ...which the refusals did not use up: another address gets in with it at once.
        assert secret.guess(room, other, right).status == secret.right, secret.what
        clock.advance(2)  # the minute of the failures is over
        assert secret.guess(room, guesser, secret.make_right(rig)).status == secret.right
        figures.append(f"{secret.what}: {secret.per_address}")
    # A partner's link is guessed on its page and on WHIP alike: one count for both.
    for _ in range(5):
        assert join_page(room, guesser, secrets.token_urlsafe(24)).status == 401
    whip = ask(room, guesser, "POST", "/api/whip", headers={
        "Authorization": f"Bearer {rig.invitation}", "Content-Type": "application/sdp"})
    assert whip.status == 429 and whip.retry_after == "60"
    assert [p.state for p in room.state.partners] == ["invited"]
    print("wrong guesses answered from one address a minute, then 429 even for the right "
          f"secret: {'; '.join(figures)}")


@pytest.mark.parametrize("secret", SECRETS, ids=lambda s: s.what.split()[0])
def test_failures_from_all_addresses_stop_every_address(rig, clock, secret):
    """Thirty failures a minute from all addresses (a hundred for visit links), none of
    them over its own limit, block every address, a fresh one with the right secret too,
    for the rest of the minute."""
    room = rig.room
    right = secret.make_right(rig)
    addresses = clients(rig.mode)
    each = secret.per_address - 1  # every address stays below its own limit
    statuses, used = [], []
    for n in range(secret.total):
        if n % each == 0:
            used.append(next(addresses))
        statuses.append(secret.guess(room, used[-1], secret.make_wrong()).status)
    assert statuses == [secret.wrong] * secret.total
    fresh = next(addresses)
    assert_blocked(secret.guess(room, fresh, right), secret, "a fresh address, right secret")
    assert_blocked(secret.guess(room, used[0], right), secret, "a guesser, right secret")
    clock.advance(MINUTE - 1)
    assert_blocked(secret.guess(room, fresh, right), secret, "59 s later")
    clock.advance(2)
    assert secret.guess(room, fresh, right).status == secret.right, secret.what
    print(f"{secret.what} ({rig.mode}): {secret.total} failures from {len(used)} addresses "
          f"({each} each) answered, then 429 for every address for the minute")
