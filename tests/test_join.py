"""The partner's page in Chromium with a fake camera: device check, lobby, call, leave."""

from __future__ import annotations

import time

from conftest import eventually
from playwright.sync_api import expect


def invite(room) -> tuple[int, str]:
    reply = room.command("partner.invite", agency="Jobcenter", name="Herr Kaya",
                         purpose="Bürgergeld klären")
    assert reply.ok, reply
    return reply.data["id"], room.urls["kiosk"].rsplit("/", 1)[0] + reply.data["link"]


def pull_of(engine, partner: int) -> str | None:
    """The resource of the display's pull of ``partner``'s picture, if there is one."""
    return next((r for r, c in list(engine.calls.items()) if c.kind == "display"
                 and c.partner == partner and not c.viewer and not c.screen), None)


def frames_decoded(page) -> int:
    return page.evaluate("""async () => {
        const v = document.getElementById('room');
        return v && v.srcObject ? (v.getVideoPlaybackQuality().totalVideoFrames || 0) : 0; }""")


def test_a_partner_joins_from_the_browser_and_sees_the_room(live_room, new_page):
    assert live_room.command("session.start").ok
    partner_id, link = invite(live_room)
    page = new_page(link)
    expect(page.locator("h1")).to_have_text("Zur Beratung dazukommen")
    expect(page.locator("#self")).to_have_js_property("readyState", 4)  # own preview plays
    assert page.locator("#camera option").count() >= 1
    assert page.locator("#microphone option").count() >= 1
    page.get_by_role("button", name="Beitreten").click()
    expect(page.get_by_role("heading", name="Sie werden gleich zugelassen")).to_be_visible()
    engine = live_room.room.engine
    deadline = time.monotonic() + 15
    while engine.counters().get(partner_id, {}).get("received", 0) < 5:
        assert time.monotonic() < deadline, "no frames from the browser's fake camera"
        time.sleep(0.1)
    assert frames_decoded(page) == 0  # lobby: nothing from the room yet

    assert live_room.command("partner.admit", partner=partner_id).ok
    assert live_room.command("consent.answer", as_="kiosk", partner=partner_id, yes=True,
                             version="de:test").ok
    expect(page.get_by_role("status")).to_have_text("Sie sind im Gespräch.")
    deadline = time.monotonic() + 15
    while frames_decoded(page) < 10:
        assert time.monotonic() < deadline, "the room's picture does not arrive"
        time.sleep(0.2)
    assert live_room.state.partners[0].state == "connected"

    page.get_by_role("button", name="Gespräch verlassen").click()
    expect(page.get_by_role("heading", name="Sie haben das Gespräch verlassen")).to_be_visible()
    deadline = time.monotonic() + 10
    while engine.peer_count:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_a_used_link_says_so_in_the_browser(live_room, new_page):
    assert live_room.command("session.start").ok
    _, link = invite(live_room)
    first = new_page(link)
    first.get_by_role("button", name="Beitreten").click()
    expect(first.get_by_role("heading", name="Sie werden gleich zugelassen")).to_be_visible()
    second = new_page(link)  # refused before any device check: no camera is asked for
    expect(second.get_by_role("heading", name="Link nicht gültig")).to_be_visible()
    expect(second.get_by_role("alert")).to_contain_text("schon benutzt")
    assert second.locator("#self").count() == 0 and second.locator("#join").count() == 0


def waiting_partner(room, new_page):
    """A talk, /display open, and a partner who joined from the browser and waits in the
    lobby: their id and the display's page."""
    assert room.command("session.start").ok
    partner_id, link = invite(room)
    display = new_page(room.urls["display"])
    partner = new_page(link)
    partner.get_by_role("button", name="Beitreten").click()
    expect(partner.get_by_role("heading", name="Sie werden gleich zugelassen")).to_be_visible()
    return partner_id, display


def test_the_display_shows_an_admitted_partner(live_room, new_page):
    partner_id, display = waiting_partner(live_room, new_page)
    expect(display.locator("figure.tile")).to_have_count(0)
    assert live_room.command("partner.admit", partner=partner_id).ok
    assert live_room.command("consent.answer", as_="kiosk", partner=partner_id, yes=True,
                             version="de:test").ok
    expect(display.locator("figure.tile figcaption")).to_have_text("Herr Kaya · Jobcenter")
    deadline = time.monotonic() + 15
    while display.evaluate("window.kioskFramesDecoded()") < 10:  # getStats framesDecoded
        assert time.monotonic() < deadline, "the display decodes no partner frames"
        time.sleep(0.2)
    engine = live_room.room.engine
    assert engine.counters()[partner_id]["to_display"] > 0
    # The room ends the display's connection (as when its checks fail on a loaded
    # machine): the display pulls the partner again by itself.
    first = pull_of(engine, partner_id)
    assert live_room.call(engine.hang_up(first))
    eventually(lambda: pull_of(engine, partner_id) not in (None, first), timeout=30)
    deadline = time.monotonic() + 15
    while display.evaluate("window.kioskFramesDecoded()") < 10:  # on the new connection
        assert time.monotonic() < deadline, "the display decodes nothing after a new pull"
        time.sleep(0.2)
    self_view = display.locator("figure.self-view video")
    expect(self_view).to_have_js_property("readyState", 4)  # the room's own picture plays
    assert self_view.evaluate("v => v.videoWidth") == 640
    assert live_room.command("privacy.set", on=True).ok
    expect(display.locator("figure.tile")).to_have_count(0)
    expect(display.locator("figure.self-view")).to_have_count(0)
    expect(display.get_by_text("Das Video ist pausiert")).to_be_visible()


def test_the_display_connects_to_a_waiting_partner_unseen_and_shows_them_at_once(
        live_room, new_page):
    """While the partner waits, the display is connected to them already, with no tile and
    no frame (the consent gate holds them back); admitted with consent, the picture comes
    over that same connection, without a new one."""
    partner_id, display = waiting_partner(live_room, new_page)
    engine = live_room.room.engine
    eventually(lambda: pull_of(engine, partner_id) is not None, timeout=15)
    ahead = pull_of(engine, partner_id)
    eventually(lambda: engine.calls[ahead].pc.connectionState == "connected", timeout=15)
    time.sleep(1.0)  # a second of the partner's frames at the gate
    expect(display.locator("figure.tile")).to_have_count(0)
    assert display.evaluate("window.kioskFramesDecoded()") == 0
    assert engine.counters()[partner_id]["to_display"] == 0

    assert live_room.command("partner.admit", partner=partner_id).ok
    assert display.evaluate("window.kioskFramesDecoded()") == 0  # admitted, no consent yet
    assert live_room.command("consent.answer", as_="kiosk", partner=partner_id, yes=True,
                             version="de:test").ok
    expect(display.locator("figure.tile figcaption")).to_have_text("Herr Kaya · Jobcenter")
    eventually(lambda: display.evaluate("window.kioskFramesDecoded()") >= 10, timeout=15)
    assert pull_of(engine, partner_id) == ahead  # the connection made while they waited
    assert live_room.command("consent.withdraw", as_="kiosk", partner=partner_id,
                             version="de:test").ok
    expect(display.locator("figure.tile")).to_have_count(0)
    eventually(lambda: pull_of(engine, partner_id) is None, timeout=15)


def test_in_the_demo_a_simulated_partner_answers_the_link(room_config, new_page):
    from conftest import ThreadedRoom

    room = ThreadedRoom(room_config.with_(demo=True)).start()
    try:
        control = new_page(room.urls["control"])
        control.get_by_role("button", name="Sitzung starten").click()
        control.get_by_label("Stelle", exact=True).fill("Jobcenter")
        control.get_by_role("button", name="Per Link einladen").click()
        control.get_by_role("button", name="Demo: simulierten Partner beitreten lassen").click()
        expect(control.locator(".control-partners")).to_contain_text("verbunden", timeout=15000)
        control.locator(".control-partners").get_by_role("button", name="Zulassen").click()
        assert room.command("consent.answer", as_="kiosk", partner=1, yes=True,
                            version="de:test").ok
        display = new_page(room.urls["display"])
        expect(display.locator("figure.tile figcaption")).to_have_text("Jobcenter")
        deadline = time.monotonic() + 15
        while display.evaluate("window.kioskFramesDecoded()") < 10:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        room.stop()


def test_the_partners_full_picture_arrives_from_the_first_seconds(live_room, new_page):
    assert live_room.command("session.start").ok
    partner_id, link = invite(live_room)
    page = new_page(link)
    page.get_by_role("button", name="Beitreten").click()
    engine = live_room.room.engine
    start, sizes = time.monotonic(), []
    while time.monotonic() - start < 6:
        counters = engine.counters().get(partner_id, {})
        if counters.get("received"):
            sizes.append((time.monotonic() - start, counters["width"], counters["height"]))
        time.sleep(0.2)
    first_full = next(t for t, w, h in sizes if (w, h) == (640, 480))
    assert first_full < 2.0  # Chromium's fake camera is 640×480
    assert all((w, h) == (640, 480) for t, w, h in sizes if t > first_full)  # and stays so
