"""TURN for the room: config validation, minted credentials, and a real coturn.

The coturn fixture runs Debian's ``turnserver`` on 127.0.0.1 with free ports, a
self-signed certificate made by the openssl CLI and the REST secret scheme.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import random
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiortc import (
    RTCConfiguration,
    RTCIceTransportPolicy,
    RTCPeerConnection,
)
from aiortc.rtcicetransport import connection_kwargs

from kiosk.exceptions import ConfigError
from kiosk.media.turn import (
    CERT_UNTRUSTED,
    CERT_WRONG_HOST,
    DEFAULT_TTL,
    UNREACHABLE,
    WRONG_SECRET,
    WRONG_STATIC,
    TurnConfig,
    explain_missing_relay,
    mint,
    probe,
    relay_check,
    room_choice_reason,
    room_ice_servers,
)

SECRET = "s3cret-for-tests-0123456789abcdef"
URLS = ["turns:turn.agentur.example:443?transport=tcp", "turn:turn.agentur.example:3478"]
GOOD = {"urls": URLS, "secret": SECRET}
STATIC = {"urls": URLS, "username": "agentur", "credential": "static-credential-xyz"}


# --- configuration ----------------------------------------------------------------------


def test_good_config_defaults() -> None:
    config = TurnConfig.from_mapping(GOOD)
    assert config is not None
    assert config.urls == tuple(URLS)
    assert config.ttl == DEFAULT_TTL == 14400
    assert config.mode == "secret"
    assert [u.transport for u in config.parsed_urls] == ["tcp", "udp"]
    assert [u.port for u in config.parsed_urls] == [443, 3478]


@pytest.mark.parametrize("data", [None, {}])
def test_empty_section_means_off(data: dict | None) -> None:
    assert TurnConfig.from_mapping(data) is None


@pytest.mark.parametrize("data", [
    {**GOOD, "ttl": 300, "room_url": "turn:10.0.0.5:3478?transport=udp"},
    {**GOOD, "ttl": 2 * 86400},
    STATIC,
    {"urls": ["turns:[2001:db8::1]", "turn:turn.example"], "secret": SECRET},
    {"urls": ["turn:turn.example?transport=tcp"], "secret": SECRET},
])
def test_good_configs(data: dict) -> None:
    config = TurnConfig.from_mapping(data)
    assert config is not None and config.urls == tuple(data["urls"])


@pytest.mark.parametrize(("data", "key"), [
    ({**GOOD, "colour": "red"}, "colour"),
    ({"secret": SECRET}, "urls"),
    ({**GOOD, "urls": "turn:turn.example"}, "urls"),
    ({**GOOD, "urls": [3478]}, "urls"),
    ({**GOOD, "urls": []}, "urls"),
    ({**GOOD, "urls": ["stun:turn.example"]}, "urls"),
    ({**GOOD, "urls": ["turn://turn.example:3478"]}, "urls"),
    ({**GOOD, "urls": ["https://turn.example"]}, "urls"),
    ({**GOOD, "urls": ["turns:turn.example:443?transport=udp"]}, "urls"),
    ({**GOOD, "urls": ["turn:turn.example?transport=sctp"]}, "urls"),
    ({**GOOD, "urls": ["turn:turn.example:70000"]}, "urls"),
    ({**GOOD, "urls": ["turn:[zz::1]"]}, "urls"),
    ({**GOOD, "urls": ["turn:a.example", "turn:a.example"]}, "urls"),
    ({**GOOD, "ttl": "4h"}, "ttl"),
    ({**GOOD, "ttl": True}, "ttl"),
    ({**GOOD, "ttl": 60}, "ttl"),
    ({**GOOD, "ttl": 10**6}, "ttl"),
    ({**STATIC, "ttl": 600}, "ttl"),
    ({**GOOD, "secret": "short-secret"}, "secret"),
    ({**GOOD, "secret": 1234567890123456789}, "secret"),
    ({**GOOD, "username": "u", "credential": "c"}, "secret"),
    ({"urls": URLS}, "secret"),
    ({"urls": URLS, "username": "u"}, "credential"),
    ({"urls": URLS, "credential": "c"}, "username"),
    ({"urls": URLS, "username": "", "credential": "c"}, "username"),
    ({**GOOD, "room_url": "stun:10.0.0.5"}, "room_url"),
    ({**GOOD, "room_url": "turn:[::1]:3478"}, "room_url"),
    ({**GOOD, "room_url": 3478}, "room_url"),
    ({"urls": ["turn:[2001:db8::1]"], "secret": SECRET}, "room_url"),
])
def test_bad_config_names_key(data: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        TurnConfig.from_mapping(data)
    assert str(info.value).startswith(f"[media.turn] {key}: ")
    assert SECRET not in str(info.value)


def test_short_secret_says_why() -> None:
    with pytest.raises(ConfigError, match="at least 16 characters.*guessed offline"):
        TurnConfig.from_mapping({**GOOD, "secret": "tiny"})


def test_not_a_table() -> None:
    with pytest.raises(ConfigError, match=r"^\[media.turn\] must be a table"):
        TurnConfig.from_mapping(["turn:x"])  # type: ignore[arg-type]


@pytest.mark.parametrize("data", [GOOD, STATIC])
def test_secrets_never_shown(data: dict) -> None:
    config = TurnConfig.from_mapping(data)
    assert config is not None
    hidden = data.get("secret") or data["credential"]
    credentials = mint(config, "room")
    shown = [repr(config), str(config), config.describe(), json.dumps(config.public_dict()),
             repr(credentials), repr(room_ice_servers(config, "room")[0].urls)]
    for text in shown:
        assert hidden not in text
    assert credentials.credential not in repr(credentials)
    assert config.public_dict()["urls"] == URLS
    assert config.public_dict()["mode"] == ("secret" if "secret" in data else "static")


# --- credentials and the room's choice --------------------------------------------------


def test_mint_rest_credentials() -> None:
    config = TurnConfig.from_mapping({**GOOD, "ttl": 3600})
    assert config is not None
    creds = mint(config, "room-1", now=1_700_000_000.7)
    assert creds.expires == 1_700_003_600
    assert creds.username == "1700003600:room-1"
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), b"1700003600:room-1", hashlib.sha1).digest()).decode()
    assert creds.credential == expected
    assert creds.ice_server() == {"urls": URLS, "username": creds.username,
                                  "credential": expected}


def test_mint_expiry_from_clock() -> None:
    config = TurnConfig.from_mapping(GOOD)
    assert config is not None
    before = int(time.time())
    creds = mint(config, "room")
    assert before + DEFAULT_TTL <= creds.expires <= int(time.time()) + DEFAULT_TTL
    assert creds.username == f"{creds.expires}:room"


def test_mint_sanitizes_label() -> None:
    config = TurnConfig.from_mapping(GOOD)
    assert config is not None
    username = mint(config, "Frau Müller: Büro 3/Ost " + "x" * 80, now=0).username
    expiry, label = username.split(":")
    assert expiry == str(DEFAULT_TTL)
    assert len(label) <= 32 and label.startswith("Frau-M-ller-B-ro-3-Ost")
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in label)
    assert mint(config, "::", now=0).username == f"{DEFAULT_TTL}:kiosk"


def test_mint_static() -> None:
    config = TurnConfig.from_mapping(STATIC)
    assert config is not None
    creds = mint(config, "ignored", now=0)
    assert creds.expires is None
    assert creds.ice_server() == {"urls": URLS, "username": "agentur",
                                  "credential": "static-credential-xyz"}


@pytest.mark.parametrize(("data", "url", "reason"), [
    (GOOD, URLS[0], "TLS"),
    ({**GOOD, "urls": URLS[::-1]}, URLS[0], "TLS"),
    ({**GOOD, "urls": ["turn:a.example?transport=tcp", "turn:b.example"]},
     "turn:a.example?transport=tcp", "first"),
    ({**GOOD, "urls": ["turns:[2001:db8::1]", "turn:b.example"]}, "turn:b.example", "first"),
    ({**GOOD, "room_url": "turn:10.0.0.5:3478?transport=udp"},
     "turn:10.0.0.5:3478?transport=udp", "room_url"),
])
def test_room_uses_one_server(data: dict, url: str, reason: str) -> None:
    config = TurnConfig.from_mapping(data)
    assert config is not None
    servers = room_ice_servers(config, "room", now=0)
    assert len(servers) == 1 and servers[0].urls == [url]
    assert servers[0].username == f"{DEFAULT_TTL}:room"
    assert servers[0].credential == mint(config, "room", now=0).credential
    line = room_choice_reason(config)
    assert line.startswith(f"the room's peers use TURN {url} (") and reason in line
    kwargs = connection_kwargs(servers)  # aiortc's own mapping takes it
    assert kwargs["turn_ssl"] == url.startswith("turns:")
    assert kwargs["turn_username"] == servers[0].username


SDP_HOST = "a=candidate:1 1 udp 2130706431 192.0.2.2 50000 typ host\r\n"
SDP_RELAY = "a=candidate:2 1 udp 8191 127.0.0.1 40001 typ relay raddr 0.0.0.0 rport 9\r\n"


def test_relay_check_and_explanation() -> None:
    assert relay_check("v=0\r\n" + SDP_HOST + SDP_RELAY)
    assert relay_check("candidate:2 1 udp 8191 127.0.0.1 40001 typ relay")
    assert not relay_check("v=0\r\n" + SDP_HOST)
    assert not relay_check("a=candidate:2 1 udp 1 10.0.0.1 1 typ srflx raddr relay")
    config = TurnConfig.from_mapping(GOOD)
    static = TurnConfig.from_mapping(STATIC)
    assert config is not None and static is not None
    text = explain_missing_relay(config)
    for part in (URLS[0], "401", "clock", "certificate", "SSL_CERT_FILE", "unreachable",
                 "denied-peer-ip", "kiosk devices check"):
        assert part in text
    assert SECRET not in text
    assert "username or credential" in explain_missing_relay(static)


# --- a real coturn ----------------------------------------------------------------------


@dataclass(frozen=True)
class Coturn:
    port: int
    "Plain TURN port (udp and tcp)."
    tls_port: int
    "TURN over TLS port."
    cert: Path
    "The self-signed server certificate (for 127.0.0.1)."
    log: Path
    "coturn's log file."

    def config(self, secret: str = SECRET, **extra: object) -> TurnConfig:
        urls = [f"turn:127.0.0.1:{self.port}?transport=udp",
                f"turn:127.0.0.1:{self.port}?transport=tcp",
                f"turns:127.0.0.1:{self.tls_port}?transport=tcp"]
        config = TurnConfig.from_mapping({"urls": urls, "secret": secret, **extra})
        assert config is not None
        return config

    def trusting(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


def _free_port() -> int:
    """A port free for both tcp and udp on 127.0.0.1."""
    while True:
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    if shutil.which("turnserver") is None or shutil.which("openssl") is None:
        pytest.fail("coturn (turnserver) and openssl are needed: run the README's test "
                    "command, which installs them")
    tmp = tmp_path_factory.mktemp("coturn")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
         "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    port, tls_port = _free_port(), _free_port()
    relay_min = random.randrange(20000, 60000, 100)
    log = tmp / "turn.log"
    conf = tmp / "turnserver.conf"
    conf.write_text("\n".join([
        "listening-ip=127.0.0.1", "relay-ip=127.0.0.1",
        f"listening-port={port}", f"tls-listening-port={tls_port}",
        f"min-port={relay_min}", f"max-port={relay_min + 99}",
        "use-auth-secret", f"static-auth-secret={SECRET}", "realm=kiosk.test",
        f"cert={cert}", f"pkey={key}", "no-dtls",
        "allow-loopback-peers", "no-cli", "fingerprint", "verbose",
        f"log-file={log}", "simple-log", f"pidfile={tmp / 'turn.pid'}",
        f"userdb={tmp / 'turndb'}", "",
    ]))
    process = subprocess.Popen(["turnserver", "-c", str(conf)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                pytest.fail(f"turnserver exited: {log.read_text() if log.exists() else ''}")
            try:
                for p in (port, tls_port):
                    socket.create_connection(("127.0.0.1", p), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("turnserver did not open its ports within 10 s")
                time.sleep(0.05)
        yield Coturn(port, tls_port, cert, log)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_probe_udp_tcp_and_tls(coturn: Coturn) -> None:
    config = coturn.config()
    result = await probe(config, ssl_context=coturn.trusting())
    assert result.ok, result.lines()
    assert [r.url for r in result.results] == list(config.urls)
    for r in result.results:
        assert r.relayed is not None and r.relayed[0] == "127.0.0.1"
        assert r.line().endswith(f"ok, relay 127.0.0.1:{r.relayed[1]}")


async def test_probe_wrong_secret(coturn: Coturn) -> None:
    result = await probe(coturn.config(secret="not-the-coturn-secret-000"),
                         ssl_context=coturn.trusting())
    assert not result.ok
    assert {r.cause for r in result.results} == {WRONG_SECRET}
    assert all("401" in r.detail for r in result.results)


async def test_probe_expired_credentials_look_like_clock_skew(coturn: Coturn) -> None:
    config = coturn.config()
    result = await probe(config, now=time.time() - config.ttl - 60, timeout=2)
    assert [r.cause for r in result.results[:2]] == [WRONG_SECRET, WRONG_SECRET]


async def test_probe_untrusted_certificate(coturn: Coturn) -> None:
    config = coturn.config()
    result = await probe(config, ssl_context=ssl.create_default_context())
    tls = result.results[2]
    assert tls.url.startswith("turns:") and not tls.ok
    assert tls.cause == CERT_UNTRUSTED and "self-signed" in tls.detail
    assert result.results[0].ok and result.results[1].ok


async def test_probe_certificate_for_another_host(coturn: Coturn) -> None:
    config = TurnConfig.from_mapping(
        {"urls": [f"turns:localhost:{coturn.tls_port}"], "secret": SECRET})
    assert config is not None
    (tls,) = (await probe(config, ssl_context=coturn.trusting())).results
    assert not tls.ok and tls.cause == CERT_WRONG_HOST and "localhost" in tls.detail


async def test_probe_closed_port(coturn: Coturn) -> None:
    closed = _free_port()
    config = TurnConfig.from_mapping({"secret": SECRET, "urls": [
        f"turn:127.0.0.1:{closed}?transport=tcp", f"turn:127.0.0.1:{closed}?transport=udp"]})
    assert config is not None
    started = time.monotonic()
    result = await probe(config, timeout=0.5)
    assert time.monotonic() - started < 2
    assert [r.cause for r in result.results] == [UNREACHABLE, UNREACHABLE]
    assert "refused" in result.results[0].detail
    assert "0.5 s" in result.results[1].detail


async def test_probe_static_credentials_refused(coturn: Coturn) -> None:
    config = TurnConfig.from_mapping({"urls": [f"turn:127.0.0.1:{coturn.port}"],
                                      "username": "nobody", "credential": "nothing"})
    assert config is not None
    (r,) = (await probe(config)).results
    assert r.cause == WRONG_STATIC


async def _call(room: RTCPeerConnection, partner: RTCPeerConnection) -> str:
    """Offer from the room, answer from the partner; return the partner's first message."""
    loop = asyncio.get_running_loop()
    received: asyncio.Future[str] = loop.create_future()
    channel = room.createDataChannel("chat")
    channel.on("open", lambda: channel.send("hallo über TURN"))

    @partner.on("datachannel")
    def on_datachannel(remote) -> None:
        remote.on("message", lambda m: received.done() or received.set_result(m))

    await room.setLocalDescription(await room.createOffer())
    assert relay_check(room.localDescription.sdp), room.localDescription.sdp
    assert "typ host" not in room.localDescription.sdp
    await partner.setRemoteDescription(room.localDescription)
    await partner.setLocalDescription(await partner.createAnswer())
    await room.setRemoteDescription(partner.localDescription)
    return await asyncio.wait_for(received, 10)


async def test_room_peer_calls_over_tls_relay(coturn: Coturn,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # aiortc verifies turns with the default context: trust the test CA the documented way.
    monkeypatch.setenv("SSL_CERT_FILE", str(coturn.cert))
    config = coturn.config()
    servers = room_ice_servers(config, "room-tls-call")
    assert servers[0].urls == [config.urls[2]]  # the turns: one
    room = RTCPeerConnection(RTCConfiguration(
        iceServers=servers, iceTransportPolicy=RTCIceTransportPolicy.RELAY))
    partner = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        assert await _call(room, partner) == "hallo über TURN"
    finally:
        await room.close()
        await partner.close()
    log = coturn.log.read_text()
    assert f"username=<{servers[0].username}>, lifetime=600, cipher=" in log  # over TLS
    assert f"user <{servers[0].username}>: incoming packet CHANNEL_BIND processed, success" in log


@pytest.mark.parametrize("case", ["wrong secret", "untrusted certificate"])
async def test_failed_turn_gives_no_relay_candidate(coturn: Coturn, case: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    if case == "wrong secret":
        monkeypatch.setenv("SSL_CERT_FILE", str(coturn.cert))
        config = coturn.config(secret="not-the-coturn-secret-000")
    else:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        config = coturn.config()
    room = RTCPeerConnection(RTCConfiguration(iceServers=room_ice_servers(config, "room")))
    try:
        room.createDataChannel("chat")
        await room.setLocalDescription(await room.createOffer())
        sdp = room.localDescription.sdp
    finally:
        await room.close()
    assert "typ host" in sdp  # gathering went on silently ...
    assert not relay_check(sdp)  # ... without the relay


# --- kiosk devices check ----------------------------------------------------------------


def _devices_check(tmp_path: Path, coturn: Coturn, secret: str) -> subprocess.CompletedProcess:
    """``kiosk devices check`` on a room whose [media.turn] names the test's coturn; the
    room PC trusts coturn's certificate as a deployment would (SSL_CERT_FILE)."""
    import os
    import sys

    from test_devices import fake_tree

    urls = ", ".join(f'"{u}"' for u in coturn.config().urls)
    config = tmp_path / "room.toml"
    config.write_text(f'[media.turn]\nurls = [{urls}]\nsecret = "{secret}"\n')
    return subprocess.run(
        [sys.executable, "-m", "kiosk", "devices", "check", "--config", str(config),
         "--data-dir", str(tmp_path / "data"), "--root", str(fake_tree(tmp_path / "root")),
         "--seconds", "0.5"], capture_output=True, text=True, timeout=120,
        env={**os.environ, "SSL_CERT_FILE": str(coturn.cert)})


def test_devices_check_allocates_on_each_turn_url_with_fresh_credentials(tmp_path, coturn):
    out = _devices_check(tmp_path, coturn, SECRET)
    line = next(line for line in out.stdout.splitlines() if line.startswith("PASS  turn"))
    assert line.count("ok, relay 127.0.0.1:") == 3, out.stdout  # udp, tcp and turns
    assert SECRET not in out.stdout + out.stderr


def test_devices_check_names_a_wrong_secret_and_never_prints_it(tmp_path, coturn):
    wrong = "not-the-secret-of-this-coturn"
    out = _devices_check(tmp_path, coturn, wrong)
    assert out.returncode == 1
    line = next(line for line in out.stdout.splitlines() if line.startswith("FAIL  turn"))
    assert line.count("wrong secret or clock skew") == 3, out.stdout
    assert "hint: Compare [media.turn] secret" in out.stdout
    assert wrong not in out.stdout + out.stderr


# --- the room's own peers ---------------------------------------------------------------


@pytest.mark.parametrize("good", [True, False], ids=["right-secret", "wrong-secret"])
def test_the_rooms_peers_relay_through_turn_or_say_why_not(room_config, coturn, caplog, good):
    """A partner joins over WHIP; the room's answer carries a relay candidate from the
    configured TURN server, or the room logs a warning with the likely causes (aiortc
    itself is silent)."""
    from conftest import ThreadedRoom

    from kiosk.media.bot import PartnerBot

    caplog.set_level(logging.INFO, logger="kiosk.media.engine")
    turn = {"urls": [f"turn:127.0.0.1:{coturn.port}?transport=udp"],
            "secret": SECRET if good else "a-secret-coturn-does-not-know"}
    room = ThreadedRoom(room_config.with_(turn=turn)).start()
    try:
        assert room.command("session.start").ok
        reply = room.command("partner.invite", agency="Rentenversicherung")
        bot = PartnerBot(room.urls["kiosk"].rsplit("/", 1)[0] + reply.data["link"])

        async def join() -> str:
            await bot.join()
            answer = bot.pc.remoteDescription.sdp
            await bot.leave()
            return answer

        answer = asyncio.run(join())
    finally:
        room.stop()
    logged = [r.getMessage() for r in caplog.records]
    assert any(f"the room's peers use TURN turn:127.0.0.1:{coturn.port}" in m for m in logged)
    warned = [m for m in logged if m.startswith("No TURN relay candidate")]
    assert relay_check(answer) is good
    assert bool(warned) is not good
    assert not any(turn["secret"] in m for m in logged)
