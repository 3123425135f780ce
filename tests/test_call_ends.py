"""Calls that end when the talk ends, pauses that hide the picture, and the partner's own
controls: real Chromium partners and remote clients with fake cameras against a room.

After the session ends, a hang-up, a declined or withdrawn consent and the room going
idle, the room's picture stops on the partner's page within a second and the page says
why; a pause blanks the picture (no frozen frame) and it comes back; the partner mutes,
switches the camera off and shares a screen, which reaches the others only through the
partner's gate.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from conftest import eventually
from playwright.sync_api import expect
from test_join import frames_decoded, invite


def joined(room, new_page, **page):
    """A partner in the talk: invited, joined from Chromium, admitted, consented."""
    if room.state.phase != "consulting":
        assert room.command("session.start").ok
    partner, link = invite(room)
    tab = new_page(link, **page)
    tab.get_by_role("button", name="Beitreten").click()
    expect(tab.get_by_role("heading", name="Sie werden gleich zugelassen")).to_be_visible()
    assert room.command("partner.admit", partner=partner).ok
    assert room.command("consent.answer", as_="kiosk", partner=partner, yes=True,
                        version="de:test").ok
    expect(tab.get_by_role("status")).to_have_text("Sie sind im Gespräch.")
    eventually(lambda: frames_decoded(tab) >= 10, timeout=15)
    return partner, tab


def remote_client(room, new_page):
    """A client booked for a remote talk, in from home: their /visit tab, in the call."""
    start = (dt.datetime.now().astimezone() + dt.timedelta(minutes=5)).isoformat()
    reply = room.command("appointment.create", at=start, email="k@example.org")
    tab = new_page(f"{room.urls['kiosk'].rsplit('/', 1)[0]}/visit/"
                   f"{reply.data['visit_token']}", signed_in=False)
    tab.get_by_role("button", name="Weiter zum Warteraum").click()
    eventually(lambda: bool(room.state.waiting), timeout=15)
    assert room.command("visit.admit", id=reply.data["id"]).ok
    expect(tab.get_by_role("status")).to_have_text("Sie sind im Gespräch.")
    return tab


def stops_within_a_second(tab, act) -> None:
    """``act`` ends the partner's media: one second later their picture of the room stops
    growing (sampled over another second)."""
    act()
    time.sleep(1.0)
    after_one = frames_decoded(tab)
    time.sleep(1.0)
    assert frames_decoded(tab) == after_one, "the room's picture still arrives"


def received(room, partner: int, kind: str = "video") -> int:
    calls = [c for c in room.room.engine.calls.values()
             if c.kind == "partner" and c.partner == partner]
    return calls[0].received[kind] if calls else 0


def settled(count, quiet: float = 1.5, within: float = 15.0) -> int:
    """The count once it has stopped growing for ``quiet`` seconds (what was under way
    when a track stopped may still arrive on a loaded machine); fails if it never stops."""
    deadline = time.monotonic() + within
    last, since = count(), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, f"still growing after {within:g} s: {last}"
        time.sleep(0.1)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
    return last


@pytest.mark.parametrize("end, title", [
    (lambda room, p: room.command("session.end"), "Das Gespräch ist beendet"),
    (lambda room, p: room.command("room.reset"), "Das Gespräch ist beendet"),
    (lambda room, p: room.command("partner.remove", partner=p), "Das Gespräch ist beendet"),
    (lambda room, p: room.command("consent.withdraw", as_="kiosk", partner=p,
                                  version="de:test"), "Das Video wurde beendet"),
], ids=["session-end", "idle", "hang-up", "withdrawal"])
def test_the_partners_call_ends_when_the_room_ends_it(live_room, new_page, end, title):
    partner, tab = joined(live_room, new_page)
    stops_within_a_second(tab, lambda: end(live_room, partner))
    expect(tab.get_by_role("heading", name=title)).to_be_visible()
    eventually(lambda: live_room.room.engine.peer_count == 0, timeout=5)


def test_a_declining_client_ends_the_partners_call_politely(live_room, new_page):
    assert live_room.command("session.start").ok
    partner, link = invite(live_room)
    tab = new_page(link)
    tab.get_by_role("button", name="Beitreten").click()
    expect(tab.get_by_role("heading", name="Sie werden gleich zugelassen")).to_be_visible()
    eventually(lambda: received(live_room, partner) >= 5, timeout=15)  # the call is up
    assert live_room.room.engine.counters()[partner]["to_partner"] == 0  # the gate held
    assert live_room.command("consent.answer", as_="kiosk", partner=partner, yes=False,
                             version="de:test").ok
    expect(tab.get_by_role("heading", name="Kein Video in diesem Termin")).to_be_visible()
    eventually(lambda: live_room.room.engine.peer_count == 0, timeout=5)


def test_the_remote_client_gets_the_survey_when_the_talk_ends(live_room, new_page):
    tab = remote_client(live_room, new_page)
    eventually(lambda: frames_decoded(tab) >= 10, timeout=15)
    stops_within_a_second(tab, lambda: live_room.command("session.end"))
    expect(tab.get_by_role("heading", name="Das Gespräch ist beendet")).to_be_visible()
    expect(tab.locator("#survey")).to_be_visible()


def test_a_pause_hides_the_rooms_picture_and_it_comes_back(live_room, new_page):
    _, tab = joined(live_room, new_page)
    assert live_room.command("privacy.set", on=True).ok
    expect(tab.locator("#paused")).to_be_visible()
    expect(tab.locator("#paused")).to_contain_text("Das Gespräch ist kurz pausiert")
    expect(tab.locator("#room")).to_be_hidden()  # no frozen last frame on screen
    assert "Klient" not in tab.get_by_role("status").inner_text()  # nobody named
    assert live_room.command("privacy.set", on=False).ok
    expect(tab.locator("#room")).to_be_visible()
    expect(tab.locator("#paused")).to_be_hidden()
    before = frames_decoded(tab)
    eventually(lambda: frames_decoded(tab) >= before + 10, timeout=15)


def test_the_partner_mutes_and_switches_the_camera_off_and_sees_themselves(live_room,
                                                                           new_page):
    partner, tab = joined(live_room, new_page)
    expect(tab.locator("#self-small")).to_have_js_property("readyState", 4)  # own picture
    mic, cam = tab.get_by_role("button", name="Stumm"), tab.get_by_role("button",
                                                                       name="Kamera aus")
    expect(mic).to_have_attribute("aria-pressed", "false")
    mic.click()
    expect(mic).to_have_attribute("aria-pressed", "true")
    expect(tab.locator("#devices-state")).to_have_text("Ihr Mikrofon ist stumm.")
    heard = settled(lambda: received(live_room, partner, "audio"))  # not one packet of sound
    cam.click()
    expect(cam).to_have_attribute("aria-pressed", "true")
    expect(tab.locator("#self-small")).to_be_hidden()
    seen = settled(lambda: received(live_room, partner))  # no frames to the room or /display
    cam.click()
    mic.click()
    eventually(lambda: received(live_room, partner) > seen + 10, timeout=15)
    eventually(lambda: received(live_room, partner, "audio") > heard + 10, timeout=15)


def test_a_shared_screen_arrives_and_goes_with_the_partners_consent(live_room, new_page):
    partner, tab = joined(live_room, new_page)
    engine = live_room.room.engine
    tab.get_by_role("button", name="Bildschirm teilen").click()
    expect(tab.get_by_role("button", name="Teilen beenden")).to_have_attribute(
        "aria-pressed", "true")
    eventually(lambda: partner in live_room.state.screens, timeout=15)
    eventually(lambda: engine.counters()[partner].get("screen_received", 0) >= 10, timeout=15)
    assert live_room.command("consent.withdraw", as_="kiosk", partner=partner,
                             version="de:test").ok
    expect(tab.get_by_role("heading", name="Das Video wurde beendet")).to_be_visible()
    eventually(lambda: partner not in live_room.state.screens, timeout=5)
    assert not any(c.kind == "screen" for c in engine.calls.values())


def test_the_counsellor_stops_a_shared_screen(live_room, new_page):
    partner, tab = joined(live_room, new_page)
    tab.get_by_role("button", name="Bildschirm teilen").click()
    eventually(lambda: partner in live_room.state.screens, timeout=15)
    assert live_room.command("screen.stop", partner=partner).ok
    expect(tab.get_by_role("button", name="Bildschirm teilen")).to_have_attribute(
        "aria-pressed", "false")
    eventually(lambda: not any(c.kind == "screen" for c in live_room.room.engine.calls.values()),
               timeout=5)
    expect(tab.get_by_role("status")).to_have_text("Sie sind im Gespräch.")  # the call goes on


def test_a_bad_link_is_refused_before_any_device_check(live_room, new_page):
    assert live_room.command("session.start").ok
    base = live_room.urls["kiosk"].rsplit("/", 1)[0]
    tab = new_page(f"{base}/join/{'x' * 32}", signed_in=False)
    expect(tab.get_by_role("heading", name="Link nicht gültig")).to_be_visible()
    expect(tab.get_by_role("alert")).to_have_text("Dieser Link ist nicht gültig.")
    assert tab.locator("video").count() == 0


def test_the_join_button_is_in_view_on_a_laptop(live_room, new_page):
    assert live_room.command("session.start").ok
    _, link = invite(live_room)
    tab = new_page(link, viewport={"width": 1366, "height": 768})
    join = tab.get_by_role("button", name="Beitreten")
    expect(join).to_be_enabled()
    box = join.bounding_box()
    assert box["y"] + box["height"] <= 768, box
    assert tab.evaluate("document.scrollingElement.scrollWidth") <= 1366


def test_the_consoles_ring_card_fits_a_phone(data_dir, port, new_page):
    from test_directory_ui import MAX, MAX_ID, site_state, start_site_room

    room = start_site_room(data_dir, port)
    try:
        site = room.room.site
        phone = new_page(site.console_url, signed_in=False,
                         viewport={"width": 390, "height": 844}, has_touch=True,
                         is_mobile=True)
        phone.get_by_label("E-Mail-Adresse").fill(MAX)
        phone.get_by_label("Passwort").fill(site.demo_password)
        phone.get_by_role("button", name="Anmelden").click()
        available = phone.get_by_role("radio", name="Verfügbar")
        expect(available).to_be_attached()
        if not available.is_checked():
            available.click()
        eventually(lambda: site_state(room).status(MAX_ID) == "available", timeout=15)
        assert room.command("session.start").ok
        counsellor = "Frau Dr. Alexandra Müller-Lüdenscheidt-Wiesenthal"  # a long name
        assert room.call(room.room.site_link.ring(counsellor=counsellor, topic="Ausbildung",
                                                  contact=MAX_ID)).ok
        card = phone.get_by_role("group", name="Anruf aus Beratungsraum 1")
        expect(card).to_be_visible()
        expect(card).to_contain_text(counsellor)  # who is calling
        box = card.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        assert phone.evaluate("document.scrollingElement.scrollWidth") <= 390
        for button in card.get_by_role("button").all():
            b = button.bounding_box()
            assert b["x"] + b["width"] <= 390 and b["height"] >= 48, b
    finally:
        room.stop()


def test_the_remote_client_sees_a_partners_shared_screen(live_room, new_page):
    client = remote_client(live_room, new_page)
    partner, tab = joined(live_room, new_page)
    tab.get_by_role("button", name="Bildschirm teilen").click()
    screen = client.locator("#others figure.screen")
    expect(screen).to_be_visible(timeout=20_000)
    expect(screen.locator("figcaption")).to_contain_text("Bildschirm")

    def shown() -> int:
        return screen.locator("video").evaluate(
            "v => v.srcObject ? v.getVideoPlaybackQuality().totalVideoFrames : 0")
    eventually(lambda: shown() >= 10, timeout=20)
    counters = live_room.room.engine.counters()[partner]
    assert counters.get("screen_to_viewers", 0) > 0
    tab.get_by_role("button", name="Teilen beenden").click()  # the partner stops it
    expect(screen).to_have_count(0, timeout=10_000)


def test_a_shared_screen_shows_on_the_display_beside_the_partner_after_consent(live_room,
                                                                              new_page):
    display = new_page(live_room.urls["display"], viewport={"width": 1920, "height": 1080})
    assert live_room.command("session.start").ok
    partner, link = invite(live_room)
    tab = new_page(link)
    tab.get_by_role("button", name="Beitreten").click()
    expect(tab.get_by_role("heading", name="Sie werden gleich zugelassen")).to_be_visible()
    eventually(lambda: tab.evaluate("() => !!window.kioskCall.call.resource"), timeout=15)
    # Sharing in the lobby: the room has the screen, the display shows nothing of it yet.
    tab.evaluate("""async () => {  // the button appears in the call; share from the lobby
        document.getElementById('share').click(); }""")
    eventually(lambda: partner in live_room.state.screens, timeout=15)
    time.sleep(1.0)
    assert display.locator("figure.tile-screen").count() == 0
    assert live_room.room.engine.counters()[partner].get("screen_to_display", 0) == 0
    assert live_room.command("partner.admit", partner=partner).ok
    assert live_room.command("consent.answer", as_="kiosk", partner=partner, yes=True,
                             version="de:test").ok
    screen = display.locator("figure.tile-screen")
    expect(screen).to_be_visible()
    expect(screen).to_contain_text("Geteilter Bildschirm von Herr Kaya")
    expect(display.locator("figure.tile-partner")).to_be_visible()  # beside the partner
    eventually(lambda: live_room.room.engine.counters()[partner].get("screen_to_display", 0)
               >= 10, timeout=20)
    frames = screen.locator("video").evaluate(
        "v => v.srcObject ? v.getVideoPlaybackQuality().totalVideoFrames : 0")
    eventually(lambda: screen.locator("video").evaluate(
        "v => v.srcObject ? v.getVideoPlaybackQuality().totalVideoFrames : 0") > frames,
        timeout=15)
    a, b = screen.bounding_box(), display.locator("figure.tile-partner").bounding_box()
    assert a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"] \
        or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"]  # no overlap
    assert live_room.command("screen.stop", partner=partner).ok
    expect(screen).to_have_count(0)


def test_control_offers_to_stop_a_shared_screen_and_rings_name_the_counsellor():
    from kiosk.room.state import Partner
    from kiosk.views.directory import readable_name
    from kiosk.views.partner_pane import partner_item

    kaya = Partner(1, "Herr Kaya", "Jobcenter", consent="granted", admitted=True,
                   state="connected")
    row = partner_item(kaya, None, sharing=True)
    assert "teilt den Bildschirm" in row["badge"]
    assert {"action": "unshare", "label": "Teilen beenden"} in row["actions"]
    assert not any(a["action"] == "unshare" for a in partner_item(kaya, None)["actions"])
    assert readable_name("frau-roth") == "Frau Roth"
    assert readable_name("max.mustermann") == "Max Mustermann"
