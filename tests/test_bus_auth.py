"""The bus admits provisioned CURVE keys only, and each key speaks within its bus role."""

from __future__ import annotations

import asyncio

import pytest
import zmq
import zmq.asyncio
from click.testing import CliRunner
from conftest import BusRoom, until
from zmq.utils.monitor import recv_monitor_message

from kiosk.app.room import Room
from kiosk.cli.main import main
from kiosk.config import RoomConfig
from kiosk.exceptions import ConfigError
from kiosk.room.bus import CMD, REPLY, SNAP
from kiosk.room.keys import ClientKeys, Keyring
from kiosk.room.messages import Command, Reply

WAIT = 1.5  # seconds an attempt gets to be answered (heartbeats come every 0.2 s)


@pytest.fixture
async def room(tmp_path, zctx):
    room = BusRoom(tmp_path / "room.db", zctx, "tcp://127.0.0.1:0", "tcp://127.0.0.1:0",
                   heartbeat=0.2)
    await room.start()
    yield room
    await room.close()


def attempts(ring: Keyring) -> dict[str, dict]:
    """Socket options of each way in that must be refused: five different handshakes.

    A client without a key speaks the NULL mechanism; a ZAP domain set on a client is
    never sent, so "no key" and "NULL" are one handshake and one way in here.
    """
    server = ring.server_public()
    stranger_public, stranger_secret = zmq.curve_keypair()
    known = ring.client("operator")
    return {
        "NULL (no key)": {},
        "PLAIN": {"plain_username": b"admin", "plain_password": b"admin"},
        "wrong server key": {"curve_serverkey": zmq.curve_keypair()[0],
                             "curve_publickey": known.public, "curve_secretkey": known.secret},
        "unknown client key": {"curve_serverkey": server, "curve_publickey": stranger_public,
                               "curve_secretkey": stranger_secret},
        # The allow-list's public keys are no secret: one of them without its secret key.
        "known public key, wrong secret": {"curve_serverkey": server,
                                           "curve_publickey": known.public,
                                           "curve_secretkey": stranger_secret},
    }


#: What a client presents in its handshake, besides its mechanism.
PRESENTED = ("plain_username", "plain_password", "curve_serverkey", "curve_publickey",
             "curve_secretkey")


def handshake(ctx: zmq.Context, options: dict) -> tuple:
    """The mechanism and credentials a client with ``options`` presents: two ways in
    that present the same are one attempt, whatever else they set."""
    sock = ctx.socket(zmq.DEALER)
    try:
        for name, value in options.items():
            setattr(sock, name, value)
        return (sock.mechanism, *(options.get(name) for name in PRESENTED))
    finally:
        sock.close(0)


async def answered(ctx: zmq.asyncio.Context, endpoint: str, kind: int,
                   options: dict) -> tuple[bool, bool]:
    """(handshake succeeded, got an answer) for one connection attempt."""
    sock = ctx.socket(kind)
    sock.linger = 0
    for name, value in options.items():
        setattr(sock, name, value)
    monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    if kind == zmq.SUB:
        sock.subscribe(b"")
    sock.connect(endpoint)
    if kind == zmq.DEALER:
        await sock.send_multipart([CMD, b"1", Command("ping", {}, "counsellor").encode()])
    got = bool(await sock.poll(WAIT * 1000))
    shook = bool(await monitor.poll(0))
    if shook:
        await recv_monitor_message(monitor)
    sock.disable_monitor()
    monitor.close(0)
    sock.close(0)
    return shook, got


async def test_every_endpoint_refuses_every_unprovisioned_way_in(room, zctx):
    ring = room.keyring
    ways = attempts(ring)
    assert len({handshake(zctx, options) for options in ways.values()}) == len(ways) == 5
    assert {handshake(zctx, options)[0] for options in ways.values()} == {
        zmq.NULL, zmq.PLAIN, zmq.CURVE}
    cases = [(name, endpoint, kind, options)
             for endpoint, kind in ((room.router, zmq.DEALER), (room.pub, zmq.SUB))
             for name, options in ways.items()]
    results = await asyncio.gather(*(answered(zctx, ep, kind, opt)
                                     for _, ep, kind, opt in cases))
    accepted = [(name, ep) for (name, ep, _, _), (shook, got) in zip(cases, results, strict=True)
                if shook or got]
    print(f"bus auth: {len(cases)} attempts on 2 endpoints "
          f"({', '.join(ways)}), {len(accepted)} accepted")
    assert len(cases) == 10 and accepted == []
    # ...while the provisioned key connects to both.
    known = ring.client("operator")
    ok = {"curve_serverkey": known.server_public, "curve_publickey": known.public,
          "curve_secretkey": known.secret}
    assert await answered(zctx, room.router, zmq.DEALER, ok) == (True, True)
    assert await answered(zctx, room.pub, zmq.SUB, ok) == (True, True)
    assert room.bus.auth.refused >= 2  # both unknown client keys reached the allow-list


async def send_as(ctx, keys: ClientKeys, router: str, role: str, name: str,
                  args: dict | None = None) -> Reply:
    sock = keys.apply(ctx.socket(zmq.DEALER))
    sock.linger = 0
    sock.connect(router)
    try:
        await sock.send_multipart([CMD, b"r", Command(name, args or {}, role).encode()])
        assert await sock.poll(3000), "no answer"
        verb, _, body = await sock.recv_multipart()
        assert verb == REPLY
        return Reply.decode(body)
    finally:
        sock.close()


async def test_each_key_speaks_only_within_its_bus_role(room, zctx):
    ring = room.keyring
    agent, operator = ring.client("agent"), ring.client("operator")
    heartbeat = {"device": "pc", "kind": "agent"}
    assert (await send_as(zctx, agent, room.router, "display", "device.heartbeat", heartbeat)).ok
    for role, name, args in (("counsellor", "session.start", {}),
                             ("admin", "pairing.start", {}),
                             ("counsellor", "device.heartbeat", heartbeat)):
        reply = await send_as(zctx, agent, room.router, role, name, args)
        assert not reply.ok and reply.code == "role" and "agent key" in reply.error
    assert room.controller.state.phase == "idle"
    assert (await send_as(zctx, operator, room.router, "counsellor", "session.start")).ok
    ring.add("lesend", "viewer")
    viewer = ring.client("lesend")
    assert (await send_as(zctx, viewer, room.router, "counsellor", "ping")).ok
    refused = await send_as(zctx, viewer, room.router, "counsellor", "note.add", {"text": "x"})
    assert refused.code == "role" and room.controller.state.notes == []


async def test_an_agent_key_may_not_read_the_rooms_state(room, zctx):
    agent = room.keyring.client("agent")
    snap = await send_as(zctx, agent, room.router, "display", "ping")  # a ping is fine
    assert snap.ok
    sock = agent.apply(zctx.socket(zmq.DEALER))
    sock.linger = 0
    sock.connect(room.router)
    await sock.send_multipart([SNAP, b"s", b"room/"])
    verb, _, body = await sock.recv_multipart()
    assert verb == REPLY and Reply.decode(body).code == "role"
    sock.close()
    options = {"curve_serverkey": agent.server_public, "curve_publickey": agent.public,
               "curve_secretkey": agent.secret}
    assert await answered(zctx, room.pub, zmq.SUB, options) == (False, False)


async def test_a_revoked_key_is_refused_at_its_next_command(room, zctx):
    room.keyring.add("tablet-alt", "operator")
    keys = room.keyring.client("tablet-alt")
    sock = keys.apply(zctx.socket(zmq.DEALER))
    sock.linger = 0
    sock.connect(room.router)
    ping = [CMD, b"p", Command("ping", {}, "counsellor").encode()]
    await sock.send_multipart(ping)
    assert Reply.decode((await sock.recv_multipart())[2]).ok
    room.keyring.revoke("tablet-alt")  # the connection is still open...
    await sock.send_multipart(ping)
    reply = Reply.decode((await sock.recv_multipart())[2])
    assert not reply.ok and reply.code == "role" and "revoked" in reply.error
    sock.close()
    options = {"curve_serverkey": keys.server_public, "curve_publickey": keys.public,
               "curve_secretkey": keys.secret}
    assert await answered(zctx, room.router, zmq.DEALER, options) == (False, False)


async def test_the_controller_refuses_to_start_without_keys(tmp_path):
    config = RoomConfig(data_dir=tmp_path, run=("controller",), bus_router="tcp://127.0.0.1:0",
                        bus_pub="tcp://127.0.0.1:0")
    room = Room(config)
    with pytest.raises(ConfigError, match="kiosk keys init"):
        await room.start()
    await room.stop()
    assert not (tmp_path / "room.db").exists()  # nothing opened
    # An allow-list without clients is no authenticator either.
    ring = Keyring(tmp_path / "keys")
    ring.init()
    for name in list(ring.clients()):
        ring.revoke(name)
    room = Room(config)
    with pytest.raises(ConfigError, match="names no client"):
        await room.start()
    await room.stop()


async def test_a_demo_room_makes_fresh_keys_at_each_start(tmp_path):
    config = RoomConfig(data_dir=tmp_path, run=("controller",), demo=True,
                        bus_router="tcp://127.0.0.1:0", bus_pub="tcp://127.0.0.1:0")
    servers = []
    for _ in range(2):
        room = Room(config)
        await room.start()
        servers.append(room.keyring.server_public())
        from kiosk.room.link import RoomLink

        link = await RoomLink.connect(tmp_path)  # the operator's key from the data dir
        assert (await link.send("counsellor", "ping")).ok
        await link.close()
        await room.stop()
    assert servers[0] != servers[1]
    secret = tmp_path / "keys" / "operator.key_secret"
    assert secret.stat().st_mode & 0o077 == 0  # the owner's only


def test_keys_cli_provisions_lists_and_revokes(tmp_path):
    run = CliRunner().invoke
    data = ["--data-dir", str(tmp_path)]
    assert "no keys" in run(main, ["keys", "list", *data]).output
    result = run(main, ["keys", "init", *data])
    assert result.exit_code == 0 and "made server, room, operator, agent" in result.output
    assert "nothing made" in run(main, ["keys", "init", *data]).output
    result = run(main, ["keys", "add", "tuer-pc", "--role", "agent", *data])
    assert result.exit_code == 0 and "tuer-pc.key_secret" in result.output
    listing = run(main, ["keys", "list", *data]).output
    assert "tuer-pc" in listing and "agent" in listing
    for bad in (["add", "tuer-pc", "--role", "agent"], ["add", "Bad Name", "--role", "agent"],
                ["add", "x", "--role", "king"], ["revoke", "nobody"]):
        before = (tmp_path / "keys" / "clients.toml").read_text()
        result = run(main, ["keys", *bad, *data])
        assert result.exit_code != 0
        assert (tmp_path / "keys" / "clients.toml").read_text() == before
    assert run(main, ["keys", "revoke", "tuer-pc", *data]).exit_code == 0
    assert "tuer-pc" not in run(main, ["keys", "list", *data]).output
    assert not (tmp_path / "keys" / "tuer-pc.key_secret").exists()


def test_keys_cli_provisions_the_site_bus_with_its_own_roles(tmp_path):
    run = CliRunner().invoke
    data = ["--data-dir", str(tmp_path)]
    result = run(main, ["keys", "--site", "init", *data])
    assert result.exit_code == 0 and "made server, room, console, admin" in result.output
    result = run(main, ["keys", "--site", "add", "raum-2", "--role", "room", *data])
    assert result.exit_code == 0 and "site-keys/raum-2.key_secret" in result.output
    refused = run(main, ["keys", "--site", "add", "tuer-pc", "--role", "agent", *data])
    assert refused.exit_code != 0 and "must be one of" in refused.output
    listing = run(main, ["keys", "--site", "list", *data]).output
    assert "raum-2" in listing and "console" in listing and "tuer-pc" not in listing
    assert not (tmp_path / "keys").exists()  # the room's keys are another folder


async def test_known_key_round_trip_through_the_link(room, zctx):
    from kiosk.room.link import RoomLink

    link = RoomLink(room.router, room.pub, context=zctx, keys=room.keyring.client("room"))
    await link.start()
    try:
        assert link.state.synced
        assert (await link.send("counsellor", "session.start")).ok
        await until(lambda: link.state.phase == "consulting")
    finally:
        await link.close()
