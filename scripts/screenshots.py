"""Take a screenshot of each page in a demo room, for the README (docs/screenshots/)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kiosk.config import RoomConfig  # noqa: E402
from kiosk.room import Room, free_port  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    def call(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(20)

    with tempfile.TemporaryDirectory() as tmp:
        room = Room(RoomConfig(data_dir=Path(tmp), http_port=free_port(),
                               bus_router="tcp://127.0.0.1:0", bus_pub="tcp://127.0.0.1:0"))
        call(room.start())
        send = room.link.send
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})

            def shot(name: str, page_name: str) -> None:
                page.goto(room.urls[page_name])
                page.locator("h1").first.wait_for()
                page.wait_for_timeout(400)
                page.screenshot(path=str(OUT / f"{name}.png"))
                print("wrote", OUT / f"{name}.png")

            shot("kiosk-welcome", "kiosk")
            call(send("counsellor", "session.start"))
            call(send("counsellor", "note.add", text="Sie möchten eine Ausbildung als "
                      "Mechatronikerin beginnen.", visible=True))
            call(send("counsellor", "note.add", text="Anerkennung des Schulabschlusses ist "
                      "beantragt.", visible=True))
            call(send("counsellor", "note.add", text="Intern: Rückruf Ausländerbehörde "
                      "wegen Arbeitserlaubnis.", visible=False))
            call(send("counsellor", "step.add", what="Bewerbungsunterlagen an die IHK "
                      "schicken", who="client", due="2026-12-04"))
            call(send("counsellor", "step.add", what="Termin bei der Jugendberufsagentur "
                      "vereinbaren", who="Jobcenter"))
            shot("control", "control")
            shot("kiosk-talk", "kiosk")
            shot("display", "display")
            call(send("counsellor", "session.end"))
            call(send("kiosk", "survey.begin"))
            shot("kiosk-survey", "kiosk")
            browser.close()
        call(room.stop())
    loop.call_soon_threadsafe(loop.stop)


if __name__ == "__main__":
    main()
