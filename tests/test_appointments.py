"""Remote appointments: booking, the invitation mail with its calendar file, the link's
window, cancelling, opting out, and the friendly pages of a link that does not open."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import http.client
import re
from urllib.parse import urlencode, urlsplit

import icalendar
import pytest
from conftest import ThreadedRoom, eventually

from kiosk.app.room import free_port
from kiosk.visits import appointments


@pytest.fixture
def inbox(smtp):
    return smtp[1]


@pytest.fixture
def mail_room(room_config, inbox):
    room = ThreadedRoom(room_config.with_(mail_host="127.0.0.1", mail_port=inbox.port,
                                          mail_starttls=False, phone="0800 123 456",
                                          agency="Jobcenter Musterstadt")).start()
    yield room
    room.stop()


def at(minutes: float) -> str:
    """A start time this many minutes from now, in the room PC's local time."""
    return (dt.datetime.now().astimezone() + dt.timedelta(minutes=minutes)).isoformat(
        timespec="seconds")


def get(room: ThreadedRoom, method: str, path: str, body: dict | None = None):
    conn = http.client.HTTPConnection("localhost", room.room.port, timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    conn.request(method, path, body=urlencode(body) if body else None, headers=headers)
    resp = conn.getresponse()
    resp.text = resp.read().decode()
    conn.close()
    return resp


def links(mail) -> tuple[str, str]:
    text = mail.get_body(("plain",)).get_content()
    visit = re.search(r"http://\S+/visit/([A-Za-z0-9_-]+)", text).group(1)
    optout = re.search(r"http://\S+/visit/optout/([A-Za-z0-9_-]+)", text).group(1)
    return visit, optout


def test_the_client_gets_a_mail_with_the_link_and_a_valid_calendar_file(mail_room, inbox):
    start = at(60 * 24)
    reply = mail_room.command("appointment.create", at=start, minutes=45,
                              email="klientin@example.org", language="en", label="Frau K.")
    assert reply.ok, reply.error
    eventually(lambda: len(inbox.mails) == 1)
    mail = inbox.mails[0]
    assert mail["To"] == "klientin@example.org"
    assert mail["Subject"].startswith("Ihr Termin zur Videoberatung am")
    assert "/ Your video counselling appointment" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    for needed in ("nichts installieren", "Kamera und Mikrofon", "0800 123 456",
                   "telefonisch oder persönlich", "Hello,", "nothing to install"):
        assert needed in text, needed
    visit, optout = links(mail)
    assert visit == reply.data["visit_token"] and len(visit) >= 32 and optout != visit
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_filename() == "termin.ics"
    calendar = icalendar.Calendar.from_ical(attachment.get_content())
    (event,) = calendar.walk("VEVENT")
    begins = dt.datetime.fromisoformat(start)
    assert event.decoded("dtstart") == begins
    assert event.decoded("dtend") == begins + dt.timedelta(minutes=45)
    assert str(event["url"]).endswith(f"/visit/{visit}")
    assert calendar.walk("VALARM")
    # The counsellor sees it booked and mailed; neither address nor token is stored.
    eventually(lambda: mail_room.state.appointments
               and mail_room.state.appointments[0].mail == "sent")
    (booked,) = mail_room.state.appointments
    assert (booked.minutes, booked.label, booked.language) == (45, "Frau K.", "en")
    raw = (mail_room.config.data_dir / "room.db").read_bytes()
    wal = mail_room.config.data_dir / "room.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert b"klientin@example.org" not in raw and visit.encode() not in raw


def test_without_a_mail_server_the_counsellor_learns_that_no_mail_left(live_room):
    reply = live_room.command("appointment.create", at=at(90), email="a@example.org")
    assert reply.ok
    eventually(lambda: live_room.state.appointments[0].mail == "failed")
    assert "no mail server" in live_room.state.appointments[0].mail_detail


@pytest.mark.parametrize(("args", "why"), [
    ({"at": "morgen", "email": "a@example.org"}, "date and time"),
    ({"at": at(-60), "email": "a@example.org"}, "in the past"),
    ({"at": at(60 * 24 * 400), "email": "a@example.org"}, "a year ahead"),
    ({"at": at(60), "email": "keine-adresse"}, "mail address"),
    ({"at": at(60), "email": "a@example.org", "minutes": 600}, "minutes"),
    ({"at": at(60), "email": "a@example.org", "language": "xx"}, "language"),
])
def test_a_bad_booking_is_refused_and_changes_nothing(live_room, args, why):
    reply = live_room.command("appointment.create", **args)
    assert not reply.ok and why in reply.error
    assert live_room.state.appointments == []
    assert live_room.room.store.db.execute("SELECT count(*) FROM appointments").fetchone()[0] == 0


def test_the_link_opens_from_15_minutes_before_until_the_end(live_room, monkeypatch):
    token = live_room.command("appointment.create", at=at(60), minutes=30,
                              email="a@example.org").data["visit_token"]
    start = dt.datetime.fromisoformat(live_room.state.appointments[0].starts_at)
    for offset, expected in ((-16, "visit_early"), (-14, None), (0, None), (29, None),
                             (30, "visit_over")):
        monkeypatch.setattr(appointments, "utcnow",
                            lambda o=offset: start + dt.timedelta(minutes=o))
        reply = live_room.command("visit.check", as_="admin", token=token)
        assert (reply.code or None) == expected, offset
    monkeypatch.undo()
    page = get(live_room, "GET", f"/visit/{token}")
    assert page.status == 403 and "15 Minuten vor Beginn" in page.text


def test_a_cancelled_or_wrong_link_gets_a_friendly_page_and_guessing_gets_429(live_room):
    token = live_room.command("appointment.create", at=at(5), minutes=30,
                              email="a@example.org").data["visit_token"]
    assert get(live_room, "GET", f"/visit/{token}").status == 200
    appointment = live_room.state.appointments[0].id
    assert live_room.command("appointment.cancel", id=appointment).ok
    page = get(live_room, "GET", f"/visit/{token}")
    assert page.status == 410 and "abgesagt" in page.text
    statuses = [get(live_room, "GET", f"/visit/{'x' * 32}{i}").status for i in range(10)]
    assert statuses == [404] * 9 + [429]  # one failure before, the tenth blocks
    wrong = get(live_room, "GET", "/visit/%3Cscript%3E")
    assert wrong.status == 429 and "<script>" not in wrong.text
    assert "Zu viele Versuche" in wrong.text


def test_the_client_may_ask_for_phone_or_in_person_instead(mail_room, inbox):
    assert mail_room.command("appointment.create", at=at(120), email="b@example.org").ok
    eventually(lambda: len(inbox.mails) == 1)
    _, optout = links(inbox.mails[0])
    form = get(mail_room, "GET", f"/visit/optout/{optout}")
    assert form.status == 200 and "Lieber telefonisch" in form.text
    assert get(mail_room, "POST", f"/visit/optout/{optout}", {"note": "x"}).status == 400
    done = get(mail_room, "POST", f"/visit/optout/{optout}",
               {"choice": "phone", "note": "vormittags 0151 000"})
    assert done.status == 200 and "weitergegeben" in done.text
    eventually(lambda: mail_room.state.appointments[0].optout == "phone")
    assert mail_room.state.appointments[0].optout_note == "vormittags 0151 000"
    refused = get(mail_room, "POST", f"/visit/optout/{'y' * 32}", {"choice": "phone"})
    assert refused.status == 404


def test_a_finished_slot_leaves_the_list_and_its_link_says_so(live_room, monkeypatch):
    token = live_room.command("appointment.create", at=at(1), minutes=5,
                              email="a@example.org").data["visit_token"]
    start = dt.datetime.fromisoformat(live_room.state.appointments[0].starts_at)
    monkeypatch.setattr(appointments, "utcnow", lambda: start + dt.timedelta(minutes=6))
    eventually(lambda: live_room.state.appointments == [])
    assert live_room.command("visit.check", as_="admin", token=token).code == "visit_over"
    assert urlsplit(live_room.urls["kiosk"]).port == live_room.room.port


def test_appointments_go_with_the_session_metadata(live_room):
    from kiosk.room.retention import RetentionPolicy

    assert live_room.command("appointment.create", at=at(30), email="a@example.org",
                             label="Herr Z. Rückruf").ok
    store = live_room.room.store
    live_room.sql("UPDATE appointments SET starts_at = '2020-01-01T10:00:00+00:00'")
    counts = live_room.call(_purge(store, RetentionPolicy()))
    assert counts["appointments"] == 1
    assert store.db.execute("SELECT count(*) FROM appointments").fetchone()[0] == 0


async def _purge(store, policy):
    from kiosk.room.retention import purge

    return purge(store, policy)


def test_ctl_books_lists_and_cancels(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    kiosk = [str(Path(sys.executable).parent / "kiosk")]
    data = ["--data-dir", str(tmp_path)]
    demo = subprocess.Popen([*kiosk, "demo", "--port", str(free_port()), *data],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: (tmp_path / "room.json").exists(), timeout=30)

        def ctl(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([*kiosk, "ctl", *args, *data], capture_output=True,
                                  text=True, timeout=30)

        booked = ctl("appointment", "create", "--email", "c@example.org", "--at", at(180),
                     "--duration", "20", "--language", "tr", "--label", "Herr B.")
        assert booked.returncode == 0 and booked.stdout.startswith("ok appointment.create")
        eventually(lambda: "mail sent" in ctl("appointment", "list").stdout, timeout=10)
        (path,) = (tmp_path / "outbox").glob("*.eml")  # the demo's outbox
        mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert mail["To"] == "c@example.org" and "randevunuz" in mail["Subject"]
        assert "Kişisel bağlantınız" in mail.get_body(("plain",)).get_content()
        assert "Herr B." in ctl("appointment", "list").stdout
        bad = ctl("appointment", "create", "--email", "kaputt", "--at", at(60))
        assert bad.returncode == 1 and "mail address" in bad.stderr
        assert ctl("appointment", "cancel", "1").returncode == 0
        assert "cancelled" in ctl("appointment", "list").stdout
    finally:
        demo.terminate()
        demo.wait(20)


def test_the_counsellor_books_on_control_and_sees_mail_and_opt_out(mail_room, inbox, new_page):
    from playwright.sync_api import expect

    page = new_page(mail_room.urls["control"])
    start = dt.datetime.now() + dt.timedelta(days=2)
    day = page.get_by_role("group", name="Tag des Termins")
    day.get_by_label("Tag").select_option(str(start.day))  # a day without month and year
    page.get_by_role("button", name="Termin anlegen und Einladung senden").click()
    expect(page.get_by_role("alert")).to_have_text("Den Tag gibt es nicht oder er ist "
                                                   "unvollständig: bitte Tag, Monat und Jahr "
                                                   "wählen.")
    day.get_by_label("Monat").select_option(str(start.month))
    day.get_by_label("Jahr").select_option(str(start.year))
    page.get_by_role("button", name="Termin anlegen und Einladung senden").click()
    expect(page.get_by_role("alert")).to_have_text("Bitte die Uhrzeit wählen.")
    page.get_by_label("Uhrzeit").select_option("10:30")
    page.get_by_label("E-Mail der Klient:in").fill("frau.k@example.org")
    page.get_by_label("Sprache der E-Mail").select_option(label="العربية")
    page.get_by_label("Hinweis für Ihre Liste (freiwillig)").fill("Frau K.")
    page.get_by_role("button", name="Termin anlegen und Einladung senden").click()
    listing = page.locator(".control-appointments")
    expect(listing).to_contain_text(f"{start:%d.%m.%Y} 10:30 Uhr, 30 Min. — Frau K.")
    expect(listing).to_contain_text("E-Mail gesendet")
    expect(page.locator(".appointment-link")).to_contain_text("/visit/")
    eventually(lambda: len(inbox.mails) == 1)
    assert "موعد" in inbox.mails[0]["Subject"]
    _, optout = links(inbox.mails[0])
    assert get(mail_room, "POST", f"/visit/optout/{optout}",
               {"choice": "in_person", "note": ""}).status == 200
    expect(listing).to_contain_text("möchte lieber persönlich")
    page.screenshot(path=str(mail_room.config.data_dir / "control-appointments.png"),
                    full_page=True)
    listing.get_by_role("button", name="Absagen").click()  # asks first
    expect(listing.get_by_role("group", name="Diesen Termin absagen?")).to_be_visible()
    listing.get_by_role("button", name="Ja, absagen").click()
    expect(listing).to_contain_text("abgesagt")
