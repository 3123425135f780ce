"""The remote client's page in the client's language: the seven kiosk languages with a
switch (the booked one first), right to left for Arabic, every text from the locale
files (the consent question too, with what people typed isolated and never as HTML),
dates as the language writes them, and the agency's number in the no-video hint.

Chromium with a fake camera, as in test_visit.py; screenshots of every state go to
``.cache/screens/visit-*.png``."""

from __future__ import annotations

import datetime as dt
import http.client
import re
from pathlib import Path

import pytest
from conftest import ThreadedRoom, axe_findings, eventually
from playwright.sync_api import expect
from test_visit import appointment, decoded, until

from kiosk import i18n
from kiosk.media.visit_api import consent_version
from kiosk.resources import ASSETS
from kiosk.visits import page as visit_page

SCREENS = Path(__file__).resolve().parent.parent / ".cache" / "screens"
LANGUAGES = ("de", "de-simple", "en", "tr", "ru", "uk", "ar")
#: Words that only German (of the seven) uses: one of them on another language's page is a
#: text that was not translated.
GERMAN = {"sie", "ihr", "ihre", "ihrem", "ihren", "ihrer", "und", "oder", "nicht", "bitte",
          "gespräch", "videotermin", "warteraum", "beratung", "vielen", "dank", "hilfe",
          "prüfen", "weiter", "nächste", "schritte", "noch", "einmal", "ist", "der", "das",
          "mit", "uhr", "um", "stumm", "aus", "bild", "fenster", "jetzt", "antworten",
          "senden", "überspringen", "verlassen", "beendet", "pausiert", "zustimmung", "wir"}
KEY = re.compile(r"\b(?:visit|call|consent|survey|talk|thanks|date)\.[a-z_]+\b")

#: What a person reads on the page now: rendered text and accessible names, without what
#: people typed (in <bdi>), the language switch (each name in its own language) and the
#: browser's device names.
SHOWN = """() => {
  const out = [document.title.split(" – ")[0]];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || el.closest("bdi, nav, select, script")) continue;
    if (el.checkVisibility()) out.push(n.textContent.trim());
  }
  for (const el of document.querySelectorAll("[aria-label]"))
    if (!el.closest("nav") && (el.checkVisibility() || el.tagName === "VIDEO"))
      out.push(el.getAttribute("aria-label"));
  return out;
}"""


def book(room: ThreadedRoom, language: str, label: str = "Frau K.") -> tuple[int, str]:
    start = (dt.datetime.now().astimezone() + dt.timedelta(minutes=5)).isoformat(
        timespec="seconds")
    reply = room.command("appointment.create", at=start, minutes=30, language=language,
                         email="klientin@example.org", label=label)
    assert reply.ok, reply.error
    return reply.data["id"], reply.data["visit_token"]


def base(room: ThreadedRoom) -> str:
    return room.urls["kiosk"].rsplit("/", 1)[0]


def german_left(page) -> list[str]:
    """Texts on the page that are German (or a locale key that has no text)."""
    found = []
    for line in page.evaluate(SHOWN):
        words = {w.lower() for w in re.findall(r"[^\W\d_]+", line)}
        if words & GERMAN or KEY.search(line):
            found.append(line)
    return found


def shot(page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"visit-{name}.png"), full_page=True)


def fits(page, width: int) -> None:
    """Nothing scrolls sideways; no visible button or link is smaller than 48 px."""
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    for target in page.locator("button:visible, nav a:visible").all():
        box = target.bounding_box()
        assert box["height"] >= 48 and box["width"] >= 48, (target.inner_text(), box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (target.inner_text(), box)


# -- the texts, without a browser -------------------------------------------------------
def own(lang: str, key: str) -> str | None:
    """``key``'s text in ``lang``'s own catalog."""
    return i18n.catalog(lang).get(key)


def page_keys() -> set[str]:
    """Every locale key of the page: its placeholders, what page.py writes itself and what
    its scripts ask for."""
    keys = set(re.findall(r"\{([a-z_-]+\.[a-z_]+)\}", (ASSETS / "visit.html").read_text()))
    keys -= {f"scale.{name}" for name in visit_page.SCALES}
    made = {"visit.service", "visit.when", "visit.no_video", "visit.no_video_phone",
            "toolbar.language"}
    return keys | made | set(visit_page.SCRIPT_TEXTS)


def test_every_language_has_every_text_with_the_same_placeholders():
    assert set(i18n.languages()) == set(LANGUAGES)
    scripts = "".join((ASSETS / f).read_text() for f in ("visit.js", "call.js"))
    asked = set(re.findall(r"""\bt\("([a-z]+\.[a-z_]+)"\s*[,)]""", scripts))
    assert asked <= set(visit_page.SCRIPT_TEXTS), asked - set(visit_page.SCRIPT_TEXTS)
    for key in sorted(page_keys()):
        german = own("de", key)
        assert german, key
        for lang in LANGUAGES:
            value = own(lang, key)
            assert value and value.strip(), (lang, key)
            fields = set(re.findall(r"\{(\w+)\}", value))
            if key == "date.format":  # each language orders a date its own way
                assert fields <= {"d", "dd", "m", "mm", "yyyy", "month"}, lang
            else:
                assert fields == set(re.findall(r"\{(\w+)\}", german)), (lang, key)
            assert visit_page.text(lang, key) == value


def test_call_js_keeps_its_german_for_the_partners_page():
    """/join passes no texts: call.js's German fallbacks are what the German page says."""
    source = (ASSETS / "call.js").read_text(encoding="utf-8")
    pairs = re.findall(r"""\bt\("(call\.[a-z_]+)",\s*"([^"]+)"\)""", source)
    assert len(pairs) >= 15
    for key, fallback in pairs:
        assert visit_page.text("de", key) == fallback, key


def test_dates_and_the_hint_in_each_language():
    start = dt.datetime(2026, 12, 18, 14, 30)
    when = {lang: visit_page.when(lang, start) for lang in LANGUAGES}
    assert when["de"] == "18.12.2026 um 14:30 Uhr"
    assert when["de-simple"] == "Am 18. Dezember 2026 um 14:30 Uhr"
    assert when["en"] == "18 December 2026 at 14:30"
    assert when["tr"] == "18.12.2026, saat 14:30"
    assert "2026" in when["ar"] and "14:30" in when["ar"]
    for lang in LANGUAGES:
        plain = visit_page.no_video(lang, "")
        assert "tel:" not in plain and "{phone}" not in plain
        called = visit_page.no_video(lang, "0800 123 <4>")
        assert '<a href="tel:08001234" dir="ltr">0800 123 &lt;4&gt;</a>' in called, lang
    assert "anrufen" not in visit_page.no_video("de", "") and "rufen" not in \
        visit_page.no_video("de", "")


# -- each language's first screens in Chromium ------------------------------------------
@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_page_in_each_language(live_room, new_page, axe_source, lang):
    _, token = book(live_room, lang)
    client = new_page(f"{base(live_room)}/visit/{token}", signed_in=False,
                      bypass_csp=True)  # for axe
    html = client.locator("html")
    expect(html).to_have_attribute("lang", i18n.tag(lang))
    expect(html).to_have_attribute("dir", "rtl" if lang == "ar" else "ltr")
    expect(client.locator("h1")).to_have_text(visit_page.text(lang, "visit.title"))
    expect(client.locator("#self")).to_have_js_property("readyState", 4)
    expect(client.locator("#join")).to_be_enabled()

    # The switch: the booked language first and current, each name in its own language.
    links = client.get_by_role("navigation").get_by_role("link")
    expect(links).to_have_count(7)
    expect(links.first).to_have_attribute("aria-current", "true")
    expect(links.first).to_have_attribute("hreflang", i18n.tag(lang))
    expect(client.locator("nav a[aria-current]")).to_have_count(1)
    for code in LANGUAGES:
        link = client.locator(f"nav a[lang='{i18n.tag(code)}']")
        expect(link).to_have_text(i18n.native_name(code))
        expect(link).to_have_attribute("dir", i18n.direction(code))

    client.locator("#permission-help summary").click()  # the help, open
    if not lang.startswith("de"):
        assert german_left(client) == []
    assert axe_findings(client, axe_source) == []
    fits(client, 1280)
    shot(client, lang)
    client.set_viewport_size({"width": 390, "height": 844})
    fits(client, 390)
    shot(client, f"{lang}-phone")

    client.get_by_role("button", name=visit_page.text(lang, "visit.join")).click()
    expect(client.get_by_role("heading", name=visit_page.text(lang, "visit.lobby_title"))
           ).to_be_visible()
    expect(client.get_by_role("navigation")).to_be_hidden()  # a reload would leave the room
    if not lang.startswith("de"):
        assert german_left(client) == []


def test_the_switch_changes_the_language_and_the_link_still_works(live_room, new_page):
    appointment_id, token = book(live_room, "tr")
    url = f"{base(live_room)}/visit/{token}"
    client = new_page(signed_in=False)  # with the page's own CSP: nothing may break it
    errors: list[str] = []
    client.on("console", lambda m: m.type == "error" and errors.append(m.text))
    client.on("pageerror", lambda e: errors.append(str(e)))
    client.goto(url)
    names = client.locator("nav a").all_inner_texts()
    assert names == ["Türkçe", "Deutsch", "Leichte Sprache", "العربية", "English", "Русский",
                     "Українська"]
    client.get_by_role("link", name="العربية").click()
    expect(client.locator("html")).to_have_attribute("dir", "rtl")
    assert client.url == f"{url}?lang=ar"
    expect(client.locator("h1")).to_have_text("موعدكم بالفيديو")
    expect(client.locator("nav a[aria-current]")).to_have_text("العربية")
    assert client.locator("nav a").first.inner_text() == "Türkçe"  # still the booked one first
    client.get_by_role("link", name="Deutsch", exact=True).click()
    expect(client.locator("html")).to_have_attribute("lang", "de")
    expect(client.locator("h1")).to_have_text("Ihr Videotermin")
    # A language the page does not know shows the booked one.
    for wrong in ("xx", "../de", "EN", "de_simple", ""):
        client.goto(f"{url}?lang={wrong}")
        expect(client.locator("html")).to_have_attribute("lang", "tr")
    client.goto(f"{url}?lang=en")
    client.get_by_role("button", name="Continue to the waiting room").click()
    expect(client.get_by_role("status")).to_have_text("You are in the waiting room.")
    eventually(lambda: appointment(live_room, appointment_id).status == "waiting", 15)
    assert errors == []


def fetch(room: ThreadedRoom, path: str) -> str:
    conn = http.client.HTTPConnection("localhost", room.room.port, timeout=10)
    conn.request("GET", path)
    body = conn.getresponse().read().decode()
    conn.close()
    return body


def test_the_agencys_number_in_the_no_video_hint(room_config):
    room = ThreadedRoom(room_config.with_(phone="0800 123")).start()
    try:
        _, token = book(room, "ar")
        body = fetch(room, f"/visit/{token}")
        hint = re.search(r'<p class="hint" id="no-video">(.*?)</p>', body).group(1)
        assert hint.endswith('<a href="tel:0800123" dir="ltr">0800 123</a>')
        assert "اتصلوا بنا" in hint
        assert "0800 123" in fetch(room, f"/visit/{token}?lang=de")
    finally:
        room.stop()


def test_without_a_number_the_hint_promises_no_call(live_room):
    assert not live_room.config.phone
    _, token = book(live_room, "de")
    for lang in LANGUAGES:
        body = fetch(live_room, f"/visit/{token}?lang={lang}")
        hint = re.search(r'<p class="hint" id="no-video">(.*?)</p>', body).group(1)
        assert "tel:" not in hint and hint == visit_page.no_video(lang, "")
    assert "rufen Sie uns an" not in fetch(live_room, f"/visit/{token}")


# -- a whole talk in the client's language ----------------------------------------------
ASKS = {  # the consent question as the client reads it
    "tr": "Frau Ott, Meisterin (Handwerkskammer) görüşmeye görüntülü olarak katılmak istiyor.",
    "ar": "طلب الانضمام عبر الفيديو من: Frau Ott, Meisterin (Handwerkskammer)",
}


@pytest.mark.parametrize("lang", ["tr", "ar"])
def test_a_talk_in_the_clients_language(live_room, new_page, axe_source, lang):
    text = lambda key: visit_page.text(lang, key)  # noqa: E731
    appointment_id, token = book(live_room, lang)
    client = new_page(f"{base(live_room)}/visit/{token}", signed_in=False,
                      viewport={"width": 1366, "height": 768}, bypass_csp=True)  # for axe
    client.get_by_role("button", name=text("visit.join")).click()
    expect(client.get_by_role("status")).to_have_text(text("visit.lobby_state"))
    shot(client, f"{lang}-lobby")
    eventually(lambda: appointment(live_room, appointment_id).status == "waiting", 15)
    assert live_room.command("visit.admit", id=appointment_id).ok
    expect(client.get_by_role("status")).to_have_text(text("visit.in_call"))
    until(lambda: decoded(client, "#room") >= 10, "the room's picture does not reach the client")

    # What the counsellor shares: as typed (German), in the page's sentences.
    assert live_room.command("note.add", text="Zeugnisse hochladen", visible=True).ok
    assert live_room.command("step.add", what="Bewerbung schreiben", due="2026-12-01").ok
    expect(client.locator("#notes")).to_have_text("Zeugnisse hochladen")
    due = i18n.local_date(lang, dt.date(2026, 12, 1))
    assert due == {"tr": "01.12.2026", "ar": "01\u200f/12\u200f/2026"}[lang]
    expect(client.locator("#steps")).to_have_text(
        f"Bewerbung schreiben – {text('talk.due')} {due}")
    client.get_by_role("button", name=text("visit.mute")).click()
    expect(client.locator("#devices-state")).to_have_text(text("call.mic_off"))

    # A partner asks to join: the question in the client's language, names only as text.
    reply = live_room.command("partner.invite", agency="Handwerkskammer", name="Frau Ott",
                              role="Meisterin", purpose="<img src=x> die Anerkennung klären",
                              agency_type="Kammer (IHK/HWK)")
    partner = new_page(base(live_room) + reply.data["link"], signed_in=False)
    partner.get_by_role("button", name="Beitreten").click()
    expect(partner.get_by_role("heading", name="Sie werden gleich zugelassen")).to_be_visible()
    assert live_room.command("partner.admit", partner=reply.data["id"]).ok
    consent = client.locator("#consent")
    expect(consent).to_be_visible()
    expect(consent.get_by_role("heading")).to_have_text(text("consent.title"))
    paragraphs = consent.locator("#consent-text p")
    expect(paragraphs.first).to_have_text(ASKS[lang])
    expect(paragraphs.nth(1)).to_have_text(
        f"{text('consent.why')}: <img src=x> die Anerkennung klären")
    assert consent.locator("img").count() == 0  # typed text is never HTML
    assert consent.locator("bdi").all_inner_texts() == [
        "Frau Ott, Meisterin", "Handwerkskammer", "<img src=x> die Anerkennung klären",
        "Handwerkskammer"]
    expect(consent).to_contain_text(text("consent.recorded"))
    expect(consent).to_contain_text(text("visit.consent_no"))
    assert german_left(client) == []
    assert axe_findings(client, axe_source) == []
    fits(client, 1366)
    shot(client, f"{lang}-consent")
    client.get_by_role("button", name=text("consent.yes")).click()
    expect(partner.get_by_role("status")).to_have_text("Sie sind im Gespräch.")
    # The consent log names the question the client read, in the language they read it.
    (version,), = live_room.sql("SELECT text_version FROM consent_log WHERE answer = 'granted'")
    assert version == consent_version(lang) and version.startswith(f"{lang}:visit:")
    assert consent_version(lang) != consent_version("de")
    expect(client.locator("#others figcaption")).to_have_text("Frau Ott, Handwerkskammer")
    expect(client.locator("#others video")).to_have_attribute(
        "aria-label", text("call.picture_of").replace("{who}", "Frau Ott"))

    assert live_room.command("privacy.set", on=True).ok
    expect(client.locator("#paused")).to_contain_text(text("visit.paused"))
    expect(client.locator("#paused")).to_contain_text(text("visit.paused_back"))
    expect(client.get_by_role("status")).to_have_text(text("visit.paused"))
    assert live_room.command("privacy.set", on=False).ok
    expect(client.get_by_role("status")).to_have_text(text("visit.in_call"))
    assert german_left(client) == []
    shot(client, f"{lang}-talk")

    # The end: the survey and the thanks, all in the client's language.
    assert live_room.command("session.end").ok
    expect(client.get_by_role("heading", name=text("visit.ended_title"))).to_be_visible()
    expect(client.locator("#survey")).to_be_visible()
    client.get_by_role("button", name=text("survey.send")).click()
    expect(client.locator("#survey-error")).to_have_text(text("survey.incomplete"))
    assert german_left(client) == []
    assert axe_findings(client, axe_source) == []
    shot(client, f"{lang}-survey")
    for name, value in (("satisfaction", "4"), ("ease", "5"), ("recommend", "8")):
        client.locator(f"input[name={name}][value='{value}']").check(force=True)
    client.get_by_role("button", name=text("survey.send")).click()
    expect(client.get_by_role("heading", name=text("thanks.title"))).to_be_visible()
    expect(client.locator("#thanks")).to_contain_text(text("visit.thanks_lead"))
    assert german_left(client) == []
    shot(client, f"{lang}-thanks")
    assert live_room.sql("SELECT satisfaction, ease, recommend FROM survey_answers") == [
        (4, 5, 8)]
