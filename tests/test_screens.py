"""The client's two screens as a person meets them, in Chromium with touch at 1920×1080:
the second display with none to three partners, a remote client and a pause (every
part on the screen, none over another); the touch screen dropping a partner who left;
its own keyboard typing the appointment code and a mail address in German and Arabic;
dates and typed text in the client's language and direction.

Screenshots of every state go to ``.cache/screens/``."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import time
from itertools import combinations
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from conftest import ThreadedRoom, axe_findings, eventually
from playwright.sync_api import expect

from kiosk.exceptions import CommandError
from kiosk.i18n import languages, local_date, native_name, t
from kiosk.media.bot import PartnerBot, _http
from kiosk.room.commands import appointment_code, email_address
from kiosk.room.state import Partner, RoomState
from kiosk.views import keyboard
from kiosk.views.kiosk_screen import KioskChoices, describe
from kiosk.views.tiles import caption, tiles_for

SHOTS = Path(__file__).resolve().parent.parent / ".cache" / "screens"
SCREEN = {"width": 1920, "height": 1080}
NOTES = ("Sie möchten eine Ausbildung als Mechatronikerin beginnen.",
         "Die Arbeitserlaubnis gilt noch bis März.",
         "Die Agentur prüft, ob die Ausbildung gefördert werden kann.")
PARTNERS = (("Herr Kaya", "Jobcenter"), ("Frau Demir", "Ausländerbehörde"),
            ("Frau Ott", "Handwerkskammer"))


@pytest.fixture
def touch_page(browser):
    """A page on a 1920×1080 touch screen, in a context of its own."""
    contexts = []

    def open_page(url: str):
        ctx = browser.new_context(viewport=SCREEN, has_touch=True)
        contexts.append(ctx)
        page = ctx.new_page()
        page.goto(url)
        return page

    yield open_page
    for ctx in contexts:
        ctx.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def talk(room: ThreadedRoom, start: bool = True) -> None:
    if start:
        assert room.command("session.start").ok
    assert room.command("session.topics", topics=["Ausbildung",
                                                  "Aufenthalt und Arbeitserlaubnis"]).ok
    for text in NOTES:
        assert room.command("note.add", text=text, visible=True).ok
    assert room.command("step.add", what="Antrag auf Arbeitserlaubnis stellen", who="client",
                        due="2026-12-18").ok
    assert room.command("step.add", what="Ausbildungsbetriebe heraussuchen",
                        who="Agentur für Arbeit", due="2027-01-15").ok


# -- the second display -----------------------------------------------------------------------
def boxes(page, selector: str) -> list[tuple[float, float, float, float]]:
    out = []
    for item in page.locator(selector).all():
        box = item.bounding_box()
        assert box, f"{selector} is not drawn"
        out.append((box["x"], box["y"], box["width"], box["height"]))
    return out


def check_layout(page, people: int) -> None:
    """Tiles, self-view, notes and next steps: all on the screen, none over another, and
    the page cannot scroll; every note and step is whole."""
    parts = {"tile": boxes(page, "figure.tile"), "self": boxes(page, "figure.self-view"),
             "notes": boxes(page, "section.notes-block"),
             "steps": boxes(page, "section.steps-block")}
    assert [len(parts[k]) for k in parts] == [people, int(people > 0), 1, 1], parts
    named = [(f"{kind} {i}", box) for kind, found in parts.items()
             for i, box in enumerate(found)]
    for name, (x, y, w, h) in named:
        assert w > 100 and h > 100 and x >= 0 and y >= 0, (name, x, y, w, h)
        assert x + w <= SCREEN["width"] and y + h <= SCREEN["height"], (name, x, y, w, h)
    for (a, (ax, ay, aw, ah)), (b, (bx, by, bw, bh)) in combinations(named, 2):
        overlap = (min(ax + aw, bx + bw) - max(ax, bx), min(ay + ah, by + bh) - max(ay, by))
        assert min(overlap) <= 0, f"{a} overlaps {b}"
    assert page.evaluate("[document.documentElement.scrollWidth, "
                         "document.documentElement.scrollHeight]") == [1920, 1080]
    for kind in ("notes", "steps"):
        (_, top, _, height), = parts[kind]
        for _, y, _, h in boxes(page, f"section.{kind}-block li"):
            assert top <= y and y + h <= top + height + 1, f"a {kind} entry is cut off"


def playing(page, count: int) -> None:
    """Wait until ``count`` tiles (and the self-view) show pictures."""
    deadline = time.monotonic() + 20
    videos = page.locator("figure.tile video, figure.self-view video")
    while sum(v.evaluate("v => v.videoWidth > 0 && v.readyState >= 2")
              for v in videos.all()) < count + 1:
        assert time.monotonic() < deadline, "the tiles show no picture"
        time.sleep(0.2)


def join_partner(room: ThreadedRoom, name: str, agency: str) -> PartnerBot:
    reply = room.command("partner.invite", agency=agency, name=name, purpose="x")
    assert reply.ok, reply
    # The simulated camera shows the name (its test pattern's font has no umlauts).
    bot = PartnerBot(room.urls["kiosk"].rsplit("/", 1)[0] + reply.data["link"], agency=name)
    room.call(bot.join())
    partner = reply.data["id"]
    eventually(lambda: any(p.id == partner and p.state in ("lobby", "connected")
                           for p in room.state.partners), 15)
    assert room.command("partner.admit", partner=partner).ok
    assert room.command("consent.answer", as_="kiosk", partner=partner, yes=True,
                        version="de:test").ok
    return bot


def test_the_display_shows_everything_at_once_with_none_to_three_partners_and_a_pause(
        live_room, touch_page):
    talk(live_room)
    display = touch_page(live_room.urls["display"])
    expect(display.locator("section.steps-block")).to_contain_text("Sie · bis 18.12.2026")
    check_layout(display, 0)
    shot(display, "display-0")
    bots = []
    try:
        for n, (name, agency) in enumerate(PARTNERS, 1):
            bots.append(join_partner(live_room, name, agency))
            expect(display.locator("figure.tile")).to_have_count(n)
            playing(display, n)
            check_layout(display, n)
            shot(display, f"display-{n}")
        expect(display.locator("figure.tile figcaption")).to_have_text(
            [f"{name} · {agency}" for name, agency in PARTNERS])

        assert live_room.command("privacy.set", on=True).ok
        expect(display.locator("figure.tile")).to_have_count(0)
        expect(display.locator("figure.self-view")).to_have_count(0)
        expect(display.get_by_role("status")).to_have_text(t("de", "privacy.notice"))
        # The notes are no video: they stay, whole, during the pause.
        expect(display.locator("section.notes-block li")).to_have_text(list(NOTES))
        check_layout(display, 0)
        shot(display, "display-pause")

        # In Arabic the stage is mirrored; the German notes keep their own direction.
        assert live_room.command("language.set", as_="kiosk", language="ar").ok
        assert live_room.command("privacy.set", on=False).ok
        expect(display.locator("h1")).to_have_text(t("ar", "talk.title"))
        expect(display.locator("figure.tile")).to_have_count(3)
        playing(display, 3)
        check_layout(display, 3)
        assert display.locator("section.notes-block .typed").first.evaluate(
            "e => getComputedStyle(e).direction") == "ltr"
        expect(display.locator("section.steps-block")).to_contain_text(
            f"{t('ar', 'talk.due')} {local_date('ar', '2026-12-18')}")
        shot(display, "display-3-ar")
    finally:
        for bot in bots:
            live_room.call(bot.leave())


class ClientBot(PartnerBot):
    """The client of a remote appointment, from home: connects as the visit page does."""

    def __post_init__(self) -> None:
        parts = urlsplit(self.link)
        self.base, self.token = f"{parts.scheme}://{parts.netloc}", parts.path.rsplit("/", 1)[1]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.resource, self._tasks = None, []

    async def join(self) -> None:
        from kiosk.media.source import PatternTrack

        self.pc.addTrack(PatternTrack("Klientin"))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        status, headers, body = await asyncio.to_thread(
            _http, "POST", f"{self.base}/api/visit/whip", self.pc.localDescription.sdp.encode(),
            {"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"})
        assert status == 201, body
        self.resource = headers["Location"]
        await self.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))


def test_the_display_shows_a_remote_client_by_their_caption_alone(live_room, touch_page):
    start = (dt.datetime.now().astimezone() + dt.timedelta(minutes=5)).isoformat(
        timespec="seconds")
    reply = live_room.command("appointment.create", at=start, minutes=30,
                              email="klientin@example.org", label="Frau K.")
    token = reply.data["visit_token"]
    conn = http.client.HTTPConnection("localhost", live_room.room.port, timeout=10)
    conn.request("GET", "/api/visit/status", headers={"Authorization": f"Bearer {token}"})
    assert conn.getresponse().status == 200
    conn.close()
    assert live_room.command("visit.admit", id=reply.data["id"]).ok
    bot = ClientBot(f"{live_room.urls['kiosk'].rsplit('/', 1)[0]}/visit/{token}")
    live_room.call(bot.join())
    try:
        talk(live_room, start=False)
        display = touch_page(live_room.urls["display"])
        caption_ = display.locator("figure.tile figcaption")
        expect(caption_).to_have_text("Klient:in (per Video)")  # no separator after it
        assert display.locator("figure.tile.tile-client").count() == 1
        playing(display, 1)
        check_layout(display, 1)
        shot(display, "display-client")
    finally:
        live_room.call(bot.pc.close())


# -- the touch screen ----------------------------------------------------------------------
def test_the_kiosk_drops_a_partner_who_left_within_two_seconds(live_room, touch_page):
    assert live_room.command("session.start").ok
    ids = {}
    for name, agency in PARTNERS:
        ids[name] = live_room.command("consent.request", name=name, agency=agency,
                                      purpose="Arbeitserlaubnis klären").data["id"]
        if name != "Frau Ott":
            assert live_room.command("consent.answer", as_="kiosk", partner=ids[name],
                                     yes=True, version="de:test").ok
    page = touch_page(live_room.urls["kiosk"])
    expect(page.locator("h1")).to_have_text(t("de", "consent.title"))  # Frau Ott asks
    people = page.locator("ul.people")

    def gone_within_two_seconds(command: str, name: str, **args) -> None:
        sent = time.monotonic()
        assert live_room.command(command, partner=ids[name], **args).ok
        expect(people).not_to_contain_text(name, timeout=2000)
        assert time.monotonic() - sent < 2.0

    # She leaves before the client answered: the question goes with her.
    assert live_room.command("partner.state", as_="media", partner=ids["Frau Ott"],
                             state="gone").ok
    expect(page.locator("h1")).to_have_text(t("de", "talk.title"), timeout=2000)
    expect(people).to_contain_text("Herr Kaya")
    expect(people).to_contain_text("Frau Demir")
    gone_within_two_seconds("partner.state", "Herr Kaya", as_="media", state="gone")
    gone_within_two_seconds("partner.remove", "Frau Demir")
    expect(page.locator("ul.people li")).to_have_count(1)  # the counsellor
    expect(page.get_by_role("button", name=t("de", "talk.withdraw"))).to_have_count(0)


@pytest.fixture
def mail_room(room_config, smtp):
    server, _ = smtp
    room = ThreadedRoom(room_config.with_(mail_host="127.0.0.1", mail_port=server.port,
                                          mail_starttls=False)).start()
    yield room
    room.stop()


def type_on(board, lang: str, text: str) -> None:
    """Tap the keys that write ``text`` (shift before a capital letter)."""
    names = keyboard.names(lang)
    for char in text:
        if char.isupper() and board.get_by_role("button", name=char, exact=True).count() == 0:
            board.get_by_role("button", name=names["{shift}"], exact=True).tap()
        board.get_by_role("button", name=names.get(char, char), exact=True).tap()


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_the_touch_screens_keyboard_types_the_code_and_the_mail_address(
        mail_room, smtp, touch_page, axe_source, lang):
    _, inbox = smtp
    names = keyboard.names(lang)
    page = touch_page(mail_room.urls["kiosk"])
    page.locator(".languages").get_by_role("button", name=native_name(lang), exact=True).tap()
    page.get_by_role("button", name=t(lang, "welcome.start")).tap()
    board = page.get_by_role("group", name=t(lang, "keyboard.label"))
    expect(board).to_be_visible()  # up at once on a screen without a keyboard
    field = page.get_by_label(t(lang, "checkin.code"))
    expect(field).to_be_focused()
    type_on(board, lang, "K-48")
    board.get_by_role("button", name=names["{bksp}"]).tap()
    # What a tap did is said (politely) in the screen's language, for screen readers.
    expect(page.locator(".osk-echo")).to_have_text(names["{bksp}"])
    type_on(board, lang, "2")
    expect(field).to_have_value("K-42")
    expect(field).to_be_focused()  # the keys never took the focus from the field
    keys = boxes(page, ".osk button")
    assert len(keys) == 10 + 1 + 26 + 1 and min(min(w, h) for *_, w, h in keys) >= 48
    shot(page, f"kiosk-keyboard-code-{lang}")

    toggle = page.get_by_role("button", name=t(lang, "keyboard.hide"), exact=True)
    expect(toggle).to_have_attribute("aria-expanded", "true")
    toggle.tap()
    expect(board).to_have_count(0)
    expect(page.get_by_role("button", name=t(lang, "keyboard.show"))).to_have_attribute(
        "aria-expanded", "false")
    field.tap()  # a tap on the field brings it back
    expect(board).to_be_visible()
    page.get_by_role("button", name=t(lang, "checkin.send")).tap()
    expect(page.locator("h1")).to_have_text(t(lang, "waiting.title"))
    assert mail_room.state.arrival == {"code": "K-42"}

    assert mail_room.command("session.start").ok
    talk(mail_room, start=False)
    assert mail_room.command("session.end").ok
    expect(page.locator("h1")).to_have_text(t(lang, "summary.title"))
    expect(page.locator("ul.steps")).to_contain_text(
        f"{t(lang, 'talk.due')} {local_date(lang, '2026-12-18')}")
    expect(board).to_have_count(0)  # the mail is optional: no keyboard until asked for
    mail = page.get_by_label(t(lang, "summary.mail_label"))
    mail.tap()
    expect(board).to_be_visible()
    address = "Anna.Meyer-1@beispiel.de"
    type_on(board, lang, address)
    expect(mail).to_have_value(address)
    assert axe_findings(page, axe_source) == [], f"{lang} summary with the keyboard open"
    shot(page, f"kiosk-keyboard-mail-{lang}")
    if lang == "ar":  # typed text keeps its own direction on the Arabic screen
        direction = "e => getComputedStyle(e).direction"
        assert page.locator("main").evaluate(direction) == "rtl"
        assert page.locator("ul.notes .typed").first.evaluate(direction) == "ltr"
        assert page.locator("ul.steps bdi").first.evaluate(direction) == "ltr"
    page.get_by_role("button", name=t(lang, "summary.mail_send")).tap()
    expect(page.locator(".mail-status")).to_have_text(t(lang, "summary.mail_sent"))
    assert [m.to for m in inbox.received] == [[address]]


# -- what the screens are told, without a browser ---------------------------------------------
@pytest.mark.parametrize("lang, written", [
    ("de", "18.12.2026"), ("de-simple", "18. Dezember 2026"), ("en", "18 December 2026"),
    ("tr", "18.12.2026"), ("ru", "18.12.2026"), ("uk", "18.12.2026"),
    ("ar", "18\u200f/12\u200f/2026")])
def test_dates_as_each_language_writes_them(lang, written):
    assert local_date(lang, "2026-12-18") == written
    assert local_date(lang, "") == "" and local_date(lang, "bald") == "bald"
    assert len(t(lang, "date.months").split(",")) == 12


def test_the_code_and_mail_keyboards_type_exactly_what_the_room_accepts():
    for lang in languages():
        code = {k for row in keyboard.layout("code", lang) for k in row} - set(keyboard.SPECIAL)
        assert code == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"), lang
        for chunk in ("".join(sorted(code))[:20], "".join(sorted(code))[20:]):
            assert appointment_code("code", chunk) == chunk  # every key is valid in a code
        mail = {k for row in keyboard.layout("email", lang) for k in row} - set(keyboard.SPECIAL)
        assert mail == set("abcdefghijklmnopqrstuvwxyz0123456789@.-_"), lang
        assert keyboard.SHIFT in {k for row in keyboard.layout("email", lang) for k in row}
        with pytest.raises(CommandError):
            appointment_code("code", "K 42")  # no space key: nothing the room refuses
        assert email_address("email", "a.b-c_d@e.de")
    assert keyboard.layout("code", "de")[1][5] == "Z" and keyboard.layout("code", "en")[1][5] == "Y"


@pytest.mark.parametrize("lang, letters", [
    ("de", "äöüß"), ("de-simple", "äöüß"), ("tr", "çğıöşüi"), ("ru", "ёъыэ"), ("uk", "ґєії"),
    ("ar", "ءآأؤإئابةتثجحخدذرزسشصضطظعغفقكلمنهوىي"), ("en", "qwz")])
def test_each_language_has_a_text_keyboard_in_its_own_letters(lang, letters):
    rows = keyboard.layout("text", lang)
    keys = {k for row in rows for k in row}
    assert set(letters) <= keys, set(letters) - keys
    assert keyboard.SPACE in keys and keyboard.BACKSPACE in keys
    assert all(len(row) <= 13 for row in rows)  # ≥ 48 px keys on a 60rem keyboard
    desc = keyboard.describe("text", lang)
    if lang in ("ru", "uk", "ar"):  # and a key to Latin letters for a mail address or name
        assert keyboard.SCRIPT in keys and set("qwz") <= {k for r in desc["latin"] for k in r}
    spoken = keyboard.names(lang)
    assert all(spoken.values()) and (lang.startswith("de") or spoken != keyboard.names("de"))


def partner(pid: int, **kw) -> Partner:
    return Partner(**{"id": pid, "name": f"P{pid}", "agency": "Jobcenter", **kw})


def test_who_is_here_and_what_the_tiles_say():
    state = RoomState(phase="consulting", partners=[
        partner(1, consent="granted", admitted=True, state="connected"),
        partner(2, consent="granted", admitted=True, state="gone"),
        partner(3, consent="pending", state="gone"),
        partner(4, consent="declined"),
        Partner(id=5, name="Klient:in (per Video)", agency="", kind="client",
                consent="granted", admitted=True, state="connected")])
    screen = describe(state, KioskChoices(), agency="A", idle=(60, 10))
    assert screen["kind"] == "session"  # nobody who left is asked for
    people = next(b for b in screen["blocks"] if b["type"] == "people")["people"]
    assert [p["name"] for p in people[1:]] == ["P1", "Klient:in (per Video)"]
    assert people[-1]["withdraw"] is None  # the client withdraws from nobody
    assert [(x["kind"], x["caption"]) for x in tiles_for(state)] == [
        ("partner", "P1 · Jobcenter"), ("client", "Klient:in (per Video)")]
    assert caption(partner(6, name="")) == "Jobcenter"
    state.privacy = True
    assert tiles_for(state) == []
