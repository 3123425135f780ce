"""kiosk.connect(): a notebook watches unless it asks for a role, and then speaks for that
role only; room views outside the room's own pages are observers (issue 19)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ThreadedRoom

import kiosk
from kiosk.app.room import Room
from kiosk.config import RoomConfig
from kiosk.exceptions import BusError, CommandError
from kiosk.room.keys import Keyring
from kiosk.room.link import RoomLink
from kiosk.views import DisplayView, KioskView
from kiosk.views.beacon import Beacon

#: A command each role may send in an idle room (checked by the controller, not the bus).
EACH_ROLE = [("counsellor", "session.start", {}), ("kiosk", "checkin", {"walk_in": True}),
             ("display", "device.heartbeat", {"device": "x", "kind": "display"}),
             ("media", "device.heartbeat", {"device": "y", "kind": "camera"}),
             ("admin", "pairing.start", {})]


def controller_only(data_dir: Path) -> RoomConfig:
    Keyring(data_dir / "keys").init()
    return RoomConfig(data_dir=data_dir, run=("controller",), bus_router="tcp://127.0.0.1:0",
                      bus_pub="tcp://127.0.0.1:0")


@pytest.fixture
def bus_only(data_dir: Path):
    """A room's controller and bus on a thread of their own (no pages), with room.json."""
    room = ThreadedRoom(controller_only(data_dir)).start()
    yield room
    room.stop()


def test_without_a_role_a_notebook_watches_and_sends_nothing(bus_only, data_dir):
    with kiosk.connect(data_dir) as room:
        assert room.state.synced and room.state.room_id == "raum-1"
        assert room.roles == frozenset() and room.key == "notebook"
        assert Keyring(data_dir / "keys").clients()["notebook"][0] == "viewer"
        with pytest.raises(CommandError, match="only watches"):
            room.send("session.start")
        # Past the connection's own check, straight onto the bus: the room refuses each.
        for role, name, args in EACH_ROLE:
            reply = room._run(room.link.send(role, name, **args))
            assert not reply.ok and reply.code == "role" and "viewer key" in reply.error
        assert room._run(room.link.send("counsellor", "ping")).ok  # it may still ask
        assert room.state.phase == "idle" and room.state.devices == {}
        assert room.journal.sent.empty


def test_with_the_counsellors_role_a_notebook_sends_the_counsellors_commands_only(
        bus_only, data_dir):
    watcher = kiosk.connect(data_dir)
    counsellor = kiosk.connect(data_dir, role="counsellor")
    try:
        assert counsellor.roles == {"counsellor"} and counsellor.key == "notebook-counsellor"
        assert Keyring(data_dir / "keys").clients()["notebook-counsellor"][0] == "counsellor"
        assert counsellor.must("session.start").ok
        assert watcher.wait_for(phase="consulting", timeout=5).session_id
        with pytest.raises(CommandError, match="speaks for counsellor"):
            counsellor.send("privacy.set", as_="kiosk", on=True)
        # The kiosk's and the admin's commands, sent past the local check: refused on the bus.
        for role, name, args in [("kiosk", "privacy.set", {"on": True}),
                                 ("kiosk", "consent.withdraw", {"partner": 1, "version": "x"}),
                                 ("admin", "staff.list", {})]:
            reply = counsellor._run(counsellor.link.send(role, name, **args))
            assert not reply.ok and reply.code == "role" and "counsellor key" in reply.error
        # A kiosk command sent as the counsellor: the controller's own role check refuses it.
        refused = counsellor.send("survey.skip")
        assert not refused.ok and refused.code == "role"
        assert not watcher.state.privacy and watcher.state.phase == "consulting"
        assert list(counsellor.journal.sent["command"]) == ["session.start", "survey.skip"]
        assert list(counsellor.journal.sent["ok"]) == [True, False]
        changes = watcher.journal.changes
        assert "idle → consulting" in set(changes.loc[changes["what"] == "phase", "change"])
        with pytest.raises(TimeoutError, match="phase='survey' within 0.3 s"):
            watcher.wait_for(phase="survey", timeout=0.3)
        with pytest.raises(TypeError, match="no colour"):
            watcher.wait_for(colour="blue")
    finally:
        counsellor.close()
        watcher.close()
    watcher.close()  # twice: nothing happens


async def test_connect_async_on_the_running_loop(data_dir):
    room = Room(controller_only(data_dir))
    await room.start()
    try:
        async with await kiosk.connect_async(data_dir, role="kiosk") as client:
            assert (await client.must("checkin", walk_in=True)).ok
            state = await client.wait_until(lambda s: s.arrival is not None, timeout=5)
            assert state.phase == "welcome"
            reply = await client.link.send("counsellor", "session.start")
            assert reply.code == "role" and "kiosk key" in reply.error
        with pytest.raises(BusError, match="sent no state within 0.5 s"):
            await kiosk.connect_async(data_dir, key="agent", timeout=0.5)  # may not read
    finally:
        await room.stop()


@pytest.fixture
def unconnected():
    """A link whose state the test sets; every command it would send is recorded."""
    link = RoomLink("inproc://nobody", "inproc://nobody")
    link.state.apply([("room/r1/info", {"name": "Raum 1"}), ("room/r1/phase", "idle")],
                     replace=True, seq=1)
    sent: list[tuple] = []

    def post(role, name, /, **args):
        sent.append((role, name, args))
        raise BusError("not connected")  # the view then says it is offline
    link.post = post
    return link, sent


def beacons(view) -> list:
    return [obj for obj in view.__panel__().select() if isinstance(obj, Beacon)]


def test_a_view_outside_the_rooms_pages_is_an_observer(unconnected):
    link, sent = unconnected
    watching, device = KioskView(link=link), KioskView(link=link, device=True)
    assert beacons(watching) == [] and len(beacons(device)) == 1
    assert beacons(DisplayView(link=link)) == []
    assert len(beacons(DisplayView(link=link, device=True))) == 1
    for view in (watching, device):
        view.local = "thanks"  # a screen the idle timer watches
    assert watching._screen.screen["idle"] is None
    assert device._screen.screen["idle"] == {"timeout": 120.0, "warning": 20.0}
    link.state.apply([("room/r1/phase", "survey")])
    watching._on_action({"action": "idle.expired"})  # would be kiosk.reset on the device
    link.state.apply([("room/r1/phase", "idle")])
    watching._on_action({"action": "checkin.walkin"})
    assert sent == [] and watching.error == watching.watching_text
    device._on_action({"action": "checkin.walkin"})
    assert sent == [("kiosk", "checkin", {"walk_in": True})]
