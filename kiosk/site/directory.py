"""The partner directory: agencies, their contacts and the contacts' accounts.

It lives in the site's own SQLite file (``site.db``, migrated by
:data:`SITE_MIGRATIONS`) and is written only by the site controller.

CSV (UTF-8, comma separated, one contact a row) has the columns of
:data:`CSV_FIELDS`; ``languages`` and ``topics`` hold several values separated
by ``;``. An import checks every row first and writes all of them in one
transaction, or none: a bad row's error names its row number (the header is
row 1) and the field. Contacts are matched by e-mail address, agencies by
name, so importing an export changes nothing.

Partner accounts (one per contact, signed in by e-mail address) keep their
password as a scrypt hash and their sign-ins as SHA-256 hashes of random
tokens, exactly as staff accounts do (:mod:`kiosk.access.staff`).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from kiosk.access.staff import hash_password, open_signin, password_matches, signed_in
from kiosk.exceptions import CommandError
from kiosk.partners.commands import token_hash
from kiosk.resources import ASSETS
from kiosk.room.agencies import AGENCY_TYPES, TOPICS
from kiosk.room.commands import choice, email_address, text
from kiosk.room.store import Migrations, Store, now

CSV_FIELDS = ("agency", "agency_type", "name", "role", "languages", "topics", "email",
              "phone", "hours")
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_PHONE = re.compile(r"\+?[0-9][0-9 /()-]{2,38}")


def _m001_directory(db: sqlite_utils.Database) -> None:
    db["agencies"].create({"id": int, "name": str, "type": str, "updated_at": str}, pk="id",
                          not_null={"name", "type"})
    db["agencies"].create_index(["name"], unique=True)
    # Business contacts of partner staff: no client data lives in this file.
    db["contacts"].create({
        "id": int, "agency_id": int, "name": str, "role": str, "languages": str, "topics": str,
        "email": str, "phone": str, "hours": str, "updated_at": str,
    }, pk="id", not_null={"agency_id", "name", "email"},
        foreign_keys=[("agency_id", "agencies", "id")])
    db["contacts"].create_index(["email"], unique=True)


def _m002_partner_accounts(db: sqlite_utils.Database) -> None:
    db["partner_accounts"].create({"contact_id": int, "password_hash": str, "created_at": str},
                                  pk="contact_id", not_null={"password_hash"},
                                  foreign_keys=[("contact_id", "contacts", "id")])
    db["partner_sessions"].create({"token_hash": str, "contact_id": int, "created_at": str,
                                   "expires_at": str}, pk="token_hash",
                                  foreign_keys=[("contact_id", "contacts", "id")])
    db["partner_sessions"].create_index(["contact_id"])


SITE_MIGRATIONS: Migrations = [
    ("001_directory", _m001_directory),
    ("002_partner_accounts", _m002_partner_accounts),
]


@dataclass(frozen=True)
class Agency:
    """A partner agency of the district."""

    id: int
    name: str
    type: str

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Agency:
        return cls(int(obj["id"]), str(obj["name"]), str(obj["type"]))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "type": self.type}


@dataclass(frozen=True)
class Contact:
    """A person at an agency whom a room may ring; ``account``: may sign in."""

    id: int
    agency: int
    name: str
    role: str = ""
    languages: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    email: str = ""
    phone: str = ""
    hours: str = ""
    account: bool = False

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Contact:
        return cls(int(obj["id"]), int(obj["agency"]), str(obj["name"]), str(obj["role"]),
                   tuple(obj["languages"]), tuple(obj["topics"]), str(obj["email"]),
                   str(obj["phone"]), str(obj["hours"]), bool(obj.get("account")))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "agency": self.agency, "name": self.name, "role": self.role,
                "languages": list(self.languages), "topics": list(self.topics),
                "email": self.email, "phone": self.phone, "hours": self.hours,
                "account": self.account}


# -- checking one contact --------------------------------------------------------
def _split(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    if not isinstance(value, str):
        return []
    return [v.strip() for v in value.split(";") if v.strip()]


def languages(name: str, value: Any) -> tuple[str, ...]:
    """Language codes (ISO 639, e.g. ``de;en;ar``); at least one."""
    codes = [c.lower() for c in _split(value)]
    if not codes or not all(_LANGUAGE.fullmatch(c) for c in codes):
        raise CommandError("schema", f"'{name}' must be language codes like de;en;ar")
    return tuple(dict.fromkeys(codes))


def topics(name: str, value: Any) -> tuple[str, ...]:
    """Topics from :data:`~kiosk.room.agencies.TOPICS`; may be empty."""
    items = _split(value)
    unknown = [t for t in items if t not in TOPICS]
    if unknown:
        raise CommandError("schema", f"'{name}' has unknown topics {unknown!r} "
                                     f"(known: {'; '.join(TOPICS)})")
    return tuple(dict.fromkeys(items))


def phone(name: str, value: Any) -> str:
    value = text(40)(name, value)
    if not _PHONE.fullmatch(value):
        raise CommandError("schema", f"'{name}' must be a phone number like 0123 456789")
    return value


#: Field -> validator of one contact (a CSV row or a ``contact.save`` command).
CONTACT_FIELDS = {
    "agency": text(120), "agency_type": choice(*AGENCY_TYPES), "name": text(120),
    "role": text(120, min_len=0), "languages": languages, "topics": topics,
    "email": email_address, "phone": phone, "hours": text(200, min_len=0),
}


def check_contact(values: dict[str, Any]) -> dict[str, Any]:
    """The clean fields of one contact; CommandError naming the first bad field."""
    clean = {}
    for name, check in CONTACT_FIELDS.items():
        value = values.get(name)
        if value is None:
            value = "" if name in ("role", "topics", "hours") else value
        if value is None:
            raise CommandError("schema", f"'{name}' is missing")
        clean[name] = check(name, value)
    clean["email"] = clean["email"].lower()
    return clean


def read_csv(data: str, max_errors: int = 50) -> list[dict[str, Any]]:
    """Every row of a directory CSV, checked; CommandError naming every bad row (``row N:
    …``, one a line, the first ``max_errors`` of them) when any is bad."""
    reader = csv.DictReader(io.StringIO(data.lstrip("\ufeff"), newline=""))
    missing = [f for f in CSV_FIELDS if f not in (reader.fieldnames or [])]
    if missing:
        raise CommandError("schema", f"row 1: the header lacks the column(s) "
                                     f"{', '.join(missing)} (needs {','.join(CSV_FIELDS)})")
    rows, emails, types, errors = [], {}, {}, []
    for row in reader:
        number = reader.line_num
        if None in row:
            errors.append(f"row {number}: more fields than the header names")
            continue
        if not any((v or "").strip() for v in row.values()):
            continue
        try:
            clean = check_contact(row)
        except CommandError as exc:
            errors.append(f"row {number}: {exc.message}")
            continue
        if clean["email"] in emails:
            errors.append(f"row {number}: 'email' {clean['email']} is already in row "
                          f"{emails[clean['email']]}")
            continue
        if types.setdefault(clean["agency"], clean["agency_type"]) != clean["agency_type"]:
            errors.append(f"row {number}: 'agency_type' of {clean['agency']} differs from an "
                          f"earlier row")
            continue
        emails[clean["email"]] = number
        rows.append(clean)
    if errors:
        more = len(errors) - max_errors
        raise CommandError("schema", "\n".join(errors[:max_errors])
                           + (f"\n… and {more} more" if more > 0 else ""))
    return rows


class Directory:
    """The directory and accounts in the site's SQLite file."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- reading ---------------------------------------------------------------
    def agencies(self) -> list[Agency]:
        return [Agency(r["id"], r["name"], r["type"])
                for r in self.store.db["agencies"].rows_where(order_by="id")]

    def contacts(self) -> list[Contact]:
        return [self._contact(r) for r in self.store.db.query(
            "SELECT c.*, a.contact_id IS NOT NULL AS account FROM contacts c "
            "LEFT JOIN partner_accounts a ON a.contact_id = c.id ORDER BY c.id")]

    def contact(self, contact_id: int) -> Contact:
        """One contact; CommandError ``state`` when there is none."""
        rows = list(self.store.db.query(
            "SELECT c.*, a.contact_id IS NOT NULL AS account FROM contacts c "
            "LEFT JOIN partner_accounts a ON a.contact_id = c.id WHERE c.id = ?", [contact_id]))
        if not rows:
            raise CommandError("state", f"there is no contact {contact_id}")
        return self._contact(rows[0])

    def find(self, ref: int | str) -> Contact:
        """A contact by id or by e-mail address; CommandError ``state`` when there is none."""
        if isinstance(ref, str):
            found = self._id_by_email(ref.strip().lower())
            if found is None:
                raise CommandError("state", f"there is no contact with the address {ref}")
            ref = found
        return self.contact(ref)

    def agency(self, agency_id: int) -> Agency:
        rows = list(self.store.db["agencies"].rows_where("id = ?", [agency_id]))
        if not rows:
            raise CommandError("state", f"there is no agency {agency_id}")
        return Agency(rows[0]["id"], rows[0]["name"], rows[0]["type"])

    @staticmethod
    def _contact(r: dict[str, Any]) -> Contact:
        return Contact(r["id"], r["agency_id"], r["name"], r["role"] or "",
                       tuple(_split(r["languages"])), tuple(_split(r["topics"])), r["email"],
                       r["phone"] or "", r["hours"] or "", bool(r["account"]))

    def export_csv(self) -> str:
        """The whole directory as CSV (what :meth:`import_csv` reads)."""
        agencies = {a.id: a for a in self.agencies()}
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        for c in self.contacts():
            agency = agencies[c.agency]
            writer.writerow([agency.name, agency.type, c.name, c.role, ";".join(c.languages),
                             ";".join(c.topics), c.email, c.phone, c.hours])
        return out.getvalue()

    # -- writing (each in one transaction) ---------------------------------------
    def import_csv(self, data: str) -> dict[str, int]:
        """Add or update every contact of the file; all rows or none. Returns counts."""
        rows = read_csv(data)
        with self.store.transaction():
            added = sum(self._upsert(row) for row in rows)
        return {"rows": len(rows), "added": added, "updated": len(rows) - added}

    def save_contact(self, values: dict[str, Any], contact_id: int | None = None) -> Contact:
        """Add a contact (``contact_id`` None) or change one; returns it."""
        clean = check_contact(values)
        with self.store.transaction():
            if contact_id is not None:
                self.contact(contact_id)
                other = self._id_by_email(clean["email"])
                if other not in (None, contact_id):
                    raise CommandError("state", f"contact {other} has the address "
                                                f"{clean['email']} already")
                self.store.db.conn.execute("UPDATE contacts SET email = ? WHERE id = ?",
                                           [clean["email"], contact_id])
            self._upsert(clean)
        return self.contact(self._id_by_email(clean["email"]))

    def remove_contact(self, contact_id: int) -> None:
        """Delete a contact, its account and sign-ins; an agency left empty goes too."""
        contact = self.contact(contact_id)
        with self.store.transaction() as db:
            for table in ("partner_sessions", "partner_accounts"):
                db.conn.execute(f"DELETE FROM {table} WHERE contact_id = ?", [contact_id])
            db.conn.execute("DELETE FROM contacts WHERE id = ?", [contact_id])
            db.conn.execute("DELETE FROM agencies WHERE id = ? AND NOT EXISTS "
                            "(SELECT 1 FROM contacts WHERE agency_id = ?)",
                            [contact.agency, contact.agency])

    def _id_by_email(self, email: str) -> int | None:
        row = self.store.db.execute("SELECT id FROM contacts WHERE email = ?",
                                    [email]).fetchone()
        return row[0] if row else None

    def _upsert(self, row: dict[str, Any]) -> bool:
        """Write one checked contact (inside a transaction); True when it is new."""
        conn, stamp = self.store.db.conn, now()
        found = conn.execute("SELECT id FROM agencies WHERE name = ?", [row["agency"]]).fetchone()
        if found:
            agency_id = found[0]
            conn.execute("UPDATE agencies SET type = ?, updated_at = ? WHERE id = ?",
                         [row["agency_type"], stamp, agency_id])
        else:
            agency_id = self.store.insert("agencies", {"name": row["agency"],
                                                       "type": row["agency_type"],
                                                       "updated_at": stamp})
        fields = {"agency_id": agency_id, "name": row["name"], "role": row["role"],
                  "languages": ";".join(row["languages"]), "topics": ";".join(row["topics"]),
                  "email": row["email"], "phone": row["phone"], "hours": row["hours"],
                  "updated_at": stamp}
        contact_id = self._id_by_email(row["email"])
        if contact_id is None:
            self.store.insert("contacts", fields)
        else:
            self.store.update("contacts", contact_id, fields)
        conn.execute("DELETE FROM agencies WHERE NOT EXISTS "
                     "(SELECT 1 FROM contacts WHERE agency_id = agencies.id)")
        return contact_id is None

    # -- accounts ----------------------------------------------------------------
    def set_password(self, contact_id: int, password: str) -> Contact:
        """Give a contact an account, or a new password; its sign-ins end."""
        self.contact(contact_id)
        with self.store.transaction() as db:
            db.conn.execute("DELETE FROM partner_sessions WHERE contact_id = ?", [contact_id])
            db.conn.execute("INSERT OR REPLACE INTO partner_accounts "
                            "(contact_id, password_hash, created_at) VALUES (?, ?, ?)",
                            [contact_id, hash_password(password), now()])
        return self.contact(contact_id)

    def remove_account(self, contact_id: int) -> Contact:
        self.contact(contact_id)
        with self.store.transaction() as db:
            db.conn.execute("DELETE FROM partner_sessions WHERE contact_id = ?", [contact_id])
            db.conn.execute("DELETE FROM partner_accounts WHERE contact_id = ?", [contact_id])
        return self.contact(contact_id)

    def signin(self, email: str, password: str) -> dict[str, Any]:
        """Check a contact's address and password; a fresh token (kept only as a hash)."""
        row = self.store.db.execute(
            "SELECT c.id, a.password_hash FROM contacts c JOIN partner_accounts a "
            "ON a.contact_id = c.id WHERE c.email = ?", [email.strip().lower()]).fetchone()
        password_matches(password, row[1] if row else None)
        token, expires = open_signin(self.store, "partner_sessions", contact_id=row[0])
        return {"token": token, "contact": row[0], "expires": expires}

    def verify(self, token: str) -> Contact:
        """The contact a sign-in token belongs to; CommandError once expired or ended."""
        contact_id, = signed_in(self.store, "partner_sessions", "contact_id", token)
        return self.contact(contact_id)

    def signout(self, token: str) -> None:
        with self.store.transaction() as db:
            db.conn.execute("DELETE FROM partner_sessions WHERE token_hash = ?",
                            [token_hash(token)])



#: The demo's fictional district "Musterstadt": one contact per agency type; no real
#: people, example.org addresses, phone numbers from the fictional 0123 456… range.
DEMO_DIRECTORY = ASSETS / "demo_directory.csv"
