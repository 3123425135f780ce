"""Provisioning a room PC and reading its hardware from a fake /sys, /proc and /dev."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kiosk.config import RoomConfig
from kiosk.devices.hardware import scan
from kiosk.devices.provision import DEVICE_ROLES, init_room
from kiosk.exceptions import ConfigError

KIOSK = [sys.executable, "-m", "kiosk"]


def fake_tree(root: Path) -> Path:
    """A room PC as the kernel shows it: a camera, sound, two connectors, a touch screen."""
    files = {
        "sys/class/video4linux/video0/name": "HD Pro Webcam C920\n",
        "dev/video0": "",
        "proc/asound/pcm": ("00-00: ALC3246 Analog : ALC3246 Analog : playback 1 : capture 1\n"
                            "01-03: HDMI 0 : HDMI 0 : playback 1\n"),
        "sys/class/drm/card0-HDMI-A-1/status": "connected\n",
        "sys/class/drm/card0-HDMI-A-1/modes": "1920x1080\n1280x720\n",
        "sys/class/drm/card0-DP-1/status": "disconnected\n",
        "sys/class/drm/card0-DP-1/modes": "",
        "proc/bus/input/devices": (
            'I: Bus=0003 Vendor=222a Product=0001\nN: Name="ILITEK ILITEK-TP"\n'
            "H: Handlers=mouse0 event5\nB: PROP=2\n\n"
            'I: Bus=0011 Vendor=0001 Product=0001\nN: Name="AT Translated Set 2 keyboard"\n'
            "H: Handlers=sysrq kbd event0\nB: PROP=0\n"),
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_scan_finds_every_kind_of_device(tmp_path):
    found = {(d.kind, d.id): d for d in scan(fake_tree(tmp_path))}
    assert set(found) == {("camera", "/dev/video0"), ("microphone", "hw:0,0"),
                          ("speaker", "hw:0,0"), ("speaker", "hw:1,3"),
                          ("display", "card0-HDMI-A-1"), ("display", "card0-DP-1"),
                          ("touch", "event5")}
    assert found[("camera", "/dev/video0")].name == "HD Pro Webcam C920"
    assert found[("camera", "/dev/video0")].details["formats"] == []  # a plain file: no ioctl
    assert found[("display", "card0-HDMI-A-1")].details == {
        "connected": True, "modes": ["1920x1080", "1280x720"]}
    assert found[("display", "card0-DP-1")].details["connected"] is False


def test_scan_on_the_command_line_as_table_and_json(tmp_path):
    root = str(fake_tree(tmp_path))
    table = subprocess.run([*KIOSK, "devices", "scan", "--root", root], capture_output=True,
                           text=True, check=True).stdout
    assert "camera     /dev/video0" in table and "HD Pro Webcam C920" in table
    assert "display    card0-HDMI-A-1" in table and "connected; 1920x1080" in table
    data = json.loads(subprocess.run([*KIOSK, "devices", "scan", "--json", "--root", root],
                                     capture_output=True, text=True, check=True).stdout)
    assert {d["kind"] for d in data} == {"camera", "microphone", "speaker", "display", "touch"}


def test_init_writes_a_config_and_private_keys_per_role(tmp_path):
    data = tmp_path / "data"
    out = subprocess.run([*KIOSK, "devices", "init", "--room", "Beratungsraum 2 – Süd",
                          "--data-dir", str(data)], capture_output=True, text=True, check=True)
    assert "config" in out.stdout
    config = RoomConfig.from_toml(data / "room.toml")
    assert (config.room_id, config.room_name) == ("beratungsraum-2-sud", "Beratungsraum 2 – Süd")
    keys = data / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for role in DEVICE_ROLES:
        secret = keys / f"{role}.key_secret"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert "secret-key" in secret.read_text() and (keys / f"{role}.key").exists()
    publics = {(keys / f"{r}.key").read_text() for r in DEVICE_ROLES}
    assert len(publics) == len(DEVICE_ROLES)  # a pair of its own for every role
    again = subprocess.run([*KIOSK, "devices", "init", "--room", "X", "--data-dir", str(data)],
                           capture_output=True, text=True)
    assert again.returncode == 1 and "already provisioned" in again.stderr
    before = (keys / "kiosk.key").read_text()
    init_room(data, "Beratungsraum 2", force=True)
    assert (keys / "kiosk.key").read_text() != before


def test_a_name_without_letters_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot make a room id"):
        init_room(tmp_path, "–––")
    assert not os.listdir(tmp_path)


def check(data: Path, root: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*KIOSK, "devices", "check", "--data-dir", str(data), "--root",
                           str(root), "--seconds", "1", *extra], capture_output=True, text=True,
                          timeout=120)


def test_check_passes_on_a_ready_room(tmp_path):
    from conftest import ThreadedRoom

    from kiosk.room.keys import Keyring

    data = tmp_path / "data"
    root = fake_tree(tmp_path / "root")
    Keyring(data / "keys").init()
    room = ThreadedRoom(RoomConfig(data_dir=data, http_port=0, bus_router="tcp://127.0.0.1:0",
                                   bus_pub="tcp://127.0.0.1:0")).start()
    try:
        real = check(data, root)
        out = check(data, root, "--demo")
    finally:
        room.stop()
    lines = out.stdout.splitlines()
    assert out.returncode == 0, out.stdout + out.stderr
    for item in ("camera", "microphone", "displays", "bus", "clock", "disk"):
        assert any(line.startswith(f"PASS  {item}") for line in lines), item
    assert "synthetic test pattern (demo room, no camera configured): " in out.stdout
    assert "frames/s, 640×480" in out.stdout
    assert "synthetic tone (demo room, no microphone configured): level -29 dBFS" in out.stdout
    assert "HDMI-A-1 1920x1080" in out.stdout
    # The same room as a real one: the test pattern and the tone are no camera and microphone.
    assert real.returncode == 1, real.stdout + real.stderr
    failed = [line.split()[1] for line in real.stdout.splitlines() if line.startswith("FAIL")]
    assert failed == ["camera", "microphone"]
    assert "synthetic test pattern: no camera configured" in real.stdout
    assert 'set [media] camera in room.toml, e.g. camera = "/dev/kiosk-camera"' in real.stdout
    assert "synthetic tone: no microphone configured" in real.stdout
    assert 'set [media] microphone in room.toml, e.g. microphone = "hw:1,0"' in real.stdout


def test_a_failing_camera_and_a_stopped_room_fail_the_check_with_hints(tmp_path):
    data = tmp_path / "data"
    init_room(data, "Raum 3")
    config = data / "room.toml"
    config.write_text(config.read_text().replace('# camera = "/dev/video0"',
                                                 f'camera = "{tmp_path}/video9"'))
    out = check(data, fake_tree(tmp_path / "root"))
    assert out.returncode == 1
    assert "FAIL  camera" in out.stdout and "Is the camera plugged in?" in out.stdout
    assert "FAIL  bus" in out.stdout and "Start it" in out.stdout
    assert "PASS  displays" in out.stdout


async def test_a_camera_is_judged_by_its_frame_rate():
    from aiortc.contrib.media import MediaPlayer

    from kiosk.devices.checks import judge_camera

    for rate, ok in ((30, True), (4, False)):
        player = MediaPlayer(f"testsrc=size=640x480:rate={rate}", format="lavfi")
        try:
            result = await judge_camera("testsrc", player.video, 1.0)
        finally:
            player.video.stop()
        assert result.ok is ok, result
        if ok:
            assert result.detail.endswith("frames/s, 640×480")
        else:
            assert "too few frames" in result.hint


def alsa_microphones(folder: Path) -> Path:
    """An ALSA configuration with three capture devices that play a file: digital silence,
    a tone at -70 dBFS, and one at -23 dBFS (as a voice near the microphone)."""
    t = np.arange(48_000 * 10) / 48_000
    devices = {"kiosk_silent": "/dev/zero"}
    for name, amplitude in (("kiosk_quiet", 0.0004), ("kiosk_voice", 0.1)):
        wave = (amplitude * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
        path = folder / f"{name}.raw"
        np.stack([wave, wave], axis=1).tofile(path)  # s16, stereo, 48 kHz: ffmpeg's default
        devices[name] = str(path)
    conf = folder / "asound.conf"
    conf.write_text("".join(
        f'pcm.{name} {{ type file slave.pcm {{ type null }} file "/dev/null" '
        f'infile "{infile}" format "raw" }}\n' for name, infile in devices.items()))
    return conf


@pytest.mark.parametrize("device, ok, detail, hint", [
    ("kiosk_silent", False, "digital silence (every sample is zero)", "is it muted"),
    ("kiosk_quiet", False, "level -71 dBFS, below -60 dBFS", "raise its capture gain"),
    ("kiosk_voice", True, "level -23 dBFS", ""),
])
async def test_a_microphone_is_judged_by_its_level(tmp_path, monkeypatch, device, ok, detail,
                                                   hint):
    from kiosk.devices.checks import check_microphone

    monkeypatch.setenv("ALSA_CONFIG_PATH", str(alsa_microphones(tmp_path)))
    result = await check_microphone(RoomConfig(data_dir=tmp_path, microphone=device))
    assert result.ok is ok, result
    assert result.detail == f"{device}: {detail}"
    assert hint in result.hint and (ok or "[media] microphone" in result.hint)


def test_no_display_connected_fails_the_check(tmp_path):
    root = fake_tree(tmp_path / "root")
    (root / "sys/class/drm/card0-HDMI-A-1/status").write_text("disconnected\n")
    out = check(tmp_path / "data", root)
    assert out.returncode == 1 and "FAIL  displays" in out.stdout
    assert "no display connected" in out.stdout and "Check the cables" in out.stdout


def test_an_assigned_display_that_is_unplugged_fails_the_check(tmp_path):
    from kiosk.devices.checks import check_displays

    root = fake_tree(tmp_path / "root")
    config = RoomConfig(data_dir=tmp_path, kiosk_output="card0-HDMI-A-1",
                        display_output="card0-DP-1")
    result = check_displays(root, config)  # DP-1 is disconnected in the fake tree
    assert not result.ok and "second display card0-DP-1 not connected" in result.detail
    assert "kiosk devices scan --assign" in result.hint
    (root / "sys/class/drm/card0-DP-1/status").write_text("connected\n")
    assert check_displays(root, config).ok


DEVICES = Path(__file__).resolve().parent.parent / "devices"


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file as sections of keys (continuation lines joined)."""
    text = (DEVICES / name).read_text().replace("\\\n", " ")
    out: dict[str, dict[str, list[str]]] = {}
    section = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = out.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        assert section is not None and key and value, f"{name}: bad line {line!r}"
        section.setdefault(key, []).append(value)
    return out


def test_the_room_pc_files_are_complete():
    service = unit("kiosk.service")
    assert service["Service"]["ExecStart"] == [
        "/opt/kiosk/.venv/bin/kiosk serve --config /var/lib/kiosk/room.toml"]
    assert service["Service"]["Restart"] == ["always"]
    assert "/var/lib/kiosk" in service["Service"]["ReadWritePaths"]
    browser = unit("kiosk-browser@.service")
    start = browser["Service"]["ExecStart"][0]
    for flag in ("--kiosk", "--autoplay-policy=no-user-gesture-required", "--noerrdialogs",
                 "--disable-background-networking", "http://localhost:5006/%i"):
        assert flag in start
    assert browser["Service"]["Restart"] == ["always"]
    assert {"/usr/bin/xset -dpms", "/usr/bin/xset s off", "/usr/bin/xset s noblank"} <= set(
        browser["Service"]["ExecStartPre"])  # no screen blanking
    assert "unclutter" in unit("unclutter.service")["Service"]["ExecStart"][0]  # no cursor
    agent = unit("kiosk-agent.service")
    assert agent["Service"]["ExecStart"][0].endswith(
        "kiosk devices agent --config /var/lib/kiosk/room.toml")
    assert agent["Service"]["Restart"] == ["always"]
    rule = (DEVICES / "70-kiosk-camera.rules").read_text()
    assert 'SYMLINK+="kiosk-camera"' in rule and 'SUBSYSTEM=="video4linux"' in rule
    script = DEVICES / "provision-room-pc.sh"
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert "kiosk devices init" in script.read_text()
    assert "kiosk devices check" in script.read_text()
    assert "kiosk-agent.service" in script.read_text()


def test_scan_assigns_devices_to_roles_in_the_config(tmp_path):
    root = fake_tree(tmp_path / "root")
    (root / "dev/kiosk-camera").symlink_to("video0")  # the udev rule's stable name
    data = tmp_path / "data"
    init_room(data, "Raum 2")
    before = (data / "room.toml").read_text()
    run = subprocess.run(
        [*KIOSK, "devices", "scan", "--root", str(root), "--data-dir", str(data),
         "--assign", "camera=/dev/kiosk-camera", "--assign", "kiosk-screen=card0-HDMI-A-1",
         "--assign", "second-display=card0-DP-1", "--assign", "touch=event5",
         "--assign", "microphone=hw:0,0", "--assign", "speaker=hw:1,3"],
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "assigned camera" in run.stdout
    config = RoomConfig.from_toml(data / "room.toml")
    assert (config.camera, config.kiosk_output, config.display_output, config.touch,
            config.microphone, config.speaker) == (
        "/dev/kiosk-camera", "card0-HDMI-A-1", "card0-DP-1", "event5", "hw:0,0", "hw:1,3")
    text = (data / "room.toml").read_text()
    assert text.startswith(before.splitlines()[0])  # the file's comments stay


@pytest.mark.parametrize("choice, message", [
    ("camera=/dev/video7", "no camera '/dev/video7'"),
    ("kiosk-screen=card0-VGA-1", "no display 'card0-VGA-1'"),
    ("projector=card0-DP-1", "unknown role 'projector'"),
    ("camera", "is not ROLE=ID"),
])
def test_a_bad_assignment_changes_nothing(tmp_path, choice, message):
    root = fake_tree(tmp_path / "root")
    data = tmp_path / "data"
    init_room(data, "Raum 2")
    before = (data / "room.toml").read_text()
    run = subprocess.run(
        [*KIOSK, "devices", "scan", "--root", str(root), "--data-dir", str(data),
         "--assign", "touch=event5", "--assign", choice],
        capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert message in run.stderr
    assert (data / "room.toml").read_text() == before
