"""What a room PC has: cameras, microphones and speakers, displays, touch screens.

Everything is read from the kernel's own files (``/sys``, ``/proc``, ``/dev``)
under a ``root`` that tests point at a fake tree. Camera formats come from the
V4L2 ``VIDIOC_ENUM_FMT`` ioctl where the device answers it.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

VIDIOC_ENUM_FMT = 0xC0405602  # _IOWR('V', 2, struct v4l2_fmtdesc)


class _FmtDesc(ctypes.Structure):
    _fields_ = [("index", ctypes.c_uint32), ("type", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("description", ctypes.c_char * 32),
                ("pixelformat", ctypes.c_uint32), ("mbus_code", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32 * 3)]


@dataclass
class Device:
    kind: str  # camera, microphone, speaker, display, touch
    id: str  # what the config names: /dev/video0, hw:1,0, card0-HDMI-A-1, event5
    name: str
    details: dict[str, Any] = field(default_factory=dict)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def camera_formats(node: Path) -> list[str]:
    """Pixel formats a V4L2 capture device offers (empty if it does not answer)."""
    formats = []
    try:
        fd = os.open(node, os.O_RDWR | os.O_NONBLOCK)
    except OSError:
        return formats
    try:
        for index in range(32):
            desc = _FmtDesc(index=index, type=1)  # V4L2_BUF_TYPE_VIDEO_CAPTURE
            try:
                fcntl.ioctl(fd, VIDIOC_ENUM_FMT, desc)
            except OSError:
                break
            formats.append(desc.pixelformat.to_bytes(4, "little").decode("ascii", "replace"))
    finally:
        os.close(fd)
    return formats


def cameras(root: Path) -> list[Device]:
    out = []
    for entry in sorted((root / "sys/class/video4linux").glob("video*")):
        node = root / "dev" / entry.name
        out.append(Device("camera", f"/dev/{entry.name}", _read(entry / "name") or entry.name,
                          {"formats": camera_formats(node), "present": node.exists()}))
    return out


def sound(root: Path) -> list[Device]:
    """ALSA PCM devices: capture ones are microphones, playback ones speakers."""
    out = []
    for line in _read(root / "proc/asound/pcm").splitlines():
        m = re.match(r"(\d+)-(\d+): ([^:]*):([^:]*):(.*)", line)
        if not m:
            continue
        card, dev, name = int(m[1]), int(m[2]), m[3].strip()
        rest = m[5]
        if "capture" in rest:
            out.append(Device("microphone", f"hw:{card},{dev}", name))
        if "playback" in rest:
            out.append(Device("speaker", f"hw:{card},{dev}", name))
    return out


def displays(root: Path) -> list[Device]:
    out = []
    for entry in sorted((root / "sys/class/drm").glob("card*-*")):
        status = _read(entry / "status")
        if not status:
            continue
        modes = [m for m in _read(entry / "modes").splitlines() if m]
        out.append(Device("display", entry.name, entry.name.split("-", 1)[1],
                          {"connected": status == "connected", "modes": modes}))
    return out


def touch_screens(root: Path) -> list[Device]:
    """Input devices that report direct touch (INPUT_PROP_DIRECT) or call themselves touch."""
    out = []
    for block in _read(root / "proc/bus/input/devices").split("\n\n"):
        name = re.search(r'^N: Name="(.*)"', block, re.M)
        handlers = re.search(r"^H: Handlers=(.*)$", block, re.M)
        prop = re.search(r"^B: PROP=([0-9a-f]+)", block, re.M)
        if not name:
            continue
        direct = bool(prop and int(prop[1], 16) & 0x2)
        if direct or "touch" in name[1].lower():
            event = next((h for h in (handlers[1].split() if handlers else [])
                          if h.startswith("event")), "")
            out.append(Device("touch", event or name[1], name[1]))
    return out


def scan(root: str | Path = "/") -> list[Device]:
    """Every camera, microphone, speaker, display and touch screen under ``root``."""
    root = Path(root)
    return [*cameras(root), *sound(root), *displays(root), *touch_screens(root)]


def as_json(devices: list[Device]) -> list[dict[str, Any]]:
    return [asdict(d) for d in devices]
