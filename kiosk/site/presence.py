"""Who of the partners is reachable now: presence that expires without heartbeats.

A signed-in partner's console sends a heartbeat every few seconds; a
contact is present until :data:`PRESENCE_TTL` seconds pass without one. The
clock is injectable (a monotonic clock by default) so tests need not wait.
Presence lives in memory only: after a site restart the consoles' next
heartbeats bring it back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kiosk.room.store import now
from kiosk.site.state import STATUSES, site_key

Changes = list[tuple[str, Any]]

#: Seconds after the last heartbeat that a partner counts as gone.
PRESENCE_TTL = 30.0


class Presence:
    """Status and last heartbeat of every present contact."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 ttl: float = PRESENCE_TTL) -> None:
        self.clock = clock
        self.ttl = ttl
        self.entries: dict[int, dict[str, str]] = {}
        self._seen: dict[int, float] = {}

    def status(self, contact: int) -> str | None:
        entry = self.entries.get(contact)
        return entry["status"] if entry else None

    def beat(self, contact: int, status: str | None = None) -> Changes:
        """A heartbeat, optionally with a new status (the first one defaults to available)."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        self._seen[contact] = self.clock()
        old = self.entries.get(contact)
        status = status or (old["status"] if old else "available")
        if old and old["status"] == status:
            return []
        self.entries[contact] = {"status": status, "since": now()}
        return [(site_key("presence", contact), self.entries[contact])]

    def leave(self, contact: int) -> Changes:
        """The contact signed out (or lost their account)."""
        self._seen.pop(contact, None)
        if self.entries.pop(contact, None) is None:
            return []
        return [(site_key("presence", contact), None)]

    def expire(self) -> Changes:
        """Drop every contact silent for longer than the time to live."""
        limit = self.clock() - self.ttl
        return [change for contact, seen in list(self._seen.items()) if seen < limit
                for change in self.leave(contact)]

    def updates(self) -> dict[str, Any]:
        return {site_key("presence", c): e for c, e in self.entries.items()}
