"""Counting failed tries, per address and in all, over a sliding minute."""

from __future__ import annotations

import time
from collections import deque


class FailureLimit:
    """Refuse an address after ``per_address`` failures a minute, everyone after ``total``.

    Only failures count, so a person who types the right code is never held up
    by their own earlier typo once the minute has passed.
    """

    def __init__(self, per_address: int = 5, total: int = 30, window: float = 60.0) -> None:
        self.per_address, self.total, self.window = per_address, total, window
        self._by_address: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()

    def _trim(self, times: deque[float], now: float) -> deque[float]:
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, address: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        mine = self._trim(self._by_address.get(address, deque()), now)
        if not mine:
            self._by_address.pop(address, None)
        return len(mine) >= self.per_address or len(self._trim(self._all, now)) >= self.total

    def failed(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._by_address.setdefault(address, deque()).append(now)
        self._all.append(now)
