"""/control as a console on the counsellor's 10-inch tablet, and /admin and /stats.

Chromium with touch at 1280×800 and 800×1280, in every phase of a talk: nothing
scrolls sideways, no button is covered, every target is at least 48×48 px, axe
finds nothing serious; what ends or erases asks first or can be undone; plain
German; nothing of one talk stays for the next. Screenshots of each state go to
``.cache/screens/control-<state>-<size>.png``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from conftest import ThreadedRoom, axe_findings, eventually
from playwright.sync_api import expect
from test_directory_ui import ERIKA, ERIKA_ID, MAX_ID, Console, start_site_room
from test_stats import room_db

from kiosk.room.state import RoomState
from kiosk.views import control
from kiosk.views.console_header import Calls, describe
from kiosk.views.plain import german_date, german_until, refusal

SHOTS = Path(__file__).resolve().parent.parent / ".cache" / "screens"
SIZES = {"landscape": (1280, 800), "portrait": (800, 1280)}
AUFENTHALT = "Aufenthalt und Arbeitserlaubnis"
THEO_ID = 4  # the demo district's Amt für Jugend und Bildung (Ausbildung)

#: Every visible interactive element (through shadow roots): its size, and whether a tap
#: at its centre reaches it (scrolled into its pane first); the page's scroll width.
LAYOUT = """() => {
  const all = (root, acc = []) => { for (const el of root.querySelectorAll('*')) {
    acc.push(el); if (el.shadowRoot) all(el.shadowRoot, acc); } return acc; };
  const deep = (x, y) => { let e = document.elementFromPoint(x, y);
    while (e && e.shadowRoot) { const i = e.shadowRoot.elementFromPoint(x, y);
      if (!i || i === e) break; e = i; } return e; };
  const within = (n, el) => { for (; n; n = n.parentNode || n.host) if (n === el) return true;
    return false; };
  const sel = 'button, a[href], input:not([type=hidden]), select, textarea, [role=button], '
            + '[role=tab], summary';
  const small = [], covered = [];
  for (const el of all(document)) {
    if (!el.matches(sel) || el.closest('[hidden]')) continue;
    let r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (getComputedStyle(el).visibility === 'hidden') continue;
    const name = (el.getAttribute('aria-label') || el.textContent || el.tagName).trim()
      .replace(/\\s+/g, ' ').slice(0, 40);
    if (r.width < 47.5 || r.height < 47.5)
      small.push(`${name} ${Math.round(r.width)}x${Math.round(r.height)}`);
    if (el.disabled) continue;  // (Panel lets no pointer reach a disabled button)
    el.scrollIntoView({block: 'center', inline: 'nearest'});
    r = el.getBoundingClientRect();
    const hit = deep(r.x + r.width / 2, r.y + r.height / 2);
    if (!within(hit, el)) covered.push(`${name} under ${hit ? hit.tagName + '.'
      + String(hit.className).slice(0, 30) + ' ' + (hit.textContent || '').trim().slice(0, 30)
      : 'nothing'}`);
  }
  for (const el of all(document)) if (el.classList && el.classList.contains('pane'))
    el.scrollTop = 0;
  return {scroll: document.scrollingElement.scrollWidth, width: innerWidth, small, covered};
}"""


def tablet(browser, room: ThreadedRoom, size: str, page: str = "control"):
    """A touch tablet's browser at ``size``, signed in, on ``page``."""
    width, height = SIZES[size]
    # (CSP bypassed only to run the accessibility checker in the page)
    ctx = browser.new_context(viewport={"width": width, "height": height}, has_touch=True,
                              is_mobile=False, bypass_csp=True, locale="de-DE")
    ctx.add_cookies(room.test_cookies())
    p = ctx.new_page()
    p.goto(room.urls[page])
    p.size = size
    return p


@pytest.fixture
def tablets(browser, live_room):
    """/control on a tablet held each way."""
    pages = {size: tablet(browser, live_room, size) for size in SIZES}
    yield pages
    for p in pages.values():
        p.context.close()


@pytest.fixture
def landscape(browser, live_room):
    """/control on a tablet held landscape."""
    p = tablet(browser, live_room, "landscape")
    yield p
    p.context.close()


def fits(page, axe_source, state: str) -> None:
    """The page at this state: screenshot, then the layout and accessibility checks."""
    page.wait_for_timeout(250)  # the last patch drawn
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"control-{state}-{page.size}.png"), full_page=True)
    found = page.evaluate(LAYOUT)
    assert found["scroll"] <= found["width"], f"{state}/{page.size} scrolls sideways: {found}"
    assert found["small"] == [], f"{state}/{page.size}: targets under 48 px"
    assert found["covered"] == [], f"{state}/{page.size}: covered buttons"
    assert axe_findings(page, axe_source) == [], f"{state}/{page.size}"


def phase(page, label: str) -> None:
    expect(page.locator(".hdr .phase")).to_have_text(label)


def button(page, name: str):
    return page.get_by_role("button", name=name, exact=True)


def invite(room: ThreadedRoom, command: str = "partner.invite", **args) -> int:
    """Ask a partner in (by link, or the client's consent); their id."""
    assert room.command(command, **args).ok
    return room.state.partners[-1].id


# -- the console in every phase, both ways --------------------------------------------
def test_idle_and_a_waiting_client_fit_the_tablet_both_ways(live_room, tablets, axe_source):
    for p in tablets.values():
        phase(p, "Frei")
        expect(button(p, "Sitzung starten")).to_be_visible()
        expect(p.locator(".control-appointments")).to_contain_text("Keine Videotermine geplant.")
        fits(p, axe_source, "idle")
    assert live_room.command("checkin", as_="kiosk", walk_in=True).ok
    for p in tablets.values():
        phase(p, "Klient:in wartet")
        expect(p.locator(".hdr [data-fact='arrival']")).to_contain_text("ohne Termin")
        fits(p, axe_source, "welcome")


def test_a_talk_with_partners_ringing_joined_and_gone(data_dir, port, browser, axe_source):
    room = start_site_room(data_dir, port)
    erika = Console(room, ERIKA)
    pages = {}
    try:
        c = room.command
        assert c("session.start").ok
        assert c("session.topics", topics=["Ausbildung", AUFENTHALT]).ok
        assert c("language.set", as_="kiosk", language="ar").ok
        assert c("note.add", text="Sie möchte eine Ausbildung als Mechatronikerin beginnen.",
                 visible=True).ok
        assert c("note.add", text="Intern: Aufenthaltstitel läuft im März aus.").ok
        assert c("step.add", what="Zeugnisse übersetzen lassen", due="2026-12-18").ok
        # Joined: invited, connected, the client agreed, admitted; measured.
        joined = invite(room, agency="Jobcenter Musterstadt", name="Max Mustermann",
                        purpose="Ausbildung", agency_type="Jobcenter")
        assert c("partner.state", as_="media", partner=joined, state="connected").ok
        assert c("consent.answer", as_="kiosk", partner=joined, yes=True, version="ar:x").ok
        assert c("partner.admit", partner=joined).ok
        # Gone: was connected and measured, then left.
        gone = invite(room, agency="Sozialamt Musterstadt", name="Paula Platzhalter",
                      purpose="Leistungen")
        assert c("partner.state", as_="media", partner=gone, state="connected").ok
        assert c("partner.quality", as_="media", partner=gone, rtt_ms=900, loss_pct=20,
                 kbps=50, fps=3).ok
        assert c("partner.state", as_="media", partner=gone, state="gone").ok
        eventually(lambda: gone not in room.room.link.state.quality)  # figures leave too
        assert c("partner.quality", as_="media", partner=gone, rtt_ms=900, loss_pct=20,
                 kbps=50, fps=3).ok  # a late report changes nothing
        assert c("partner.quality", as_="media", partner=joined, rtt_ms=40, loss_pct=0,
                 kbps=900, fps=25).ok
        eventually(lambda: joined in room.room.link.state.quality)
        assert gone not in room.room.link.state.quality
        # Ringing: the Ausländerbehörde, about the residence permit.
        assert erika.send("presence.beat").ok
        eventually(lambda: room.room.site_link.state.status(ERIKA_ID) == "available")
        assert room.call(room.room.site_link.ring(counsellor="Frau Weber", topic=AUFENTHALT,
                                                  contact=ERIKA_ID)).ok
        pages = {size: tablet(browser, room, size) for size in SIZES}
        for p in pages.values():
            phase(p, "Im Gespräch")
            facts = p.locator(".hdr .facts")
            expect(facts).to_contain_text("Sprache der Klient:in: Arabisch (العربية)")
            expect(facts).to_contain_text("Max Mustermann (Jobcenter Musterstadt): "
                                          "zugestimmt · verbunden")
            expect(facts).to_contain_text(re.compile(r"Anruf Erika Musterfrau: klingelt – "
                                                     r"noch \d+ s"))
            expect(facts).not_to_contain_text("Paula")  # gone: not in the room any more
            expect(button(p, "Anruf abbrechen Erika Musterfrau")).to_be_visible()
        # Landscape: both panes at once; the directory holds contacts of any chosen topic.
        wide = pages["landscape"]
        contacts = wide.locator(".directory-contacts")
        expect(contacts.locator(f"li[data-item='c{ERIKA_ID}']")).to_contain_text("Verfügbar")
        expect(contacts.locator(f"li[data-item='c{THEO_ID}']")).to_be_visible()
        expect(contacts.locator(f"li[data-item='c{MAX_ID}']")).to_have_count(0)
        left = wide.locator(f".control-partners li[data-item='{gone}']")
        expect(left).to_contain_text("nicht mehr da")
        expect(left).not_to_contain_text("Verbindung")  # no stale figures
        expect(left.get_by_role("button")).to_have_count(0)
        expect(wide.locator(f".control-partners li[data-item='{joined}']")).to_contain_text(
            "Verbindung: 40 ms")
        expect(wide.locator(".control-steps")).to_contain_text("bis 18.12.2026")
        fits(wide, axe_source, "talk")
        # Portrait: the talk and the partners as tabs.
        tall = pages["portrait"]
        expect(tall.get_by_role("tab", name="Gespräch: Notizen und Schritte")).to_have_attribute(
            "aria-selected", "true")
        expect(tall.locator(".control-partners")).to_be_hidden()
        fits(tall, axe_source, "talk")
        tall.get_by_role("tab", name="Partner (1)").tap()  # in the talk: Max
        expect(tall.locator(".control-partners")).to_be_visible()
        expect(tall.get_by_label("Neue Notiz")).to_be_hidden()
        fits(tall, axe_source, "talk-partners")
        # Declined: the header says how the last ring ended.
        ring = next(iter(room.room.site_link.state.rings))
        assert erika.send("ring.decline", ring=ring, reason="busy").ok
        expect(wide.locator(".hdr [data-fact='ring']")).to_contain_text(
            "Anruf Erika Musterfrau: abgelehnt – keine Zeit")
        # One touch rings the duty desk for a topic of the talk.
        desk = wide.locator(".hdr button[data-action='desk']")
        expect(desk).to_contain_text(f"Ausländerbehörde Musterstadt · {AUFENTHALT}")
        desk.tap()
        expect(wide.locator(".hdr [data-fact='ring']")).to_contain_text(
            "Anruf Dienst Ausländerbehörde Musterstadt: klingelt")
        assert any(r.contact is None and r.topic == AUFENTHALT
                   for r in room.room.site_link.state.rings.values())
    finally:
        for p in pages.values():
            p.context.close()
        erika.close()
        room.stop()


def test_wrap_up_and_survey_fit_the_tablet_both_ways(live_room, tablets, axe_source):
    assert live_room.command("session.start").ok
    assert live_room.command("note.add", text="Bewerbung bis Freitag", visible=True).ok
    assert live_room.command("session.end").ok
    for p in tablets.values():
        phase(p, "Abschluss")
        expect(p.locator(".control-summary")).to_contain_text("Druckansicht öffnen")
        fits(p, axe_source, "wrap-up")
    assert live_room.command("survey.begin", as_="kiosk").ok
    for p in tablets.values():
        phase(p, "Umfrage")
        fits(p, axe_source, "survey")


# -- what ends or erases ------------------------------------------------------------------
def test_delete_hang_up_and_reset_ask_first_and_end_can_be_taken_back(live_room, landscape,
                                                                      monkeypatch):
    monkeypatch.setattr(control, "END_DELAY", 1.5)
    room, page = live_room, landscape
    assert room.command("session.start").ok
    assert room.command("note.add", text="Nur ein Versuch", visible=True).ok
    assert room.command("step.add", what="Unterlagen mitbringen").ok
    partner = invite(room, "consent.request", name="Frau Demir", agency="Ausländerbehörde",
                     purpose="Aufenthalt")
    notes = page.locator(".control-notes")
    # Löschen asks in the row; "Nein" keeps the note, "Ja, löschen" removes it.
    notes.get_by_role("button", name="Löschen").tap()
    expect(notes.get_by_role("group", name="Diese Notiz löschen?")).to_be_visible()
    page.screenshot(path=str(SHOTS / "control-confirm-delete-landscape.png"))
    notes.get_by_role("button", name="Nein").tap()
    expect(notes).to_contain_text("Nur ein Versuch")
    assert len(room.state.notes) == 1
    notes.get_by_role("button", name="Löschen").tap()
    notes.get_by_role("button", name="Ja, löschen").tap()
    expect(notes).to_contain_text("Noch keine Notizen.")
    steps = page.locator(".control-steps")
    steps.get_by_role("button", name="Löschen").tap()
    steps.get_by_role("button", name="Ja, löschen").tap()
    expect(steps).to_contain_text("Noch keine Schritte.")
    # Auflegen asks too.
    row = page.locator(f".control-partners li[data-item='{partner}']")
    row.get_by_role("button", name="Auflegen").tap()
    expect(row).to_contain_text("Frau Demir auflegen?")
    assert room.state.partners
    row.get_by_role("button", name="Ja, auflegen").tap()
    expect(page.locator(".control-partners")).to_contain_text("Noch niemand dazugebeten.")
    # Reset asks in the header, and says what goes.
    button(page, "Raum zurücksetzen").tap()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("Notizen, Schritte und Partner verschwinden")
    page.screenshot(path=str(SHOTS / "control-confirm-reset-landscape.png"))
    dialog.get_by_role("button", name="Abbrechen").tap()
    expect(dialog).to_have_count(0)
    # Sitzung beenden can be taken back for a moment.
    button(page, "Sitzung beenden").tap()
    ending = page.locator(".hdr .ending")
    expect(ending).to_contain_text(re.compile(r"Das Gespräch endet in \d s"))
    page.screenshot(path=str(SHOTS / "control-ending-landscape.png"))
    ending.get_by_role("button", name="Rückgängig: weiter im Gespräch").tap()
    expect(ending).to_have_count(0)
    page.wait_for_timeout(2000)
    assert room.state.phase == "consulting"
    button(page, "Sitzung beenden").tap()
    phase(page, "Abschluss")
    button(page, "Raum zurücksetzen").tap()
    page.get_by_role("alertdialog").get_by_role("button", name="Ja, Raum zurücksetzen").tap()
    phase(page, "Frei")
    assert room.state.phase == "idle"


# -- toggles, German, links, and nothing left for the next talk ---------------------------
def test_toggles_say_their_state_and_carry_aria_pressed(live_room, landscape):
    page = landscape
    assert live_room.command("session.start").ok
    camera = page.locator(".hdr button[data-action='camera']")
    expect(camera).to_have_attribute("aria-pressed", "true")
    expect(camera).to_contain_text("an")
    camera.tap()
    expect(camera).to_have_attribute("aria-pressed", "false")
    expect(camera).to_contain_text("aus")
    eventually(lambda: not live_room.state.camera_on)
    pause = page.get_by_role("button", name="Video-Pause")
    expect(pause).to_have_attribute("aria-pressed", "false")
    pause.tap()
    expect(pause).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".hdr [data-fact='privacy']")).to_contain_text("Video pausiert")
    visible = page.get_by_role("button", name="Für Klient:in sichtbar")
    expect(visible).to_have_attribute("aria-pressed", "true")
    expect(visible).to_contain_text("ja")
    visible.tap()
    expect(visible).to_have_attribute("aria-pressed", "false")
    expect(visible).to_contain_text("nein")


def test_plain_german_dates_copy_and_a_clean_next_talk(live_room, landscape):
    page, room = landscape, live_room
    room.room.link.simulate_partner = lambda url, agency: None  # as in the demo
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    assert room.command("session.start").ok
    # A note longer than the room keeps: said in plain German, nothing sent.
    page.get_by_label("Neue Notiz").fill("x" * 4001)
    button(page, "Notiz hinzufügen").tap()
    expect(page.locator(".control-error")).to_have_text(
        "Die Notiz ist zu lang (höchstens 4000 Zeichen).")
    assert room.state.notes == []
    # A date picked in German: Tag, Monat, Jahr.
    page.get_by_label("Was").fill("Antrag stellen")
    due = page.get_by_role("group", name="Bis wann (freiwillig)")
    due.get_by_label("Tag").select_option("31")
    due.get_by_label("Monat").select_option(label="Februar")
    due.get_by_label("Jahr").select_option(str(dt.date.today().year + 1))
    button(page, "Schritt hinzufügen").tap()
    expect(page.locator(".control-error")).to_contain_text("den Tag nicht")
    due.get_by_label("Tag").select_option("18")
    due.get_by_label("Monat").select_option(label="Dezember")
    button(page, "Schritt hinzufügen").tap()
    expect(page.locator(".control-steps")).to_contain_text(
        f"bis 18.12.{dt.date.today().year + 1}")
    # A link: German expiry, a copy button that says "Kopiert", the demo button.
    page.get_by_label("Name", exact=True).fill("Herr Kaya")
    page.get_by_label("Stelle", exact=True).fill("Jobcenter")
    button(page, "Per Link einladen").tap()
    link = page.locator(".invite-link")
    expect(link).to_contain_text(re.compile(
        r"Link für Jobcenter – einmal gültig, bis \d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr:"))
    link.get_by_role("button", name="Link kopieren").tap()
    expect(link.get_by_role("status")).to_have_text("✓ Kopiert")
    url = link.locator("code").inner_text()
    assert page.evaluate("navigator.clipboard.readText()") == url and "/join/" in url
    expect(button(page, "Demo: simulierten Partner beitreten lassen")).to_be_visible()
    page.get_by_label("Warum (sieht die Klient:in)").fill("halb getippt")
    page.get_by_label("Warum (sieht die Klient:in)").press("Tab")
    page.wait_for_timeout(500)  # the field's value has reached the tablet's view
    # The next talk starts clean: no link, no demo button, empty forms.
    assert room.command("room.reset").ok
    assert room.command("session.start").ok
    phase(page, "Im Gespräch")
    expect(link).to_be_hidden()
    expect(button(page, "Demo: simulierten Partner beitreten lassen")).to_be_hidden()
    expect(page.get_by_label("Warum (sieht die Klient:in)")).to_have_value("")
    expect(page.get_by_label("Was")).to_have_value("")
    expect(page.locator(".control-error")).to_have_text("")


# -- /admin and /stats ----------------------------------------------------------------------
def test_admin_fits_a_tablet_and_asks_before_removing(data_dir, port, browser, axe_source):
    room = start_site_room(data_dir, port)
    page = tablet(browser, room, "landscape", "admin")
    try:
        contacts = page.locator(".admin-directory")
        expect(contacts).to_contain_text("Erika Musterfrau")
        assert room.command("pairing.start", as_="admin").ok
        assert room.command("pairing.claim", as_="admin", code=room.state.pairing["code"],
                            name="Tablet am Fenster").ok
        tablets = page.locator(".admin-tablets")
        expect(tablets).to_contain_text("Tablet am Fenster")
        fits(page, axe_source, "admin")
        # Removing a contact and unpairing a tablet ask first.
        row = contacts.locator(f"li[data-item='{ERIKA_ID}']")
        row.get_by_role("button", name="Entfernen").tap()
        expect(row).to_contain_text("Erika Musterfrau aus dem Verzeichnis entfernen?")
        row.get_by_role("button", name="Nein").tap()
        tablets.get_by_role("button", name="Entkoppeln").tap()
        tablets.get_by_role("button", name="Nein").tap()
        assert [t.name for t in room.state.tablets] == ["Tablet am Fenster"]
        assert ERIKA_ID in room.room.site_link.state.contacts
        tablets.get_by_role("button", name="Entkoppeln").tap()
        tablets.get_by_role("button", name="Ja, entkoppeln").tap()
        expect(tablets).to_contain_text("Kein Tablet gekoppelt.")
    finally:
        page.context.close()
        room.stop()


CHART_HEIGHTS = """() => { const all = (r, a = []) => { for (const e of r.querySelectorAll('*')) {
    a.push(e); if (e.shadowRoot) all(e.shadowRoot, a); } return a; };
  return ['stats-weeks', 'stats-scores'].map(c => Math.round(all(document).find(
    e => e.classList && e.classList.contains(c)).getBoundingClientRect().height)); }"""


def test_stats_fit_a_tablet_and_charts_keep_their_height(room_config, browser, axe_source):
    room_db(room_config.data_dir / "room.db", 8, "Jobcenter")  # eight talks, four answers
    room = ThreadedRoom(room_config).start()
    page = tablet(browser, room, "landscape", "stats")
    try:
        overview = page.locator(".stats-overview table")
        expect(overview.locator("tr", has_text="alle").first).to_contain_text("8")
        expect(page.locator(".stats-scores canvas").first).to_be_visible()
        assert all(h >= 280 for h in page.evaluate(CHART_HEIGHTS))  # four answers: hidden
        fits(page, axe_source, "stats")
        page.get_by_label("Von (TT.MM.JJJJ)").fill("01.01.2099")  # nothing at all
        page.get_by_label("Von (TT.MM.JJJJ)").press("Enter")
        expect(overview.locator("tr", has_text="alle").first.locator("td").nth(2)
               ).to_have_text("0")
        assert all(h >= 280 for h in page.evaluate(CHART_HEIGHTS))
    finally:
        page.context.close()
        room.stop()


# -- without a browser ----------------------------------------------------------------------
def test_the_header_offers_each_phase_its_actions():
    s = RoomState(room_id="r1", room_name="Raum 1", synced=True)

    def ids(**kw) -> list[str]:
        return [a["id"] for a in describe(s, **kw)["actions"]]
    assert ids() == ["start", "camera", "mic"]
    s.phase = "welcome"
    assert ids() == ["start", "privacy", "camera", "mic", "reset"]
    s.phase = "consulting"
    assert ids() == ["privacy", "camera", "mic", "end", "reset"]
    assert ids(calls=Calls(desk=(2, "Jobcenter", "Arbeit"))) == [
        "privacy", "camera", "mic", "desk", "end", "reset"]
    assert "end" not in ids(ending=3.0)  # being ended: the undo bar stands in for it
    reset = describe(s)["actions"][-1]
    assert reset["confirm"].startswith("Gespräch abbrechen") and reset["yes"]
    s.phase = "survey"
    assert ids() == ["camera", "mic", "reset"]


@pytest.mark.parametrize(("english", "german"), [
    ("'text' must be 1 to 4000 characters long",
     "Die Notiz fehlt oder ist zu lang (höchstens 4000 Zeichen). Bitte zuerst eine Notiz "
     "schreiben."),
    ("'follow_up' must be 0 to 120 characters long",
     "Die Angabe „Folgetermin mit“ ist zu lang (höchstens 120 Zeichen)."),
    ("'note.add' is not allowed while the room is idle (allowed: consulting, wrap_up)",
     "Notizen, Schritte, Themen und Ergebnis gehen nur im Gespräch und im Abschluss."),
    ("there is no note 7 in this session",
     "Diese Notiz gibt es nicht mehr (vielleicht schon auf einem anderen Gerät geändert)."),
    ("Max Mustermann is not available now (busy)", "Max Mustermann ist gerade nicht "
                                                    "erreichbar."),
    ("something nobody foresaw", "Das hat nicht geklappt. Bitte noch einmal versuchen; wenn "
                                 "es wieder nicht klappt, die Haustechnik fragen."),
    ("Dieser Link ist abgelaufen.", "Dieser Link ist abgelaufen."),
])
def test_refusals_read_as_plain_german(english, german):
    assert refusal(english) == german


def test_dates_read_as_german():
    assert german_date("2026-12-18") == "18.12.2026"
    when = dt.datetime(2026, 12, 18, 14, 30).astimezone()
    assert german_until(when.isoformat()) == "bis 18.12.2026, 14:30 Uhr"
