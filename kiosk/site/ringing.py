"""Rings: a room calls a partner or a duty desk; the state machine and its timeouts.

::

    ringing ──accept──> accepted ──link──> linked
       │                   └──fail / no link in time──> failed
       ├──every contact rung declined──> declined
       ├──nobody accepted in 60 s──> timeout
       └──the room cancels──> cancelled

The site controller runs every command and the sweep in one thread, so of
two contacts accepting the same ring exactly one wins; the other gets a
``state`` error. The join link a room reports is kept here, outside the
published state, and given only to the contact who accepted. Rings live in
memory: a restarted site has none, and rooms and consoles resynchronise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import uuid
from collections.abc import Callable
from typing import Any

from kiosk.exceptions import CommandError
from kiosk.room.store import now
from kiosk.site.state import DECLINE_REASONS, Ring, site_key

Changes = list[tuple[str, Any]]

#: Seconds a ring rings before it gives up (status ``timeout``); also the time the
#: room has to report the link once a contact accepted.
RING_TIMEOUT = 60.0
#: Seconds an ended ring stays in the state, so that room and console see how it ended.
RING_KEEP = 120.0


def seconds_left(ring: Ring, now: dt.datetime | None = None) -> int:
    """Seconds until a ringing call gives up, from its start time (wall clock, UTC), for
    the countdowns on /control and the partner console."""
    try:
        started = dt.datetime.fromisoformat(ring.started)
    except ValueError:
        return int(RING_TIMEOUT)
    now = now or dt.datetime.now(dt.UTC)
    return max(0, round(RING_TIMEOUT - (now - started).total_seconds()))


class Rings:
    """Every running and recently ended ring, with deadlines on an injectable clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 timeout: float = RING_TIMEOUT, keep: float = RING_KEEP) -> None:
        self.clock = clock
        self.timeout, self.keep = timeout, keep
        self.rings: dict[str, Ring] = {}
        self._deadline: dict[str, float] = {}
        self._links: dict[str, str] = {}

    def get(self, ring_id: str) -> Ring:
        ring = self.rings.get(ring_id)
        if ring is None:
            raise CommandError("state", f"there is no ring {ring_id} (it ended or never was)")
        return ring

    def _set(self, ring: Ring, deadline: float | None = None) -> Changes:
        self.rings[ring.id] = ring
        if deadline is None:
            deadline = self.clock() + (self.keep if ring.ended else self.timeout)
        self._deadline[ring.id] = deadline
        if ring.ended and ring.status != "linked":
            self._links.pop(ring.id, None)
        return [(site_key("rings", ring.id), ring.to_dict())]

    def _own(self, ring_id: str, room: str) -> Ring:
        ring = self.get(ring_id)
        if ring.room != room:
            raise CommandError("role", f"ring {ring_id} belongs to another room")
        return ring

    # -- the room's side ---------------------------------------------------------
    def start(self, *, room: str, room_name: str, counsellor: str, topic: str, agency: int,
              contact: int | None, ringing: list[int]) -> tuple[Ring, Changes]:
        """Ring ``ringing`` (the contact, or the desk's available members)."""
        ring = Ring(uuid.uuid4().hex[:16], room, room_name, counsellor, topic, agency, contact,
                    tuple(ringing), started=now())
        return ring, self._set(ring)

    def cancel(self, ring_id: str, room: str) -> Changes:
        ring = self._own(ring_id, room)
        if ring.status != "ringing":
            raise CommandError("state", f"ring {ring_id} is {ring.status}, no longer ringing")
        return self._set(dataclasses.replace(ring, status="cancelled", ringing=()))

    def link(self, ring_id: str, room: str, url: str) -> Changes:
        """The room invited the accepting contact: keep the join link for them alone."""
        ring = self._own(ring_id, room)
        if ring.status != "accepted":
            raise CommandError("state", f"ring {ring_id} is {ring.status}, not accepted")
        self._links[ring_id] = url
        return self._set(dataclasses.replace(ring, status="linked"))

    def fail(self, ring_id: str, room: str, reason: str) -> Changes:
        """The room could not invite (e.g. its talk is not running)."""
        ring = self._own(ring_id, room)
        if ring.ended:
            raise CommandError("state", f"ring {ring_id} has already ended ({ring.status})")
        return self._set(dataclasses.replace(ring, status="failed", ringing=(), reason=reason))

    # -- the partner's side --------------------------------------------------------
    def _rung(self, ring_id: str, contact: int) -> Ring:
        ring = self.get(ring_id)
        if ring.status != "ringing":
            taken = ring.accepted_by is not None and ring.accepted_by != contact
            raise CommandError("state", "a colleague has already taken this call" if taken
                               else f"this call is no longer ringing ({ring.status})")
        if contact not in ring.ringing:
            raise CommandError("state", "this call does not ring for you")
        return ring

    def accept(self, ring_id: str, contact: int) -> Changes:
        """The first contact to accept takes the ring; the others' rings stop."""
        ring = self._rung(ring_id, contact)
        return self._set(dataclasses.replace(ring, status="accepted", accepted_by=contact,
                                             ringing=()))

    def decline(self, ring_id: str, contact: int, reason: str) -> Changes:
        """One contact declines; once nobody is left ringing, the ring is declined."""
        if reason not in DECLINE_REASONS:
            raise CommandError("schema", f"'reason' must be one of: {', '.join(DECLINE_REASONS)}")
        ring = self._rung(ring_id, contact)
        left = tuple(c for c in ring.ringing if c != contact)
        ring = dataclasses.replace(ring, ringing=left,
                                   declines=(*ring.declines, (contact, reason)))
        if left:
            return self._set(ring, deadline=self._deadline[ring.id])
        return self._set(dataclasses.replace(ring, status="declined", reason=reason))

    def visible_to(self, ring_id: str, contact: int) -> tuple[Ring, str]:
        """A ring as the contact may see it, and the join link if they accepted it."""
        ring = self.get(ring_id)
        if contact not in ring.ringing and ring.accepted_by != contact:
            raise CommandError("state", "this call is not yours")
        url = self._links.get(ring_id, "") if ring.accepted_by == contact else ""
        return ring, url

    # -- time ------------------------------------------------------------------------
    def expire(self) -> Changes:
        """Time out what rang too long, fail what was not linked in time, and drop
        ended rings after :data:`RING_KEEP` seconds."""
        changes: Changes = []
        moment = self.clock()
        for ring_id, deadline in list(self._deadline.items()):
            if deadline > moment:
                continue
            ring = self.rings[ring_id]
            if ring.status == "ringing":
                changes += self._set(dataclasses.replace(ring, status="timeout", ringing=()))
            elif ring.status == "accepted":
                changes += self._set(dataclasses.replace(
                    ring, status="failed", reason="the room did not send the link in time"))
            else:
                del self.rings[ring_id], self._deadline[ring_id]
                self._links.pop(ring_id, None)
                changes.append((site_key("rings", ring_id), None))
        return changes

    def updates(self) -> dict[str, Any]:
        return {site_key("rings", r.id): r.to_dict() for r in self.rings.values()}
