"""Staff sign in with the agency's directory: a real OpenLDAP server (tests/ldapserver.py).

First the directory client on its own (roles, refusals, injection, TLS, a server that
hangs, the settings), then whole rooms: /login per role, refusals that count like
wrong passwords, people removed or disabled while signed in, the directory down (and
the local fallback account), ``kiosk staff`` and ``kiosk devices check``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TEST_PASSWORD, ThreadedRoom, eventually
from ldapserver import (
    GROUP_OF,
    PEOPLE,
    SERVICE_DN,
    SERVICE_PASSWORD,
    USER_FILTER,
    Slapd,
    dn_of,
    free_port,
    password_of,
)
from test_access import cookie_of, request, session_token, sign_in
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from kiosk.access import web
from kiosk.access.ldap import DirectoryConfig, StaffDirectory, user_filter
from kiosk.cli.devices import check_directory
from kiosk.cli.main import main
from kiosk.config import RoomConfig
from kiosk.exceptions import ConfigError

LOCAL_ADMIN = "haustechnik-lokal"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Slapd:
    """One slapd for the module (started in ~0.1 s); stopped by its pid at the end."""
    slapd = Slapd(tmp_path_factory.mktemp("slapd")).start()
    yield slapd
    slapd.stop()


@pytest.fixture
def slapd(server: Slapd) -> Slapd:
    """The module's slapd, running (a test that stops it starts it again here)."""
    if not server.running:
        server.start()
    return server


@pytest.fixture(scope="module")
def secret(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("secrets") / "ldap.secret"
    path.write_text(SERVICE_PASSWORD + "\n")
    path.chmod(0o600)
    return path


def settings(slapd: Slapd, secret: Path, **changes) -> DirectoryConfig:
    """The test directory as an agency's IT would write it: LDAPS with its own CA."""
    values = dict(url=slapd.ldaps_url, ca_file=str(slapd.ca_file), bind_dn=SERVICE_DN,
                  bind_password_file=str(secret), user_base=PEOPLE, user_filter=USER_FILTER,
                  groups=tuple(GROUP_OF.items()), timeout=2)
    return DirectoryConfig(**{**values, **changes})


async def ask(config: DirectoryConfig, name: str, password: str):
    directory = StaffDirectory(config)
    try:
        return await directory.sign_in(name, password)
    finally:
        await directory.close()


# -- the directory client --------------------------------------------------------------
async def test_each_role_signs_in_by_its_group(slapd, secret):
    config = settings(slapd, secret)
    for name, role in [("anna.berger", "counsellor"), ("hans.technik", "admin"),
                       ("eva.statistik", "evaluator")]:
        outcome = await ask(config, name.upper(), password_of(name))  # any case
        assert (outcome.name, outcome.role) == (name, role), outcome
        assert [outcome.dn] == slapd.search(f"(sAMAccountName={name})")  # "cn=Berger\2C Anna"


async def test_refusals_are_refusals_not_outages(slapd, secret):
    config = settings(slapd, secret)
    refused = {
        "wrong password": ("anna.berger", "falsch-falsch-1"),
        "in no group": ("paul.niemand", password_of("paul.niemand")),
        "disabled (userAccountControl bit 2)": ("olaf.alt", password_of("olaf.alt")),
        "unknown": ("niemand.sonst", "irgendwas-123"),
        "empty password (an anonymous bind)": ("anna.berger", ""),
    }
    for why, (name, password) in refused.items():
        outcome = await ask(config, name, password)
        assert not outcome.ok and outcome.refused and not outcome.unavailable, (why, outcome)
    # The no-group and disabled people typed their right password: only the groups and the
    # filter refuse them (a control: their plain bind works).
    assert slapd.bind(dn_of("paul.niemand"), password_of("paul.niemand"))
    assert slapd.bind(dn_of("olaf.alt"), password_of("olaf.alt"))


@pytest.mark.parametrize("attack", ["anna*", "anna.berger)(objectClass=*", "anna.berge\\72",
                                    "*"])
async def test_ldap_injection_in_the_name_finds_nobody(slapd, secret, attack):
    """Unescaped, each name would find Anna (or everyone): with her password the attacker
    would sign in as her. Escaped, it finds nobody."""
    config = settings(slapd, secret)
    anna = slapd.search("(sAMAccountName=anna.berger)")
    assert set(anna) <= set(slapd.search(USER_FILTER.replace("{name}", attack)))
    assert slapd.search(user_filter(config, attack)) == []
    outcome = await ask(config, attack, password_of("anna.berger"))
    assert not outcome.ok and not outcome.unavailable, outcome


async def test_a_nul_in_the_name_is_refused_and_escaped(slapd, secret):
    config = settings(slapd, secret)
    assert "anna.berger\\00" in user_filter(config, "anna.berger\x00")
    outcome = await ask(config, "anna.berger\x00", password_of("anna.berger"))
    assert not outcome.ok and "control characters" in outcome.refused


async def test_starttls_and_plain_ldap_when_allowed(slapd, secret):
    for config in (settings(slapd, secret, url=slapd.ldap_url, starttls=True),
                   settings(slapd, secret, url=slapd.ldap_url, allow_plain=True, ca_file="")):
        assert (await ask(config, "anna.berger", password_of("anna.berger"))).role == \
            "counsellor"


async def test_a_certificate_of_another_ca_or_host_is_refused_with_its_cause(slapd, secret):
    untrusted = await ask(settings(slapd, secret, ca_file=str(slapd.other_ca_file)),
                          "anna.berger", password_of("anna.berger"))
    assert not untrusted.ok and "not trusted" in untrusted.unavailable
    assert str(slapd.other_ca_file) in untrusted.unavailable
    starttls = await ask(settings(slapd, secret, url=slapd.ldap_url, starttls=True,
                                  ca_file=str(slapd.other_ca_file)),
                         "anna.berger", password_of("anna.berger"))
    assert "not trusted" in starttls.unavailable
    # The certificate names 127.0.0.1 and ldap.agentur.example, not localhost.
    wrong_host = await ask(settings(slapd, secret, url=f"ldaps://localhost:{slapd.tls_port}"),
                           "anna.berger", password_of("anna.berger"))
    assert "does not name the host localhost" in wrong_host.unavailable


async def test_a_bind_as_a_dn_from_the_template(slapd, secret):
    """``user_dn_template`` without a service account: the person binds first and reads
    the groups; between sign-ins people are looked up anonymously, which this directory
    does not allow: the probe says so."""
    config = settings(slapd, secret, bind_dn="", bind_password_file="",
                      user_dn_template=f"uid={{name}},{PEOPLE}")
    assert (await ask(config, "tina.vorlage", password_of("tina.vorlage"))).role == "counsellor"
    assert not (await ask(config, "tina.vorlage", "falsch-falsch-1")).ok
    directory = StaffDirectory(config)
    try:
        probe = await directory.probe()
    finally:
        await directory.close()
    assert "not readable by an anonymous bind" in probe.refused


async def test_the_service_accounts_faults_are_the_directorys_not_the_users(slapd, tmp_path):
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("nicht-das-passwort")
    outcome = await ask(settings(slapd, wrong), "anna.berger", password_of("anna.berger"))
    assert "service" not in outcome.refused and "bind of cn=kiosk" in outcome.unavailable


async def test_a_directory_that_hangs_is_given_up_within_the_timeout(slapd, secret):
    """A server that accepts connections and never answers (a stuck DC): the answer comes
    after ``timeout`` seconds, and the room's loop runs on meanwhile."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        config = settings(slapd, secret, url=f"ldap://127.0.0.1:{port}", allow_plain=True,
                          ca_file="", timeout=1)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        started = time.monotonic()
        outcome = await ask(config, "anna.berger", password_of("anna.berger"))
        took = time.monotonic() - started
        ticker.cancel()
    assert "within 1 s" in outcome.unavailable and 0.9 < took < 3, (outcome, took)
    assert ticks >= 5, ticks  # the loop ran on (held up, it would not have ticked at all)


def test_bad_settings_name_their_key(slapd, secret, tmp_path):
    good = dict(url=slapd.ldaps_url, bind_dn=SERVICE_DN, bind_password_file=str(secret),
                user_base=PEOPLE, user_filter=USER_FILTER,
                groups={"counsellor": GROUP_OF["counsellor"]})
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("kein Zertifikat")
    bad = {
        "url": {"url": f"ldap://127.0.0.1:{slapd.port}"},  # plain, not allowed
        "starttls": {"starttls": True},  # with ldaps://
        "ca_file": {"ca_file": str(not_pem)},
        "bind_password_file": {"bind_password_file": str(tmp_path / "fehlt")},
        "user_filter": {"user_filter": "(sAMAccountName=anna)"},
        "groups": {"groups": {"chef": GROUP_OF["admin"]}},
        "timeout": {"timeout": 0},
        "recheck_minutes": {"recheck_minutes": 0},
        "colour": {"colour": "blau"},  # no such setting
    }
    for key, change in bad.items():
        with pytest.raises(ConfigError, match=rf"^\[staff\.directory\] {key}:"):
            DirectoryConfig.from_mapping({**good, **change})
    assert DirectoryConfig.from_mapping(good).groups == (("counsellor", GROUP_OF["counsellor"]),)


def test_a_bad_directory_stops_the_room_at_start_naming_the_key(tmp_path, secret):
    config = tmp_path / "room.toml"
    config.write_text(f"""
[room]
data_dir = "{tmp_path / 'data'}"
[staff.directory]
url = "ldap://dc1.agentur.example"
bind_dn = "{SERVICE_DN}"
bind_password_file = "{secret}"
user_base = "{PEOPLE}"
user_filter = "(sAMAccountName={{name}})"
[staff.directory.groups]
counsellor = "{GROUP_OF['counsellor']}"
""")
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code != 0
    assert "[staff.directory] url: plain ldap://" in result.output
    assert not (tmp_path / "data" / "room.json").exists()
    fixed = config.read_text().replace('ldap://dc1', 'ldaps://dc1')
    config.write_text(fixed)
    assert RoomConfig.from_toml(config).staff_directory.port == 636


# -- whole rooms ---------------------------------------------------------------------------
def room_with_directory(room_config: RoomConfig, config: DirectoryConfig) -> ThreadedRoom:
    room = ThreadedRoom(room_config.with_(staff_directory=config)).start()
    assert room.command("staff.add", as_="admin", name=LOCAL_ADMIN, role="admin",
                        password=TEST_PASSWORD).ok
    return room


@pytest.fixture
def directory_room(room_config, slapd, secret):
    room = room_with_directory(room_config, settings(slapd, secret))
    yield room
    room.stop()


def test_staff_sign_in_on_login_with_their_directory_account(directory_room, slapd, caplog):
    caplog.set_level(logging.DEBUG)
    room = directory_room
    jars = {}
    for name, page, others in [("anna.berger", "/control", ["/admin"]),
                               ("hans.technik", "/admin", ["/control"]),
                               ("eva.statistik", "/stats", ["/control", "/admin"])]:
        resp = sign_in(room, name, password_of(name))
        assert resp.status == 303 and resp.getheader("Location") == page, (name, resp.text)
        jars[name] = dict([cookie_of(resp)[:2]])
        assert request(room, "GET", page, cookies=jars[name]).status == 200
        for other in others:
            assert request(room, "GET", other, cookies=jars[name]).status == 403
    # The local account stays, and a local name never goes to the directory: the
    # directory's "beratung" cannot take over the room's own account of that name.
    assert sign_in(room, LOCAL_ADMIN).status == 303
    assert room.command("staff.add", as_="admin", name="beratung", role="evaluator",
                        password=TEST_PASSWORD).ok
    assert sign_in(room, "beratung", password_of("beratung")).status == 403
    accounts = {a["name"]: a for a in room.command("staff.list", as_="admin").data["accounts"]}
    assert accounts["anna.berger"]["source"] == "directory"
    assert accounts["anna.berger"]["signins"] == 1
    assert accounts[LOCAL_ADMIN]["source"] == accounts["beratung"]["source"] == "local"
    # A directory account has no password in the room, so none can be set for it either.
    refused = room.command("staff.password", as_="admin", name="anna.berger",
                           password="ein neues Passwort")
    assert not refused.ok and "directory" in refused.error
    # A tablet paired with the room opens /control once a directory counsellor signs in.
    code = room.command("pairing.start", as_="admin").data["code"]
    paired = request(room, "POST", "/control/pair", body={"code": code, "name": "Tablet"})
    tablet = dict([cookie_of(paired)[:2]])
    assert request(room, "GET", "/control", cookies=tablet).status == 302
    tablet.update(dict([cookie_of(sign_in(room, "anna.berger",
                                          password_of("anna.berger")))[:2]]))
    assert request(room, "GET", "/control", cookies=tablet).status == 200
    # Signing out works as for local accounts.
    out = request(room, "POST", "/logout", cookies=jars["anna.berger"],
                  headers={"Origin": f"http://localhost:{room.room.port}"})
    assert out.status == 303
    assert request(room, "GET", "/control", cookies=jars["anna.berger"]).status == 302
    # The directory's passwords are nowhere in the room's files, nor in its log.
    room.call(asyncio.to_thread(room.room.store.checkpoint))
    files = [p for p in Path(room.config.data_dir).rglob("*") if p.is_file()]
    assert any(p.name == "room.db" for p in files)
    secrets = [password_of(n) for n in ("anna.berger", "hans.technik", "eva.statistik",
                                         "beratung")] + [SERVICE_PASSWORD]
    for secret in secrets:
        assert not [p for p in files if secret.encode() in p.read_bytes()], secret
        assert secret not in caplog.text
    assert "anna.berger signed in from the directory as counsellor" in caplog.text


def test_directory_refusals_read_like_a_wrong_password_and_are_limited(directory_room):
    room = directory_room
    tries = [("anna.berger", "falsch-falsch-1"),  # wrong password
             ("paul.niemand", password_of("paul.niemand")),  # in no group
             ("olaf.alt", password_of("olaf.alt")),  # disabled
             ("anna*", password_of("anna.berger")),  # injection: refused before the directory
             ("anna.berger)(objectClass=*", password_of("anna.berger"))]
    for name, password in tries:
        resp = sign_in(room, name, password)
        assert resp.status == 403 and "Name oder Passwort stimmt nicht" in resp.text, name
        assert resp.getheader("Set-Cookie") is None
    # Five failures a minute from one address, as for local accounts: then even the
    # right password waits.
    assert sign_in(room, "anna.berger", password_of("anna.berger")).status == 429
    names = {a["name"] for a in room.command("staff.list", as_="admin").data["accounts"]}
    assert names == {LOCAL_ADMIN}  # nobody refused became an account of the room


async def control_socket(room: ThreadedRoom, cookies: dict):
    """/control's websocket, opened with ``cookies`` (the room has let it in)."""
    token = await asyncio.to_thread(session_token, room, "control", cookies)
    req = HTTPRequest(f"ws://localhost:{room.room.port}/control/ws", headers={
        "Origin": f"http://localhost:{room.room.port}",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
    return await websocket_connect(req, subprotocols=["bokeh", token])


async def closed(ws, timeout: float) -> int | None:
    """The close code, once the room closes ``ws``."""
    async with asyncio.timeout(timeout):
        while await ws.read_message() is not None:
            pass
    return ws.close_code


async def test_people_removed_or_disabled_are_signed_out_within_recheck_minutes(
        room_config, slapd, secret, monkeypatch):
    monkeypatch.setattr(web, "PAGE_RECHECK", 0.3)
    room = room_with_directory(room_config, settings(slapd, secret, recheck_minutes=0.02))
    try:
        jars = {}
        for name in ("anna.berger", "kurt.wechsel", "doris.sperre", "ute.aufstieg"):
            resp = sign_in(room, name, password_of(name))
            assert resp.status == 303 and resp.getheader("Location") == "/control"
            jars[name] = dict([cookie_of(resp)[:2]])
        page = asyncio.ensure_future(closed(await control_socket(room, jars["kurt.wechsel"]),
                                            timeout=20))
        await asyncio.sleep(1.5)
        assert not page.done()  # the page is open and stays open while the sign-in holds
        slapd.leave_group("kurt.wechsel", "counsellor")
        slapd.disable("doris.sperre")
        slapd.leave_group("ute.aufstieg", "counsellor")
        slapd.join_group("ute.aufstieg", "evaluator")
        started = time.monotonic()
        assert await page == 4001  # kurt's open /control closed: it stops working
        for name in ("kurt.wechsel", "doris.sperre", "ute.aufstieg"):
            await asyncio.to_thread(eventually, lambda n=name: request(
                room, "GET", "/control", cookies=jars[n]).status == 302, 20)
        print(f"signed out {time.monotonic() - started:.1f} s after the directory changed "
              f"(recheck every 1.2 s)")
        accounts = {a["name"]: a for a in room.command("staff.list", as_="admin")
                    .data["accounts"]}
        assert accounts["anna.berger"]["signins"] == 1  # unchanged in the directory: stays
        assert set(accounts) == {LOCAL_ADMIN, "anna.berger"}
        # At the next sign-in: refused, and Ute in her new role.
        assert sign_in(room, "kurt.wechsel", password_of("kurt.wechsel")).status == 403
        assert sign_in(room, "doris.sperre", password_of("doris.sperre")).status == 403
        moved = sign_in(room, "ute.aufstieg", password_of("ute.aufstieg"))
        assert moved.status == 303 and moved.getheader("Location") == "/stats"
    finally:
        await asyncio.to_thread(room.stop)


def test_directory_down_a_clear_message_and_the_local_account_still_works(
        directory_room, slapd, secret, monkeypatch):
    room = directory_room
    jar = dict([cookie_of(sign_in(room, "anna.berger", password_of("anna.berger")))[:2]])
    slapd.stop()
    for _ in range(6):  # an outage is nobody's wrong password: never rate-limited
        down = sign_in(room, "hans.technik", password_of("hans.technik"))
        assert down.status == 503 and "Anmeldeverzeichnis der Agentur ist gerade nicht " \
            "erreichbar" in down.text
    assert sign_in(room, LOCAL_ADMIN).status == 303
    # A sign-in from before the outage holds: a recheck that cannot ask ends nobody.
    ended = room.call(room.room.link.directory.recheck(
        lambda name, **args: room.room.link.send("admin", name, **args)))
    assert ended == []
    assert request(room, "GET", "/control", cookies=jar).status == 200
    result = room.call(check_directory(settings(slapd, secret)))
    assert not result.ok and "refused the connection" in result.detail, result
    slapd.start()
    assert sign_in(room, "hans.technik", password_of("hans.technik")).status == 303


def test_kiosk_staff_and_devices_check_show_the_directory(directory_room, slapd, secret,
                                                          tmp_path):
    room = directory_room
    assert sign_in(room, "anna.berger", password_of("anna.berger")).status == 303
    config = tmp_path / "room.toml"
    config.write_text(f"""
[room]
data_dir = "{room.config.data_dir}"
[staff.directory]
url = "{slapd.ldaps_url}"
ca_file = "{slapd.ca_file}"
bind_dn = "{SERVICE_DN}"
bind_password_file = "{secret}"
user_base = "{PEOPLE}"
user_filter = "{USER_FILTER}"
[staff.directory.groups]
counsellor = "{GROUP_OF['counsellor']}"
admin = "{GROUP_OF['admin']}"
""")
    run = CliRunner().invoke
    data = ["--data-dir", str(room.config.data_dir), "--config", str(config)]
    listing = run(main, ["staff", "list", *data])
    assert listing.exit_code == 0, listing.output
    assert f"directory: {slapd.ldaps_url} (TLS; service account {SERVICE_DN})" in listing.output
    assert any(line.split()[:4] == ["anna.berger", "counsellor", "directory", "1"]
               for line in listing.output.splitlines()), listing.output
    checked = run(main, ["staff", "check", "Anna.Berger", *data])
    assert checked.exit_code == 0 and "anna.berger signs in as counsellor" in checked.output
    assert run(main, ["staff", "check", "eva.statistik", *data]).exit_code == 1  # no group here
    tried = run(main, ["staff", "check", "hans.technik", "--password", *data],
                input=password_of("hans.technik") + "\n")
    assert tried.exit_code == 0 and "as admin" in tried.output
    assert password_of("hans.technik") not in tried.output
    wrong = run(main, ["staff", "check", "hans.technik", "--password", *data],
                input="falsch-falsch-1\n")
    assert wrong.exit_code == 1 and "refused the password" in wrong.output
    refused = run(main, ["staff", "password", "anna.berger", *data[:2]],
                  input="ein neues Passwort\nein neues Passwort\n")
    assert refused.exit_code == 1 and "changed there" in refused.output
    checks = run(main, ["devices", "check", "--demo", "--seconds", "0.5", *data])
    line = next(ln for ln in checks.output.splitlines() if " directory " in ln)
    assert line.startswith("PASS") and "service account reads user_base and 2 groups" in line
    config.write_text(config.read_text().replace(slapd.ldaps_url,
                                                 f"ldaps://127.0.0.1:{free_port()}"))
    down = run(main, ["staff", "check", "anna.berger", *data])
    assert down.exit_code == 1 and "cannot be asked: unreachable" in down.output


def test_the_readmes_active_directory_example_is_a_valid_section(tmp_path, slapd):
    """The README's example, as an agency's IT would copy it (its two files made here)."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Staff from the agency's directory (LDAP)"):]
    example = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    (tmp_path / "ldap.secret").write_text("geheim")
    example = example.replace("/etc/kiosk/agentur-ca.pem", str(slapd.ca_file)).replace(
        "/etc/kiosk/ldap.secret", str(tmp_path / "ldap.secret"))
    config = DirectoryConfig.from_mapping(tomllib.loads(example)["staff"]["directory"])
    assert [role for role, _ in config.groups] == ["admin", "counsellor", "evaluator"]
    assert config.port == 636 and config.member_attribute.startswith("member:1.2.840")
