"""The room's own forms take posts from their own pages only (``Origin``, ``Sec-Fetch-Site``).

A web page elsewhere can make a visitor's browser post to the room (CSRF): sign the
browser in with the attacker's account, pair a tablet with a code the attacker saw,
answer for the client. The room's forms refuse a post whose ``Origin`` names another
host, or whose ``Origin`` is ``null`` (a page under ``no-referrer``, a sandboxed frame)
unless ``Sec-Fetch-Site`` says same-origin. Each refusal is a 403 that changes nothing;
the same post from the form's own page works.

First over HTTP with the headers a browser sends, for every form; then in Chromium,
whose cross-site posts come from a page of another origin (127.0.0.1 against the room's
localhost: another site).
"""

from __future__ import annotations

import datetime as dt
import functools
import http.client
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlencode

import pytest
from conftest import TEST_PASSWORD, ThreadedRoom, eventually

from kiosk.access.web import staff_cookie

REFUSED = "Diese Anfrage kam nicht von dieser Seite."
VISIT_API_REFUSED = "This request did not come from the appointment's page."


class Answer(NamedTuple):
    status: int
    cookie: str | None
    location: str | None
    text: str


def post(room: ThreadedRoom, path: str, headers: dict[str, str], *,
         form: dict[str, str] | None = None, payload: dict | None = None,
         cookies: dict[str, str] | None = None) -> Answer:
    """One POST to the room as ``localhost`` (a form, or JSON), redirects not followed."""
    conn = http.client.HTTPConnection("localhost", room.room.port, timeout=15)
    hdrs = dict(headers)
    body = None
    if form is not None:
        body = urlencode(form)
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    if payload is not None:
        body = json.dumps(payload)
        hdrs["Content-Type"] = "application/json"
    if cookies:
        hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    try:
        conn.request("POST", path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return Answer(resp.status, resp.getheader("Set-Cookie"), resp.getheader("Location"),
                      resp.read().decode("utf-8", "replace"))
    finally:
        conn.close()


def get_status(room: ThreadedRoom, path: str, cookies: dict[str, str] | None = None,
               headers: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection("localhost", room.room.port, timeout=15)
    hdrs = dict(headers or {})
    if cookies:
        hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    try:
        conn.request("GET", path, headers=hdrs)
        return conn.getresponse().status
    finally:
        conn.close()


def cross_site(room: ThreadedRoom) -> dict[str, dict[str, str]]:
    """What a browser sends with a post that another page made it send."""
    port = room.room.port
    return {
        "another site": {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        "another site under no-referrer": {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        "a look-alike host": {"Origin": f"http://localhost.evil.example:{port}",
                              "Sec-Fetch-Site": "cross-site"},
        "same site, another origin": {"Origin": f"http://localhost:{port + 1}",
                                      "Sec-Fetch-Site": "same-site"},
    }


def same_origin(room: ThreadedRoom, page_policy: str) -> dict[str, str]:
    """What a browser sends with a post from the room's own page: under ``no-referrer``
    the ``Origin`` is ``null``, else the page's origin."""
    origin = "null" if page_policy == "no-referrer" else f"http://localhost:{room.room.port}"
    return {"Origin": origin, "Sec-Fetch-Site": "same-origin"}


def staff_account(room: ThreadedRoom) -> None:
    assert room.command("staff.add", as_="admin", name="frau-roth", role="counsellor",
                        password=TEST_PASSWORD).ok


def appointment(room: ThreadedRoom) -> dict:
    """A video appointment in five minutes (its link opens 15 minutes before)."""
    start = (dt.datetime.now().astimezone() + dt.timedelta(minutes=5)).isoformat(
        timespec="seconds")
    reply = room.command("appointment.create", at=start, minutes=30,
                         email="klientin@example.org")
    assert reply.ok, reply.error
    return reply.data


def sign_ins(room: ThreadedRoom) -> int:
    return room.sql("SELECT count(*) FROM staff_sessions")[0][0]


def test_sign_in_and_sign_out_take_posts_from_their_own_pages_only(live_room):
    staff_account(live_room)
    right = {"name": "frau-roth", "password": TEST_PASSWORD}
    for why, headers in cross_site(live_room).items():
        answer = post(live_room, "/login", headers, form=right)
        assert answer.status == 403 and REFUSED in answer.text, why
        assert answer.cookie is None, why
    assert sign_ins(live_room) == 0
    # The login page's own form (the page is under no-referrer: Origin null).
    answer = post(live_room, "/login", same_origin(live_room, "no-referrer"), form=right)
    assert answer.status == 303 and answer.location == "/control"
    assert answer.cookie.startswith(staff_cookie("raum-1") + "=")
    name, _, value = answer.cookie.split(";")[0].partition("=")
    jar = {name: value.strip('"')}
    assert sign_ins(live_room) == 1 and get_status(live_room, "/control", jar) == 200

    for why, headers in cross_site(live_room).items():  # sign the counsellor out
        answer = post(live_room, "/logout", headers, cookies=jar)
        assert answer.status == 403, why
    assert sign_ins(live_room) == 1 and get_status(live_room, "/control", jar) == 200
    answer = post(live_room, "/logout", same_origin(live_room, "no-referrer"), cookies=jar)
    assert answer.status == 303 and answer.location == "/login"
    assert sign_ins(live_room) == 0 and get_status(live_room, "/control", jar) == 302


def test_the_pairing_form_takes_posts_from_its_own_page_only(live_room):
    code = live_room.command("pairing.start", as_="admin").data["code"]
    for why, headers in cross_site(live_room).items():
        answer = post(live_room, "/control/pair", headers, form={"code": code, "name": "X"})
        assert answer.status == 403 and REFUSED in answer.text, why
        assert answer.cookie is None, why
    assert live_room.state.tablets == []
    assert live_room.sql("SELECT count(*) FROM pairing_codes WHERE used_at IS NOT NULL"
                         )[0][0] == 0
    # /control/pair is under Referrer-Policy same-origin: its form sends its origin.
    answer = post(live_room, "/control/pair", same_origin(live_room, "same-origin"),
                  form={"code": code, "name": "Tablet Beratung"})
    assert answer.status == 303 and answer.location == "/control" and answer.cookie
    eventually(lambda: [t.name for t in live_room.state.tablets] == ["Tablet Beratung"])


def test_the_clients_pages_take_posts_from_their_own_pages_only(live_room):
    """The opt-out form and the visit page's consent and survey posts."""
    booked = appointment(live_room)
    optout, visit = booked["optout_token"], booked["visit_token"]
    own = same_origin(live_room, "no-referrer")  # the visit pages are under no-referrer

    for why, headers in cross_site(live_room).items():
        answer = post(live_room, f"/visit/optout/{optout}", headers,
                      form={"choice": "phone", "note": "0151 000"})
        assert answer.status == 403 and REFUSED in answer.text, why
    assert live_room.state.appointments[0].optout == ""

    # The client waits, is admitted, and a partner waits for the client's consent.
    bearer = {"Authorization": f"Bearer {visit}"}
    assert get_status(live_room, "/api/visit/status", headers=bearer) == 200
    assert live_room.command("visit.admit", id=booked["id"]).ok
    partner = live_room.command("consent.request", name="Herr Polat", agency="Jobcenter",
                                purpose="Bürgergeld").data["id"]
    for why, headers in cross_site(live_room).items():
        answer = post(live_room, "/api/visit/consent", {**headers, **bearer},
                      payload={"partner": partner, "yes": True})
        assert answer.status == 403 and VISIT_API_REFUSED in answer.text, why
    assert live_room.sql("SELECT count(*) FROM consent_log")[0][0] == 0
    answer = post(live_room, "/api/visit/consent", {**own, **bearer},
                  payload={"partner": partner, "yes": True})
    assert answer.status == 200, answer
    eventually(lambda: next(p.consent for p in live_room.state.partners
                            if p.id == partner) == "granted")

    assert live_room.command("room.reset").ok  # the talk is over: the survey
    survey = {"satisfaction": 5, "ease": 4, "recommend": 9}
    for why, headers in cross_site(live_room).items():
        answer = post(live_room, "/api/visit/survey", {**headers, **bearer}, payload=survey)
        assert answer.status == 403 and VISIT_API_REFUSED in answer.text, why
    assert live_room.sql("SELECT count(*) FROM survey_answers")[0][0] == 0
    assert post(live_room, "/api/visit/survey", {**own, **bearer}, payload=survey).status == 200
    assert live_room.sql("SELECT count(*) FROM survey_answers")[0][0] == 1

    answer = post(live_room, f"/visit/optout/{optout}", own,
                  form={"choice": "phone", "note": "0151 000"})
    assert answer.status == 200 and "weitergegeben" in answer.text
    eventually(lambda: live_room.state.appointments[0].optout == "phone")


# -- in Chromium ------------------------------------------------------------------------
EVIL = """<!doctype html><html><head><meta charset="utf-8">{policy}<title>evil</title></head>
<body>
<form id="login" method="post" action="{room}/login">
 <input name="name" value="frau-roth"><input name="password" value="{password}">
 <button>login</button></form>
<form id="pair" method="post" action="{room}/control/pair">
 <input name="code" value="{code}"><input name="name" value="evil"><button>pair</button></form>
<form id="optout" method="post" action="{room}/visit/optout/{optout}">
 <input name="choice" value="phone"><button>optout</button></form>
</body></html>"""


class QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def other_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A web server of another origin (127.0.0.1, another port): (its URL, its folder)."""
    folder = tmp_path / "evil"
    folder.mkdir()
    handler = functools.partial(QuietFiles, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()


def submit(page, form: str) -> tuple[int, dict[str, str]]:
    """Submit a form of the page; the status and request headers of the post."""
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        page.locator(f"#{form} button").click()
    response = info.value
    return response.status, response.request.all_headers()


def test_chromium_posts_from_another_site_are_refused_and_its_own_pages_work(
        live_room, new_page, other_site):
    from playwright.sync_api import expect

    staff_account(live_room)
    code = live_room.command("pairing.start", as_="admin").data["code"]
    optout = appointment(live_room)["optout_token"]
    room = f"http://localhost:{live_room.room.port}"
    evil, folder = other_site
    for name, policy in (("plain", ""), ("no-referrer",
                                         '<meta name="referrer" content="no-referrer">')):
        (folder / f"{name}.html").write_text(EVIL.format(
            policy=policy, room=room, password=TEST_PASSWORD, code=code, optout=optout),
            encoding="utf-8")
    seen = []
    for name in ("plain", "no-referrer"):
        for form in ("login", "pair", "optout"):
            page = new_page(f"{evil}/{name}.html", signed_in=False)
            status, headers = submit(page, form)
            seen.append((name, form, headers.get("origin"), headers.get("sec-fetch-site")))
            assert status == 403, (name, form, status)
            expect(page.get_by_role("alert")).to_contain_text(REFUSED)
            assert headers.get("sec-fetch-site") == "cross-site", headers
            assert headers.get("origin") == (evil if name == "plain" else "null"), headers
            page.close()
    assert sign_ins(live_room) == 0 and live_room.state.tablets == []
    assert live_room.state.appointments[0].optout == ""

    # The room's own pages, in the same browser: each form works.
    page = new_page(f"{room}/login", signed_in=False)
    page.get_by_label("Name").fill("frau-roth")
    page.get_by_label("Passwort").fill(TEST_PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        page.get_by_role("button", name="Anmelden").click()
    assert info.value.status == 303
    seen.append(("own", "login", info.value.request.all_headers().get("origin"),
                 info.value.request.all_headers().get("sec-fetch-site")))
    assert sign_ins(live_room) == 1

    page = new_page(f"{room}/control/pair?code={code}", signed_in=False)
    page.get_by_label("Name dieses Tablets").fill("Tablet Beratung")
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        page.get_by_role("button", name="Koppeln").click()
    assert info.value.status == 303
    seen.append(("own", "pair", info.value.request.all_headers().get("origin"),
                 info.value.request.all_headers().get("sec-fetch-site")))
    eventually(lambda: [t.name for t in live_room.state.tablets] == ["Tablet Beratung"])

    page = new_page(f"{room}/visit/optout/{optout}", signed_in=False)
    page.get_by_label("Lieber telefonisch").check()
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        page.get_by_role("button", name="Absenden").click()
    assert info.value.status == 200
    seen.append(("own", "optout", info.value.request.all_headers().get("origin"),
                 info.value.request.all_headers().get("sec-fetch-site")))
    eventually(lambda: live_room.state.appointments[0].optout == "phone")
    print("Chromium's posts (page, form, Origin, Sec-Fetch-Site):", seen)
