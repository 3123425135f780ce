"""The site service on real sockets: presence, ringing between rooms and consoles, auth."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import zmq
import zmq.asyncio
from conftest import BusRoom, Clock, until

from kiosk.config import SiteConfig
from kiosk.room.bus import configure
from kiosk.room.client import CommandClient
from kiosk.room.link import RoomLink
from kiosk.room.mirror import Mirror
from kiosk.site.directory import DEMO_DIRECTORY
from kiosk.site.link import SiteLink
from kiosk.site.presence import PRESENCE_TTL
from kiosk.site.ringing import RING_KEEP, RING_TIMEOUT
from kiosk.site.service import Site, site_keyring
from kiosk.site.state import SiteState

PASSWORD = "partner-passwort-1"
JOBCENTER = 2  # the demo district's agency ids follow the file's order
RING_FIELDS = {"id", "room", "room_name", "counsellor", "topic", "agency", "contact", "ringing",
               "status", "accepted_by", "declines", "reason", "started"}


class Console:
    """A partner console's page server with one signed-in contact: mirror and commands."""

    def __init__(self, site: Site, ctx: zmq.asyncio.Context) -> None:
        keys = site.keyring.client("console")
        router, pub = site.endpoints
        self.state = SiteState()
        self.mirror = Mirror(self.state, router, pub, prefix="site/", context=ctx, keys=keys,
                             silence=2.0)
        self.client = CommandClient(router, role="console", context=ctx, keys=keys)
        self.token = ""
        self.contact = 0

    async def start(self, email: str) -> Console:
        await self.mirror.start()
        reply = await self.client.request("partner.signin", {"email": email,
                                                             "password": PASSWORD})
        assert reply.ok, reply.error
        self.token, self.contact = reply.data["token"], reply.data["contact"]
        assert (await self.send("presence.beat")).ok
        return self

    async def send(self, name: str, **args):
        return await self.client.request(name, {"token": self.token, **args})

    async def close(self) -> None:
        await self.mirror.close()
        await self.client.close()


class Network:
    """The site, rooms with SiteLinks, consoles and a spy on every published update."""

    def __init__(self, tmp_path: Path, ctx: zmq.asyncio.Context) -> None:
        self.tmp_path, self.ctx = tmp_path, ctx
        self.clock = Clock()
        self.rooms: list[tuple[BusRoom, RoomLink, SiteLink]] = []
        self.consoles: list[Console] = []
        self.published: list[list[bytes]] = []

    async def start(self) -> Network:
        site_keyring(self.tmp_path / "site" / "site-keys").init()
        self.site = Site(SiteConfig(data_dir=self.tmp_path / "site", router="tcp://127.0.0.1:0",
                                    pub="tcp://127.0.0.1:0", heartbeat=0.2, http_port=0),
                         clock=self.clock)
        await self.site.start()
        assert self.site.command("directory.import",
                                 csv=DEMO_DIRECTORY.read_text(encoding="utf-8")).ok
        reply = self.site.command(
            "contact.save", agency="Jobcenter Musterstadt", agency_type="Jobcenter",
            name="Mia Musterkollegin", languages="de;en", topics="Arbeit",
            email="mia.musterkollegin@jobcenter.example.org", phone="0123 456 7809")
        assert reply.ok, reply.error
        for contact in (2, reply.data["id"], 1):
            assert self.site.command("account.set", contact=contact, password=PASSWORD).ok
        self.spy = self._spy()
        return self

    def _spy(self) -> asyncio.Task:
        """Every update the site publishes, as any subscriber would receive it."""
        sub = self.site.keyring.client("admin").apply(configure(self.ctx.socket(zmq.SUB)))
        sub.subscribe(b"")
        sub.connect(self.site.endpoints[1])

        async def listen() -> None:
            try:
                while True:
                    self.published.append(await sub.recv_multipart())
            finally:
                sub.close(linger=0)
        return asyncio.create_task(listen())

    async def room(self, room_id: str, *, consulting: bool = True) -> tuple[RoomLink, SiteLink]:
        # Each room controller gets its own ZeroMQ context (one authenticator per context).
        ctx = zmq.asyncio.Context()
        bus_room = BusRoom(self.tmp_path / room_id / "room.db", ctx, "tcp://127.0.0.1:0",
                           "tcp://127.0.0.1:0")
        await bus_room.start()
        link = RoomLink(bus_room.router, bus_room.pub, context=ctx, keys=bus_room.keys)
        link.base_url = f"http://{room_id}.example.org"
        await link.start()
        if consulting:
            assert (await link.send("counsellor", "session.start")).ok
        router, pub = self.site.endpoints
        site_link = SiteLink(link, router, pub, room_id=room_id, room_name=f"Raum {room_id}",
                             keys=self.site.keyring.client("room"), context=ctx)
        await site_link.start()
        self.rooms.append((bus_room, link, site_link))
        return link, site_link

    async def console(self, email: str) -> Console:
        console = await Console(self.site, self.ctx).start(email)
        self.consoles.append(console)
        return console

    async def close(self) -> None:
        self.spy.cancel()
        for console in self.consoles:
            await console.close()
        for bus_room, link, site_link in self.rooms:
            await site_link.close()
            await link.close()
            await bus_room.close()
            bus_room.ctx.destroy(linger=0)
        await self.site.stop()


@pytest.fixture
async def net(tmp_path, zctx):
    network = await Network(tmp_path, zctx).start()
    yield network
    await network.close()


MAX = "max.mustermann@jobcenter.example.org"
MIA = "mia.musterkollegin@jobcenter.example.org"
ERIKA = "erika.musterfrau@abh.example.org"


async def test_presence_expires_30_s_after_the_last_heartbeat(net):
    max_ = await net.console(MAX)
    await until(lambda: max_.state.status(max_.contact) == "available")
    net.clock.advance(PRESENCE_TTL - 1)
    assert (await max_.send("presence.beat", status="away")).ok  # a beat renews it
    net.clock.advance(PRESENCE_TTL - 1)
    await asyncio.sleep(0.5)  # two sweeps: still there
    assert max_.state.status(max_.contact) == "away"
    net.clock.advance(2)
    await until(lambda: max_.contact not in max_.state.presence)


async def test_first_desk_member_to_accept_gets_the_call_and_only_they_get_the_link(net):
    link, room = await net.room("raum-1")
    max_, mia = await net.console(MAX), await net.console(MIA)
    await until(lambda: len(room.state.desk(JOBCENTER)) == 2)
    reply = await room.ring(counsellor="Frau Beispiel", topic="Arbeit", agency=JOBCENTER)
    assert reply.ok, reply.error
    ring = reply.data["id"]
    await until(lambda: [r.id for r in mia.state.ringing_for(mia.contact)] == [ring])
    # Both accept at the same moment: exactly one wins.
    first, second = await asyncio.gather(max_.send("ring.accept", ring=ring),
                                         mia.send("ring.accept", ring=ring))
    assert [first.ok, second.ok].count(True) == 1
    winner, loser = (max_, mia) if first.ok else (mia, max_)
    lost = second if first.ok else first
    assert lost.code == "state" and "already taken" in lost.error
    # The room invites the winner by itself and hands the link to the site.
    await until(lambda: room.rings[0].status == "linked")
    partner = link.state.partners[0]
    assert (partner.agency, partner.agency_type, partner.purpose) == (
        "Jobcenter Musterstadt", "Jobcenter", "Arbeit")
    got = await winner.send("ring.get", ring=ring)
    assert got.ok and got.data["url"].startswith("http://raum-1.example.org/join/")
    assert not (await loser.send("ring.get", ring=ring)).ok
    assert winner.state.status(winner.contact) == "busy"
    # The link was never published: no update carries it.
    token = got.data["url"].rsplit("/", 1)[1].encode()
    assert net.published and not any(token in frame for msg in net.published for frame in msg)


async def test_two_rooms_ring_the_same_desk_independently(net):
    _, room1 = await net.room("raum-1")
    _, room2 = await net.room("raum-2")
    max_, mia = await net.console(MAX), await net.console(MIA)
    await until(lambda: len(room2.state.desk(JOBCENTER)) == 2)
    ring1 = (await room1.ring(counsellor="A", topic="Arbeit", agency=JOBCENTER)).data["id"]
    ring2 = (await room2.ring(counsellor="B", topic="Ausbildung", agency=JOBCENTER)).data["id"]
    await until(lambda: len(mia.state.ringing_for(mia.contact)) == 2)
    assert (await max_.send("ring.accept", ring=ring1)).ok
    await until(lambda: room1.rings[0].status == "linked")
    assert [r.status for r in room2.rings] == ["ringing"]
    assert [r.id for r in room2.rings] == [ring2] and [r.id for r in room1.rings] == [ring1]
    assert (await mia.send("ring.accept", ring=ring2)).ok
    await until(lambda: room2.rings[0].status == "linked")
    assert room2.rings[0].accepted_by == mia.contact


async def test_a_decline_with_its_reason_reaches_the_ringing_room(net):
    _, room = await net.room("raum-1")
    max_, mia = await net.console(MAX), await net.console(MIA)
    erika = await net.console(ERIKA)
    await until(lambda: len(room.state.presence) == 3)
    desk = (await room.ring(counsellor="A", topic="Arbeit", agency=JOBCENTER)).data["id"]
    assert (await max_.send("ring.decline", ring=desk, reason="busy")).ok
    await until(lambda: room.rings and room.rings[0].declines == ((max_.contact, "busy"),))
    assert room.rings[0].status == "ringing"  # Mia's console still rings
    assert (await mia.send("ring.decline", ring=desk, reason="not_our_matter")).ok
    one = (await room.ring(counsellor="A", topic="Aufenthalt und Arbeitserlaubnis",
                           contact=erika.contact)).data["id"]
    bad = await erika.send("ring.decline", ring=one, reason="keine Lust")
    assert not bad.ok and bad.code == "schema"
    assert (await erika.send("ring.decline", ring=one, reason="not_our_matter")).ok
    await until(lambda: [(r.status, r.reason) for r in room.rings] == [
        ("declined", "not_our_matter"), ("declined", "not_our_matter")])


async def test_a_ring_gives_up_after_60_s_and_leaves_the_state_later(net):
    _, room = await net.room("raum-1")
    max_ = await net.console(MAX)
    await until(lambda: room.state.status(max_.contact) == "available")
    ring = (await room.ring(counsellor="A", topic="Arbeit", contact=max_.contact)).data["id"]
    net.clock.advance(RING_TIMEOUT - 1)
    assert (await max_.send("presence.beat")).ok
    await asyncio.sleep(0.5)
    assert room.rings[0].status == "ringing"
    net.clock.advance(2)
    await until(lambda: room.rings[0].status == "timeout")
    late = await max_.send("ring.accept", ring=ring)
    assert not late.ok and "no longer ringing" in late.error
    net.clock.advance(RING_KEEP + 1)
    await until(lambda: not room.rings)


async def test_the_room_cancels_its_own_ring_only(net):
    _, room1 = await net.room("raum-1")
    _, room2 = await net.room("raum-2")
    max_ = await net.console(MAX)
    await until(lambda: room1.state.status(max_.contact) == "available")
    ring = (await room1.ring(counsellor="A", topic="Arbeit", contact=max_.contact)).data["id"]
    other = await room2.cancel(ring)
    assert not other.ok and other.code == "role"
    assert (await room1.cancel(ring)).ok
    await until(lambda: [r.status for r in max_.state.rings.values()] == ["cancelled"])
    assert not max_.state.ringing_for(max_.contact)
    assert not (await max_.send("ring.accept", ring=ring)).ok


async def test_accepting_while_the_room_has_no_talk_fails_the_ring_with_a_reason(net):
    _, room = await net.room("raum-1", consulting=False)
    max_ = await net.console(MAX)
    await until(lambda: room.state.status(max_.contact) == "available")
    ring = (await room.ring(counsellor="A", topic="Arbeit", contact=max_.contact)).data["id"]
    await until(lambda: max_.state.ringing_for(max_.contact))
    assert (await max_.send("ring.accept", ring=ring)).ok
    await until(lambda: room.rings[0].status == "failed")
    assert "could not invite" in room.rings[0].reason and "consulting" in room.rings[0].reason
    assert (await max_.send("ring.get", ring=ring)).data["url"] == ""


async def test_a_ring_carries_no_client_data_and_bad_rings_change_nothing(net):
    _, room = await net.room("raum-1")
    max_ = await net.console(MAX)
    await until(lambda: room.state.status(max_.contact) == "available")
    before = len(net.published)
    refused = [
        await room.send("ring.start", room_name="R", counsellor="A", topic="Arbeit",
                        contact=max_.contact, client="Erika Kundin"),
        await room.send("ring.start", room_name="R", counsellor="A", topic="Kochen",
                        contact=max_.contact),
        await room.send("ring.start", room_name="R", counsellor="A", topic="Arbeit"),
        await room.ring(counsellor="A", topic="Arbeit", contact=1),  # Erika: not signed in
        await room.ring(counsellor="A", topic="Arbeit", agency=99),
    ]
    assert [r.code for r in refused] == ["schema", "schema", "schema", "state", "state"]
    assert "not available" in refused[3].error
    await asyncio.sleep(0.3)
    assert not any(msg[0].startswith(b"site/rings") for msg in net.published[before:])
    assert (await room.ring(counsellor="A", topic="Arbeit", contact=max_.contact)).ok
    await until(lambda: any(m[0].startswith(b"site/rings") for m in net.published))
    body = next(json.loads(m[2]) for m in net.published if m[0].startswith(b"site/rings"))
    assert set(body) == RING_FIELDS
    # A console's key speaks for consoles only; a bad token is refused.
    assert (await max_.client.request("ring.cancel", {"room": "raum-1", "ring": body["id"]},
                                      role="room")).code == "role"
    gone = await max_.client.request("presence.beat", {"token": "not-a-token"})
    assert gone.code == "signed_out"


async def test_directory_and_accounts_survive_a_restart_and_mirrors_resynchronise(net):
    _, room = await net.room("raum-1")
    contacts = dict(room.state.contacts)
    assert len(contacts) == 9 and contacts[2].account
    router, pub = net.site.endpoints
    await net.site.stop()
    net.site = Site(SiteConfig(data_dir=net.tmp_path / "site", router=router, pub=pub,
                               heartbeat=0.2, http_port=0), clock=net.clock)
    await net.site.start()
    await until(lambda: room.state.synced and room.mirror.resyncs >= 1, timeout=10)
    assert room.state.contacts == contacts
    max_ = await net.console(MAX)  # signs in with the password set before the restart
    await until(lambda: room.state.status(max_.contact) == "available")


@pytest.mark.parametrize("case", ["unknown key", "no key"])
async def test_the_site_bus_refuses_clients_without_a_known_key(net, zctx, case):
    router, _ = net.site.endpoints
    sock = configure(zctx.socket(zmq.DEALER))
    if case == "unknown key":
        public, secret = zmq.curve_keypair()
        sock.curve_serverkey = net.site.keyring.server_public()
        sock.curve_publickey, sock.curve_secretkey = public, secret
    sock.connect(router)
    await sock.send_multipart([b"CMD", b"1", b'{"id":"1","name":"ping","role":"room"}'])
    assert not await sock.poll(1000)
    sock.close(linger=0)
    # The room's own bus keys are not the site's either.
    room_keys = BusRoom(net.tmp_path / "other" / "room.db", zctx, "", "").keys
    refused = CommandClient(router, role="room", context=zctx, keys=room_keys, timeout=1.0)
    with pytest.raises(Exception, match="did not answer"):
        await refused.request("ping")
    await refused.close()
