"""``kiosk devices check``: is this room PC ready for a client to sit down?

One line per item, pass or fail, and for a failure a hint on how to fix it:
camera (frames counted for a few seconds), microphone (a level), displays
(connected, with modes), the room bus (a ping), the TURN server (an allocation
with fresh credentials, when ``[media.turn]`` is set), the clock, free disk.

Without a configured camera or microphone the room shows a test pattern and
plays a tone: that passes in a demo room only, and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from aiortc.mediastreams import MediaStreamError

from kiosk.config import RoomConfig, read_runtime
from kiosk.devices import hardware
from kiosk.exceptions import KioskError

MIN_FREE_BYTES = 1 << 30
MIN_FPS = 10.0
#: A microphone quieter than this (RMS over one second) fails: muted, unplugged, the
#: wrong device or no gain. A working one hears at least its own noise above it.
MIN_MIC_DBFS = -60.0
SYNTHETIC_CAMERA = "synthetic test pattern"
SYNTHETIC_MICROPHONE = "synthetic tone"


@dataclass
class Check:
    item: str
    ok: bool
    detail: str
    hint: str = ""

    def line(self) -> str:
        text = f"{'PASS' if self.ok else 'FAIL'}  {self.item:<11} {self.detail}"
        return text + (f"\n      hint: {self.hint}" if not self.ok and self.hint else "")


async def _frames(track, seconds: float) -> list:
    frames = []
    with contextlib.suppress(TimeoutError, MediaStreamError):  # the source may end early
        async with asyncio.timeout(seconds):
            while True:
                frames.append(await track.recv())
    return frames


def _synthetic(item: str, name: str, example: str) -> Check:
    """What a room outside a demo gets for a source that nobody configured."""
    return Check(item, False, f"{name}: no {item} configured",
                 f"Outside a demo the room needs its own {item}: set [media] {item} in "
                 f"room.toml, e.g. {item} = \"{example}\" (`kiosk devices scan` lists "
                 f"devices, `kiosk devices scan --assign {item}=ID` writes it).")


def _in_demo(result: Check, what: str) -> Check:
    """A synthetic source's result in a demo room, marked as such."""
    name, _, rest = result.detail.partition(": ")
    return Check(result.item, result.ok, f"{name} (demo room, no {what} configured): {rest}",
                 result.hint)


async def judge_camera(name: str, track, seconds: float) -> Check:
    """Count a video track's frames for ``seconds``: too few fail."""
    frames = await _frames(track, seconds)
    fps = len(frames) / seconds
    if fps < MIN_FPS:
        return Check("camera", False, f"{name}: {fps:.1f} frames/s in {seconds:g} s",
                     "The camera delivers too few frames: check its cable and USB port, and "
                     "that no other program uses it.")
    size = f"{frames[-1].width}×{frames[-1].height}"
    return Check("camera", True, f"{name}: {fps:.1f} frames/s, {size}")


async def check_camera(config: RoomConfig, seconds: float) -> Check:
    from kiosk.media.source import open_room_media

    if not config.camera and not config.demo:
        return _synthetic("camera", SYNTHETIC_CAMERA, "/dev/kiosk-camera")
    name = config.camera or SYNTHETIC_CAMERA
    try:
        media = open_room_media(config.room_name, config.camera, None)
    except Exception as exc:  # MediaPlayer raises av errors for a missing device
        return Check("camera", False, f"{name}: cannot be opened ({exc})",
                     "Is the camera plugged in? `kiosk devices scan` lists cameras; check "
                     "[media] camera in room.toml (the udev rule gives it a stable name).")
    try:
        result = await judge_camera(name, media.video, seconds)
    finally:
        media.stop()
    return result if config.camera else _in_demo(result, "camera")


async def judge_microphone(name: str, track, seconds: float = 1.0) -> Check:
    """Measure an audio track's level for ``seconds``: nothing, silence or too little fail."""
    frames = await _frames(track, seconds)
    if not frames:
        return Check("microphone", False, f"{name}: no sound arrived in {seconds:g} s",
                     "Is the microphone muted or unplugged? Check it with `alsamixer`.")
    samples = np.concatenate([f.to_ndarray().ravel() for f in frames]).astype(np.float64)
    rms = math.sqrt(float(np.mean(samples ** 2))) / 32768 if samples.size else 0.0
    if rms == 0:
        return Check("microphone", False, f"{name}: digital silence (every sample is zero)",
                     "The microphone delivers nothing: is it muted (`alsamixer`, F4 shows "
                     "capture, M toggles mute), unplugged, or is [media] microphone the wrong "
                     "device (`kiosk devices scan`)?")
    level = 20 * math.log10(rms)
    if level < MIN_MIC_DBFS:
        return Check("microphone", False,
                     f"{name}: level {level:.0f} dBFS, below {MIN_MIC_DBFS:.0f} dBFS",
                     "Speak near the microphone while the check runs. If it stays this quiet: "
                     "raise its capture gain in `alsamixer` (F4), check that it is not muted "
                     "and its cable is in, and that [media] microphone names the right "
                     "device (`kiosk devices scan`).")
    return Check("microphone", True, f"{name}: level {level:.0f} dBFS")


async def check_microphone(config: RoomConfig) -> Check:
    from kiosk.media.source import open_room_media

    if not config.microphone and not config.demo:
        return _synthetic("microphone", SYNTHETIC_MICROPHONE, "hw:1,0")
    name = config.microphone or SYNTHETIC_MICROPHONE
    try:
        media = open_room_media(config.room_name, None, config.microphone,
                                config.microphone_format)
    except Exception as exc:
        return Check("microphone", False, f"{name}: cannot be opened ({exc})",
                     "Check [media] microphone in room.toml against `kiosk devices scan`.")
    try:
        result = await judge_microphone(name, media.audio)
    finally:
        media.stop()
    return result if config.microphone else _in_demo(result, "microphone")


def check_displays(root: Path, config: RoomConfig | None = None) -> Check:
    found = {d.id: d for d in hardware.displays(root)}
    assigned = {"touch screen": config.kiosk_output if config else None,
                "second display": config.display_output if config else None}
    for what, connector in assigned.items():
        if connector and not (connector in found and found[connector].details["connected"]):
            state = "not found" if connector not in found else "not connected"
            return Check("displays", False, f"{what} {connector} {state}",
                         f"Check the cable and power of the {what}, or assign its connector "
                         "again with 'kiosk devices scan --assign'.")
    shown = [d for d in found.values() if d.details["connected"]]
    if not shown:
        return Check("displays", False, "no display connected",
                     "Check the cables and power of the touch screen and the second display.")
    return Check("displays", True, ", ".join(
        f"{d.name} {d.details['modes'][0] if d.details['modes'] else '(no modes)'}"
        for d in shown))


async def check_bus(config: RoomConfig) -> Check:
    from kiosk.room.client import CommandClient
    from kiosk.room.keys import Keyring

    try:
        info = read_runtime(config.data_dir)
    except KioskError:
        return Check("bus", False, f"no room is running with data dir {config.data_dir}",
                     "Start it: `systemctl start kiosk` or `kiosk serve --config room.toml`.")
    try:
        keys = Keyring(info["bus"].get("keys") or config.keys_dir).client("operator")
    except KioskError as exc:
        return Check("bus", False, str(exc), "Run the check on the room PC as a user "
                     "who may read the room's keys (`kiosk keys list`).")
    client = CommandClient(info["bus"]["router"], timeout=2.0, keys=keys)
    started = time.perf_counter()
    try:
        reply = await client.request("ping", role="display")
    except KioskError as exc:
        return Check("bus", False, str(exc), "Is the room's service running? "
                     "`journalctl -u kiosk` shows why not.")
    finally:
        await client.close()
    ms = (time.perf_counter() - started) * 1000
    return Check("bus", reply.ok, f"{info['bus']['router']} answers in {ms:.1f} ms")


def check_clock() -> Check:
    now = dt.datetime.now(dt.UTC)
    if now.year < 2025:
        return Check("clock", False, f"the clock says {now:%Y-%m-%d}",
                     "Set the time and enable NTP: `timedatectl set-ntp true`.")
    synced = None
    if Path("/run/systemd/timesync/synchronized").exists():
        synced = True
    elif shutil.which("timedatectl"):
        out = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                             capture_output=True, text=True)
        synced = {"yes": True, "no": False}.get(out.stdout.strip())
    if synced is False:
        return Check("clock", False, f"{now:%Y-%m-%d %H:%M} UTC, not synchronised",
                     "Enable NTP: `timedatectl set-ntp true` (links and tokens expire by it).")
    state = "synchronised" if synced else "synchronisation not reported"
    return Check("clock", True, f"{now:%Y-%m-%d %H:%M} UTC, {state}")


def check_disk(config: RoomConfig) -> Check:
    path = config.data_dir if config.data_dir.exists() else Path(".")
    free = shutil.disk_usage(path).free
    detail = f"{free / (1 << 30):.1f} GiB free for {config.data_dir}"
    if free < MIN_FREE_BYTES:
        return Check("disk", False, detail, "Free some space: the room needs at least 1 GiB.")
    return Check("disk", True, detail)


async def check_turn(config: RoomConfig) -> Check:
    """Allocate a relay on every TURN url with credentials minted now, as a partner's
    page and the room's own peers would; the secret never appears."""
    from kiosk.media.turn import probe

    result = await probe(config.turn, label="check")
    detail = "; ".join(result.lines())
    if result.ok:
        return Check("turn", True, detail)
    return Check("turn", False, detail,
                 "Compare [media.turn] secret with coturn's static-auth-secret and both "
                 "clocks; for turns: the certificate must name the host and be trusted by "
                 "this PC; the firewall must pass the ports (see README, field networks).")


async def run_checks(config: RoomConfig, *, root: Path = Path("/"),
                     seconds: float = 3.0) -> list[Check]:
    """Every check, in the order a facility member would walk the room."""
    checks = [await check_camera(config, seconds), await check_microphone(config),
              check_displays(root, config), await check_bus(config)]
    if config.turn is not None:
        checks.append(await check_turn(config))
    return checks + [check_clock(), check_disk(config)]
