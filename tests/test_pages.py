"""The page server over real HTTP and in real Chromium."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from conftest import ThreadedRoom
from playwright.sync_api import expect

PAGES = ["kiosk", "control", "display", "admin"]


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read().decode()


@pytest.mark.parametrize("page", PAGES)
def test_each_page_answers(live_room, page):
    status, ctype, body = get(live_room.urls[page])
    assert status == 200 and ctype.startswith("text/html")
    assert "<html" in body


def test_healthz_reports_room_phase_sequence_and_uptime(live_room):
    status, ctype, body = get(live_room.urls["healthz"])
    health = json.loads(body)
    assert status == 200 and ctype == "application/json"
    assert health["status"] == "ok" and health["room"] == "raum-1"
    assert health["phase"] == "idle" and health["bus_seq"] >= 4 and health["uptime_s"] >= 0
    # What an operator watches for leaks, of this process (the test's own, here).
    process = health["process"]
    assert process["rss_kb"] > 10_000 and process["threads"] >= 2
    assert process["open_files"] >= 3 and process["tasks"] >= 3
    assert process["loop_stalls"] >= 0 and process["longest_stall_s"] >= 0
    assert live_room.command("session.start").ok
    assert json.loads(get(live_room.urls["healthz"])[2])["phase"] == "consulting"


def test_healthz_says_ok_only_once_room_json_is_written(room_config, monkeypatch):
    """Health means ready: whatever waits for /healthz finds what `kiosk ctl` reads."""
    from kiosk.app.room import Room

    seen: list[tuple[str, bool]] = []
    write = Room._write_runtime

    def write_and_look(self) -> None:
        seen.append((self._health()["status"], self.config.runtime_path.exists()))
        write(self)
        seen.append((self._health()["status"], self.config.runtime_path.exists()))

    monkeypatch.setattr(Room, "_write_runtime", write_and_look)
    room = ThreadedRoom(room_config).start()
    try:
        assert seen == [("starting", False), ("starting", True)]
        status, _, body = get(room.urls["healthz"])
        assert status == 200 and json.loads(body)["status"] == "ok"
    finally:
        room.stop()
    assert not room_config.runtime_path.exists()


@pytest.mark.parametrize("page", PAGES)
def test_page_requests_nothing_from_another_host(live_room, new_page, page):
    own = urlsplit(live_room.urls[page]).netloc
    seen: list[str] = []
    p = new_page()
    p.context.on("request", lambda req: seen.append(req.url))
    p.goto(live_room.urls[page], wait_until="networkidle")
    expect(p.locator("h1").first).to_be_visible()
    hosts = {urlsplit(u).netloc for u in seen if urlsplit(u).scheme in ("http", "https", "ws")}
    assert hosts == {own}, [u for u in seen if urlsplit(u).netloc != own]
    assert len(seen) > 5  # the page really loaded its assets


def test_a_click_on_control_changes_the_kiosk(live_room, new_page):
    control = new_page(live_room.urls["control"])
    kiosk = new_page(live_room.urls["kiosk"])
    expect(kiosk.locator("h1")).to_have_text("Willkommen")
    control.get_by_role("button", name="Sitzung starten").click()
    expect(kiosk.locator("h1")).to_have_text("Ihr Gespräch")


def test_the_first_real_flow(live_room, new_page):
    control = new_page(live_room.urls["control"])
    kiosk = new_page(live_room.urls["kiosk"])
    display = new_page(live_room.urls["display"])
    expect(kiosk.get_by_role("button", name="Anmelden")).to_be_visible()

    control.get_by_role("button", name="Sitzung starten").click()
    expect(kiosk.locator("h1")).to_have_text("Ihr Gespräch")
    control.get_by_role("button", name="Für Klient:in sichtbar").click()
    control.get_by_label("Neue Notiz").fill("Antrag auf Weiterbildung vorbereiten")
    control.get_by_role("button", name="Notiz hinzufügen").click()
    expect(control.get_by_text("[intern] Antrag auf Weiterbildung")).to_be_visible()
    expect(kiosk.get_by_text("Hier erscheint, was wir gemeinsam festhalten.")).to_be_visible()
    assert "Weiterbildung" not in kiosk.locator("main").inner_text()

    control.get_by_role("button", name="Für Klient:in zeigen").click()
    expect(kiosk.locator("ul.notes li")).to_have_text("Antrag auf Weiterbildung vorbereiten")
    expect(display.locator("li[data-note]")).to_have_text("Antrag auf Weiterbildung vorbereiten")

    control.get_by_role("button", name="Sitzung beenden").click()
    expect(kiosk.locator("h1")).to_have_text("Zusammenfassung")
    expect(kiosk.locator("ul.notes li")).to_have_text("Antrag auf Weiterbildung vorbereiten")
    kiosk.get_by_role("button", name="Weiter zur kurzen Umfrage").click()
    expect(kiosk.locator("h1")).to_have_text("Drei kurze Fragen")
    kiosk.get_by_role("button", name="Antworten senden").click()
    expect(kiosk.get_by_text("Bitte beantworten Sie alle drei Fragen")).to_be_visible()
    for name, answer in [("satisfaction", "5"), ("ease", "4"), ("recommend", "9")]:
        kiosk.locator(f".answer-{name}").get_by_role("radio", name=answer, exact=True).click()
        expect(kiosk.locator(f".answer-{name} [aria-checked=true]")).to_have_text(answer)
    kiosk.get_by_role("button", name="Antworten senden").click()
    expect(kiosk.locator("h1")).to_have_text("Vielen Dank!")
    kiosk.get_by_role("button", name="Zurück zum Anfang").click()
    expect(kiosk.locator("h1")).to_have_text("Willkommen")
    expect(kiosk.get_by_role("button", name="Anmelden")).to_be_visible()
    expect(display.locator("li[data-note]")).to_have_count(0)
    assert live_room.state.phase == "idle"

    rows = live_room.call(_survey_rows(live_room))
    assert rows == [(5, 4, 9)]


async def _survey_rows(live_room):
    db = live_room.room.store.db
    return [(r["satisfaction"], r["ease"], r["recommend"]) for r in db["survey_answers"].rows]


def watcher_count(state) -> int:
    return sum(len(ws) for names in state.param.watchers.values() for ws in names.values())


def test_closing_a_tab_does_not_freeze_the_other_screens(live_room, new_page):
    control = new_page(live_room.urls["control"])
    keep = new_page(live_room.urls["kiosk"])
    display = new_page(live_room.urls["display"])
    expect(keep.locator("h1")).to_have_text("Willkommen")
    before = watcher_count(live_room.state)
    closing = new_page(live_room.urls["kiosk"])
    expect(closing.locator("h1")).to_have_text("Willkommen")
    assert watcher_count(live_room.state) > before
    control.get_by_role("button", name="Sitzung starten").click()
    expect(closing.locator("h1")).to_have_text("Ihr Gespräch")
    closing.context.close()
    deadline = time.monotonic() + 30  # unused for 8 s, checked every second
    while watcher_count(live_room.state) != before:  # the closed session let go of the state
        assert time.monotonic() < deadline, "closed session still watches the room state"
        time.sleep(0.2)
    control.get_by_label("Neue Notiz").fill("Noch da")
    control.get_by_role("button", name="Notiz hinzufügen").click()
    expect(keep.locator("ul.notes li")).to_have_text("Noch da")
    expect(display.locator("li[data-note]")).to_have_text("Noch da")


def test_the_counsellor_invites_a_partner_by_link(live_room, new_page):
    control = new_page(live_room.urls["control"])
    control.get_by_role("button", name="Sitzung starten").click()
    control.get_by_label("Stelle", exact=True).fill("Deutsche Rentenversicherung")
    control.get_by_role("button", name="Per Link einladen").click()
    link = control.locator(".invite-link code")
    expect(link).to_contain_text(live_room.urls["kiosk"].rsplit("/", 1)[0] + "/join/")
    token = link.inner_text().rsplit("/", 1)[1]
    assert len(token) >= 32
    expect(control.locator(".control-partners")).to_contain_text("eingeladen")
    assert live_room.state.partners[0].agency == "Deutsche Rentenversicherung"
