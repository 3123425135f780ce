"""The field-network harness itself, with real packets: the proxy, the firewalls, NAT,
coturn (TLS, UDP, REST credentials, peer rules, relay to relay), Chromium in a partner's
namespace, and a teardown that leaves nothing behind.

Needs root and Debian's iproute2, nftables, nginx, coturn, libnss3-tools, curl, chromium;
without them the tests fail and say so (``fieldnet.require_field_tools``).
"""

from __future__ import annotations

import asyncio
import json
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import tornado.web
import tornado.websocket
from fieldnet import (
    ROOM_HOST,
    TURN_HOST,
    FieldNet,
    Namespace,
    TurnError,
    field_net,  # noqa: F401  (fixture)
    turn_allocate,
    turn_rest_credentials,
)

FIELDNET = str(Path(__file__).with_name("fieldnet.py"))

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- backends


class _Echo(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write({"headers": dict(self.request.headers), "peer": self.request.remote_ip})


class _WsEcho(tornado.websocket.WebSocketHandler):
    def open(self) -> None:
        self.write_message(json.dumps({"headers": dict(self.request.headers)}))

    def on_message(self, message: str | bytes) -> None:
        self.write_message(f"echo: {message}")


class Backend:
    """A tiny room stand-in on 127.0.0.1 (HTTP /echo and websocket /ws), own thread."""

    def __init__(self) -> None:
        self.port = free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        app = tornado.web.Application([(r"/echo", _Echo), (r"/ws", _WsEcho)])
        server = app.listen(self.port, address="127.0.0.1")
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        server.stop()

    def start(self) -> Backend:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


@pytest.fixture(scope="module")
def backend() -> Iterator[Backend]:
    b = Backend().start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[FieldNet]:
    with FieldNet(tmp_path_factory.mktemp("fieldnet"), backend.port, direct=True) as n:
        yield n


class _Hello(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"hello from the room port\n")


# --------------------------------------------------------------------------- probes

WS_CLIENT = """
import asyncio, json, ssl, sys
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect
async def main():
    ctx = ssl.create_default_context(cafile=sys.argv[1])
    req = HTTPRequest(sys.argv[2], ssl_options=ctx, headers={"Origin": "https://%s" % sys.argv[3]})
    conn = await asyncio.wait_for(websocket_connect(req), 5)
    hello = json.loads(await conn.read_message())
    await conn.write_message("ping")
    echo = await asyncio.wait_for(conn.read_message(), 5)
    print(json.dumps({"hello": hello, "echo": echo}))
asyncio.run(main())
"""

TCP_PROBE = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as s:
        print(s.recv(100).decode().strip())
except OSError as e:
    print("failed:", type(e).__name__)
    sys.exit(1)
"""

UDP_LISTEN = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(float(sys.argv[2]))
print("ready", flush=True)
try:
    data, addr = s.recvfrom(100)
    print("got", data.decode(), addr[0])
except TimeoutError:
    print("nothing")
"""


def curl(ns: Namespace, path: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return ns.run(["curl", "-sS", "-m", "5", *extra, f"https://{ROOM_HOST}{path}"])


# --------------------------------------------------------------------------- 1. proxy


def test_office_reaches_room_through_tls_proxy_with_forwarded_headers(net: FieldNet) -> None:
    a = net.addresses
    assert a is not None
    r = curl(net.office, "/echo", "--cacert", str(net.ca_file),
             "-H", "X-Forwarded-For: 6.6.6.6", "-H", "X-Forwarded-Proto: http",
             "-H", "Forwarded: for=6.6.6.6;proto=http")
    assert r.returncode == 0, r.stderr + net.diagnostics()
    seen = json.loads(r.stdout)
    headers = seen["headers"]
    # the proxy overwrites what the client claimed, and the office is seen NATed
    assert headers["X-Forwarded-For"] == a.office_public, headers
    assert headers["X-Real-Ip"] == a.office_public, headers
    assert a.office_client not in json.dumps(headers)
    assert "6.6.6.6" not in json.dumps(headers) and "Forwarded" not in headers
    assert headers["X-Forwarded-Proto"] == "https"
    assert headers["X-Forwarded-Host"] == ROOM_HOST
    assert headers["Host"] == ROOM_HOST
    assert seen["peer"] == "127.0.0.1"

    # the certificate is checked for real: without the throwaway CA curl refuses
    untrusted = curl(net.office, "/echo")
    assert untrusted.returncode == 60, untrusted


def test_websocket_upgrade_passes_the_proxy(net: FieldNet) -> None:
    a = net.addresses
    assert a is not None
    r = net.office.python(WS_CLIENT, str(net.ca_file), f"wss://{ROOM_HOST}/ws", ROOM_HOST)
    assert r.returncode == 0, r.stderr[-2000:] + net.diagnostics()
    out = json.loads(r.stdout)
    assert out["echo"] == "echo: ping"
    headers = out["hello"]["headers"]
    assert headers["Upgrade"].lower() == "websocket"
    assert headers["X-Forwarded-For"] == a.office_public


# --------------------------------------------------------------------------- 2. office


async def test_office_udp_is_dropped_but_turn_over_tls_443_works(net: FieldNet) -> None:
    a = net.addresses
    assert a is not None
    stun = [sys.executable, FIELDNET, "stun", TURN_HOST, "3478", "--timeout", "1"]
    before = net.office_udp_drops()
    blocked = net.office.run(stun)
    assert blocked.returncode == 1, blocked
    assert net.office_udp_drops() > before
    # the same probe from home answers, with home's NATed address: it is the office's
    # firewall that stops it, not coturn
    home = net.home.run(stun)
    assert home.returncode == 0 and home.stdout.split()[0] == a.home_public, home

    office = await net.turn_client(net.office, "tls", label="office")
    try:
        assert office.relayed[0] == a.turn
        assert office.mapped[0] == a.office_public  # NATed, not 10.20.30.10
    finally:
        await office.close()

    with pytest.raises(TurnError) as wrong:
        await net.turn_client(net.office, "tls", secret="not-the-secret")
    assert wrong.value.code == 401
    with pytest.raises(TurnError) as expired:
        await net.turn_client(net.office, "tls", ttl=-60)
    assert expired.value.code == 401


def test_turn_rest_credentials_format() -> None:
    username, credential = turn_rest_credentials("s3cret", "partner-7", ttl=600, now=1_000)
    assert username == "1600:partner-7"
    # base64(HMAC-SHA1("s3cret", "1600:partner-7")), computed independently with
    # echo -n 1600:partner-7 | openssl dgst -sha1 -hmac s3cret -binary | base64
    assert credential == "YqnwiYpQzGjTDEU2GxvrrwhhyxI="


# --------------------------------------------------------------------------- 3. home


async def test_home_allocates_over_udp_3478(net: FieldNet) -> None:
    a = net.addresses
    assert a is not None
    home = await net.turn_client(net.home, "udp", label="home")
    try:
        assert home.relayed[0] == a.turn
        assert home.mapped[0] == a.home_public  # masqueraded
        assert net.home.address.startswith("192.168.")
    finally:
        await home.close()


# --------------------------------------------------------------------------- 4. agency firewall


def test_agency_firewall_lets_in_only_443_and_turn(net: FieldNet) -> None:
    a = net.addresses
    assert a is not None
    server = socketserver.ThreadingTCPServer(("0.0.0.0", 0), _Hello)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # the port is open: from the agency itself and from the direct partner
        for ns in (net.root, net.direct):
            assert ns is not None
            ok = ns.python(TCP_PROBE, a.proxy, str(port), "2")
            assert ok.returncode == 0 and "hello" in ok.stdout, (ns, ok)
        # from home (which lets any TCP out) the agency firewall drops it
        before = net.agency_drops()
        home = net.home.python(TCP_PROBE, a.proxy, str(port), "1")
        assert home.returncode == 1 and "TimeoutError" in home.stdout, home
        assert net.agency_drops() > before
        # from the office it never gets that far: only TCP 443 leaves the office
        office_before = net.office_drops()
        office = net.office.python(TCP_PROBE, a.proxy, str(port), "1")
        assert office.returncode == 1, office
        assert net.office_drops() > office_before
    finally:
        server.shutdown()
        server.server_close()


def test_agency_udp_leaves_only_from_coturn(net: FieldNet) -> None:
    """No hole punching to the room's host candidates: UDP from any other agency
    address/port toward the internet is dropped (the direct baseline excepted)."""
    a = net.addresses
    assert a is not None and net.direct is not None
    port = 40999
    listeners = {
        ns.label: ns.popen([sys.executable, "-c", UDP_LISTEN, str(port), "1.5"],
                           stdout=subprocess.PIPE, text=True)
        for ns in (net.inet, net.direct)
    }
    for proc in listeners.values():
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    before = net.agency_egress_drops()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((a.proxy, 0))
        for _ in range(3):
            # dropped in the output hook: the sender gets EPERM at once
            with pytest.raises(PermissionError):
                s.sendto(b"to-inet", (a.inet_agency, port))
            s.sendto(b"to-direct", (a.direct, port))
            time.sleep(0.05)
    out = {label: proc.communicate(timeout=5)[0].strip() for label, proc in listeners.items()}
    assert out["inet"] == "nothing", out
    assert out["direct"] == f"got to-direct {a.proxy}", out
    assert net.agency_egress_drops() >= before + 3


# --------------------------------------------------------------------------- 5. relay to relay


async def test_relay_to_relay_between_office_and_room(net: FieldNet) -> None:
    a = net.addresses
    assert a is not None
    office = await net.turn_client(net.office, "tls", label="office")
    username, password = net.turn_credentials("room")
    room = await turn_allocate(a.turn, 3478, transport="udp", username=username,
                               password=password)
    try:
        assert office.relayed[0] == room.relayed[0] == a.turn  # same coturn address
        got_office, got_room = await asyncio.gather(
            office.exchange(room.relayed, b"hello room, office here"),
            room.exchange(office.relayed, b"hello office, room here"),
        )
        assert got_office == b"hello office, room here"
        assert got_room == b"hello room, office here"
        # The peer rules are live: the rest of the agency's /28 is a denied peer (403);
        # only the explicitly allowed proxy/TURN addresses, the room's, get through.
        with pytest.raises(TurnError) as denied:
            await office.exchange((a.inet_agency, 9), b"x", timeout=3, linger=0)
        assert denied.value.code == 403, denied.value
        with pytest.raises(TurnError) as private:
            await room.exchange((net.office.address, 9), b"x", timeout=3, linger=0)
        assert private.value.code == 403, private.value
    finally:
        await office.close()
        await room.close()


# --------------------------------------------------------------------------- Chromium

GATHER = """async ([ice, timeout]) => {
  const pc = new RTCPeerConnection({iceServers: ice, iceTransportPolicy: 'relay'});
  pc.createDataChannel('probe');
  const relay = [], errors = [];
  const done = new Promise(resolve => {
    setTimeout(resolve, timeout);
    pc.onicecandidate = e => {
      if (e.candidate && e.candidate.type === 'relay') {
        relay.push(e.candidate.address);
        resolve();
      }
      if (!e.candidate) resolve();
    };
  });
  pc.onicecandidateerror = e => errors.push(`${e.url} ${e.errorCode} ${e.errorText}`);
  await pc.setLocalDescription(await pc.createOffer());
  await done;
  pc.close();
  return {relay, errors};
}"""


async def test_chromium_in_partner_namespaces(net: FieldNet) -> None:
    """Chromium in the office trusts the CA (NSS db in its HOME), is seen NATed, and gets
    a relay candidate over TURN/TLS 443 by name; at home TURN/UDP by name works (needs
    the trailing-dot alias in the namespace's hosts)."""
    from playwright.async_api import async_playwright

    a = net.addresses
    assert a is not None
    async with async_playwright() as pw:
        for ns, url in ((net.office, f"turns:{TURN_HOST}:443?transport=tcp"),
                        (net.home, f"turn:{TURN_HOST}:3478?transport=udp")):
            browser = await pw.chromium.launch(
                executable_path=str(net.chromium_executable(ns)), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                response = await page.goto(f"{net.room_url}/echo")
                assert response is not None and response.ok
                headers = (await response.json())["headers"]
                assert headers["X-Forwarded-For"] == ns.public_address
                username, credential = net.turn_credentials(f"chromium-{ns.label}")
                ice = [{"urls": [url], "username": username, "credential": credential}]
                found = await page.evaluate(GATHER, [ice, 8000])
                assert found["relay"] and set(found["relay"]) == {a.turn}, (ns, found)
            finally:
                await browser.close()


# --------------------------------------------------------------------------- 6. teardown


def _leftovers(names: list[str], veth: str, table: str, pids: list[int]) -> list[str]:
    """What of these is still there (zombies count as gone)."""
    found: list[str] = []
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [n for n in names if n in listed]
    if Path(f"/sys/class/net/{veth}").exists():
        found.append(veth)
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    if table in tables:
        found.append(table)
    found += [f"/etc/netns/{n}" for n in names if Path(f"/etc/netns/{n}").exists()]
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] != "Z":
            found.append(f"pid {pid}")
    return found


def _populate(n: FieldNet) -> tuple[list[str], list[int]]:
    """Start strays in the namespaces and check everything exists before teardown."""
    tracked = n.home.popen(["sleep", "300"])
    # not started through popen: only the sweep of the namespace's pids can end it
    stray = n.office.run(["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"], check=True)
    pids = [*n.process_ids(), tracked.pid, int(stray.stdout)]
    names = n.namespace_names()
    assert len(names) >= 6
    present = _leftovers(names, n.veth, n.table, pids)
    assert set(names) <= set(present) and n.veth in present and n.table in present
    assert all(f"pid {p}" in present for p in pids), (present, pids)
    assert subprocess.run(["nft", "list", "table", "inet", n.table]).returncode == 0
    return names, pids


def test_teardown_leaves_nothing_behind(
        field_net: Callable[..., FieldNet], net: FieldNet, tmp_path: Path) -> None:  # noqa: F811
    # a second harness next to the module's one: another slot, no collision
    n = field_net(free_port())
    assert n.addresses is not None and net.addresses is not None
    assert n.addresses.slot != net.addresses.slot
    assert n.addresses.proxy != net.addresses.proxy and n.id != net.id
    names, pids = _populate(n)
    n.close()
    assert _leftovers(names, n.veth, n.table, pids) == []

    # and when the test fails inside the harness
    with pytest.raises(RuntimeError, match="test failed here"):
        with FieldNet(tmp_path / "failing", free_port()) as failing:
            names, pids = _populate(failing)
            veth, table = failing.veth, failing.table
            raise RuntimeError("test failed here")
    assert _leftovers(names, veth, table, pids) == []
