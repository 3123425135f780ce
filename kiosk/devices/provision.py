"""Provisioning a room PC: its config file and a CURVE key pair per device role.

``kiosk devices init --room NAME`` writes ``room.toml`` into the data dir and
one key pair per role into ``keys/`` (public ``<role>.key``, secret
``<role>.key_secret``). Secret keys are readable by the service user only
(directory 0700, files 0600). Existing keys are never overwritten unless asked.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import zmq.auth

from kiosk.exceptions import ConfigError

#: The room's parts that talk on the bus, each with a key pair of its own.
DEVICE_ROLES = ("controller", "kiosk", "display", "tablet", "media")


def slug(name: str) -> str:
    """A room id from its name: ``Beratungsraum 2`` → ``beratungsraum-2``."""
    text = unicodedata.normalize("NFKD", name.replace("ß", "ss"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if not text:
        raise ConfigError(f"cannot make a room id from {name!r}: use letters or digits")
    return text[:63]


@dataclass
class Provisioned:
    config: Path
    keys: dict[str, tuple[Path, Path]]  # role -> (public, secret)


def init_room(data_dir: Path, name: str, *, force: bool = False) -> Provisioned:
    """Write the room's config and its device keys; refuse to overwrite unless ``force``."""
    room_id = slug(name)  # a bad name is refused before anything is written
    data_dir = Path(data_dir)
    keys_dir = data_dir / "keys"
    config = data_dir / "room.toml"
    existing = [p for p in [config, *keys_dir.glob("*.key*")] if p.exists()]
    if existing and not force:
        raise ConfigError(f"{data_dir} is already provisioned ({existing[0].name} exists); "
                          "use --force to replace its config and keys")
    data_dir.mkdir(parents=True, exist_ok=True)
    keys_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    keys = {}
    for role in DEVICE_ROLES:
        for old in keys_dir.glob(f"{role}.key*"):
            old.unlink()
        public, secret = zmq.auth.create_certificates(str(keys_dir), role)
        os.chmod(secret, 0o600)
        os.chmod(public, 0o644)
        keys[role] = (Path(public), Path(secret))
    config.write_text(
        "# Written by `kiosk devices init`; see the README for every setting.\n"
        f"[room]\nid = {json.dumps(room_id)}\nname = {json.dumps(name, ensure_ascii=False)}\n"
        f"data_dir = {json.dumps(str(data_dir.resolve()), ensure_ascii=False)}\n"
        '\n[http]\naddress = "127.0.0.1"\nport = 5006\n'
        '\n[bus]\nrouter = "tcp://127.0.0.1:5571"\npub = "tcp://127.0.0.1:5572"\n'
        '\n[media]\n# camera = "/dev/video0"\n# microphone = "hw:1"\n', encoding="utf-8")
    return Provisioned(config, keys)


#: What staff may assign with ``kiosk devices scan --assign ROLE=ID``:
#: role -> (config section, key, kind of device that ``hardware.scan`` lists).
ASSIGNABLE = {
    "camera": ("media", "camera", "camera"),
    "microphone": ("media", "microphone", "microphone"),
    "speaker": ("devices", "speaker", "speaker"),
    "touch": ("devices", "touch", "touch"),
    "kiosk-screen": ("devices", "kiosk_output", "display"),
    "second-display": ("devices", "display_output", "display"),
}


def _resolve(device_id: str, root: Path) -> str:
    """A device node given by a stable name (a udev symlink) as the node scan lists."""
    if not device_id.startswith("/dev/"):
        return device_id
    path = root / device_id.lstrip("/")
    try:
        target = path.resolve(strict=True)
        return "/" + str(target.relative_to(root.resolve()))
    except (OSError, ValueError):
        return device_id


def assign(config_path: Path, choices: dict[str, str], found: list, *,
           root: Path = Path("/")) -> dict[str, str]:
    """Write device assignments into the room's config, keeping its comments.

    Each role must be known and each id one that the scan found (a udev name
    that points at it counts). Nothing is written unless every choice is good
    and the new config still reads.
    """
    import tomlkit

    from kiosk.config import RoomConfig

    by_kind: dict[str, set[str]] = {}
    for device in found:
        by_kind.setdefault(device.kind, set()).add(device.id)
    for role, device_id in choices.items():
        if role not in ASSIGNABLE:
            raise ConfigError(f"unknown role {role!r}; assignable: {', '.join(ASSIGNABLE)}")
        kind = ASSIGNABLE[role][2]
        known = by_kind.get(kind, set())
        if device_id not in known and _resolve(device_id, Path(root)) not in known:
            known = ", ".join(sorted(known)) or "none found"
            raise ConfigError(f"{role}: no {kind} {device_id!r} on this PC (found: {known})")
    try:
        doc = tomlkit.parse(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no config at {config_path}; run 'kiosk devices init' first") from None
    except tomlkit.exceptions.TOMLKitError as exc:
        raise ConfigError(f"cannot read config {config_path}: {exc}") from None
    for role, device_id in choices.items():
        section, key, _ = ASSIGNABLE[role]
        if section not in doc:
            doc[section] = tomlkit.table()
        doc[section][key] = device_id
    tmp = config_path.with_suffix(".toml.tmp")
    tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    try:
        RoomConfig.from_toml(tmp)
    except ConfigError:
        tmp.unlink()
        raise
    tmp.replace(config_path)
    return {role: ".".join(ASSIGNABLE[role][:2]) for role in choices}
