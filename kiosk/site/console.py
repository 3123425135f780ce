"""The partner console's bus side: one site bus client for every open console page.

:class:`PartnerConsole` mirrors the site's state (:class:`~kiosk.site.state.SiteState`)
and sends the ``console`` role's commands for the contacts signed in on its pages
(:mod:`kiosk.site.console_page`). Each open page holds a websocket; while it is open the
console sends ``presence.beat`` for its contact every :data:`BEAT_EVERY` seconds, and
pushes the contact's rings the moment the mirror shows them (a param watcher, no
polling). When the page closes the beats stop and the site lets the presence expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import zmq.asyncio

from kiosk.exceptions import BusError
from kiosk.room.client import CommandClient
from kiosk.room.keys import ClientKeys
from kiosk.room.messages import Reply
from kiosk.room.mirror import Mirror
from kiosk.site.ringing import seconds_left
from kiosk.site.state import Ring, SiteState

log = logging.getLogger(__name__)

#: Seconds between two heartbeats of an open console (the site forgets after 30 s).
BEAT_EVERY = 10.0
#: Status names as the page shows them.
STATUS_TEXT = {"available": "Verfügbar", "busy": "Beschäftigt", "away": "Abwesend"}


class Socket(Protocol):
    """What the console needs of a page's websocket."""

    def write_message(self, message: str) -> Any: ...

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


@dataclass
class Page:
    """One open console page: whose it is and which rings it shows."""

    socket: Socket
    token: str
    contact: int
    shown: dict[str, Ring] = field(default_factory=dict)
    sent: str = ""  # the last state message, not sent again while it stays the same


def ended_note(ring: Ring | None, last: Ring, contact: int) -> str:
    """Why a ring left this contact's console, in a short German sentence ("" if they
    took it themselves)."""
    room = last.room_name
    if ring is None:
        return f"Der Anruf aus {room} ist beendet."
    if ring.accepted_by == contact:
        return ""
    if ring.accepted_by is not None:
        return f"Eine Kollegin oder ein Kollege hat den Anruf aus {room} angenommen."
    if any(c == contact for c, _ in ring.declines):
        return f"Sie haben den Anruf aus {room} abgelehnt."
    return {"cancelled": f"{room} hat den Anruf beendet.",
            "timeout": f"Der Anruf aus {room} wurde nach 60 Sekunden beendet.",
            "failed": f"Der Anruf aus {room} kam nicht zustande."}.get(
        ring.status, f"Der Anruf aus {room} ist beendet.")


def ring_view(ring: Ring) -> dict[str, Any]:
    """What a console shows of a ring: room, counsellor, topic, time left. Never the
    client (a ring carries nothing about them anyway)."""
    return {"id": ring.id, "room": ring.room_name, "counsellor": ring.counsellor,
            "topic": ring.topic, "left": seconds_left(ring)}


class PartnerConsole:
    """The console page server's mirror of the site, its commands and its open pages."""

    def __init__(self, router: str, pub: str, *, keys: ClientKeys | None,
                 context: zmq.asyncio.Context | None = None, silence: float = 5.0,
                 beat_every: float | None = None) -> None:
        self.state = SiteState()
        self.mirror = Mirror(self.state, router, pub, prefix="site/", context=context,
                             silence=silence, keys=keys)
        self.client = CommandClient(router, role="console", context=context, keys=keys)
        self.beat_every = BEAT_EVERY if beat_every is None else beat_every
        self.pages: list[Page] = []
        self._changed = asyncio.Event()
        self._beats: asyncio.Task | None = None
        self.state.param.watch(self._push, ["rings", "presence", "contacts", "agencies"])

    async def start(self, wait: float | None = 5.0) -> None:
        await self.mirror.start(wait=wait)
        self._beats = asyncio.create_task(self._beat_loop(), name="console-beats")

    async def close(self) -> None:
        if self._beats is not None:
            self._beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beats
        for page in list(self.pages):
            page.socket.close(1001, "server stopping")
        self.pages.clear()
        await self.mirror.close()
        await self.client.close()

    async def send(self, name: str, token: str, /, **args: Any) -> Reply:
        """One console command for the contact signed in with ``token``; an ack returns
        once this mirror shows its change."""
        reply = await self.client.request(name, {"token": token, **args})
        if reply.ok and self.state.synced:
            await self.mirror.caught_up(reply.seq)
        return reply

    async def until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait (woken by each mirrored change) until ``predicate()``; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            left = deadline - loop.time()
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return True

    # -- pages ---------------------------------------------------------------------
    def attach(self, socket: Socket, token: str, contact: int) -> Page:
        """A page opened its websocket: beat now, and show its state."""
        page = Page(socket, token, contact)
        self.pages.append(page)
        asyncio.ensure_future(self._beat(token))
        self._show(page)
        return page

    def detach(self, socket: Socket) -> None:
        self.pages = [p for p in self.pages if p.socket is not socket]

    def _push(self, *events: Any) -> None:
        self._changed.set()
        for page in list(self.pages):
            self._show(page)

    def _show(self, page: Page) -> None:
        """Send ``page`` its contact's state if the mirror shows anything new for it."""
        state = self.state
        contact = state.contacts.get(page.contact)
        agency = state.agencies.get(contact.agency) if contact else None
        ringing = sorted(state.ringing_for(page.contact), key=lambda r: (r.started, r.id))
        gone = [{"id": rid, "note": ended_note(state.rings.get(rid), last, page.contact)}
                for rid, last in page.shown.items() if rid not in {r.id for r in ringing}]
        page.shown = {r.id: r for r in ringing}
        message = {"type": "state", "name": contact.name if contact else "",
                   "agency": agency.name if agency else "",
                   "status": state.status(page.contact) or "",
                   "rings": [ring_view(r) for r in ringing], "gone": gone}
        text = json.dumps(message, ensure_ascii=False)
        if text == page.sent:  # another contact's ring or status: nothing new here
            return
        page.sent = text
        try:
            page.socket.write_message(text)
        except Exception:  # closed meanwhile: its on_close detaches it
            log.debug("console page gone while pushing", exc_info=True)

    # -- heartbeats ----------------------------------------------------------------
    async def _beat(self, token: str, status: str | None = None) -> Reply | None:
        try:
            reply = await self.send("presence.beat", token, **(
                {"status": status} if status else {}))
        except BusError as exc:
            log.warning("console: heartbeat not delivered: %s", exc)
            return None
        if not reply.ok and reply.code == "signed_out":
            for page in [p for p in self.pages if p.token == token]:
                page.socket.close(4401, "signed out")
        return reply

    async def _beat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.beat_every)
            for token in {p.token for p in self.pages}:
                await self._beat(token)

    async def set_status(self, token: str, status: str) -> Reply | None:
        return await self._beat(token, status)
