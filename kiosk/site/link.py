"""A room's link to the site service: the partner network as /control sees it.

The room starts a :class:`SiteLink` when its config names a site endpoint
(``[site]``), and puts it on its :class:`~kiosk.room.link.RoomLink` as
``link.site``. The link mirrors the site's state (directory, presence, rings:
:class:`~kiosk.site.state.SiteState`), rings and cancels for the room's
counsellor, and watches the room's rings: once a partner accepts, it invites
them with the room's own ``partner.invite`` (agency, name, role, purpose and
agency type filled from the directory) and hands the join URL to the site
(``ring.link``), which gives it to the accepting partner alone. When the room
cannot invite (no talk running), the ring fails with the reason.

For a view::

    site = link.site                       # None: no site configured
    site.state.desk(agency_id)             # who would ring now
    reply = await site.ring(counsellor="Frau Beispiel", topic="Arbeit", agency=2)
    site.rings                             # this room's rings (status, declines, reason)
    await site.cancel(reply.data["id"])

When the room also holds the site's admin key (``kiosk demo``, or a room PC the
site's operator gave it to), ``site.admin`` is true and :meth:`SiteLink.manage`
sends the directory's admin commands for /admin. :meth:`SiteLink.complete` fills
a handout contact's mail and phone from the directory (see
:func:`kiosk.handout.contacts.add_directory`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import zmq.asyncio

from kiosk.exceptions import BusError, CommandError
from kiosk.handout import contacts as handout
from kiosk.room.client import CommandClient
from kiosk.room.keys import ClientKeys
from kiosk.room.link import RoomLink
from kiosk.room.messages import Reply
from kiosk.room.mirror import Mirror
from kiosk.site.state import Ring, SiteState

log = logging.getLogger(__name__)


class SiteLink:
    """One room's mirror of the site and its commands to it (bus role ``room``)."""

    def __init__(self, room: RoomLink, router: str, pub: str, *, room_id: str, room_name: str,
                 keys: ClientKeys | None, context: zmq.asyncio.Context | None = None,
                 silence: float = 5.0, admin_keys: ClientKeys | None = None) -> None:
        self.room = room
        self.room_id, self.room_name = room_id, room_name
        self.state = SiteState()
        self.mirror = Mirror(self.state, router, pub, prefix="site/", context=context,
                             silence=silence, keys=keys)
        self.client = CommandClient(router, role="room", context=context, keys=keys)
        self.admin_client = (CommandClient(router, role="admin", context=context,
                                           keys=admin_keys) if admin_keys else None)
        self._connecting: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self.state.param.watch(self._on_rings, "rings")

    async def start(self, wait: float | None = 5.0) -> None:
        await self.mirror.start(wait=wait)
        handout.add_directory(self.complete)

    async def close(self) -> None:
        handout.remove_directory(self.complete)
        for task in list(self._tasks):
            task.cancel()
        await self.mirror.close()
        await self.client.close()
        if self.admin_client is not None:
            await self.admin_client.close()

    @property
    def admin(self) -> bool:
        """Whether this room may manage the directory (it holds the site's admin key)."""
        return self.admin_client is not None

    async def manage(self, name: str, /, **args: Any) -> Reply:
        """One of the site's admin commands (``directory.import``, ``contact.save`` …);
        the reply. An ack returns once this room's mirror shows the change."""
        if self.admin_client is None:
            raise CommandError("role", "this room holds no admin key of the site")
        reply = await self.admin_client.request(name, args)
        if reply.ok and self.state.synced:
            await self.mirror.caught_up(reply.seq)
        return reply

    def complete(self, contact: handout.Contact) -> handout.Contact:
        """A handout contact with mail and phone from the directory: the person's own
        entry at that agency, else the agency's first contact (the client's way in)."""
        agency = next((a for a in self.state.agencies.values() if a.name == contact.agency),
                      None)
        if agency is None:
            return contact
        people = [c for c in self.state.contacts.values() if c.agency == agency.id]
        found = next((c for c in people if c.name == contact.name), None)
        found = found or (min(people, key=lambda c: c.id) if people else None)
        if found is None:
            return contact
        return dataclasses.replace(contact, email=contact.email or found.email,
                                   phone=contact.phone or found.phone,
                                   agency_type=contact.agency_type or agency.type)

    @property
    def rings(self) -> list[Ring]:
        """This room's rings, running and recently ended, oldest first."""
        return self.state.rings_of(self.room_id)

    async def send(self, name: str, /, **args: Any) -> Reply:
        """One site command as this room; the reply (ack or error). An ack returns once
        this room's mirror shows the change."""
        reply = await self.client.request(name, {"room": self.room_id, **args})
        if reply.ok and self.state.synced:
            await self.mirror.caught_up(reply.seq)
        return reply

    async def ring(self, *, counsellor: str, topic: str, contact: int | None = None,
                   agency: int | None = None) -> Reply:
        """Ring one contact or an agency's duty desk; the reply's ``data['id']`` names the ring.
        Never pass anything about the client: a ring carries room, counsellor and topic."""
        target = {"contact": contact} if contact is not None else {"agency": agency}
        return await self.send("ring.start", room_name=self.room_name, counsellor=counsellor,
                               topic=topic, **target)

    async def cancel(self, ring: str) -> Reply:
        """Stop a ring nobody accepted yet."""
        return await self.send("ring.cancel", ring=ring)

    # -- accepted: invite, and hand the link to the site ------------------------------
    def _on_rings(self, event: Any) -> None:
        for ring in self.rings:
            if ring.status == "accepted" and ring.id not in self._connecting:
                self._connecting.add(ring.id)
                task = asyncio.ensure_future(self._connect(ring))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        self._connecting &= set(self.state.rings)

    async def _connect(self, ring: Ring) -> None:
        """Invite the contact who accepted ``ring``; report the link, or why there is none."""
        try:
            name, args = "ring.link", {"url": await self._invite(ring)}
        except (CommandError, BusError) as exc:
            name, args = "ring.fail", {"reason": str(exc)[:300]}
        try:
            done = await self.send(name, ring=ring.id, **args)
        except BusError as exc:
            log.warning("site link: cannot report ring %s to the site: %s", ring.id, exc)
            return
        if not done.ok:
            log.warning("site link: the site refused %s of ring %s: %s", name, ring.id,
                        done.error)

    async def _invite(self, ring: Ring) -> str:
        """The room's ``partner.invite`` for the accepting contact; the join URL. The
        counsellor rang them in, so they are admitted already (the client's consent is
        still asked)."""
        contact = self.state.contacts.get(ring.accepted_by)
        agency = self.state.agencies.get(ring.agency)
        if contact is None or agency is None:
            raise CommandError("state", "the contact is no longer in the directory")
        reply = await self.room.send(
            "counsellor", "partner.invite", agency=agency.name, name=contact.name,
            role=contact.role, purpose=ring.topic, agency_type=agency.type, admitted=True)
        if not reply.ok:
            raise CommandError(reply.code, f"the room could not invite: {reply.error}")
        return self.room.base_url + reply.data["link"]
