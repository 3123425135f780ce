"""Behind the agency's reverse proxy: forwarded headers count only from trusted proxies,
a proxied request is never the room PC, limits count the real client, cookies get Secure.
(The whole path through a real nginx with TLS is in test_field.py.)"""

from __future__ import annotations

import pytest
from conftest import TEST_PASSWORD, ThreadedRoom
from test_access import account, cookie_of, request, sign_in

from kiosk.access.proxies import TrustedProxies, client_address
from kiosk.app.room import free_port
from kiosk.config import RoomConfig, SiteConfig
from kiosk.exceptions import ConfigError
from kiosk.room.keys import Keyring

PROXY = "127.0.0.1"  # the test's own connections come from here


@pytest.mark.parametrize("bad", ["127.0.0.1", ["localhost"], ["10.0.0.0/33"], [7], ["1.2.3"]])
def test_a_malformed_trusted_proxies_stops_the_room_naming_the_key(data_dir, bad):
    with pytest.raises(ConfigError, match=r"\[http\] trusted_proxies"):
        RoomConfig(data_dir=data_dir, trusted_proxies=bad)


def test_trusted_proxies_and_turn_are_read_from_the_file_and_checked(tmp_path):
    good = tmp_path / "room.toml"
    good.write_text('[http]\ntrusted_proxies = ["127.0.0.1", "10.1.0.0/24"]\n'
                    '[media.turn]\nurls = ["turns:turn.example.org:443?transport=tcp"]\n'
                    'secret = "0123456789abcdef0123"\n')
    config = RoomConfig.from_toml(good)
    assert config.trusted_proxies == ("127.0.0.1/32", "10.1.0.0/24")
    assert config.turn.urls == ("turns:turn.example.org:443?transport=tcp",)
    assert "0123456789abcdef0123" not in repr(config)
    for text, key in [('[http]\ntrusted_proxies = ["proxy.example"]\n', r"\[http\] trusted"),
                      ('[media.turn]\nurls = ["http://x"]\nsecret = "0123456789abcdef0"\n',
                       r"\[media.turn\] urls"),
                      ('[media.turn]\nurls = ["turn:x"]\nsecret = "short"\n',
                       r"\[media.turn\] secret"),
                      ('[media.turn]\nurls = ["turn:x"]\nsecret = "0123456789abcdef0"\n'
                       'colour = 1\n', r"\[media.turn\]")]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=key):
            RoomConfig.from_toml(bad)
    with pytest.raises(ConfigError, match=r"\[site\] trusted_proxies"):
        SiteConfig(data_dir=tmp_path, trusted_proxies=["nonsense"])


def test_the_client_is_the_first_untrusted_hop_from_the_right():
    proxies = TrustedProxies.parse(["10.0.0.0/8", "127.0.0.1"])
    assert client_address("127.0.0.1", "203.0.113.7", proxies) == "203.0.113.7"
    # a client that sends its own X-Forwarded-For cannot hide behind it
    assert client_address("127.0.0.1", "198.51.100.1, 203.0.113.7", proxies) == "203.0.113.7"
    assert client_address("127.0.0.1", "198.51.100.1, 10.2.3.4", proxies) == "198.51.100.1"
    assert client_address("192.0.2.9", "203.0.113.7", proxies) == "192.0.2.9"  # untrusted
    assert client_address("127.0.0.1", "not-an-ip", proxies) == "127.0.0.1"
    assert client_address("127.0.0.1", "", proxies) == "127.0.0.1"


@pytest.fixture
def proxied_room(room_config, tmp_path):
    """A room that believes the proxy on its own machine (the test's connections)."""
    data = tmp_path / "proxied"
    Keyring(data / "keys").init()
    room = ThreadedRoom(room_config.with_(trusted_proxies=(PROXY,), http_port=free_port(),
                                          data_dir=data,
                                          public_url="https://raum.agentur.example")).start()
    yield room
    room.stop()


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
             "X-Forwarded-Host": "raum.agentur.example"}


@pytest.mark.parametrize("room_fixture", ["live_room", "proxied_room"])
def test_through_a_proxy_the_room_pcs_pages_stay_closed(request_fixture, room_fixture):
    room = request_fixture(room_fixture)
    for page in ("kiosk", "display"):
        assert request(room, "GET", f"/{page}").status == 200  # a browser on the room PC
        for headers in (FORWARDED, {"X-Forwarded-For": "127.0.0.1"}, {"Via": "1.1 nginx"},
                        {"Forwarded": "for=127.0.0.1"}):
            refused = request(room, "GET", f"/{page}", headers=headers)
            assert refused.status == 403, (page, headers)
    whep = request(room, "POST", "/api/whep/room", headers={
        **FORWARDED, "Content-Type": "application/sdp"})
    assert whep.status == 403


@pytest.fixture
def request_fixture(request):
    return request.getfixturevalue


def test_limits_count_the_real_client_behind_a_trusted_proxy(proxied_room):
    account(proxied_room, "frau-roth", "admin")

    def wrong(client: str) -> int:
        return request(proxied_room, "POST", "/login", body={
            "name": "frau-roth", "password": "falsch-falsch"},
            headers={"X-Forwarded-For": client}).status

    assert [wrong("203.0.113.7") for _ in range(6)] == [403] * 5 + [429]
    assert wrong("198.51.100.20") == 403  # another client behind the same proxy
    assert wrong("203.0.113.7") == 429


def test_forged_forwarded_headers_from_an_untrusted_peer_change_nothing(live_room):
    account(live_room, "frau-roth", "admin")
    statuses = [request(live_room, "POST", "/login", body={
        "name": "frau-roth", "password": "falsch-falsch"},
        headers={"X-Forwarded-For": f"203.0.113.{i}", "X-Forwarded-Proto": "https"}).status
        for i in range(6)]
    assert statuses == [403] * 5 + [429]  # one peer, whatever it claims
    assert sign_in(live_room, "frau-roth").status == 429  # even without a forged header


def test_cookies_are_secure_over_https_or_with_an_https_public_url(live_room, proxied_room):
    account(live_room, "herr-kaya", "counsellor")
    plain = sign_in(live_room, "herr-kaya")
    assert plain.status == 303 and "secure" not in cookie_of(plain)[2].lower()
    forged = request(live_room, "POST", "/login", body={"name": "herr-kaya",
                     "password": TEST_PASSWORD},
                     headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"})
    assert forged.status == 303 and "secure" not in cookie_of(forged)[2].lower()
    account(proxied_room, "herr-kaya", "counsellor")
    secure = sign_in(proxied_room, "herr-kaya")  # public_url is https
    assert secure.status == 303 and "secure" in cookie_of(secure)[2].lower()


@pytest.mark.parametrize("text, key", [
    ('[http]\ntrusted_proxies = ["the proxy"]\n', "[http] trusted_proxies"),
    ('[media.turn]\nurls = ["turns:turn.example.org:443?transport=udp"]\n'
     'secret = "0123456789abcdef0123"\n', "[media.turn] urls"),
])
def test_kiosk_serve_refuses_a_malformed_section_and_starts_nothing(tmp_path, text, key):
    import subprocess
    import sys

    config = tmp_path / "room.toml"
    config.write_text(f'[room]\ndata_dir = "{tmp_path / "data"}"\n' + text)
    out = subprocess.run([sys.executable, "-m", "kiosk", "serve", "--config", str(config)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and key in out.stderr, out.stderr
    assert not (tmp_path / "data" / "room.json").exists()  # nothing was started
