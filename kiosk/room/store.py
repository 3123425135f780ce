"""The room's SQLite file: one connection, WAL, busy timeout, named migrations.

Every migration is a named function applied once, in order, at start; the
table ``_migrations`` records which ran. Later features append migrations and
never edit an applied one.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from kiosk.exceptions import StoreError

BUSY_TIMEOUT_MS = 5000
#: How long a truncating checkpoint may hold writers back waiting for readers.
TRUNCATE_WAIT_MS = 100


def _m001_rooms_sessions_notes(db: sqlite_utils.Database) -> None:
    db["rooms"].create({
        "id": str, "name": str, "phase": str, "language": str, "privacy": int,
        "session_id": str, "updated_at": str,
    }, pk="id")
    # Session metadata only: never a client's name or contact.
    db["sessions"].create({
        "id": str, "room_id": str, "mode": str, "started_at": str, "ended_at": str,
        "closed_at": str,
    }, pk="id", foreign_keys=[("room_id", "rooms", "id")])
    db["sessions"].create_index(["room_id", "started_at"])
    db["notes"].create({
        "id": int, "session_id": str, "text": str, "visible": int,
        "created_at": str, "updated_at": str,
    }, pk="id", foreign_keys=[("session_id", "sessions", "id")])
    db["notes"].create_index(["session_id"])
    db["next_steps"].create({
        "id": int, "session_id": str, "what": str, "who": str, "due": str, "created_at": str,
    }, pk="id", foreign_keys=[("session_id", "sessions", "id")])
    db["next_steps"].create_index(["session_id"])


def _m002_survey_answers(db: sqlite_utils.Database) -> None:
    # Anonymous by construction: no session, device or time finer than the day.
    db["survey_answers"].create({
        "day": str, "satisfaction": int, "ease": int, "recommend": int,
    })


def _m003_arrival_partners_consent(db: sqlite_utils.Database) -> None:
    db["rooms"].add_column("arrival", str)
    db["partners"].create({
        "id": int, "session_id": str, "name": str, "agency": str, "role": str, "purpose": str,
        "consent": str, "created_at": str,
    }, pk="id", foreign_keys=[("session_id", "sessions", "id")])
    db["partners"].create_index(["session_id"])
    # Append-only: what the client answered, to which agency, seeing which text.
    db["consent_log"].create({
        "id": int, "at": str, "room_id": str, "session_id": str, "partner_agency": str,
        "partner_role": str, "answer": str, "text_version": str, "language": str,
    }, pk="id")
    for verb in ("UPDATE", "DELETE"):
        db.execute(f"""
            CREATE TRIGGER consent_log_no_{verb.lower()} BEFORE {verb} ON consent_log
            BEGIN SELECT RAISE(ABORT, 'the consent log is append-only'); END""")


def _m004_invitations_admission(db: sqlite_utils.Database) -> None:
    db["partners"].add_column("admitted", int, not_null_default=0)
    db["partners"].add_column("state", str, not_null_default="invited")
    # Only the hash of a token is kept: the link itself goes to the inviter once.
    db["invitations"].create({
        "token_hash": str, "partner_id": int, "session_id": str, "created_at": str,
        "expires_at": str, "revoked": int, "used": int,
    }, pk="token_hash")
    db["invitations"].create_index(["partner_id"])


def _m005_room_camera_microphone(db: sqlite_utils.Database) -> None:
    db["rooms"].add_column("camera_on", int, not_null_default=1)
    db["rooms"].add_column("mic_on", int, not_null_default=1)


def _m006_devices_pairing(db: sqlite_utils.Database) -> None:
    # Health of room devices: what each last reported (presence itself lives in memory).
    db["devices"].create({
        "id": str, "room_id": str, "kind": str, "label": str, "first_seen": str,
        "last_seen": str, "info": str,
    }, pk="id")
    # A pairing code is kept only as a hash; it works once, for five minutes.
    db["pairing_codes"].create({
        "code_hash": str, "room_id": str, "created_at": str, "expires_at": str, "used_at": str,
    }, pk="code_hash")
    # Paired tablets: the credential is kept only as a hash, bound to the room.
    db["tablets"].create({
        "id": int, "room_id": str, "name": str, "token_hash": str, "paired_at": str,
        "revoked_at": str, "last_seen": str,
    }, pk="id")
    db["tablets"].create_index(["token_hash"], unique=True)


def _m007_evaluation(db: sqlite_utils.Database) -> None:
    db["partners"].add_column("agency_type", str, not_null_default="")
    db["sessions"].add_column("outcome", str)
    db["sessions"].add_column("follow_up", str)
    # Who joined, as session metadata for the evaluation: the agency type and when the
    # partner was asked and joined; no name, and kept when the partner is hung up.
    db["partner_calls"].create({
        "partner_id": int, "session_id": str, "agency_type": str, "invited_at": str,
        "joined_at": str,
    }, pk="partner_id", foreign_keys=[("session_id", "sessions", "id")])
    db["partner_calls"].create_index(["session_id"])
    # Still anonymous: the way the appointment ran and which kinds of agency took part.
    db["survey_answers"].add_column("mode", str)
    db["survey_answers"].add_column("agency_types", str)


def _m008_consent_log_partner(db: sqlite_utils.Database) -> None:
    # Each consent row names the partner call it is about and the kind of agency, so
    # that every call can be shown to have its consent row before media flowed.
    db["consent_log"].add_column("partner_id", int)
    db["consent_log"].add_column("agency_type", str, not_null_default="")
    db["consent_log"].create_index(["partner_id"])
    # A partner's id is never used again, even once the partner was removed and their
    # row deleted (a plain INTEGER PRIMARY KEY would hand it to the next partner): the
    # consent log, invitations and partner_calls name partners by it. SQLite adds
    # AUTOINCREMENT only by rebuilding the table.
    table = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' "
                       "AND name = 'partners'").fetchone()[0]
    indexes = [row[0] for row in db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'partners' "
        "AND sql IS NOT NULL")]
    table = re.sub(r'^CREATE TABLE\s+["\[`]?partners["\]`]?', "CREATE TABLE partners_new",
                   table)
    table, found = re.subn(r'(["\[`]?id["\]`]?\s+INTEGER\s+PRIMARY\s+KEY)',
                           r"\1 AUTOINCREMENT", table, count=1)
    if not found:
        raise StoreError("the partners table has no integer id to make AUTOINCREMENT")
    db.execute(table)
    db.execute("INSERT INTO partners_new SELECT * FROM partners")
    db.execute("DROP TABLE partners")
    db.execute("ALTER TABLE partners_new RENAME TO partners")
    for sql in indexes:
        db.execute(sql)
    db.execute("DELETE FROM sqlite_sequence WHERE name = 'partners'")
    db.execute("""INSERT INTO sqlite_sequence (name, seq) SELECT 'partners', max(
                    coalesce((SELECT max(id) FROM partners), 0),
                    coalesce((SELECT max(partner_id) FROM partner_calls), 0),
                    coalesce((SELECT max(partner_id) FROM invitations), 0))""")


def _m009_retention(db: sqlite_utils.Database) -> None:
    # The consent log stays append-only, but is no longer kept for ever: the retention
    # purge (kiosk/retention.py) sets a mark in its own transaction, and only rows older
    # than the mark may go. Without a mark no row can be deleted; none can be changed.
    db["retention_marks"].create({"name": str, "before": str}, pk="name", not_null={"before"})
    db.execute("DROP TRIGGER consent_log_no_delete")
    db.execute("""
        CREATE TRIGGER consent_log_no_delete BEFORE DELETE ON consent_log
        WHEN old.at IS NULL OR old.at >= coalesce(
            (SELECT before FROM retention_marks WHERE name = 'consent_log'), '')
        BEGIN SELECT RAISE(ABORT,
            'the consent log is append-only (only the retention purge removes old rows)');
        END""")


def _m010_staff(db: sqlite_utils.Database) -> None:
    """Staff accounts (scrypt hashes) and their sign-ins (token hashes; kiosk/staff.py)."""
    db["staff"].create({"name": str, "role": str, "password_hash": str, "created_at": str},
                       pk="name", not_null={"role", "password_hash"})
    db["staff_sessions"].create({"token_hash": str, "name": str, "role": str,
                                 "created_at": str, "expires_at": str}, pk="token_hash",
                                foreign_keys=[("name", "staff", "name")])
    db["staff_sessions"].create_index(["expires_at"])


def _m011_appointments(db: sqlite_utils.Database) -> None:
    """Remote appointments: the slot and hashes of its two links, never the mail address.
    Ids are never given twice (AUTOINCREMENT), so an old link cannot meet a new slot."""
    db.execute("""
        CREATE TABLE appointments (
            id INTEGER PRIMARY KEY AUTOINCREMENT, room_id TEXT NOT NULL,
            starts_at TEXT NOT NULL, minutes INTEGER NOT NULL, language TEXT NOT NULL,
            label TEXT, visit_hash TEXT NOT NULL UNIQUE, optout_hash TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL, mail TEXT NOT NULL, mail_detail TEXT, optout TEXT,
            optout_note TEXT, created_at TEXT NOT NULL, cancelled_at TEXT, optout_at TEXT)""")


def _m012_visits(db: sqlite_utils.Database) -> None:
    """Remote clients in the talk: a participant's kind (partner or client); which
    participant an admitted appointment became, and whether its survey was answered."""
    db["partners"].add_column("kind", str, not_null_default="partner")
    db["appointments"].add_column("partner_id", int)
    db["appointments"].add_column("session_id", str)
    db["appointments"].add_column("surveyed", int, not_null_default=0)


def _m013_session_topics(db: sqlite_utils.Database) -> None:
    """The topics of a talk (JSON list of kiosk.room.agencies.TOPICS), for the evaluation."""
    db["sessions"].add_column("topics", str)


def _m014_partner_mute_mail(db: sqlite_utils.Database) -> None:
    """A partner muted by the counsellor; whether their join link left by mail."""
    db["partners"].add_column("muted", int, not_null_default=0)
    db["partners"].add_column("link_mail", str, not_null_default="")


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("001_rooms_sessions_notes", _m001_rooms_sessions_notes),
    ("002_survey_answers", _m002_survey_answers),
    ("003_arrival_partners_consent", _m003_arrival_partners_consent),
    ("004_invitations_admission", _m004_invitations_admission),
    ("005_room_camera_microphone", _m005_room_camera_microphone),
    ("006_devices_pairing", _m006_devices_pairing),
    ("007_evaluation", _m007_evaluation),
    ("008_consent_log_partner", _m008_consent_log_partner),
    ("009_retention", _m009_retention),
    ("010_staff", _m010_staff),
    ("011_appointments", _m011_appointments),
    ("012_visits", _m012_visits),
    ("013_session_topics", _m013_session_topics),
    ("014_partner_mute_mail", _m014_partner_mute_mail),
]


def now() -> str:
    """The current UTC time as ISO 8601 with seconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


Migrations = list[tuple[str, Callable[[sqlite_utils.Database], None]]]


class Store:
    """The one SQLite file of a room (or, with its own ``migrations``, of the site),
    migrated on open."""

    def __init__(self, path: str | Path, migrations: Migrations | None = None) -> None:
        self.path = Path(path)
        self.migrations = MIGRATIONS if migrations is None else migrations
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL keeps every committed transaction through a crash
            # or kill of the process; only a power cut may lose the last few (the
            # file stays consistent). FULL would add an fsync (~0.25 ms) per command.
            conn.execute("PRAGMA synchronous = NORMAL")
            # Checkpoints (which fsync) run off the command path: see checkpoint().
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            conn.execute("PRAGMA foreign_keys = ON")
            # Deleted content is overwritten with zeros in the file (cells, free pages),
            # not left readable: see kiosk/retention.py and wipe().
            conn.execute("PRAGMA secure_delete = ON")
            self._wipes = self._wiped = 0
            self.db = sqlite_utils.Database(conn)
            self.migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the room database {self.path}: {exc}") from exc

    def migrate(self) -> list[str]:
        """Apply the migrations not applied yet; return their names."""
        self.db["_migrations"].create({"name": str, "applied_at": str}, pk="name",
                                      if_not_exists=True)
        done = {row["name"] for row in self.db["_migrations"].rows}
        applied = []
        for name, func in self.migrations:
            if name in done:
                continue
            with self.transaction():
                func(self.db)
                self.db["_migrations"].insert({"name": name, "applied_at": now()})
            applied.append(name)
        return applied

    @property
    def applied(self) -> list[str]:
        return [row["name"] for row in self.db["_migrations"].rows_where(order_by="name")]

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """All writes inside commit together, or none on an exception."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def insert(self, table: str, row: dict[str, Any]) -> int:
        """Insert one row with plain SQL (the hot path of every command); return its rowid."""
        cols = ", ".join(row)
        marks = ", ".join("?" * len(row))
        cur = self.db.conn.execute(f"INSERT INTO [{table}] ({cols}) VALUES ({marks})",
                                   list(row.values()))
        return cur.lastrowid

    def update(self, table: str, pk: Any, fields: dict[str, Any]) -> None:
        """Set ``fields`` on the row whose ``id`` is ``pk``."""
        sets = ", ".join(f"[{name}] = ?" for name in fields)
        self.db.conn.execute(f"UPDATE [{table}] SET {sets} WHERE id = ?", [*fields.values(), pk])

    def delete(self, table: str, pk: Any) -> None:
        self.db.conn.execute(f"DELETE FROM [{table}] WHERE id = ?", [pk])

    def wipe(self) -> None:
        """Something was erased: the next checkpoint truncates the WAL, which still
        holds the earlier copies of the pages (secure_delete zeroes only the file)."""
        self._wipes += 1

    @property
    def wipe_pending(self) -> bool:
        return self._wiped < self._wipes

    def checkpoint(self, *, busy_ms: int = TRUNCATE_WAIT_MS) -> bool:
        """Copy the WAL into the database file, beside running writers; return whether
        every frame was copied (and, after a wipe, the WAL truncated to nothing).

        Called from a worker thread every few seconds (see ``Room``) on its
        own connection, so that no command waits for the fsync it needs. After
        :meth:`wipe` it truncates the WAL, waiting up to ``busy_ms`` for readers;
        it holds every writer back meanwhile, so a running room waits briefly and
        tries again at the next checkpoint.
        """
        wipes = self._wipes
        mode = "TRUNCATE" if self._wiped < wipes else "PASSIVE"
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
            busy, frames, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        finally:
            conn.close()
        if busy == 0 and mode == "TRUNCATE":
            self._wiped = max(self._wiped, wipes)
        return busy == 0 and frames == copied

    def close(self) -> None:
        try:
            self.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError:
            pass  # the WAL is replayed on the next open
        self.db.conn.close()
