"""Contacts of the agencies in a talk, for the client's summary.

Today a contact is what the counsellor typed when asking a partner in (agency,
name, role). A later agency directory adds mail and phone: register a lookup
with :func:`add_directory`, and :func:`contacts` fills in what it knows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kiosk.room.state import Partner

#: Consent states of a partner who took part in the talk (the client said yes, and
#: perhaps took it back later): their agency is a contact for the client.
TOOK_PART = ("granted", "withdrawn")


@dataclass(frozen=True)
class Contact:
    """Someone the client may turn to after the talk."""

    agency: str
    name: str = ""
    role: str = ""
    email: str = ""
    phone: str = ""
    agency_type: str = ""


#: Lookups that complete a contact (e.g. from an agency directory); each returns the
#: contact with what it knows filled in, or the contact unchanged.
Directory = Callable[[Contact], Contact]
_DIRECTORIES: list[Directory] = []


def add_directory(lookup: Directory) -> None:
    """Let ``lookup`` complete every contact (mail, phone) from now on."""
    if lookup not in _DIRECTORIES:
        _DIRECTORIES.append(lookup)


def remove_directory(lookup: Directory) -> None:
    if lookup in _DIRECTORIES:
        _DIRECTORIES.remove(lookup)


def contacts(partners: Iterable[Partner]) -> list[Contact]:
    """The contacts of the partners who took part in the talk, each agency and person once."""
    out: list[Contact] = []
    for p in partners:
        if p.consent not in TOOK_PART or not p.agency:
            continue
        contact = Contact(agency=p.agency, name=p.name, role=p.role,
                          agency_type=p.agency_type)
        for lookup in _DIRECTORIES:
            contact = lookup(contact)
        if all((c.agency, c.name) != (contact.agency, contact.name) for c in out):
            out.append(dataclasses.replace(contact))
    return out
