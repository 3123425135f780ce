"""The site's state as a param model: the partner directory, presence and rings.

The site controller owns the one writable copy; rooms, the partner console
and /admin hold mirrors (:class:`~kiosk.room.mirror.Mirror` with prefix ``site/``).
Bus keys:

* ``site/directory/agencies/<id>``: :class:`~kiosk.site.directory.Agency` as a dict;
* ``site/directory/contacts/<id>``: :class:`~kiosk.site.directory.Contact` as a dict;
* ``site/presence/<contact>``: ``{"status": available|busy|away, "since": iso}``,
  deleted when the contact signs out or sends no heartbeat for 30 s;
* ``site/rings/<id>``: :class:`Ring` as a dict (never a join link, never client data),
  deleted a while after the ring ended.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import param
from param.parameterized import batch_call_watchers

from kiosk.site.directory import Agency, Contact

#: What a signed-in partner says about themselves.
STATUSES = ("available", "busy", "away")
#: Where a ring stands. ringing: consoles ring; accepted: a contact took it and the
#: room is inviting; linked: the accepting contact may fetch the join link; the rest
#: are ends (declined by everyone rung, timeout, cancelled by the room, failed).
RING_STATUSES = ("ringing", "accepted", "linked", "declined", "timeout", "cancelled", "failed")
RING_ENDS = frozenset({"linked", "declined", "timeout", "cancelled", "failed"})
#: Why a partner declines.
DECLINE_REASONS = ("busy", "not_our_matter")


def site_key(*parts: object) -> str:
    """The bus key of one piece of the site's state, e.g. ``site/rings/ab12``."""
    return "/".join(["site", *(str(p) for p in parts)])


@dataclass(frozen=True)
class Ring:
    """A room calling one contact (``contact``) or an agency's duty desk (``contact`` None).

    It names the room, the counsellor and the topic: never the client.
    ``ringing`` are the contacts whose console rings now; ``declines`` are
    ``(contact, reason)`` pairs; ``reason`` says why it ended (declined, failed).
    """

    id: str
    room: str
    room_name: str
    counsellor: str
    topic: str
    agency: int
    contact: int | None = None
    ringing: tuple[int, ...] = ()
    status: str = "ringing"
    accepted_by: int | None = None
    declines: tuple[tuple[int, str], ...] = ()
    reason: str = ""
    started: str = ""

    @property
    def ended(self) -> bool:
        return self.status in RING_ENDS

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Ring:
        return cls(str(obj["id"]), str(obj["room"]), str(obj["room_name"]),
                   str(obj["counsellor"]), str(obj["topic"]), int(obj["agency"]),
                   obj.get("contact"), tuple(obj.get("ringing") or ()), str(obj["status"]),
                   obj.get("accepted_by"),
                   tuple((int(d["contact"]), str(d["reason"])) for d in obj.get("declines") or ()),
                   str(obj.get("reason") or ""), str(obj.get("started") or ""))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "room": self.room, "room_name": self.room_name,
                "counsellor": self.counsellor, "topic": self.topic, "agency": self.agency,
                "contact": self.contact, "ringing": list(self.ringing), "status": self.status,
                "accepted_by": self.accepted_by,
                "declines": [{"contact": c, "reason": r} for c, r in self.declines],
                "reason": self.reason, "started": self.started}


#: Keyed maps: bus key segments -> (state field, how a value is read).
_MAPS = {("directory", "agencies"): ("agencies", int, Agency.from_dict),
         ("directory", "contacts"): ("contacts", int, Contact.from_dict),
         ("presence",): ("presence", int, dict),
         ("rings",): ("rings", str, Ring.from_dict)}


class SiteState(param.Parameterized):
    """The partner network as the site controller last published it."""

    agencies = param.Dict(default={}, doc="Agency id -> Agency.")
    contacts = param.Dict(default={}, doc="Contact id -> Contact.")
    presence = param.Dict(default={}, doc="Contact id -> {'status', 'since'} of signed-in "
                                          "partners with a recent heartbeat.")
    rings = param.Dict(default={}, doc="Ring id -> Ring, running and recently ended.")
    seq = param.Integer(default=0, doc="Bus sequence number of the last applied update.")
    synced = param.Boolean(default=False, doc="True while the mirror follows a live site.")

    def status(self, contact: int) -> str | None:
        """A contact's status, or None when not signed in (or silent)."""
        entry = self.presence.get(contact)
        return entry["status"] if entry else None

    def desk(self, agency: int) -> list[Contact]:
        """The agency's duty desk now: its contacts present and available."""
        return [c for c in self.contacts.values()
                if c.agency == agency and self.status(c.id) == "available"]

    def ringing_for(self, contact: int) -> list[Ring]:
        """Rings that ring this contact's console now."""
        return [r for r in self.rings.values() if r.status == "ringing" and contact in r.ringing]

    def rings_of(self, room: str) -> list[Ring]:
        """One room's rings, oldest first."""
        return sorted((r for r in self.rings.values() if r.room == room),
                      key=lambda r: (r.started, r.id))

    def apply(self, items: Iterable[tuple[str, Any]], *, replace: bool = False,
              seq: int | None = None) -> None:
        """Fold keyed updates into the model in one batch; ``replace`` starts empty."""
        maps = {name: ({} if replace else dict(getattr(self, name)))
                for name, _, _ in _MAPS.values()}
        touched = set(maps) if replace else set()
        for key, value in items:
            parts = key.split("/")
            if len(parts) < 3 or parts[0] != "site":
                continue
            found = _MAPS.get(tuple(parts[1:-1]))
            if found is None:
                continue
            name, ident, read = found
            item = ident(parts[-1])
            if value is None:
                maps[name].pop(item, None)
            else:
                maps[name][item] = read(value)
            touched.add(name)
        with batch_call_watchers(self):  # watchers see one consistent change
            for name in touched:
                setattr(self, name, maps[name])
            if seq is not None:
                self.seq = seq
