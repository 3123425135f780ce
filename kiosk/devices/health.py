"""The controller's view of room devices: heartbeats, presence and its expiry.

Every device agent and view sends ``device.heartbeat`` about once a second.
Presence is a key with a time to live, as in the Clone pattern: a device
silent for :data:`DEVICE_TIMEOUT` seconds is published as offline by the
sweep that the bus runs several times a second. What a device reported is
kept in SQLite, so that /admin still lists a device that is gone after a
restart of the controller (as offline, with when it was last seen).
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from kiosk.exceptions import CommandError
from kiosk.room.commands import (
    ADMIN,
    ALL_PHASES,
    Arg,
    boolean,
    choice,
    integer,
    spec,
    text,
)
from kiosk.room.commands import (
    device_id as device_name,
)
from kiosk.room.feature import Feature, Handler
from kiosk.room.messages import Changes
from kiosk.room.state import DEVICE_KINDS, ROLES, Device
from kiosk.room.store import now

#: Seconds without a heartbeat after which a device counts as offline.
DEVICE_TIMEOUT = 5.0
#: While a device stays online, its "last seen" is republished this often (seconds).
LAST_SEEN_EVERY = 5.0
#: What a heartbeat reports beside presence.
REPORTED = ("label", "fps", "display", "browser", "detail")


class HealthCommands(Feature):
    """Handlers for device heartbeats; a feature of the room controller."""

    specs = (
        spec("device.heartbeat", frozenset(ROLES), ALL_PHASES,
              "A device agent or view is alive; with what it measures.",
              device=Arg(device_name), kind=Arg(choice(*DEVICE_KINDS)),
              label=Arg(text(120, min_len=0), default=""), fps=Arg(integer(0, 1000), default=None),
              display=Arg(boolean, default=None), browser=Arg(text(120, min_len=0), default=""),
              detail=Arg(text(300, min_len=0), default="")),
        spec("device.forget", ADMIN, ALL_PHASES, "Take a device off the room's list.",
              device=Arg(device_name)),
    )


    def handlers(self) -> dict[str, Handler]:
        self._beats: dict[str, tuple[float, float, str]] = {}  # id -> (heard, published, when)
        return {"device.heartbeat": self._heartbeat, "device.forget": self._forget}


    def load(self, session_id: str | None) -> dict[str, Any]:
        return {"devices": self.load_devices()}

    def sweep(self) -> Changes:
        return self.expire_devices()

    def load_devices(self) -> dict[str, Device]:
        """Devices known from earlier runs, all offline until they are heard again."""
        out = {}
        for row in self.store.db["devices"].rows_where("room_id = ?", [self.state.room_id]):
            info = json.loads(row["info"] or "{}")
            out[row["id"]] = Device(row["id"], row["kind"], row["label"] or "", False,
                                    row["last_seen"] or "", **info)
        return out

    def _save(self, device: Device) -> None:
        info = {k: getattr(device, k) for k in REPORTED if k != "label"}
        with self.store.transaction() as db:
            db.conn.execute(
                "INSERT INTO devices (id, room_id, kind, label, first_seen, last_seen, info) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET kind = "
                "excluded.kind, label = excluded.label, last_seen = excluded.last_seen, "
                "info = excluded.info",
                [device.id, self.state.room_id, device.kind, device.label, device.last_seen,
                 device.last_seen, json.dumps(info)])

    def _heartbeat(self, args: dict[str, Any]) -> Changes:
        if args["kind"] == "tablet" and args["device"] not in {
                f"tablet-{t.id}" for t in self.state.tablets}:
            # A page opened before its tablet was revoked may still beat once or twice.
            raise CommandError("state", f"{args['device']} is not a paired tablet")
        heard, stamp = time.monotonic(), now()
        old = self.state.devices.get(args["device"])
        new = Device(args["device"], args["kind"], online=True, last_seen=stamp,
                     **{k: args[k] for k in REPORTED if k in args})
        _, published, _ = self._beats.get(new.id, (0.0, 0.0, ""))
        same = old is not None and dataclasses.replace(old, last_seen=stamp) == new
        if same and heard - published < LAST_SEEN_EVERY:
            self._beats[new.id] = (heard, published, stamp)
            return []
        if not same:  # came online, or reports something new: keep it across restarts
            self._save(new)
        self._beats[new.id] = (heard, heard, stamp)
        return [(self._key("devices", new.id), new.to_dict())]

    def _forget(self, args: dict[str, Any]) -> Changes:
        if args["device"] not in self.state.devices:
            raise CommandError("state", f"there is no device {args['device']!r} in this room")
        return self.drop_device(args["device"])

    def drop_device(self, device_id: str) -> Changes:
        """Remove a device from the room's list (it is gone for good, not offline)."""
        if device_id not in self.state.devices:
            return []
        with self.store.transaction() as db:
            db.conn.execute("DELETE FROM devices WHERE id = ?", [device_id])
        self._beats.pop(device_id, None)
        return [(self._key("devices", device_id), None)]

    def expire_devices(self, at: float | None = None) -> Changes:
        """Devices silent for longer than the timeout, published as offline."""
        at = time.monotonic() if at is None else at
        changes: Changes = []
        for device_id, (heard, _, stamp) in list(self._beats.items()):
            device = self.state.devices.get(device_id)
            if at - heard <= DEVICE_TIMEOUT or device is None or not device.online:
                continue
            gone = dataclasses.replace(device, online=False, last_seen=stamp)
            self._save(gone)
            del self._beats[device_id]
            changes.append((self._key("devices", device_id), gone.to_dict()))
        return changes
