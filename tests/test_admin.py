"""Facility staff's /admin and tablet pairing, in Chromium against a live room."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from conftest import eventually
from playwright.sync_api import expect

from kiosk.access.pairing import PairingCommands
from kiosk.access.pairing_page import cookie_name


def post_code(base: str, code: str, name: str = "Tablet") -> int:
    body = urllib.parse.urlencode({"code": code, "name": name}).encode()
    req = urllib.request.Request(f"{base}/control/pair", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def offer(live_room, new_page):
    """Staff press "Tablet koppeln" on /admin; the code as the second display shows it."""
    admin = new_page(live_room.urls["admin"])
    display = new_page(live_room.urls["display"])
    admin.get_by_role("button", name="Tablet koppeln").click()
    shown = display.locator(".pairing .code")
    expect(shown).to_have_text(re.compile(r"^[A-Z2-9]{4} [A-Z2-9]{4}$"))
    expect(display.locator(".pairing svg")).to_be_visible()  # the QR code
    return admin, display, shown.inner_text().replace(" ", "")


def test_a_tablet_pairs_with_the_code_on_the_display(live_room, new_page, axe_source):
    from conftest import axe_findings

    admin, display, code = offer(live_room, new_page)
    # (CSP bypassed only to run the accessibility checker in the page)
    tablet = new_page(live_room.urls["control"] + "/pair", bypass_csp=True)
    assert axe_findings(tablet, axe_source) == []
    tablet.get_by_label("Code (8 Zeichen)").fill(code.lower()[:4] + "-" + code.lower()[4:])
    tablet.get_by_label("Name dieses Tablets").fill("Tablet Frau Weber")
    tablet.get_by_role("button", name="Koppeln").click()
    expect(tablet).to_have_url(re.compile(r"/control$"))
    expect(tablet.locator(".room").first).to_contain_text("Tablet Tablet Frau Weber")
    expect(tablet.get_by_role("button", name="Sitzung starten")).to_be_visible()
    cookie = next(c for c in tablet.context.cookies() if c["name"] == cookie_name("raum-1"))
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and len(cookie["value"]) >= 43
    # The code leaves the display; the tablet is listed on /admin and reports its health.
    expect(display.locator(".pairing")).to_be_hidden()
    expect(admin.locator(".admin-tablets li")).to_contain_text("Tablet Frau Weber")
    expect(admin.locator("tr[data-device='tablet-1']")).to_contain_text("online")
    expect(admin.locator("tr[data-device='tablet-1']")).to_contain_text("Chromium")
    assert [t.name for t in live_room.state.tablets] == ["Tablet Frau Weber"]
    # Stored only as a hash.
    rows = live_room.room.store.db.execute("SELECT token_hash FROM tablets").fetchall()
    assert rows and cookie["value"] not in rows[0][0]

    # The same code a second time is refused as used.
    other = new_page(f"{live_room.urls['control']}/pair?code={code}")
    expect(other.get_by_label("Code (8 Zeichen)")).to_have_value(code)  # from the QR code
    other.get_by_role("button", name="Koppeln").click()
    expect(other.get_by_role("alert")).to_contain_text("schon benutzt")
    assert not [c for c in other.context.cookies() if c["name"] == cookie_name("raum-1")]

    # Staff unpair the tablet on /admin: its /control shows no controls any more.
    admin.locator(".admin-tablets").get_by_role("button", name="Entkoppeln").click()
    admin.locator(".admin-tablets").get_by_role("button", name="Ja, entkoppeln").click()
    expect(admin.locator(".admin-tablets li")).to_have_text("Kein Tablet gekoppelt.")
    tablet.reload()
    expect(tablet.locator(".control-unpaired")).to_contain_text("nicht (mehr) mit dem Raum")
    expect(tablet.get_by_role("button", name="Sitzung starten")).to_have_count(0)
    assert "tablet-1" not in live_room.state.devices


def test_wrong_codes_are_refused_and_rate_limited(live_room, new_page):
    base = live_room.urls["kiosk"].rsplit("/", 1)[0]
    _, _, code = offer(live_room, new_page)
    tablet = new_page(f"{base}/control/pair")
    tablet.get_by_label("Code (8 Zeichen)").fill("ZZZZ2222" if code != "ZZZZ2222" else "YYYY2222")
    tablet.get_by_role("button", name="Koppeln").click()
    expect(tablet.get_by_role("alert")).to_contain_text("stimmt nicht")
    assert [post_code(base, "WRONG" + str(i)) for i in range(4)] == [403] * 4
    # Five failures this minute from this address: even the right code waits.
    assert post_code(base, code) == 429
    assert live_room.state.tablets == []
    tablet.get_by_label("Code (8 Zeichen)").fill(code)
    tablet.get_by_role("button", name="Koppeln").click()
    expect(tablet.get_by_role("alert")).to_contain_text("Zu viele falsche Versuche")


def test_an_expired_code_is_refused(live_room, new_page):
    _, display, code = offer(live_room, new_page)
    # Five minutes pass (the stored expiry is moved back; the controller checks it).
    live_room.sql("UPDATE pairing_codes SET expires_at = '2000-01-01T00:00:00+00:00'")
    tablet = new_page(f"{live_room.urls['control']}/pair?code={code}")
    tablet.get_by_role("button", name="Koppeln").click()
    expect(tablet.get_by_role("alert")).to_contain_text("abgelaufen")
    assert live_room.state.tablets == []


def test_a_code_leaves_the_display_when_it_expires(live_room, new_page):
    _, display, _ = offer(live_room, new_page)
    ctl = live_room.room.controller
    live_room.call(_expire_now(ctl))
    expect(display.locator(".pairing")).to_be_hidden()
    assert live_room.state.pairing is None


async def _expire_now(ctl) -> None:
    # as if five minutes had passed; the bus sweep removes it
    ctl.feature(PairingCommands)._pairing_deadline = 0.0


def test_admin_and_control_raise_an_alert_when_a_screen_goes_silent(live_room, new_page):
    admin = new_page(live_room.urls["admin"])
    control = new_page(live_room.urls["control"])
    kiosk = new_page(live_room.urls["kiosk"])
    row = admin.locator("tr[data-device='touch']")
    expect(row).to_contain_text("online")
    expect(row).to_contain_text("Chromium")
    expect(admin.locator(".allgood")).to_be_visible()
    expect(control.locator(".control-alerts")).to_be_hidden()
    kiosk.context.close()  # the touch screen's browser is gone
    expect(admin.locator(".alerts")).to_contain_text("Touchscreen offline seit", timeout=9000)
    expect(row).to_contain_text("offline")
    expect(control.locator(".control-alerts")).to_contain_text("Touchscreen offline")
    new_page(live_room.urls["kiosk"])  # back
    expect(admin.locator(".allgood")).to_be_visible(timeout=5000)
    expect(control.locator(".control-alerts")).to_be_hidden()


@pytest.mark.parametrize("page", ["admin"])
def test_admin_has_no_accessibility_findings(live_room, new_page, axe_source, page):
    from conftest import axe_findings

    p = new_page(live_room.urls[page])
    new_page(live_room.urls["kiosk"])
    expect(p.locator("tr[data-device='touch']")).to_be_visible()
    assert axe_findings(p, axe_source) == []
    eventually(lambda: live_room.state.devices["touch"].online)
