"""Device health: heartbeats, presence that expires, the agent process, the camera's rate."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from conftest import ThreadedRoom, eventually

from kiosk.app.features import RoomController
from kiosk.devices.health import DEVICE_TIMEOUT, HealthCommands
from kiosk.room.messages import Command
from kiosk.room.store import Store

KIOSK = [sys.executable, "-m", "kiosk"]


def beat(ctl: RoomController, device: str = "touch", kind: str = "touch", **info):
    reply, updates = ctl.handle(Command("device.heartbeat", {"device": device, "kind": kind,
                                                             **info}, "kiosk"))
    assert reply.ok, reply.error
    return updates


def test_presence_is_published_on_change_and_expires(tmp_path):
    store = Store(tmp_path / "room.db")
    ctl = RoomController(store, "r1", "Raum 1")
    first = beat(ctl, browser="Chromium 140")
    assert [u.key for u in first] == ["room/r1/devices/touch"]
    assert first[0].value["online"] and first[0].value["browser"] == "Chromium 140"
    assert beat(ctl, browser="Chromium 140") == []  # nothing new: nothing published
    assert beat(ctl, browser="Chromium 141")[0].value["browser"] == "Chromium 141"

    heard = time.monotonic()
    assert ctl.sweep() == []  # not silent yet
    health = ctl.feature(HealthCommands)  # the devices' capability owns their presence
    assert health.expire_devices(heard + DEVICE_TIMEOUT - 0.1) == []
    gone = health.expire_devices(heard + DEVICE_TIMEOUT + 0.1)
    assert gone[0][1]["online"] is False and gone[0][1]["last_seen"]
    ctl.state.apply(gone)
    assert [d.id for d in ctl.state.alerts] == ["touch"]
    assert ctl.state.devices["touch"].alert == "offline"
    back = beat(ctl, browser="Chromium 141")
    assert back[0].value["online"] is True and not ctl.state.alerts
    store.close()


def test_a_known_device_is_listed_offline_after_a_controller_restart(tmp_path):
    store = Store(tmp_path / "room.db")
    ctl = RoomController(store, "r1", "Raum 1")
    beat(ctl, "camera", "camera", fps=30, label="/dev/kiosk-camera")
    store.close()
    store = Store(tmp_path / "room.db")
    again = RoomController(store, "r1", "Raum 1")
    camera = again.state.devices["camera"]
    assert (camera.online, camera.fps, camera.label) == (False, 30, "/dev/kiosk-camera")
    assert camera.last_seen
    reply, updates = again.handle(Command("device.forget", {"device": "camera"}, "admin"))
    assert reply.ok and updates[0].value is None and "camera" not in again.state.devices
    store.close()


def test_alerts_for_a_camera_without_frames_and_an_unplugged_screen(tmp_path):
    store = Store(tmp_path / "room.db")
    ctl = RoomController(store, "r1", "Raum 1")
    beat(ctl, "camera", "camera", fps=0)
    beat(ctl, "agent-pc", "agent", display=False)
    assert {d.id: d.alert for d in ctl.state.alerts} == {"camera": "no_frames",
                                                         "agent-pc": "no_display"}
    beat(ctl, "camera", "camera", fps=25)
    beat(ctl, "agent-pc", "agent", display=True)
    assert ctl.state.alerts == []
    store.close()


def test_bad_heartbeats_are_refused(tmp_path):
    store = Store(tmp_path / "room.db")
    ctl = RoomController(store, "r1", "Raum 1")
    for args, message in [({"device": "a b", "kind": "touch"}, "only letters"),
                          ({"device": "x", "kind": "toaster"}, "'kind' must be one of"),
                          ({"device": "x", "kind": "camera", "fps": -1}, "'fps' must be")]:
        reply, updates = ctl.handle(Command("device.heartbeat", args, "kiosk"))
        assert not reply.ok and message in reply.error and updates == []
    assert ctl.state.devices == {}
    store.close()


def agent(data_dir, *extra):
    return subprocess.Popen([*KIOSK, "devices", "agent", "--data-dir", str(data_dir),
                             "--device", "agent-raum-pc", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_stopped_agent_goes_offline_within_five_seconds_and_comes_back(room_config):
    room = ThreadedRoom(room_config).start()
    proc = agent(room_config.data_dir)
    try:
        eventually(lambda: "agent-raum-pc" in room.state.devices
              and room.state.devices["agent-raum-pc"].online, timeout=20)
        proc.send_signal(signal.SIGKILL)  # as a crash: no goodbye
        proc.wait(10)
        stopped = time.monotonic()
        eventually(lambda: not room.state.devices["agent-raum-pc"].online, timeout=10)
        took = time.monotonic() - stopped
        assert 4.0 <= took <= 6.0, f"marked offline after {took:.2f} s"
        assert room.state.devices["agent-raum-pc"].alert == "offline"
        status = subprocess.run([*KIOSK, "ctl", "status", "--data-dir",
                                 str(room_config.data_dir)], capture_output=True, text=True,
                                timeout=30)
        assert "device   agent-raum-pc (agent): OFFLINE since" in status.stdout, status.stderr

        proc = agent(room_config.data_dir)
        eventually(lambda: room.state.devices["agent-raum-pc"].online, timeout=20)
        assert room.state.devices["agent-raum-pc"].detail == "keine Geräte zugeordnet"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
        room.stop()


def test_the_media_engine_reports_the_camera_frame_rate(room_config):
    room = ThreadedRoom(room_config.with_(camera_watch=True)).start()
    try:
        eventually(lambda: (room.state.devices.get("camera") or None) is not None
              and (room.state.devices["camera"].fps or 0) >= 20, timeout=15)
        camera = room.state.devices["camera"]
        assert camera.label == "Testbild (synthetisch)" and camera.alert is None
    finally:
        room.stop()


def test_the_agent_reports_assigned_screens_from_sysfs(tmp_path):
    from kiosk.config import RoomConfig
    from kiosk.devices.agent import report

    root = tmp_path / "root"
    for name, status in (("card0-HDMI-A-1", "connected"), ("card0-DP-1", "disconnected")):
        (root / "sys/class/drm" / name).mkdir(parents=True)
        (root / "sys/class/drm" / name / "status").write_text(status + "\n")
    config = RoomConfig(data_dir=tmp_path, kiosk_output="card0-HDMI-A-1",
                        display_output="card0-DP-1")
    out = report(config, root)
    assert out == {"display": False, "detail": "Touchscreen card0-HDMI-A-1: verbunden; "
                                               "Zweite Anzeige card0-DP-1: nicht verbunden"}
    (root / "sys/class/drm/card0-DP-1/status").write_text("connected\n")
    assert report(config, root)["display"] is True
