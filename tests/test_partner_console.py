"""The partner console (/partner, served by the site) in Chromium, beside a real room."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ROOMS_BY_PORT, ThreadedRoom, axe_findings, eventually
from playwright.sync_api import expect
from test_site import JOBCENTER, MAX, MIA, Clock
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

import kiosk.site.console
from kiosk.app.room import Room
from kiosk.config import RoomConfig, SiteConfig
from kiosk.site.console_page import COOKIE
from kiosk.site.presence import PRESENCE_TTL
from kiosk.site.service import Site

MAX_ID = 2
SHOTS = Path(__file__).resolve().parent.parent / ".cache" / "screenshots"


class SiteRoom(ThreadedRoom):
    """A site (with its console server, on a clock the test moves) and a whole room that
    connects to it by endpoint, both on one loop in a thread."""

    def __init__(self, config: RoomConfig, site: SiteConfig, clock: Clock) -> None:
        super().__init__(config)
        self.site_config, self.clock = site, clock

    def start(self) -> SiteRoom:
        self._thread.start()
        self.site = Site(self.site_config, clock=self.clock)
        self.call(self.site.start())
        router, pub = self.site.endpoints
        self.room = Room(self.config.with_(site_router=router, site_pub=pub,
                                           site_keys=self.site.keyring.path))
        self.call(self.room.start())
        ROOMS_BY_PORT[self.room.port] = self
        return self

    def stop(self) -> None:
        ROOMS_BY_PORT.pop(self.room.port, None)
        self.call(self.room.stop())
        self.call(self.site.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    @property
    def console_url(self) -> str:
        return self.site.console_url

    @property
    def link(self):
        return self.room.site_link

    def ring(self, **target):
        reply = self.call(self.link.ring(counsellor="Frau Beispiel", topic="Arbeit", **target))
        assert reply.ok, reply.error
        return reply.data["id"]

    def status(self, contact: int) -> str | None:
        return self.site.controller.presence.status(contact)


@pytest.fixture
def net(room_config, tmp_path, monkeypatch):
    monkeypatch.setattr(kiosk.site.console, "BEAT_EVERY", 0.2)
    site = SiteConfig(data_dir=tmp_path / "site", router="tcp://127.0.0.1:0",
                      pub="tcp://127.0.0.1:0", heartbeat=0.2, http_port=0, demo=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    room = SiteRoom(room_config, site, Clock()).start()
    assert room.command("session.start").ok
    yield room
    room.stop()


def sign_in(new_page, net, email: str = MAX, password: str | None = None, **kwargs):
    page = new_page(net.console_url, signed_in=False, **kwargs)
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort").fill(password or net.site.demo_password)
    page.get_by_role("button", name="Anmelden").click()
    return page


def post(url: str, data: dict, headers: dict | None = None) -> tuple[int, str, dict]:
    body = urllib.parse.urlencode(data).encode()
    request = urllib.request.Request(url, body, headers=headers or {}, method="POST")
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_sign_in_status_presence_and_the_rate_limit(net, new_page, axe_source):
    page = sign_in(new_page, net, password="falsch-falsch", bypass_csp=True)  # for axe
    expect(page.get_by_role("alert")).to_have_text("E-Mail-Adresse oder Passwort stimmt nicht.")
    assert net.status(MAX_ID) is None

    page.get_by_label("Passwort").fill(net.site.demo_password)
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", name="Max Mustermann")).to_be_visible()
    expect(page.locator("#agency")).to_have_text("Jobcenter Musterstadt")
    expect(page.get_by_role("radio", name="Verfügbar")).to_be_checked()
    eventually(lambda: net.status(MAX_ID) == "available")
    page.get_by_role("radio", name="Beschäftigt").click()
    eventually(lambda: net.status(MAX_ID) == "busy")
    eventually(lambda: net.link.state.status(MAX_ID) == "busy")  # the room sees it too
    expect(page.get_by_role("status").first).to_have_text("Ihr Status: Beschäftigt")
    page.get_by_role("radio", name="Abwesend").click()
    eventually(lambda: net.status(MAX_ID) == "away")
    assert axe_findings(page, axe_source) == []
    page.screenshot(path=str(SHOTS / "partner-console.png"), full_page=True)

    # Four more failures from this address (five in all), then 429 even for the right one.
    url = net.console_url
    codes = [post(url, {"email": MAX, "password": f"falsch-{i}"})[0] for i in range(4)]
    assert codes == [403] * 4
    code, text, headers = post(url, {"email": MAX, "password": net.site.demo_password})
    assert code == 429 and "Zu viele" in text and headers["Retry-After"] == "60"
    # Signing out ends the presence at once, and the page asks for a sign-in again.
    page.get_by_role("button", name="Abmelden").click()
    expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    eventually(lambda: net.status(MAX_ID) is None)


def test_a_ring_shows_room_counsellor_topic_and_a_decline_reaches_the_room(net, new_page):
    page = sign_in(new_page, net)
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
    # Signed in (the form's redirect has landed) before the page loads anew.
    expect(page.get_by_role("heading", name="Max Mustermann")).to_be_visible()
    page.reload()  # the websocket again, now watched
    expect(page.get_by_role("heading", name="Max Mustermann")).to_be_visible()
    eventually(lambda: net.link.state.status(MAX_ID) == "available")
    ring = net.ring(contact=MAX_ID)
    card = page.get_by_role("group", name="Anruf aus Beratungsraum 1")
    expect(card).to_be_visible()
    expect(card).to_contain_text("Frau Beispiel")
    expect(card).to_contain_text("Arbeit")
    expect(card.locator(".left")).to_contain_text(re.compile(r"Klingelt noch (59|60) s"))
    expect(card.get_by_role("button", name="Annehmen")).to_be_focused()
    expect(page.locator("body")).to_have_attribute("data-tones", re.compile(r"[1-9]"))
    page.screenshot(path=str(SHOTS / "partner-console-ringing.png"), full_page=True)
    pushed = [json.loads(f) for f in frames if isinstance(f, str)]
    shown = [r for m in pushed for r in m["rings"]]
    assert shown and all(set(r) == {"id", "room", "counsellor", "topic", "left"} for r in shown)

    card.get_by_role("button", name="Ablehnen: keine Zeit").click()
    expect(card).to_have_count(0)
    expect(page.locator("#notes")).to_contain_text("Sie haben den Anruf aus Beratungsraum 1 "
                                                   "abgelehnt.")
    eventually(lambda: [(r.id, r.status, r.reason, r.declines) for r in net.link.rings] == [
        (ring, "declined", "busy", ((MAX_ID, "busy"),))])
    # The room's own ring again, declined as not their matter.
    again = net.ring(contact=MAX_ID)
    page.get_by_role("button", name="Ablehnen: nicht unsere Zuständigkeit").click()
    eventually(lambda: {r.id: r.reason for r in net.link.rings}[again] == "not_our_matter")


def test_accept_leads_straight_into_the_room_s_join_page(net, new_page):
    page = sign_in(new_page, net)
    eventually(lambda: net.link.state.status(MAX_ID) == "available")
    net.ring(contact=MAX_ID)
    page.get_by_role("button", name="Annehmen").click()
    expect(page.get_by_role("heading", name="Zur Beratung dazukommen")).to_be_visible()
    base = net.room.link.base_url
    assert re.fullmatch(re.escape(base) + r"/join/[A-Za-z0-9_-]{16,200}", page.url)
    partner = net.state.partners[0]
    assert (partner.name, partner.agency, partner.purpose) == (
        "Max Mustermann", "Jobcenter Musterstadt", "Arbeit")
    eventually(lambda: net.status(MAX_ID) == "busy")
    page.get_by_role("button", name="Beitreten").click()
    expect(page.get_by_role("heading", name="Sie werden gleich zugelassen")).to_be_visible()


def test_presence_lasts_while_the_page_is_open_and_ends_30_s_after_it_closed(net, new_page):
    page = sign_in(new_page, net)
    eventually(lambda: net.status(MAX_ID) == "available")
    for _ in range(3):  # beats from the open page keep renewing it
        net.clock.advance(PRESENCE_TTL - 5)
        eventually(lambda: net.site.controller.presence._seen[MAX_ID] == net.clock.now)
    assert net.status(MAX_ID) == "available"
    page.close()
    eventually(lambda: not net.site.console.pages)
    net.clock.advance(PRESENCE_TTL - 1)
    eventually(lambda: net.status(MAX_ID) == "available", timeout=0.5)
    net.clock.advance(2)
    eventually(lambda: net.status(MAX_ID) is None)
    eventually(lambda: MAX_ID not in net.link.state.presence)


def test_two_consoles_of_one_desk_one_accepts_the_other_s_ring_goes_away(net, new_page):
    reply = net.site.command(
        "contact.save", agency="Jobcenter Musterstadt", agency_type="Jobcenter",
        name="Mia Musterkollegin", languages="de;en", topics="Arbeit", email=MIA,
        phone="0123 456 7809")
    assert reply.ok, reply.error
    assert net.site.command("account.set", contact=MIA, password=net.site.demo_password).ok
    max_, mia = sign_in(new_page, net), sign_in(new_page, net, MIA)
    expect(mia.get_by_role("heading", name="Mia Musterkollegin")).to_be_visible()
    eventually(lambda: len(net.link.state.desk(JOBCENTER)) == 2)
    net.ring(agency=JOBCENTER)
    for page in (max_, mia):
        expect(page.get_by_role("group", name="Anruf aus Beratungsraum 1")).to_be_visible()
    mia.get_by_role("button", name="Annehmen").click()
    expect(mia.get_by_role("heading", name="Zur Beratung dazukommen")).to_be_visible()
    expect(max_.locator(".ring")).to_have_count(0)
    expect(max_.locator("#notes")).to_contain_text(
        "Eine Kollegin oder ein Kollege hat den Anruf aus Beratungsraum 1 angenommen.")
    assert net.state.partners[0].name == "Mia Musterkollegin"


def test_several_rooms_ring_at_once_and_a_cancelled_ring_goes_away(net, new_page):
    page = sign_in(new_page, net)
    eventually(lambda: net.link.state.status(MAX_ID) == "available")
    first = net.ring(contact=MAX_ID)
    # A second room of the site rings too (its own ring.start as a room would).
    reply = net.call(net.link.send("ring.start", room="raum-9", room_name="Beratungsraum 9",
                                   counsellor="Herr Zwei", topic="Ausbildung", contact=MAX_ID))
    assert reply.ok, reply.error
    expect(page.locator(".ring")).to_have_count(2)
    expect(page.get_by_role("group", name="Anruf aus Beratungsraum 9")).to_contain_text(
        "Ausbildung")
    assert net.call(net.link.cancel(first)).ok
    expect(page.locator(".ring")).to_have_count(1)
    expect(page.locator("#notes")).to_contain_text("Beratungsraum 1 hat den Anruf beendet.")


def cookie_of(net, email: str = MAX) -> str:
    code, _, headers = post(net.console_url, {"email": email,
                                              "password": net.site.demo_password})
    assert code == 303 and headers["Location"] == "/partner"
    return headers["Set-Cookie"].split(";", 1)[0]


async def open_socket(url: str, origin: str, cookie: str):
    ws_url = url.replace("http://", "ws://") + "/ws"
    return await websocket_connect(HTTPRequest(ws_url, headers={"Origin": origin,
                                                                "Cookie": cookie}))


def test_foreign_origins_and_forged_cookies_are_refused(net):
    url = net.console_url
    origin = url.rsplit("/partner", 1)[0]
    cookie = cookie_of(net)

    async def sockets() -> dict:
        ok = await open_socket(url, origin, cookie)
        first = json.loads(await ok.read_message())
        ok.close()
        refused = {}
        for name, (o, c) in {"foreign origin": ("http://evil.example", cookie),
                             "forged cookie": (origin, f"{COOKIE}=2|1:0|10:1|5:abcde|4:YQ==|"
                                                       "0" * 64),
                             "no cookie": (origin, "")}.items():
            try:
                await open_socket(url, o, c)
                refused[name] = None
            except HTTPClientError as exc:
                refused[name] = exc.code
        return {"first": first, "refused": refused}

    with ThreadPoolExecutor(1) as pool:  # playwright's loop may run in this thread
        got = pool.submit(asyncio.run, sockets()).result(30)
    assert got["first"]["name"] == "Max Mustermann" and got["first"]["rings"] == []
    assert got["refused"] == {"foreign origin": 403, "forged cookie": 403, "no cookie": 403}

    # The token itself, unsigned or signed with another secret: not signed in.
    from tornado.web import create_signed_value, decode_signed_value

    secret = net.site.console_server.app.settings["cookie_secret"]
    token = decode_signed_value(secret, COOKIE, cookie.split("=", 1)[1].strip('"')).decode()
    forged = create_signed_value("another-secret", COOKIE, token).decode()
    for value in (f"{COOKIE}={forged}", f"{COOKIE}={token}"):
        page = urllib.request.urlopen(urllib.request.Request(url, headers={"Cookie": value}))
        assert 'action="/partner"' in page.read().decode()
        code, _, _ = post(url + "/status", {}, headers={"Cookie": value})
        assert code == 401
    # Posts from another site are refused, even with the right cookie.
    code, _, _ = post(url + "/status", {}, headers={"Cookie": cookie,
                                                    "Origin": "http://evil.example"})
    assert code == 403
    # Headers: no inline script, no framing, no referrer.
    with urllib.request.urlopen(url) as r:
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp and r.headers["Referrer-Policy"] == "no-referrer"


def _console_of(run, data_dir: Path, timeout: float = 20.0) -> str:
    """The console URL a running ``kiosk`` wrote into site.json, once it answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert run.proc.poll() is None, run.proc.communicate()[1]
        try:
            url = json.loads((data_dir / "site.json").read_text(encoding="utf-8"))["console"]
            with urllib.request.urlopen(url, timeout=2) as r:
                if 'action="/partner"' in r.read().decode():
                    return url
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise AssertionError("the partner console did not answer")


def test_kiosk_demo_and_serve_site_serve_the_console(data_dir, tmp_path):
    from test_cli import Running

    from kiosk.app.room import free_port
    from kiosk.site.service import site_keyring

    port = free_port()
    run = Running("demo", "--port", str(port), "--data-dir", str(data_dir))
    try:
        run.wait_healthy(f"http://localhost:{port}/healthz")  # started, Ctrl-C handled
        url = _console_of(run, data_dir)
    finally:
        code, out, err = run.stop()
    assert code == 0, err
    assert f"{url} (partner console)" in out and "the password" in out

    site_dir = tmp_path / "site"
    site_keyring(site_dir / "site-keys").init()
    port = free_port()
    (tmp_path / "site.toml").write_text(
        f'[site]\ndata_dir = "{site_dir}"\nrouter = "tcp://127.0.0.1:0"\n'
        f'pub = "tcp://127.0.0.1:0"\nhttp_port = {port}\n', encoding="utf-8")
    run = Running("serve", "--config", str(tmp_path / "site.toml"), "--site")
    try:
        assert _console_of(run, site_dir) == f"http://localhost:{port}/partner"
    finally:
        code, out, err = run.stop()
    assert code == 0, err
    assert f"http://localhost:{port}/partner (partner console)" in out


def test_a_console_hears_only_what_changes_for_it(net):
    """Another contact's presence and ring change nothing on this console: it gets no
    message (with a hundred consoles open, each change had sent a hundred states)."""
    url = net.console_url
    origin = url.rsplit("/partner", 1)[0]
    cookie = cookie_of(net)

    async def messages() -> list[dict]:
        ws = await open_socket(url, origin, cookie)
        got = [json.loads(await ws.read_message())]
        while got[-1]["status"] != "available":  # Max's own presence, as it comes
            got.append(json.loads(await asyncio.wait_for(ws.read_message(), 20)))
        erika = await open_socket(url, origin, cookie_of(net, "erika.musterfrau@abh.example.org"))
        await erika.read_message()
        await asyncio.to_thread(eventually, lambda: net.link.state.status(1) == "available")
        await asyncio.to_thread(net.ring, contact=1)  # someone else's presence and ring
        await asyncio.to_thread(net.ring, contact=MAX_ID)  # then Max's own
        got.append(json.loads(await asyncio.wait_for(ws.read_message(), 20)))
        ws.close()
        erika.close()
        return got

    with ThreadPoolExecutor(1) as pool:  # playwright's loop may run in this thread
        *first, second = pool.submit(asyncio.run, messages()).result(60)
    assert first[-1]["rings"] == []
    assert [r["topic"] for r in second["rings"]] == ["Arbeit"]  # the very next message
