"""The remote client's visit: Chromium with a fake camera follows the link, checks the
devices, waits, is admitted from /control, and talks with the room by video both ways;
a partner joins the same talk with the client's consent; the visible notes reach the
client and internal ones never do; leaving leads to the anonymous survey."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import time

import pytest
from conftest import ThreadedRoom, eventually
from playwright.sync_api import expect

from kiosk.visits import visit as visits


def book(room: ThreadedRoom, minutes_ahead: float = 5, label: str = "Frau K.") -> tuple[int, str]:
    start = (dt.datetime.now().astimezone() + dt.timedelta(minutes=minutes_ahead)).isoformat(
        timespec="seconds")
    reply = room.command("appointment.create", at=start, minutes=30,
                         email="klientin@example.org", label=label)
    assert reply.ok, reply.error
    return reply.data["id"], reply.data["visit_token"]


def api(room: ThreadedRoom, method: str, path: str, token: str | None = None,
        body: dict | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("localhost", room.room.port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers=headers)
    resp = conn.getresponse()
    out = resp.status, resp.read().decode()
    conn.close()
    return out


def decoded(page, selector: str) -> int:
    return page.evaluate("""(sel) => {
        const v = document.querySelector(sel);
        return v && v.srcObject ? (v.getVideoPlaybackQuality().totalVideoFrames || 0) : 0; }""",
                         selector)


def until(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def appointment(room: ThreadedRoom, appointment_id: int):
    return next(a for a in room.state.appointments if a.id == appointment_id)


# -- the room's side, over HTTP and the bus ---------------------------------------------
def test_waiting_admission_and_the_talk_as_the_room_sees_it(live_room):
    appointment_id, token = book(live_room)
    assert appointment(live_room, appointment_id).status == "scheduled"
    status, body = api(live_room, "GET", "/api/visit/status", token)
    assert (status, json.loads(body)) == (200, {"status": "waiting"})
    eventually(lambda: appointment(live_room, appointment_id).status == "waiting")
    assert [a.id for a in live_room.state.waiting] == [appointment_id]

    # Not admitted yet: the media engine may not claim the link.
    refused = live_room.command("visit.claim", as_="media", token=token)
    assert not refused.ok and refused.code == "phase"

    reply = live_room.command("visit.admit", id=appointment_id)
    assert reply.ok, reply.error
    eventually(lambda: live_room.state.phase == "consulting")
    client = live_room.state.remote_client
    assert client is not None and client.kind == "client" and client.admitted
    assert client.consent == "granted"
    assert live_room.sql("SELECT mode FROM sessions WHERE id = ?",
                         live_room.state.session_id)[0][0] == "remote"
    assert live_room.sql("SELECT COUNT(*) FROM consent_log")[0][0] == 0  # not a partner
    assert appointment(live_room, appointment_id).status == "admitted"
    again = live_room.command("visit.admit", id=appointment_id)
    assert not again.ok and "nobody waiting" in again.error

    assert live_room.command("note.add", text="Intern: Akte prüfen", visible=False).ok
    assert live_room.command("note.add", text="Lebenslauf mitbringen", visible=True).ok
    assert live_room.command("step.add", what="Bewerbung schreiben", due="2026-12-01").ok
    status, body = api(live_room, "GET", "/api/visit/status", token)
    seen = json.loads(body)
    assert seen["status"] == "admitted" and seen["notes"] == ["Lebenslauf mitbringen"]
    assert seen["steps"] == [{"what": "Bewerbung schreiben", "who": "client",
                              "due": "2026-12-01"}]
    assert "Intern" not in body and "Akte" not in body

    assert live_room.command("room.reset").ok
    eventually(lambda: appointment(live_room, appointment_id).status == "done")
    assert json.loads(api(live_room, "GET", "/api/visit/status", token)[1]) == {
        "status": "done"}


def test_the_survey_is_stored_anonymously_and_once(live_room):
    appointment_id, token = book(live_room)
    early = api(live_room, "POST", "/api/visit/survey", token,
                {"satisfaction": 5, "ease": 4, "recommend": 9})
    assert early[0] == 409 and "kein Gespräch" in early[1]
    api(live_room, "GET", "/api/visit/status", token)
    assert live_room.command("visit.admit", id=appointment_id).ok
    assert live_room.command("room.reset").ok

    bad = api(live_room, "POST", "/api/visit/survey", token, {"satisfaction": 9, "ease": 4,
                                                              "recommend": 9})
    assert bad[0] == 403 and "satisfaction" in bad[1]
    assert live_room.sql("SELECT COUNT(*) FROM survey_answers")[0][0] == 0
    ok = api(live_room, "POST", "/api/visit/survey", token,
             {"satisfaction": 5, "ease": 4, "recommend": 9})
    assert ok == (200, '{"ok": true}')
    rows = live_room.sql("SELECT * FROM survey_answers")
    assert len(rows) == 1
    columns = [c[1] for c in live_room.sql("PRAGMA table_info(survey_answers)")]
    row = dict(zip(columns, rows[0], strict=True))
    assert row["mode"] == "remote" and (row["satisfaction"], row["ease"],
                                         row["recommend"]) == (5, 4, 9)
    # Nothing leads back to the appointment, its session or the day's order.
    assert not {"session_id", "appointment_id", "room_id", "at"} & set(columns)
    twice = api(live_room, "POST", "/api/visit/survey", token,
                {"satisfaction": 1, "ease": 1, "recommend": 0})
    assert twice[0] == 409 and "schon beantwortet" in twice[1]
    assert live_room.sql("SELECT COUNT(*) FROM survey_answers")[0][0] == 1


def test_a_client_who_closes_the_page_leaves_the_waiting_room(live_room, monkeypatch):
    appointment_id, token = book(live_room)
    api(live_room, "GET", "/api/visit/status", token)
    eventually(lambda: appointment(live_room, appointment_id).status == "waiting")
    monkeypatch.setattr(visits, "WAIT_TTL", 0.3)  # the page stops asking
    eventually(lambda: appointment(live_room, appointment_id).status == "scheduled")
    refused = live_room.command("visit.admit", id=appointment_id)
    assert not refused.ok and live_room.state.phase == "idle"


def test_wrong_links_on_the_api_are_refused_and_rate_limited(live_room):
    _, token = book(live_room)
    assert api(live_room, "GET", "/api/visit/status")[0] == 401
    for i in range(10):
        status, body = api(live_room, "GET", "/api/visit/status", f"wrong-token-{i:04d}-xxxxx")
        assert status == 403 and "nicht gültig" in body
    assert api(live_room, "GET", "/api/visit/status", token)[0] == 429  # this address waits


def test_a_cancelled_appointment_cannot_be_waited_for(live_room):
    appointment_id, token = book(live_room)
    assert live_room.command("appointment.cancel", id=appointment_id).ok
    status, body = api(live_room, "GET", "/api/visit/status", token)
    assert status == 403 and "abgesagt" in body
    early_id, early = book(live_room, minutes_ahead=120)
    status, body = api(live_room, "GET", "/api/visit/status", early)
    assert status == 403 and "noch nicht begonnen" in body


# -- the whole way in Chromium ------------------------------------------------------------
@pytest.mark.parametrize("with_partner", [True])
def test_the_client_joins_from_home_and_a_partner_comes_in(live_room, new_page, with_partner):
    appointment_id, token = book(live_room)
    base = live_room.urls["kiosk"].rsplit("/", 1)[0]
    control = new_page(live_room.urls["control"])
    expect(control.get_by_text("Videotermine (Klient:in von zu Hause)")).to_be_visible()
    client = new_page(f"{base}/visit/{token}", signed_in=False)
    expect(client.locator("h1")).to_have_text("Ihr Videotermin")
    expect(client.locator("#self")).to_have_js_property("readyState", 4)  # own preview
    assert client.locator("#camera option").count() >= 1
    client.get_by_role("button", name="Weiter zum Warteraum").click()
    expect(client.get_by_role("heading", name="Bitte warten Sie einen Moment")).to_be_visible()

    # The counsellor hears the chime and lets the client in from /control.
    item = control.locator(".control-appointments li", has_text="Frau K.")
    expect(item).to_contain_text("wartet")
    expect(control.locator("[data-chimes='1']")).to_have_count(1)
    item.get_by_role("button", name="Einlassen").click()
    expect(client.get_by_role("status").first).to_have_text("Sie sind im Gespräch.")
    engine = live_room.room.engine
    client_id = live_room.state.remote_client.id
    until(lambda: engine.counters().get(client_id, {}).get("received", 0) >= 10,
          "no frames from the client's fake camera")
    until(lambda: decoded(client, "#room") >= 10, "the room's picture does not reach the client")

    # What the counsellor shares shows to the client; internal notes never do.
    assert live_room.command("note.add", text="Intern: Rückruf Sachbearbeitung",
                             visible=False).ok
    assert live_room.command("note.add", text="Zeugnisse hochladen", visible=True).ok
    assert live_room.command("step.add", what="Termin bei der Kammer", who="Kammer (IHK/HWK)").ok
    expect(client.locator("#notes")).to_contain_text("Zeugnisse hochladen")
    expect(client.locator("#steps")).to_contain_text("Termin bei der Kammer (Kammer (IHK/HWK))")
    assert "Rückruf" not in client.content()

    if with_partner:
        reply = live_room.command("partner.invite", agency="Handwerkskammer", name="Frau Ott",
                                  purpose="die Anerkennung zu klären",
                                  agency_type="Kammer (IHK/HWK)")
        partner_id = reply.data["id"]
        partner = new_page(base + reply.data["link"], signed_in=False)
        partner.get_by_role("button", name="Beitreten").click()
        expect(partner.get_by_role("heading", name="Sie werden gleich zugelassen")
               ).to_be_visible()
        assert live_room.command("partner.admit", partner=partner_id).ok
        # The client, not the room's screen, is asked: on their own page.
        expect(client.locator("#consent")).to_contain_text("Frau Ott (Handwerkskammer)")
        client.get_by_role("button", name="Ja, einverstanden").click()
        expect(partner.get_by_role("status")).to_have_text("Sie sind im Gespräch.")
        log = live_room.sql("SELECT answer, text_version FROM consent_log")
        assert log == [("granted", log[0][1])] and log[0][1].startswith("de:visit:")
        # Each sees the other: the partner on the client's page and the client on the
        # partner's, pulled through both their gates.
        until(lambda: decoded(client, "#others video") >= 10,
              "the partner's picture does not reach the client")
        until(lambda: decoded(partner, "#others video") >= 10,
              "the client's picture does not reach the partner")
        expect(client.locator("#others figcaption")).to_have_text("Frau Ott, Handwerkskammer")
        assert engine.counters()[partner_id]["to_viewers"] > 0

    client.get_by_role("button", name="Gespräch verlassen").click()
    expect(client.get_by_role("heading", name="Das Gespräch ist beendet")).to_be_visible()
    eventually(lambda: appointment(live_room, appointment_id).status == "done", 10)
    client.get_by_role("button", name="Antworten senden").click()
    expect(client.locator("#survey-error")).to_be_visible()  # all three, or skip
    for name, value in (("satisfaction", "4"), ("ease", "5"), ("recommend", "8")):
        client.locator(f"input[name={name}][value='{value}']").check(force=True)
    client.get_by_role("button", name="Antworten senden").click()
    expect(client.get_by_role("heading", name="Vielen Dank!")).to_be_visible()
    assert live_room.sql("SELECT satisfaction, ease, recommend, mode FROM survey_answers"
                         ) == [(4, 5, 8, "remote")]
