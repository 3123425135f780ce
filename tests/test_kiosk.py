"""The client's touch screen in Chromium: every screen in every language, consent,
idle reset, and axe-core over all of it."""

from __future__ import annotations

import gc
import json

import pytest
from conftest import ThreadedRoom, axe_findings
from panel.io import document
from panel.io.state import set_curdoc
from playwright.sync_api import expect

from kiosk.i18n import LOCALES, catalog, direction, languages, local_date, native_name, t, tag
from kiosk.views.kiosk import KioskView

LANGS = languages()
PARTNER = {"name": "Frau Demir", "agency": "Ausländerbehörde", "role": "Sachbearbeitung",
           "purpose": "Arbeitserlaubnis klären"}


def test_seven_languages_each_with_every_string():
    assert set(LANGS) == {"de", "de-simple", "en", "ar", "tr", "uk", "ru"}
    keys = list(catalog("de"))
    for lang in LANGS:
        data = json.loads((LOCALES / f"{lang}.json").read_text(encoding="utf-8"))
        assert list(data) == keys, lang
        assert all(isinstance(v, str) and v.strip() for v in data.values()), lang
        assert "{seconds}" in data["idle.lead"]
    assert [direction(x) for x in LANGS].count("rtl") == 1 and direction("ar") == "rtl"


def title(page, text: str) -> None:
    expect(page.locator("h1")).to_have_text(text)


SMALL_TARGETS = """() => {
    const out = [];
    const walk = (root) => {
        for (const el of root.querySelectorAll('*')) {
            if (el.shadowRoot) walk(el.shadowRoot);
            if (el.matches('button, input, [role=radio]')) {
                const r = el.getBoundingClientRect();
                if (r.width && (r.width < 48 || r.height < 48))
                    out.push(`${el.textContent.trim()} ${r.width}x${r.height}`);
            }
        }
    };
    walk(document);
    return out;
}"""


def check(page, axe_source: str, lang: str, where: str) -> None:
    assert page.evaluate("document.documentElement.lang") == tag(lang)
    assert page.evaluate("document.documentElement.dir") == direction(lang)
    assert axe_findings(page, axe_source) == [], f"{lang} {where}"
    assert page.evaluate(SMALL_TARGETS) == [], f"touch targets under 48×48 px: {lang} {where}"


@pytest.mark.parametrize("lang", LANGS)
def test_every_screen_in_every_language(live_room, new_page, axe_source, lang):
    page = new_page(live_room.urls["kiosk"])
    title(page, "Willkommen")
    choice = page.locator(".languages").get_by_role("button", name=native_name(lang), exact=True)
    choice.click()
    expect(choice).to_have_attribute("aria-pressed", "true")
    title(page, t(lang, "welcome.title"))
    check(page, axe_source, lang, "welcome")
    if lang == "ar":
        assert page.locator("main").evaluate("e => getComputedStyle(e).direction") == "rtl"

    page.get_by_role("button", name=f"{t(lang, 'toolbar.language')}: {native_name(lang)}").click()
    title(page, t(lang, "toolbar.language"))
    check(page, axe_source, lang, "languages")
    page.get_by_role("button", name=t(lang, "checkin.back"), exact=True).click()

    page.get_by_role("button", name=t(lang, "welcome.start")).click()
    title(page, t(lang, "checkin.title"))
    page.get_by_label(t(lang, "checkin.code")).fill("A 17!")
    page.get_by_role("button", name=t(lang, "checkin.send")).click()
    expect(page.get_by_role("alert")).to_have_text(t(lang, "checkin.invalid"))
    check(page, axe_source, lang, "checkin")
    page.get_by_label(t(lang, "checkin.code")).fill("a-17")
    page.get_by_role("button", name=t(lang, "checkin.send")).click()
    title(page, t(lang, "waiting.title"))
    assert live_room.state.arrival == {"code": "A-17"}
    check(page, axe_source, lang, "waiting")

    live_room.command("session.start")
    live_room.command("note.add", text="Lebenslauf bis Freitag schicken", visible=True)
    live_room.command("note.add", text="Intern: Akte prüfen", visible=False)
    live_room.command("step.add", what="Termin bei der IHK", who="client", due="2026-12-04")
    title(page, t(lang, "talk.title"))
    expect(page.locator("ul.notes li")).to_have_text("Lebenslauf bis Freitag schicken")
    expect(page.locator("ul.steps li")).to_contain_text(  # the date as the language writes it
        f"{t(lang, 'talk.due')} {local_date(lang, '2026-12-04')}")
    assert "Akte" not in page.content()
    check(page, axe_source, lang, "session")

    assert live_room.command("consent.request", **PARTNER).ok
    title(page, t(lang, "consent.title"))
    expect(page.locator(".consent")).to_contain_text("Arbeitserlaubnis klären")
    for key in ("consent.recorded", "consent.no_disadvantage", "consent.withdraw_hint"):
        expect(page.locator(".consent")).to_contain_text(t(lang, key))
    check(page, axe_source, lang, "consent")
    page.get_by_role("button", name=t(lang, "consent.yes")).click()
    title(page, t(lang, "talk.title"))
    expect(page.locator("ul.people")).to_contain_text(t(lang, "talk.partner_joined"))

    live_room.command("session.end")
    title(page, t(lang, "summary.title"))
    check(page, axe_source, lang, "summary")
    page.get_by_role("button", name=t(lang, "summary.next")).click()
    title(page, t(lang, "survey.title"))
    check(page, axe_source, lang, "survey")
    for q, answer in (("satisfaction", "4"), ("ease", "5"), ("recommend", "10")):
        page.locator(f".answer-{q}").get_by_role("radio", name=answer, exact=True).click()
        expect(page.locator(f".answer-{q} [aria-checked=true]")).to_have_text(answer)
    page.get_by_role("button", name=t(lang, "survey.send")).click()
    title(page, t(lang, "thanks.title"))
    check(page, axe_source, lang, "thanks")
    page.get_by_role("button", name=t(lang, "thanks.back")).click()
    title(page, "Willkommen")  # everything personal is gone: German again


def test_switching_language_keeps_what_is_on_the_screen(live_room, new_page, axe_source):
    page = new_page(live_room.urls["kiosk"])
    title(page, "Willkommen")
    assert live_room.command("session.start").ok and live_room.command("session.end").ok
    page.get_by_role("button", name="Weiter zur kurzen Umfrage").click()
    page.locator(".answer-ease").get_by_role("radio", name="2", exact=True).click()
    page.get_by_role("button", name="Sprache: Deutsch").click()
    page.get_by_role("button", name="Türkçe").click()
    title(page, t("tr", "survey.title"))
    expect(page.locator(".answer-ease [aria-checked=true]")).to_have_text("2")
    page.get_by_role("button", name=f"{t('tr', 'toolbar.text_size')}: A 100 %").click()
    page.get_by_role("button", name=t("tr", "toolbar.contrast")).click()
    expect(page.locator(".page.high-contrast")).to_have_count(1)
    assert page.locator("h1").evaluate("e => getComputedStyle(e).fontSize") == "60px"  # 2em·150%
    check(page, axe_source, "tr", "survey in high contrast at 150 %")


def open_kiosk(room, new_page):
    """/kiosk at its welcome screen: the page, the room's KioskView serving it and that
    view's Bokeh document (the browser session)."""
    page = new_page(room.urls["kiosk"])
    title(page, "Willkommen")
    view, = [o for o in gc.get_objects() if isinstance(o, KioskView) and o.device]
    (model, _), = view._screen._models.values()
    return page, view, model.document


def test_a_tap_in_the_instant_the_room_changes_shows_both(live_room, new_page):
    """The room's change reaches the view outside its browser session (the mirror's
    update), the tap inside it. Panel queues the first for the session's next tick; had the
    view rendered it there and then, the queued screen (still at 100 %) would land after
    the tap's and undo it. Under load this kept the thank-you screen from ever showing."""
    page, view, doc = open_kiosk(live_room, new_page)
    state = live_room.room.link.state

    def tap(event) -> None:  # after the kiosk's own watcher, in the same instant
        with set_curdoc(doc):
            view._on_action({"action": "size"})

    async def arm():
        return state.param.watch(tap, ["phase"], precedence=100)
    watcher = live_room.call(arm())
    try:
        assert live_room.command("session.start").ok
        title(page, "Ihr Gespräch")
        expect(page.get_by_role("button", name="Schriftgröße: A 150 %")).to_be_visible()
    finally:
        async def disarm():
            state.param.unwatch(watcher)
        live_room.call(disarm())


def test_a_change_queued_as_panel_ends_its_last_write_still_goes_out(live_room, new_page):
    """Panel queues a page's change while an earlier write of the page goes out, and
    lifts its mark when that write is done: a change queued in between stayed in the queue
    (in the soak, /kiosk kept the survey after the talk had ended). The room's loop sets
    the stage in one step: the mark is up, a tap's change is queued behind it, the
    earlier write ends."""
    page, view, doc = open_kiosk(live_room, new_page)

    async def race():
        document._WRITE_BLOCK[doc] = True  # an earlier write is going out
        with set_curdoc(doc):
            view._on_action({"action": "size"})  # queued behind it
        del document._WRITE_BLOCK[doc]  # the earlier write is done
        assert doc in document._WRITE_MSGS
    live_room.call(race())
    expect(page.get_by_role("button", name="Schriftgröße: A 150 %")).to_be_visible()


def test_consent_no_and_withdrawal(live_room, new_page):
    page = new_page(live_room.urls["kiosk"])
    title(page, "Willkommen")
    assert live_room.command("session.start").ok
    assert live_room.command("consent.request", **PARTNER).ok
    title(page, "Darf jemand per Video dazukommen?")
    page.get_by_role("button", name="Nein, lieber nicht").click()
    title(page, "Ihr Gespräch")
    expect(page.locator("ul.people li")).to_have_count(1)  # only the counsellor
    assert live_room.state.partners[0].consent == "declined"

    live_room.command("consent.request", **{**PARTNER, "name": "Herr Kaya",
                                            "agency": "Jobcenter"})
    page.get_by_role("button", name="Ja, einverstanden").click()
    expect(page.locator("ul.people")).to_contain_text("Herr Kaya")
    page.get_by_role("button", name="Zustimmung zurückziehen").click()
    expect(page.locator("ul.people li")).to_have_count(1)
    assert [p.consent for p in live_room.state.partners] == ["declined", "withdrawn"]
    log = live_room.call(_consent_log(live_room))
    assert [(a, v.split(":")[0]) for a, v in log] == [
        ("declined", "de"), ("granted", "de"), ("withdrawn", "de")]

    page.get_by_role("button", name="Video pausieren").click()
    expect(page.get_by_role("status")).to_have_text(t("de", "privacy.notice"))
    assert live_room.state.privacy is True


async def _consent_log(live_room):
    db = live_room.room.store.db
    return [(r["answer"], r["text_version"]) for r in db["consent_log"].rows_where(order_by="id")]


@pytest.fixture
def quick_idle_room(room_config):
    # The warning stays long enough for the accessibility scan of it on a loaded machine.
    room = ThreadedRoom(room_config.with_(idle_timeout=6.0, idle_warning=4.0)).start()
    yield room
    room.stop()


def test_idle_reset_warns_then_wipes_and_a_touch_keeps_it(quick_idle_room, new_page,
                                                          axe_source):
    room = quick_idle_room
    page = new_page(room.urls["kiosk"])
    page.get_by_role("button", name="English").click()
    page.get_by_role("button", name="Text size: A 100 %").click()
    title(page, t("en", "welcome.title"))
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text(t("en", "idle.title"))
    assert axe_findings(page, axe_source) == []
    page.get_by_role("button", name=t("en", "idle.stay")).click()  # still there
    expect(dialog).to_have_count(0)
    title(page, t("en", "welcome.title"))
    expect(page.get_by_role("alertdialog")).to_contain_text(t("en", "idle.title"), timeout=8000)
    title(page, "Willkommen")  # nobody touched it: wiped
    expect(page.get_by_role("button", name="Schriftgröße: A 100 %")).to_be_visible()
    assert room.state.language == "de"

    room.command("session.start")
    room.command("note.add", text="Persönliche Notiz", visible=True)
    room.command("session.end")
    expect(page.locator("ul.notes li")).to_have_text("Persönliche Notiz")
    title(page, "Willkommen")  # the summary, too, leaves after the timeout
    assert room.state.phase == "idle" and room.state.notes == []


def test_no_way_out_of_the_kiosk_page(live_room, new_page):
    page = new_page(live_room.urls["kiosk"])
    title(page, "Willkommen")
    assert page.locator("a[href]").count() == 0
    prevented = page.evaluate("""() => {
        const e = new MouseEvent('contextmenu', {bubbles: true, cancelable: true});
        document.body.dispatchEvent(e);
        return e.defaultPrevented; }""")
    assert prevented


def test_the_kiosk_cannot_send_counsellor_commands(live_room):
    for name, args in [("session.start", {}), ("note.add", {"text": "x"}), ("room.reset", {}),
                       ("consent.request", PARTNER)]:
        reply = live_room.command(name, as_="kiosk", **args)
        assert (reply.ok, reply.code) == (False, "role"), name
    assert live_room.state.phase == "idle"


def test_counsellor_sees_the_check_in_and_the_clients_answer(live_room, new_page):
    kiosk = new_page(live_room.urls["kiosk"])
    control = new_page(live_room.urls["control"])
    kiosk.get_by_role("button", name="Anmelden").click()
    kiosk.get_by_role("button", name="Ich habe keinen Termin").click()
    title(kiosk, "Schön, dass Sie da sind")
    expect(control.get_by_text("ohne Termin")).to_be_visible()
    control.get_by_role("button", name="Sitzung starten").click()
    control.get_by_label("Name", exact=True).fill("Herr Kaya")
    control.get_by_label("Stelle", exact=True).fill("Jobcenter")
    control.get_by_label("Warum (sieht die Klient:in)").fill("Bürgergeld klären")
    control.get_by_role("button", name="Zustimmung der Klient:in erfragen").click()
    expect(control.locator(".control-partners")).to_contain_text("Zustimmung erfragt")
    title(kiosk, "Darf jemand per Video dazukommen?")
    expect(kiosk.locator(".consent")).to_contain_text("Bürgergeld klären")
    kiosk.get_by_role("button", name="Ja, einverstanden").click()
    expect(control.locator(".control-partners")).to_contain_text("zugestimmt")


def test_usable_by_keyboard_alone(live_room, new_page):
    page = new_page(live_room.urls["kiosk"])
    title(page, "Willkommen")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("""() => { let a = document.activeElement;
                while (a && a.shadowRoot && a.shadowRoot.activeElement)
                    a = a.shadowRoot.activeElement;
                return a ? a.textContent : ''; }""") == "Anmelden":
            break
    page.keyboard.press("Enter")
    title(page, "Anmelden")
    page.keyboard.type("C-3")
    page.keyboard.press("Enter")  # the code field submits its form
    title(page, "Schön, dass Sie da sind")
    assert live_room.state.arrival == {"code": "C-3"}


def test_a_translator_adds_a_language_with_one_file(tmp_path, monkeypatch):
    import shutil

    from kiosk import i18n
    from kiosk.room import commands

    for f in LOCALES.glob("*.json"):
        shutil.copy(f, tmp_path / f.name)
    french = {**catalog("en"), "_language": "Français", "welcome.title": "Bienvenue"}
    (tmp_path / "fr.json").write_text(json.dumps(french), encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALES", tmp_path)
    for cached in (i18n.catalog, i18n.languages):
        cached.cache_clear()
    try:
        assert "fr" in i18n.languages() and i18n.t("fr", "welcome.title") == "Bienvenue"
        assert commands.check("language.set", "kiosk", "idle", {"language": "fr"})[1] == {
            "language": "fr"}
    finally:
        monkeypatch.undo()
        for cached in (i18n.catalog, i18n.languages):
            cached.cache_clear()
