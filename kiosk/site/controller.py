"""The site controller: the only writer of the partner network's state.

It serves every room of a site (a job centre's building or district) on a bus
of its own (:class:`~kiosk.room.bus.BusServer` with :data:`SITE_POLICY`). Command
roles, one per bus role:

``room`` (each room's :class:`~kiosk.site.link.SiteLink`)
    ``ring.start {room, room_name, counsellor, topic, contact | agency}`` -> ``{id}``;
    ``ring.cancel {room, ring}``; ``ring.link {room, ring, url}``;
    ``ring.fail {room, ring, reason}``.
``console`` (the partner console's page server, for signed-in contacts)
    ``partner.signin {email, password}`` -> ``{token, contact, name, agency, expires}``;
    ``partner.verify {token}`` -> ``{contact, name, agency}``; ``partner.signout {token}``;
    ``presence.beat {token, status?}`` (every few seconds; status available|busy|away);
    ``ring.accept {token, ring}``; ``ring.decline {token, ring, reason}`` (busy,
    not_our_matter); ``ring.get {token, ring}`` -> ``{ring, url}``: the join link,
    only to the contact who accepted, only in this reply, never in an update.
``admin`` (/admin, ``kiosk site …``)
    ``directory.import {csv}`` -> ``{rows, added, updated}``; ``directory.export`` ->
    ``{csv}``; ``contact.save {id?, agency, agency_type, name, role, languages, topics,
    email, phone, hours}`` -> ``{id}``; ``contact.remove {id}``;
    ``account.set {contact (id or e-mail), password}`` -> ``{contact, name}``;
    ``account.remove {contact}``.

``ping`` is open to every role. As in the room, a refused command changes
nothing and its reply says why (codes ``schema``, ``role``, ``state``,
``signed_out``, ``signin_failed``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kiosk.access.staff import MIN_PASSWORD
from kiosk.exceptions import CommandError
from kiosk.room.agencies import TOPICS
from kiosk.room.commands import (
    MISSING,
    Arg,
    Spec,
    check_spec,
    choice,
    device_id,
    email_address,
    integer,
    password,
    text,
)
from kiosk.room.keys import BusPolicy
from kiosk.room.messages import Command, KeyedLog, Reply, Update
from kiosk.room.store import Store
from kiosk.site.directory import CONTACT_FIELDS, Directory
from kiosk.site.presence import Presence
from kiosk.site.ringing import Rings
from kiosk.site.state import DECLINE_REASONS, STATUSES, site_key

Changes = list[tuple[str, Any]]
Result = Changes | tuple[Changes, dict[str, Any]]

SITE_ROLES = ("room", "console", "admin")
#: Bus roles of the site's keyring: each key speaks for its own command role; the
#: site's own process (inproc) for all.
SITE_POLICY = BusPolicy(
    roles={"room": (frozenset({"room"}), None), "console": (frozenset({"console"}), None),
           "admin": (frozenset({"admin"}), None), "site": (frozenset(SITE_ROLES), None)},
    readers=frozenset({"room", "console", "admin", "site"}),
    standard={"room": "room", "console": "console", "admin": "admin"}, local="site")

ROOM, CONSOLE, ADMIN = (frozenset({r}) for r in SITE_ROLES)
ID = Arg(integer(1, 2**53))
RING = Arg(text(32))
TOKEN = Arg(text(200))
ROOM_ID = Arg(device_id)


def contact_ref(name: str, value: Any) -> int | str:
    """A contact by id, or by e-mail address (as ``kiosk site account`` names them)."""
    if isinstance(value, str) and "@" in value:
        return email_address(name, value).lower()
    return integer(1, 2**53)(name, value)


def _spec(name: str, roles: frozenset[str], doc: str, /, **args: Arg) -> Spec:
    return Spec(name, roles, frozenset(), args, doc)


_OPTIONAL = {"role", "topics", "hours"}
COMMANDS: dict[str, Spec] = {s.name: s for s in [
    _spec("ping", frozenset(SITE_ROLES), "Answer with the current sequence number."),
    _spec("ring.start", ROOM, "Ring one contact, or an agency's duty desk.",
          room=ROOM_ID, room_name=Arg(text(120)), counsellor=Arg(text(120)),
          topic=Arg(choice(*TOPICS)), contact=Arg(integer(1, 2**53), default=None),
          agency=Arg(integer(1, 2**53), default=None)),
    _spec("ring.cancel", ROOM, "Stop a ring that nobody has accepted yet.",
          room=ROOM_ID, ring=RING),
    _spec("ring.link", ROOM, "The join link for the contact who accepted.",
          room=ROOM_ID, ring=RING, url=Arg(text(1000))),
    _spec("ring.fail", ROOM, "The room could not invite the contact who accepted.",
          room=ROOM_ID, ring=RING, reason=Arg(text(300))),
    _spec("partner.signin", CONSOLE, "A contact signs in with e-mail address and password.",
          email=Arg(text(254)), password=Arg(password(1))),
    _spec("partner.verify", CONSOLE, "Whose sign-in a token is.", token=TOKEN),
    _spec("partner.signout", CONSOLE, "End a sign-in; the contact is no longer present.",
          token=TOKEN),
    _spec("presence.beat", CONSOLE, "A signed-in contact's console is open (every few s).",
          token=TOKEN, status=Arg(choice(*STATUSES), default=None)),
    _spec("ring.accept", CONSOLE, "Take a call that rings for this contact.",
          token=TOKEN, ring=RING),
    _spec("ring.decline", CONSOLE, "Decline a call, with a reason the room sees.",
          token=TOKEN, ring=RING, reason=Arg(choice(*DECLINE_REASONS))),
    _spec("ring.get", CONSOLE, "A ring as this contact sees it, with the join link once "
          "they accepted and the room sent it.", token=TOKEN, ring=RING),
    _spec("directory.import", ADMIN, "Add or update the contacts of a CSV file (all or none).",
          csv=Arg(text(60_000))),
    _spec("directory.export", ADMIN, "The directory as CSV."),
    _spec("contact.save", ADMIN, "Add a contact, or change contact ``id``.",
          id=Arg(integer(1, 2**53), default=None),
          **{name: Arg(check, default="" if name in _OPTIONAL else MISSING)
             for name, check in CONTACT_FIELDS.items()}),
    _spec("contact.remove", ADMIN, "Delete a contact and their account.", id=ID),
    _spec("account.set", ADMIN, "Give a contact (id or e-mail address) an account, or a new "
          "password; their sign-ins end.", contact=Arg(contact_ref),
          password=Arg(password(MIN_PASSWORD))),
    _spec("account.remove", ADMIN, "Take a contact's account away.", contact=ID),
]}


def check(name: str, role: str, args: dict[str, Any]) -> tuple[Spec, dict[str, Any]]:
    """Validate one site command; return its spec and clean arguments."""
    return check_spec(COMMANDS, SITE_ROLES, name, role, args, "site command")


class SiteController(KeyedLog):
    """Validates site commands, keeps directory (SQLite), presence and rings (memory)."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.directory = Directory(store)
        self.presence = Presence(clock)
        self.rings = Rings(clock)
        KeyedLog.__init__(self)
        self._handlers: dict[str, Callable[[dict[str, Any]], Result]] = {
            "ping": lambda args: [],
            "ring.start": self._ring_start,
            "ring.cancel": lambda a: self.rings.cancel(a["ring"], a["room"]),
            "ring.link": lambda a: self.rings.link(a["ring"], a["room"], a["url"]),
            "ring.fail": lambda a: self.rings.fail(a["ring"], a["room"], a["reason"]),
            "partner.signin": self._signin,
            "partner.verify": self._verify,
            "partner.signout": self._signout,
            "presence.beat": lambda a: self.presence.beat(self._who(a).id, a.get("status")),
            "ring.accept": self._accept,
            "ring.decline": lambda a: self.rings.decline(a["ring"], self._who(a).id,
                                                         a["reason"]),
            "ring.get": self._ring_get,
            "directory.import": self._import,
            "directory.export": lambda a: ([], {"csv": self.directory.export_csv()}),
            "contact.save": self._contact_save,
            "contact.remove": self._contact_remove,
            "account.set": self._account_set,
            "account.remove": self._account_remove,
        }
        for key, value in self._directory_changes():
            self._publishable(key, value)

    # -- the Clone pattern's server side (what BusServer calls) --------------------
    def handle(self, cmd: Command) -> tuple[Reply, list[Update]]:
        """Check and apply one command; return the reply and the updates to publish."""
        try:
            spec, args = check(cmd.name, cmd.role, cmd.args)
            result = self._handlers[spec.name](args)
        except CommandError as exc:
            return Reply(cmd.id, False, self.seq, exc.code, exc.message), []
        changes, data = result if isinstance(result, tuple) else (result, {})
        updates = [self._publishable(key, value) for key, value in changes]
        return Reply(cmd.id, True, self.seq, data=data), updates

    def sweep(self) -> list[Update]:
        """Expire silent partners and rings past their time (the bus calls this often)."""
        changes = self.presence.expire() + self.rings.expire()
        return [self._publishable(key, value) for key, value in changes]

    # -- directory -----------------------------------------------------------------
    def _directory_changes(self) -> Changes:
        """What differs between the directory in the file and the published keys."""
        want = {site_key("directory", "agencies", a.id): a.to_dict()
                for a in self.directory.agencies()}
        want.update({site_key("directory", "contacts", c.id): c.to_dict()
                     for c in self.directory.contacts()})
        prefix = site_key("directory", "")
        gone = [(k, None) for k in self.kv if k.startswith(prefix) and k not in want]
        return gone + [(k, v) for k, v in want.items()
                       if k not in self.kv or self.kv[k].value != v]

    def _directory(self, change: Callable[..., Any], *args: Any) -> Changes:
        change(*args)
        return self._directory_changes()

    def _import(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        counts = self.directory.import_csv(args["csv"])
        return self._directory_changes(), counts

    def _contact_save(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        contact_id = args.pop("id", None)
        contact = self.directory.save_contact(args, contact_id)
        return self._directory_changes(), {"id": contact.id}

    def _contact_remove(self, args: dict[str, Any]) -> Changes:
        self.directory.remove_contact(args["id"])
        return self.presence.leave(args["id"]) + self._directory_changes()

    def _account_set(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        contact = self.directory.find(args["contact"])
        self.directory.set_password(contact.id, args["password"])
        return self._directory_changes(), {"contact": contact.id, "name": contact.name}

    def _account_remove(self, args: dict[str, Any]) -> Changes:
        self.directory.remove_account(args["contact"])
        return self.presence.leave(args["contact"]) + self._directory_changes()

    # -- partners --------------------------------------------------------------------
    def _who(self, args: dict[str, Any]) -> Any:
        return self.directory.verify(args["token"])

    def _signin(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        data = self.directory.signin(args["email"], args["password"])
        contact = self.directory.contact(data["contact"])
        return [], {**data, "name": contact.name, "agency": contact.agency}

    def _verify(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        contact = self._who(args)
        return [], {"contact": contact.id, "name": contact.name, "agency": contact.agency}

    def _signout(self, args: dict[str, Any]) -> Changes:
        try:
            contact = self._who(args)
        except CommandError:
            return []
        self.directory.signout(args["token"])
        return self.presence.leave(contact.id)

    def _accept(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        """The first to accept takes the call and counts as busy from now on."""
        contact = self._who(args)
        changes = self.rings.accept(args["ring"], contact.id)
        changes += self.presence.beat(contact.id, "busy")
        return changes, {"ring": args["ring"]}

    def _ring_get(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        ring, url = self.rings.visible_to(args["ring"], self._who(args).id)
        return [], {"ring": ring.to_dict(), "url": url}

    # -- rooms -----------------------------------------------------------------------
    def _ring_start(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        contact_id, agency_id = args.get("contact"), args.get("agency")
        if (contact_id is None) == (agency_id is None):
            raise CommandError("schema", "'ring.start' needs either 'contact' or 'agency'")
        if contact_id is not None:
            contact = self.directory.contact(contact_id)
            status = self.presence.status(contact.id)
            if status != "available":
                raise CommandError("state", f"{contact.name} is not available now "
                                            f"({status or 'not signed in'})")
            agency, ringing = contact.agency, [contact.id]
        else:
            agency = self.directory.agency(agency_id)
            ringing = [c.id for c in self.directory.contacts()
                       if c.agency == agency.id and self.presence.status(c.id) == "available"]
            if not ringing:
                raise CommandError("state", f"nobody at the duty desk of {agency.name} is "
                                            "available now")
            agency = agency.id
        ring, changes = self.rings.start(
            room=args["room"], room_name=args["room_name"], counsellor=args["counsellor"],
            topic=args["topic"], agency=agency, contact=contact_id, ringing=ringing)
        return changes, {"id": ring.id}
