"""The room across real networks: a partner in another organisation's office, behind NAT
and a firewall that drops all UDP and passes only TCP 443, joins by link through the
agency's TLS reverse proxy and TURN over TLS; a client at home behind NAT visits; the
partner console takes a ring through the proxy; a cut network comes back through TURN.

Real parts only (tests/fieldnet.py): network namespaces, nftables, nginx with a
throwaway CA, coturn with time-limited credentials, Chromium inside the namespaces
trusting the CA through an NSS database, the room in this process. A control run
without the TURN url gets no picture, so the test cannot pass for the wrong reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator

import pytest
from conftest import CHROMIUM_ARGS, TEST_PASSWORD, ThreadedRoom
from fieldnet import TURN_HOST, FieldNet, Namespace, field_net  # noqa: F401
from playwright.sync_api import expect
from test_directory_ui import MAX, MAX_ID, site_state

from kiosk.app.room import free_port
from kiosk.config import RoomConfig, SiteConfig
from kiosk.room.keys import Keyring

#: getStats on a page: the selected pair's local candidate (type, relay protocol).
SELECTED = """async () => {
    const pc = window.kioskCall && window.kioskCall.call.pc;
    if (!pc) return null;
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId)
        pair = stats.get(s.selectedCandidatePairId); });
    if (!pair) stats.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated
        && s.state === 'succeeded') pair = s; });
    if (!pair) return null;
    const local = stats.get(pair.localCandidateId);
    return {type: local.candidateType, relayProtocol: local.relayProtocol || '',
            address: local.address || ''};
}"""


def decoded(page) -> int:
    return page.evaluate("""() => { const v = document.getElementById('room');
        return v && v.srcObject ? (v.getVideoPlaybackQuality().totalVideoFrames || 0) : 0; }""")


def received(page) -> dict:
    """From getStats: bytes and decoded frames that really came in over RTP."""
    return page.evaluate("""async () => {
        const pc = window.kioskCall && window.kioskCall.call.pc;
        const out = {bytes: 0, frames: 0};
        if (!pc) return out;
        (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp') {
            out.bytes += s.bytesReceived || 0; out.frames += s.framesDecoded || 0; } });
        return out; }""")


def on_display(display) -> int:
    return display.evaluate("window.kioskFramesDecoded ? window.kioskFramesDecoded() : 0")


def until(predicate: Callable[[], bool], what: str | Callable[[], str],
          timeout: float = 30.0, net: FieldNet | None = None) -> None:
    """Wait for ``predicate``; else fail with ``what`` (or what it returns then) and the
    networks' counters and logs."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            what = what() if callable(what) else what
            raise AssertionError(what + ("\n" + net.diagnostics() if net else ""))
        time.sleep(0.2)


async def engine_counters(room: ThreadedRoom) -> dict:
    """What the room's media engine counted, per partner (read on the room's loop)."""
    return room.room.engine.counters()


class Field:
    """A room behind the agency's proxy, its field networks and browsers where people sit."""

    def __init__(self, room: ThreadedRoom, net: FieldNet, browser) -> None:
        self.room, self.net, self._browser = room, net, browser
        self._opened: list = []

    def browser_in(self, ns: Namespace):
        """Chromium inside ``ns`` (its HOME trusts the throwaway CA)."""
        b = self._browser.browser_type.launch(
            executable_path=str(self.net.chromium_executable(ns)),
            args=[*CHROMIUM_ARGS, *self.net.chromium_args()])
        self._opened.append(b)
        return b

    def page_in(self, ns: Namespace, path: str):
        context = self.browser_in(ns).new_context(viewport={"width": 1366, "height": 768})
        page = context.new_page()
        page.goto(self.net.room_url + path)
        return page

    def close(self) -> None:
        for b in self._opened:
            b.close()


@pytest.fixture
def field(field_net, data_dir, browser) -> Iterator[Callable[..., Field]]:  # noqa: F811
    """``field(turn=True, site=False)``: the room (with TURN or without), its field
    networks, the agency's proxy in front of it."""
    made: list[Field] = []

    def make(*, turn: bool = True, site: bool = False) -> Field:
        port, console = free_port(), free_port() if site else None
        net = field_net(port, console_port=console)
        Keyring(data_dir / "keys").init()
        turn_config = {
            "urls": [f"turns:{TURN_HOST}:443?transport=tcp",
                     f"turn:{TURN_HOST}:3478?transport=udp"],
            "secret": net.turn_secret, "ttl": 14400,
            # The room PC reaches coturn on the agency's network, by address.
            "room_url": f"turn:{net.addresses.turn}:3478?transport=udp"} if turn else None
        config = RoomConfig(data_dir=data_dir, http_port=port, bus_router="tcp://127.0.0.1:0",
                            bus_pub="tcp://127.0.0.1:0", camera_watch=False,
                            public_url=net.room_url, trusted_proxies=("127.0.0.1",),
                            turn=turn_config)
        site_config = SiteConfig(
            data_dir=data_dir / "site", router="tcp://127.0.0.1:0", pub="tcp://127.0.0.1:0",
            heartbeat=0.2, demo=True, http_port=console, trusted_proxies=("127.0.0.1",),
            public_url=net.room_url) if site else None
        room = ThreadedRoom(config, site=site_config).start()
        f = Field(room, net, browser)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()
        f.room.stop()


def invite_and_join(f: Field, ns: Namespace):
    """The counsellor invites; the partner opens the link in ``ns``, passes the device
    check and joins; admitted, with the client's consent."""
    room = f.room
    assert room.command("session.start").ok
    reply = room.command("partner.invite", agency="Ausländerbehörde", name="Frau Demir")
    page = f.page_in(ns, reply.data["link"])
    expect(page.locator("#self")).to_have_js_property("readyState", 4)  # device check
    page.get_by_role("button", name="Beitreten").click()
    expect(page.get_by_role("heading", name="Sie werden gleich zugelassen")).to_be_visible(
        timeout=30_000)
    assert room.command("partner.admit", partner=reply.data["id"]).ok
    assert room.command("consent.answer", as_="kiosk", partner=reply.data["id"], yes=True,
                        version="de:test").ok
    return page


def test_a_partner_behind_an_office_firewall_joins_through_the_proxy_and_turn_over_tls(
        field, new_page, caplog):
    caplog.set_level(logging.DEBUG)  # every line the room and aiortc log during the call
    f = field()
    net = f.net
    udp_before = net.office_udp_drops()
    display = new_page(f.room.urls["display"])  # the room's second display, on the room PC
    page = invite_and_join(f, net.office)
    expect(page.get_by_role("status")).to_have_text("Sie sind im Gespräch.", timeout=30_000)
    until(lambda: on_display(display) >= 60, lambda: (
        f"the display decodes no 60 partner frames ({on_display(display)}); the room's "
        f"engine: {f.room.call(engine_counters(f.room))}"), timeout=90, net=net)
    until(lambda: decoded(page) >= 30, "the partner's page decodes no picture of the room",
          net=net)
    selected = page.evaluate(SELECTED)
    assert selected is not None and selected["type"] == "relay", selected
    assert selected["relayProtocol"] == "tls", selected  # TURN over TLS on 443
    assert net.office_udp_drops() > udp_before  # the office's firewall did drop UDP
    partner = f.room.state.partners[0]
    assert partner.state == "connected" and partner.admitted
    # The page had credentials of its own; the secret is nowhere a person could read it.
    assert "turns:" in page.locator("body").get_attribute("data-ice")
    assert net.turn_secret not in page.content()
    assert net.turn_secret not in (f.room.config.data_dir / "room.json").read_text()

    # The office's network goes away and comes back: the page reconnects through TURN,
    # with credentials fetched fresh for the new connection.
    links = [line.split(":")[1].split("@")[0].strip() for line in net.office.run(
        ["ip", "-o", "link", "show"]).stdout.splitlines() if "LOOPBACK" not in line]
    for link in links:
        net.office.run(["ip", "link", "set", link, "down"], check=True)
    expect(page.get_by_role("status")).to_contain_text("verbinde neu", timeout=30_000)
    for link in links:
        net.office.run(["ip", "link", "set", link, "up"], check=True)
    net.office.run(["ip", "route", "replace", "default", "via", net.addresses.office_gw_lan],
                   check=True)
    expect(page.get_by_role("status")).to_have_text("Sie sind im Gespräch.", timeout=40_000)
    before = decoded(page)
    until(lambda: decoded(page) >= before + 30, "no picture after the reconnect", timeout=60,
          net=net)
    fresh = page.evaluate("""() => performance.getEntriesByType('resource')
        .filter((e) => e.name.endsWith('/ice')).map((e) => e.responseStatus)""")
    assert fresh and fresh[-1] == 200, fresh  # the new connection's, fetched once online
    assert page.evaluate(SELECTED)["type"] == "relay"
    assert len(f.room.state.partners) == 1  # the same call, no new admission
    assert not any(net.turn_secret in r.getMessage() for r in caplog.records)


def test_without_the_turn_url_the_office_partner_gets_no_picture(field, new_page):
    """The control run: same networks, same proxy, no TURN; nothing may flow."""
    f = field(turn=False)
    display = new_page(f.room.urls["display"])
    page = invite_and_join(f, f.net.office)
    time.sleep(15)  # far longer than the TURN run needs for its first frames
    assert on_display(display) == 0
    assert received(page) == {"bytes": 0, "frames": 0}  # not one RTP byte from the room
    partner = f.room.state.partners[0].id
    assert f.room.room.engine.counters().get(partner, {}).get("received", 0) == 0
    assert f.room.state.partners[0].state != "connected"


def test_a_client_at_home_behind_nat_visits_through_the_proxy(field):
    f = field()
    room = f.room
    start = (dt.datetime.now().astimezone() + dt.timedelta(minutes=5)).isoformat()
    reply = room.command("appointment.create", at=start, email="k@example.org")
    page = f.page_in(f.net.home, f"/visit/{reply.data['visit_token']}")
    page.get_by_role("button", name="Weiter zum Warteraum").click()
    expect(page.get_by_role("heading", name="Bitte warten Sie einen Moment")).to_be_visible(
        timeout=30_000)
    until(lambda: bool(room.state.waiting), "the client never reaches the waiting room")
    assert room.command("visit.admit", id=reply.data["id"]).ok
    expect(page.get_by_role("status")).to_have_text("Sie sind im Gespräch.", timeout=30_000)
    until(lambda: decoded(page) >= 30, "the client's page decodes no picture of the room",
          net=f.net)
    engine = room.room.engine
    client = room.state.partners[0].id
    until(lambda: engine.counters().get(client, {}).get("received", 0) >= 30,
          "the room gets no frames from the client", net=f.net)
    assert page.evaluate(SELECTED)["type"] == "relay"  # the agency lets no host pair in


def test_the_partner_console_rings_through_the_proxy_and_accepts_into_the_public_link(field):
    f = field(site=True)
    room = f.room
    console = f.page_in(f.net.office, "/partner")
    console.get_by_label("E-Mail-Adresse").fill(MAX)
    console.get_by_label("Passwort").fill(room.room.site.demo_password)
    console.get_by_role("button", name="Anmelden").click()
    expect(console.get_by_role("heading", name="Max Mustermann")).to_be_visible(timeout=30_000)
    available = console.get_by_role("radio", name="Verfügbar")
    if not available.is_checked():
        available.click()
    until(lambda: site_state(room).status(MAX_ID) == "available", "Max is not present")
    assert room.command("session.start").ok
    reply = room.call(room.room.site_link.ring(counsellor="Frau Beispiel", topic="Arbeit",
                                               contact=MAX_ID))
    assert reply.ok, reply.error
    card = console.get_by_role("group", name="Anruf aus Beratungsraum 1")
    expect(card).to_be_visible(timeout=15_000)  # pushed over the websocket, through nginx
    card.get_by_role("button", name="Annehmen").click()
    expect(console.get_by_role("heading", name="Zur Beratung dazukommen")).to_be_visible(
        timeout=30_000)
    assert console.url.startswith(f"{f.net.room_url}/join/")  # the room's public link
    console.get_by_role("button", name="Beitreten").click()
    expect(console.get_by_role("heading", name="Sie werden gleich zugelassen")).to_be_visible(
        timeout=30_000)


def test_staff_pages_and_their_websocket_work_through_the_proxy_and_the_room_pc_pages_do_not(
        field):
    """A counsellor's tablet outside the room's LAN signs in through the proxy: the cookie
    is Secure, Panel's websocket connects through nginx; /kiosk and /display stay closed."""
    f = field()
    room = f.room
    assert room.command("staff.add", as_="admin", name="frau-roth", role="counsellor",
                        password=TEST_PASSWORD).ok
    page = f.page_in(f.net.home, "/control")
    page.get_by_label("Name").fill("frau-roth")
    page.get_by_label("Passwort").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("button", name="Sitzung starten")).to_be_visible(timeout=30_000)
    cookie = next(c for c in page.context.cookies() if c["name"].startswith("kiosk"))
    assert cookie["secure"] and cookie["httpOnly"]
    page.get_by_role("button", name="Sitzung starten").click()  # over the websocket
    until(lambda: room.state.phase == "consulting", "the tablet's tap did not reach the room")
    for closed in ("/kiosk", "/display"):
        answer = page.goto(f.net.room_url + closed)
        assert answer.status == 403, closed
