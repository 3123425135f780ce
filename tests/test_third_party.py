"""Issue 9, no third-party traffic: with default settings a whole call in Chromium (the
partner's page, the kiosk's consent, the display showing the partner) makes requests
only to the room's own host, and no peer connection is given a STUN or TURN server.
"""

from __future__ import annotations

import ast
import ipaddress
import re
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import ifaddr
from aiortc.rtcicetransport import RTCIceGatherer
from playwright.sync_api import expect

import kiosk
from kiosk.i18n import t

KIOSK = Path(kiosk.__file__).resolve().parent

#: Records every peer connection's configuration and every SDP it sets or gathers.
RTC_SPY = """(() => {
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  const rtc = window.__rtc = { configs: [], sdps: [] };
  const Spy = function (config, ...rest) {
    const pc = new Native(config, ...rest);
    rtc.configs.push(JSON.parse(JSON.stringify(pc.getConfiguration().iceServers || [])));
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete" && pc.localDescription)
        rtc.sdps.push(pc.localDescription.sdp);
    });
    return pc;
  };
  Spy.prototype = Native.prototype;
  Spy.generateCertificate = Native.generateCertificate;
  for (const name of ["setLocalDescription", "setRemoteDescription"]) {
    const native = Native.prototype[name];
    Native.prototype[name] = async function (...args) {
      const result = await native.apply(this, args);
      const d = name === "setLocalDescription" ? this.localDescription : this.remoteDescription;
      if (d) rtc.sdps.push(d.sdp);
      return result;
    };
  }
  window.RTCPeerConnection = Spy;
})();"""


class Traffic:
    """Every request and websocket of the pages it watches, and the text they loaded."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.sockets: list[str] = []
        self.texts: dict[str, str] = {}  # url -> body of HTML and CSS responses
        self.pages = []

    def watch(self, page) -> None:
        self.pages.append(page)
        page.context.on("request", lambda r: self.requests.append(r.url))
        page.context.on("response", self._response)
        page.on("websocket", lambda ws: self.sockets.append(ws.url))
        page.add_init_script(RTC_SPY)

    def _response(self, response) -> None:
        ctype = response.headers.get("content-type", "")
        if ctype.startswith(("text/html", "text/css")):
            try:
                self.texts[response.url] = response.text()
            except Exception:  # a redirect or a body already gone
                pass

    def rtc(self) -> tuple[list, list[str]]:
        configs, sdps = [], []
        for page in self.pages:
            got = page.evaluate("window.__rtc || {configs: [], sdps: []}")
            configs += got["configs"]
            sdps += got["sdps"]
        return configs, sdps


def local_addresses() -> set[str]:
    """This machine's own addresses, on every interface."""
    found = set()
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            found.add(ip.ip if isinstance(ip.ip, str) else ip.ip[0])
    return found


def foreign_candidates(sdps: list[str], own: set[str]) -> list[str]:
    """ICE candidates that are not host candidates of this machine (or mDNS names)."""
    bad = []
    for sdp in sdps:
        for line in re.findall(r"a=candidate:(.*)", sdp):
            fields = line.split()
            address, kind = fields[4], fields[fields.index("typ") + 1]
            if kind != "host" or not (address.endswith(".local") or address in own
                                      or ipaddress.ip_address(address).is_loopback):
                bad.append(line)
    return bad


EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)|"""
                      r"""url\(\s*["']?((?:https?:)?//[^"')]+)|@import\s+["']((?:https?:)?//[^"']+)""",
                      re.IGNORECASE)


def external_references(texts: dict[str, str], host: str) -> list[str]:
    """Resources that HTML or CSS would load from another host (scripts, styles, fonts,
    images, frames): whether or not this run happened to need them."""
    found = []
    for url, text in texts.items():
        for match in EXTERNAL.finditer(text):
            ref = next(g for g in match.groups() if g)
            if urlsplit(ref if "//" in ref[:8] else "http:" + ref).netloc != host:
                found.append(f"{url}: {ref}")
    return found


def frames_decoded(page, video: str) -> int:
    return page.evaluate("""(sel) => { const v = document.querySelector(sel);
        return v && v.srcObject ? (v.getVideoPlaybackQuality().totalVideoFrames || 0) : 0; }""",
                         video)


def wait_for(what: str, predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_a_whole_call_in_chromium_talks_only_to_the_rooms_own_host(live_room, new_page,
                                                                    monkeypatch):
    gatherers: list = []  # the ICE servers every aiortc peer connection of the room got
    native = RTCIceGatherer.__init__

    def spy(self, iceServers=None, *args, **kwargs):  # aiortc names it so
        gatherers.append(iceServers)
        native(self, iceServers, *args, **kwargs)

    monkeypatch.setattr(RTCIceGatherer, "__init__", spy)
    urls = live_room.urls
    host = urlsplit(urls["kiosk"]).netloc
    traffic = Traffic()

    def open_page(url: str):
        page = new_page()
        traffic.watch(page)
        page.goto(url)
        return page

    assert live_room.command("session.start").ok
    kiosk_page = open_page(urls["kiosk"])
    display = open_page(urls["display"])
    reply = live_room.command("partner.invite", agency="Jobcenter", name="Herr Kaya",
                              purpose="Bürgergeld klären", agency_type="Jobcenter")
    assert reply.ok
    partner_id = reply.data["id"]
    partner = open_page(urls["kiosk"].rsplit("/", 1)[0] + reply.data["link"])
    expect(partner.locator("#self")).to_have_js_property("readyState", 4)
    partner.get_by_role("button", name="Beitreten").click()
    expect(partner.get_by_role("heading", name="Sie werden gleich zugelassen")).to_be_visible()
    assert live_room.command("partner.admit", partner=partner_id).ok

    expect(kiosk_page.locator("h1")).to_have_text(t("de", "consent.title"))
    kiosk_page.get_by_role("button", name=t("de", "consent.yes")).click()
    expect(partner.get_by_role("status")).to_have_text("Sie sind im Gespräch.")
    expect(display.locator("figure.tile figcaption")).to_have_text("Herr Kaya · Jobcenter")
    wait_for("the display decodes the partner",
             lambda: display.evaluate("window.kioskFramesDecoded()") >= 10)
    wait_for("the partner decodes the room", lambda: frames_decoded(partner, "#room") >= 10)
    expect(display.locator("figure.self-view video")).to_have_js_property("readyState", 4)

    partner.get_by_role("button", name="Gespräch verlassen").click()
    expect(partner.get_by_role("heading", name="Sie haben das Gespräch verlassen")).to_be_visible()
    assert live_room.command("session.end").ok
    expect(kiosk_page.locator("h1")).to_have_text(t("de", "summary.title"))
    configs, sdps = traffic.rtc()
    for page in traffic.pages:
        page.context.close()  # the last beacons and websocket frames are out

    local = [u for u in traffic.requests if u.startswith(("data:", "blob:"))]
    network = [u for u in traffic.requests if u not in local] + traffic.sockets
    elsewhere = sorted({u for u in network
                        if urlsplit(u).scheme not in ("http", "ws") or urlsplit(u).netloc != host})
    candidates = sum(len(re.findall(r"a=candidate:", s)) for s in sdps)
    foreign = foreign_candidates(sdps, local_addresses())
    external = external_references(traffic.texts, host)
    print(f"\nrequests: {len(network) - len(traffic.sockets)}, websockets: "
          f"{len(traffic.sockets)}, all to {host} but {len(elsewhere)}; data:/blob: "
          f"{len(local)}; HTML/CSS scanned: {len(traffic.texts)}, external references: "
          f"{len(external)}; browser peer connections: {len(configs)}, SDPs: {len(sdps)}, "
          f"candidates: {candidates}, not host: {len(foreign)}; aiortc ICE gatherers: "
          f"{len(gatherers)}, with servers: {sum(g != [] for g in gatherers)}")
    assert len(network) > 20 and traffic.sockets and candidates > 0
    assert elsewhere == []
    assert external == []
    assert len(configs) >= 3 and all(c == [] for c in configs)  # partner, display, self-view
    assert foreign == []
    assert len(gatherers) >= 3 and all(g == [] for g in gatherers)  # never None: no STUN


def test_every_aiortc_peer_connection_in_kiosk_gets_explicit_ice_servers():
    """aiortc asks stun.l.google.com when a connection has no configuration, or one
    whose iceServers is None: every construction in kiosk/ must pass them."""
    made, problems = 0, []
    for path in sorted(KIOSK.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
            where = f"{path.relative_to(KIOSK.parent)}:{node.lineno}"
            if name == "RTCPeerConnection":
                made += 1
                if not node.args and not node.keywords:
                    problems.append(f"{where}: RTCPeerConnection() without a configuration")
            elif name == "RTCConfiguration":
                servers = next((k.value for k in node.keywords if k.arg == "iceServers"),
                               node.args[0] if node.args else None)
                if servers is None or (isinstance(servers, ast.Constant)
                                       and servers.value is None):
                    problems.append(f"{where}: RTCConfiguration without iceServers")
    print(f"\n{made} RTCPeerConnection constructions in kiosk/, {len(problems)} without "
          "explicit ICE servers")
    assert made >= 5 and problems == []


def test_the_default_configuration_names_no_ice_server(live_room):
    from kiosk.config import RoomConfig

    assert RoomConfig().ice_servers == ()
    assert live_room.room.engine.config.iceServers == []
    reply = live_room.command("session.start")
    assert reply.ok
    reply = live_room.command("partner.invite", agency="Jobcenter")
    link = live_room.urls["kiosk"].rsplit("/", 1)[0] + reply.data["link"]
    with urllib.request.urlopen(link, timeout=10) as resp:
        page = resp.read().decode()
    assert 'data-ice="[]"' in page


def test_the_checks_see_foreign_candidates_and_references():
    own = {"10.0.0.2"}
    assert foreign_candidates([
        "a=candidate:1 1 udp 1 203.0.113.5 3478 typ srflx raddr 10.0.0.2 rport 5000",
        "a=candidate:2 1 udp 1 192.0.2.9 3478 typ relay raddr 10.0.0.2 rport 5000",
        "a=candidate:3 1 udp 1 198.51.100.7 5000 typ host"], own) == [
        "1 1 udp 1 203.0.113.5 3478 typ srflx raddr 10.0.0.2 rport 5000",
        "2 1 udp 1 192.0.2.9 3478 typ relay raddr 10.0.0.2 rport 5000",
        "3 1 udp 1 198.51.100.7 5000 typ host"]
    assert foreign_candidates(["a=candidate:1 1 udp 1 10.0.0.2 5000 typ host\r\n"
                               "a=candidate:2 1 udp 1 127.0.0.1 5001 typ host\r\n"
                               "a=candidate:3 1 udp 1 5f1c.local 5002 typ host"], own) == []
    found = external_references({
        "/a": '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Inter">',
        "/b": "@font-face { src: url(//cdn.example/f.woff2) }",
        "/c": '@import "https://cdn.jsdelivr.net/x.css";',
        "/d": '<script src="/static/js/bokeh.min.js"></script> url(/a.png) '
              '<a href="http://localhost:1/kiosk">'}, "localhost:1")
    assert [f.split(": ")[0] for f in found] == ["/a", "/b", "/c"]
