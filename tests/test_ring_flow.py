"""Ringing a partner, end to end in Chromium: /control rings, the partner console (served
by the room's embedded site) rings and is answered, the partner joins, the kiosk consents,
and the partner's picture plays on /display. Also the decline and timeout paths.

A real room with its site (as ``kiosk demo`` runs them), real pages, no mocks; only the
site's ring clock is in the test's hand, so that 60 s of ringing pass at once.
"""

from __future__ import annotations

import re
import time

import pytest
from conftest import ThreadedRoom, eventually
from playwright.sync_api import expect
from test_directory_ui import JOBCENTER, MAX, MAX_ID, row, site_state, start_site_room

from kiosk.site.ringing import RING_TIMEOUT

ROOM_NAME = "Beratungsraum 1"  # the room's default name, as rings carry it


@pytest.fixture
def ring_room(data_dir, port):
    """A room with an embedded demo site (see test_directory_ui.start_site_room)."""
    room = start_site_room(data_dir, port)
    yield room
    room.stop()


def console_page(new_page, room: ThreadedRoom, email: str = MAX):
    """The partner console in its own browser context, signed in, status available."""
    site = room.room.site
    page = new_page(site.console_url, signed_in=False)
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort").fill(site.demo_password)
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", name="Max Mustermann")).to_be_visible()
    available = page.get_by_role("radio", name="Verfügbar")
    if not available.is_checked():
        available.click()
    expect(available).to_be_checked()
    eventually(lambda: site_state(room).status(MAX_ID) == "available", timeout=15)
    return page


def control_in_a_talk(new_page, room: ThreadedRoom):
    """/control, signed in: the counsellor starts a talk and picks its topic for calls."""
    page = new_page(room.urls["control"])
    page.get_by_role("button", name="Sitzung starten").click()
    expect(page.locator(".directory-topic select")).to_be_visible()
    page.locator(".directory-topic select").select_option(label="Arbeit")
    return page


def ring_card(console):
    return console.get_by_role("group", name=f"Anruf aus {ROOM_NAME}")


def frames_on_display(display) -> int:
    return display.evaluate("window.kioskFramesDecoded ? window.kioskFramesDecoded() : 0")


def test_control_rings_the_partner_accepts_joins_and_appears_on_the_display(ring_room,
                                                                            new_page):
    room = ring_room
    kiosk = new_page(room.urls["kiosk"])
    display = new_page(room.urls["display"])
    control = control_in_a_talk(new_page, room)
    console = console_page(new_page, room)

    # The counsellor rings Max from the directory, during the talk.
    call = row(control, f"c{MAX_ID}").get_by_role("button", name="Anrufen")
    expect(call).to_be_visible()
    call.click()
    card = ring_card(console)
    expect(card).to_be_visible()
    expect(card).to_contain_text("Arbeit")
    rings = control.locator(".directory-rings")
    expect(rings).to_contain_text("klingelt – noch")
    ring = next(iter(site_state(room).rings.values()))
    assert (ring.contact, ring.topic, ring.room_name) == (MAX_ID, "Arbeit", ROOM_NAME)

    # Max accepts: his browser lands on the room's join page and joins.
    card.get_by_role("button", name="Annehmen").click()
    expect(console.get_by_role("heading", name="Zur Beratung dazukommen")).to_be_visible()
    assert re.fullmatch(re.escape(room.room.link.base_url) + r"/join/[A-Za-z0-9_-]{16,200}",
                        console.url)
    expect(rings).to_contain_text("angenommen von Max Mustermann")
    console.get_by_role("button", name="Beitreten").click()
    expect(console.get_by_role("heading", name="Sie werden gleich zugelassen")).to_be_visible()

    # The client consents on the kiosk; rung in by the counsellor, Max is admitted already.
    expect(kiosk.locator(".consent")).to_contain_text("Max Mustermann")
    expect(kiosk.locator(".consent")).to_contain_text("Arbeit")
    kiosk.get_by_role("button", name="Ja, einverstanden").click()
    partners = control.locator(".control-partners")
    expect(partners).to_contain_text("zugestimmt")
    expect(partners).to_contain_text("zugelassen")
    expect(partners.get_by_role("button", name="Zulassen")).to_have_count(0)

    # The partner's tile on /display, and its video decodes frames.
    expect(display.locator("figure.tile figcaption")).to_have_text(
        "Max Mustermann · Jobcenter Musterstadt")
    deadline = time.monotonic() + 15
    while frames_on_display(display) < 10:
        assert time.monotonic() < deadline, "the display decodes no frames of the partner"
        time.sleep(0.2)
    expect(console.get_by_role("status")).to_have_text("Sie sind im Gespräch.")
    partner = room.state.partners[0]
    assert (partner.name, partner.agency, partner.consent, partner.admitted, partner.state) == (
        "Max Mustermann", "Jobcenter Musterstadt", "granted", True, "connected")
    expect(rings).to_contain_text("angenommen von Max Mustermann – kommt dazu")
    assert site_state(room).status(MAX_ID) == "busy"  # he is in a call now


def test_a_decline_s_reason_and_an_unanswered_ring_show_on_control(ring_room, new_page):
    room = ring_room
    control = control_in_a_talk(new_page, room)
    console = console_page(new_page, room)
    rings = control.locator(".directory-rings")

    # Anrufen, declined as "keine Zeit": /control names the reason.
    row(control, f"c{MAX_ID}").get_by_role("button", name="Anrufen").click()
    ring_card(console).get_by_role("button", name="Ablehnen: keine Zeit").click()
    expect(rings).to_contain_text("abgelehnt – keine Zeit")
    expect(ring_card(console)).to_have_count(0)
    expect(console.locator("#notes")).to_contain_text(f"Sie haben den Anruf aus {ROOM_NAME} "
                                                      "abgelehnt.")

    # The Jobcenter's duty desk, declined as not their matter.
    desk = row(control, f"a{JOBCENTER}")
    expect(desk).to_contain_text("Dienst: 1 verfügbar")
    desk.get_by_role("button", name="Dienst anrufen").click()
    ring_card(console).get_by_role("button",
                                   name="Ablehnen: nicht unsere Zuständigkeit").click()
    expect(rings).to_contain_text("abgelehnt – nicht zuständig")
    by_kind = {r.contact: (r.agency, r.status, r.reason)
               for r in site_state(room).rings.values()}
    assert by_kind == {MAX_ID: (JOBCENTER, "declined", "busy"),
                       None: (JOBCENTER, "declined", "not_our_matter")}

    # Nobody answers: 60 s later (on the site's clock) /control says so, the console too.
    row(control, f"c{MAX_ID}").get_by_role("button", name="Anrufen").click()
    expect(ring_card(console)).to_be_visible()
    eventually(lambda: any(r.status == "ringing" for r in site_state(room).rings.values()))
    room.clock.now += RING_TIMEOUT + 1
    expect(rings).to_contain_text(f"keine Antwort ({int(RING_TIMEOUT)} s)")
    expect(ring_card(console)).to_have_count(0)
    expect(console.locator("#notes")).to_contain_text(
        f"Der Anruf aus {ROOM_NAME} wurde nach 60 Sekunden beendet.")
    assert [r.status for r in site_state(room).rings.values()].count("timeout") == 1
