"""Take the README's screenshots anew: each page and each kiosk screen (German and Arabic).

The kiosk's screens, sign-in, pairing, /admin and /stats are taken here; the console's
states on a tablet, the display's stage, the on-screen keyboard, /visit and the partner
console are saved by the browser tests that check them (``.cache/screens``), which this
script runs and copies from (``--only-here`` skips them).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from staff_login import sign_in  # noqa: E402

from kiosk.access.staff import DEMO_ACCOUNTS  # noqa: E402
from kiosk.app.room import Room, free_port  # noqa: E402
from kiosk.config import RoomConfig  # noqa: E402
from kiosk.i18n import native_name, t  # noqa: E402
from kiosk.room.keys import Keyring  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
PASSWORD = "screenshot-passwort"
PARTNER = {"name": "Frau Demir", "agency": "Ausländerbehörde", "role": "Sachbearbeitung",
           "purpose": "Arbeitserlaubnis für die Ausbildung klären"}


#: The tests that save screens, and which of their screens the README shows (as what).
SCREEN_TESTS = ["tests/test_control_console.py", "tests/test_screens.py",
                "tests/test_visit_language.py", "tests/test_partner_console.py"]
FROM_TESTS = {
    **{f"control-{s}-landscape": f"control-{s}" for s in (
        "talk", "idle", "welcome", "wrap-up", "survey", "ending", "confirm-reset",
        "confirm-delete")},
    "control-talk-portrait": "control-talk-portrait",
    "control-talk-partners-portrait": "control-talk-partners-portrait",
    "display-0": "display-notes", "display-1": "display-1-partner",
    "display-2": "display-2-partners", "display-3": "display-3-partners",
    "display-3-ar": "display-3-partners-ar", "display-client": "display-remote-client",
    "display-pause": "display-pause",
    **{f"kiosk-keyboard-{k}-{lang}": f"kiosk-keyboard-{k}-{lang}"
       for k in ("code", "mail") for lang in ("de", "ar")},
    "visit-tr": "visit-tr", "visit-ar": "visit-ar",
    "partner-console": "partner-console", "partner-console-ringing": "partner-console-ringing",
}


def from_tests() -> None:
    """Run the tests that save screens, then copy the README's ones into docs/."""
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    *SCREEN_TESTS], cwd=ROOT, check=True)
    saved = {p.stem: p for d in ("screens", "screenshots")
             for p in (ROOT / ".cache" / d).glob("*.png")}
    missing = sorted(set(FROM_TESTS) - set(saved))
    if missing:
        raise SystemExit(f"the tests saved no {', '.join(missing)}")
    for name, readme_name in FROM_TESTS.items():
        shutil.copyfile(saved[name], OUT / f"{readme_name}.png")
    print(f"copied {len(FROM_TESTS)} screens of the tests")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    if "--only-here" not in sys.argv:
        from_tests()
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    def call(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(20)

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        Keyring(Path(tmp) / "keys").init()
        room = Room(RoomConfig(data_dir=Path(tmp), http_port=free_port(),
                               bus_router="tcp://127.0.0.1:0", bus_pub="tcp://127.0.0.1:0"))
        # /stats over made-up facts of a pilot (the room itself has only a few talks).
        from bench_stats import synthetic

        pilot = synthetic(300, 600, 300).between(until=dt.date(2026, 3, 31))
        room._facts = lambda: pilot
        call(room.start())

        def do(name: str, /, as_: str = "counsellor", **args) -> None:
            assert call(room.link.send(as_, name, **args)).ok, name

        base = room.urls["kiosk"].rsplit("/", 1)[0]
        for name, role in DEMO_ACCOUNTS.items():
            do("staff.add", "admin", name=name, role=role, password=PASSWORD)

        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for lang in ("de", "ar"):
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(room.urls["kiosk"])

            def shot(screen: str, title_key: str, lang: str = lang, page=page) -> None:
                expect(page.locator("h1")).to_have_text(t(lang, title_key))
                page.wait_for_timeout(300)
                page.screenshot(path=str(OUT / f"kiosk-{screen}-{lang}.png"))
                print("wrote", OUT / f"kiosk-{screen}-{lang}.png")

            page.get_by_role("button", name=native_name(lang), exact=True).first.click()
            shot("welcome", "welcome.title")
            page.get_by_role("button", name=t(lang, "welcome.start")).click()
            shot("checkin", "checkin.title")
            page.get_by_role("button", name=t(lang, "checkin.no_appointment")).click()
            shot("waiting", "waiting.title")
            do("session.start")
            do("note.add", text="Sie möchten eine Ausbildung als Mechatronikerin beginnen.",
               visible=True)
            do("note.add", text="Intern: Rückruf Ausländerbehörde.", visible=False)
            do("step.add", what="Bewerbungsunterlagen an die IHK schicken", who="client",
               due="2026-12-04")
            do("consent.request", **PARTNER)
            shot("consent", "consent.title")
            page.get_by_role("button", name=t(lang, "consent.yes")).click()
            shot("session", "talk.title")
            if lang == "de":
                control = browser.new_page(viewport={"width": 1280, "height": 900})
                control.goto(room.urls["control"])
                control.get_by_role("heading", name="Anmelden").wait_for()
                control.get_by_label("Name").fill("beratung")
                control.screenshot(path=str(OUT / "login.png"))
                sign_in(control, base, "beratung", PASSWORD, "/control")
                control.get_by_text("Frau Demir").wait_for()
                control.screenshot(path=str(OUT / "control.png"))
                display = browser.new_page(viewport={"width": 1280, "height": 800})
                display.goto(room.urls["display"])
                display.get_by_text("Mechatronikerin").wait_for()
                display.screenshot(path=str(OUT / "display.png"))
            do("session.end")
            shot("summary", "summary.title")
            page.get_by_role("button", name=t(lang, "summary.next")).click()
            shot("survey", "survey.title")
            page.get_by_role("button", name=t(lang, "survey.skip")).click()
            shot("thanks", "thanks.title")
            page.close()

        # A partner joins by link; the second display shows them.
        do("session.start")
        reply = call(room.link.send("counsellor", "partner.invite", agency="Jobcenter",
                                    name="Herr Kaya", purpose="Bürgergeld klären"))
        partner = browser.new_page(viewport={"width": 1000, "height": 900})
        partner.goto(base + reply.data["link"])
        expect(partner.locator("#join")).to_be_enabled()
        partner.wait_for_timeout(800)
        partner.screenshot(path=str(OUT / "join-check.png"))
        partner.get_by_role("button", name="Beitreten").click()
        expect(partner.get_by_role("heading", name="Sie werden gleich zugelassen")).to_be_visible()
        partner_id = reply.data["id"]
        do("partner.admit", partner=partner_id)
        do("consent.answer", "kiosk", partner=partner_id, yes=True, version="screenshot")
        expect(partner.get_by_role("status")).to_have_text("Sie sind im Gespräch.")
        partner.wait_for_timeout(1500)
        partner.screenshot(path=str(OUT / "join-call.png"))
        display = browser.new_page(viewport={"width": 1280, "height": 800})
        display.goto(room.urls["display"])
        display.locator("figure.tile video").wait_for()
        display.wait_for_timeout(2500)
        display.screenshot(path=str(OUT / "display-partner.png"))
        print("wrote join-check.png, join-call.png, display-partner.png")
        do("room.reset")

        # Facility staff: pairing a tablet, device health on /admin.
        admin = browser.new_page(viewport={"width": 1280, "height": 900})
        sign_in(admin, base, "haustechnik", PASSWORD, "/admin")
        touch = browser.new_page(viewport={"width": 1280, "height": 800})
        touch.goto(room.urls["kiosk"])
        admin.get_by_role("button", name="Tablet koppeln").click()
        display.locator(".pairing .code").wait_for()
        display.wait_for_timeout(500)
        display.screenshot(path=str(OUT / "display-pairing.png"))
        tablet = browser.new_page(viewport={"width": 800, "height": 700})
        code = display.locator(".pairing .code").inner_text().replace(" ", "")
        tablet.goto(f"{base}/control/pair?code={code}")
        tablet.screenshot(path=str(OUT / "control-pair.png"))
        tablet.get_by_label("Name dieses Tablets").fill("Tablet Raum 1")
        tablet.get_by_role("button", name="Koppeln").click()
        tablet.get_by_role("heading", name="Anmelden").wait_for()  # the counsellor signs in
        sign_in(tablet, base, "beratung", PASSWORD, "/control")
        tablet.get_by_role("button", name="Sitzung starten").wait_for()
        touch.close()  # the touch screen's browser goes away: an alert within 5 s
        admin.locator(".alerts").wait_for(timeout=10_000)
        admin.wait_for_timeout(500)
        admin.screenshot(path=str(OUT / "admin.png"), full_page=True)
        print("wrote display-pairing.png, control-pair.png, admin.png")
        stats = browser.new_page(viewport={"width": 1280, "height": 900})
        sign_in(stats, base, "auswertung", PASSWORD, "/stats")
        stats.locator(".stats-overview table").wait_for()
        stats.wait_for_timeout(1500)
        stats.screenshot(path=str(OUT / "stats.png"), full_page=True)
        print("wrote stats.png")
        browser.close()
        call(room.stop())
    loop.call_soon_threadsafe(loop.stop)


if __name__ == "__main__":
    main()
