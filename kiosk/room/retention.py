"""Retention and erasure: what the room keeps how long, and the purge that enforces it.

By default (:class:`RetentionPolicy`):

* **Notes and next steps** of a talk, and the purpose a partner was asked in for,
  are erased when the room returns to idle after the client's closing screens: the
  survey answered or skipped, the kiosk's idle wipe, or the counsellor's reset. Not at
  ``session.end``: the client still reads the summary (visible notes, next steps) then.
  The summary page and PDF (kiosk/summary_page.py) exist only until then; a summary
  mail asked for at the kiosk is built from a copy taken when it was asked for, so it
  still leaves if the client goes on at once (kiosk/summary_commands.py).
* **Session metadata** goes 90 days after the session started: partner names,
  agencies and roles, invitation links, consent log rows, exact times, the follow-up
  text. The sessions row itself stays as the anonymous fact the evaluation counts (the
  day, the mode, the outcome, the topics, which kinds of agency joined, how long a partner took to
  join), so that /stats and its response rate stay right for the whole period.
* **The anonymous survey** and those facts are kept.

The controller (the only writer) purges at start, daily and on ``kiosk purge``; the
running session is never touched. Connections run with ``secure_delete``, so SQLite
zeroes what is deleted in the file; afterwards the store truncates the WAL, which
would still hold the earlier copies of the pages (:meth:`Store.wipe`).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kiosk.exceptions import ConfigError

#: What a purge counts, in the order it reports them, with the German label.
KINDS = {
    "notes": "Notizen",
    "next_steps": "Nächste Schritte",
    "purposes": "Anliegen an Partner",
    "partners": "Partnerangaben (Name, Stelle, Funktion)",
    "invitations": "Einladungslinks",
    "consent_log": "Einträge im Einwilligungsprotokoll",
    "appointments": "Videotermine (mit Hinweis und Rückrufwunsch)",
    "sessions": "Sitzungen anonymisiert (genaue Zeiten, Folgetermin)",
    "partner_calls": "Zuschaltungen anonymisiert (genaue Zeiten)",
    "evaluation": "Sitzungen aus der Auswertung gelöscht",
    "survey_answers": "Umfrageantworten gelöscht",
}
MAX_DAYS = 3650
#: Name of the consent log's mark in ``retention_marks`` (see store migration 009).
CONSENT_MARK = "consent_log"


@dataclass(frozen=True)
class RetentionPolicy:
    """How long the room keeps what, in days (section ``[retention]`` of the config)."""

    notes_days: int = 0
    """Days notes, next steps and partners' purposes stay after their session closed;
    0: erased as the room returns to idle after the client's closing screens."""
    sessions_days: int = 90
    """Days after its start that a session's personal metadata stays (partner names,
    agencies and roles, invitations, consent log rows, exact times, follow-up text)."""
    evaluation_days: int = 0
    """Days the anonymous evaluation data stays (survey answers, the anonymised session
    and partner-call facts); 0: kept without limit."""

    def __post_init__(self) -> None:
        for name, lo in (("notes_days", 0), ("sessions_days", 1), ("evaluation_days", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not (
                    lo <= value <= MAX_DAYS):
                raise ConfigError(f"[retention] {name} must be a whole number of days from "
                                  f"{lo} to {MAX_DAYS}, got {value!r}")
        if self.notes_days > self.sessions_days:
            raise ConfigError(f"[retention] notes_days ({self.notes_days}) may not exceed "
                              f"sessions_days ({self.sessions_days})")
        if 0 < self.evaluation_days < self.sessions_days:
            raise ConfigError(f"[retention] evaluation_days must be 0 (kept) or at least "
                              f"sessions_days ({self.sessions_days}), "
                              f"got {self.evaluation_days}")


def _iso(when: dt.datetime) -> str:
    return when.isoformat(timespec="seconds")


def _midnight(stamp: str) -> str:
    """The start (UTC) of the day of an ISO time: all the evaluation needs of it."""
    return f"{stamp[:10]}T00:00:00+00:00"


def _marks(ids: Iterable[str]) -> tuple[str, list[str]]:
    ids = list(ids)
    return ", ".join("?" * len(ids)), ids


def erase_content(conn: sqlite3.Connection, session_ids: Iterable[str]) -> dict[str, int]:
    """Delete the notes and next steps of these sessions and blank their partners'
    purposes (what the talk was about); call inside a transaction."""
    marks, ids = _marks(session_ids)
    if not ids:
        return {"notes": 0, "next_steps": 0, "purposes": 0}
    return {
        "notes": conn.execute(f"DELETE FROM notes WHERE session_id IN ({marks})",
                              ids).rowcount,
        "next_steps": conn.execute(f"DELETE FROM next_steps WHERE session_id IN ({marks})",
                                   ids).rowcount,
        "purposes": conn.execute(
            f"UPDATE partners SET purpose = '' WHERE session_id IN ({marks}) "
            "AND coalesce(purpose, '') != ''", ids).rowcount,
    }


def running_sessions(conn: sqlite3.Connection) -> set[str]:
    """Sessions a room is in right now (also of a stopped room): never purged."""
    return {r[0] for r in conn.execute(
        "SELECT session_id FROM rooms WHERE session_id IS NOT NULL")}


def _sessions(conn: sqlite3.Connection, where: str, cutoff: str, keep: set[str]) -> list[str]:
    """Sessions (not running) that ``where`` (with ``cutoff`` for its ``?``) picks."""
    return [r[0] for r in conn.execute(f"SELECT id FROM sessions WHERE {where}", [cutoff])
            if r[0] not in keep]


#: Sessions whose content is still there.
_WITH_CONTENT = (" AND (id IN (SELECT session_id FROM notes) OR id IN (SELECT session_id "
                 "FROM next_steps) OR id IN (SELECT session_id FROM partners "
                 "WHERE coalesce(purpose, '') != ''))")
#: Sessions not yet reduced to anonymous facts (their partners, invitations and
#: partner calls are reduced in the same transaction as the session itself).
_NOT_ANONYMOUS = (" AND (ended_at IS NOT NULL OR closed_at IS NOT NULL OR follow_up IS NOT NULL"
                  " OR started_at != substr(started_at, 1, 10) || 'T00:00:00+00:00')")


def _anonymise(conn: sqlite3.Connection, ids: list[str]) -> dict[str, int]:
    """Reduce old sessions to the evaluation's anonymous facts."""
    marks, _ = _marks(ids)
    out = {"partners": 0, "invitations": 0, "sessions": 0, "partner_calls": 0}
    for pid, created in conn.execute(
            f"SELECT id, created_at FROM partners WHERE session_id IN ({marks}) AND ("
            "coalesce(name, '') != '' OR coalesce(agency, '') != '' OR coalesce(role, '') != '' "
            "OR coalesce(purpose, '') != '' OR created_at != substr(created_at, 1, 10) || "
            "'T00:00:00+00:00')", ids).fetchall():
        # The row stays (blank) so that a partner's id is never given out again.
        conn.execute("UPDATE partners SET name = '', agency = '', role = '', purpose = '', "
                     "created_at = ? WHERE id = ?", [_midnight(created or ""), pid])
        out["partners"] += 1
    out["invitations"] = conn.execute(
        f"DELETE FROM invitations WHERE session_id IN ({marks})", ids).rowcount
    for sid, started in conn.execute(
            f"SELECT id, started_at FROM sessions WHERE id IN ({marks})", ids).fetchall():
        conn.execute("UPDATE sessions SET started_at = ?, ended_at = NULL, closed_at = NULL, "
                     "follow_up = NULL WHERE id = ?", [_midnight(started), sid])
        out["sessions"] += 1
    for pid, invited, joined in conn.execute(
            f"SELECT partner_id, invited_at, joined_at FROM partner_calls "
            f"WHERE session_id IN ({marks})", ids).fetchall():
        if not joined or joined == _midnight(joined):
            continue
        # Kept: the day of joining and the time from being asked to joining.
        day = dt.datetime.fromisoformat(_midnight(joined))
        ring = dt.datetime.fromisoformat(joined) - dt.datetime.fromisoformat(invited or joined)
        conn.execute("UPDATE partner_calls SET invited_at = ?, joined_at = ? "
                     "WHERE partner_id = ?", [(day - ring).isoformat(), day.isoformat(), pid])
        out["partner_calls"] += 1
    return out


def _drop_consent_rows(conn: sqlite3.Connection, cutoff: str, keep: set[str]) -> int:
    """Delete consent log rows older than ``cutoff``: the log's trigger lets only rows
    older than the mark set here go, and the mark is gone again at commit."""
    conn.execute("INSERT OR REPLACE INTO retention_marks (name, before) VALUES (?, ?)",
                 [CONSENT_MARK, cutoff])
    marks, ids = _marks(keep)
    skip = f" AND coalesce(session_id, '') NOT IN ({marks})" if ids else ""
    count = conn.execute(f"DELETE FROM consent_log WHERE at < ?{skip}", [cutoff, *ids]).rowcount
    conn.execute("DELETE FROM retention_marks WHERE name = ?", [CONSENT_MARK])
    return count


def _drop_sessions(conn: sqlite3.Connection, ids: list[str]) -> int:
    """Delete sessions and everything that refers to them (evaluation limit reached)."""
    marks, _ = _marks(ids)
    for table in ("notes", "next_steps", "partner_calls", "invitations", "partners"):
        conn.execute(f"DELETE FROM {table} WHERE session_id IN ({marks})", ids)
    return conn.execute(f"DELETE FROM sessions WHERE id IN ({marks})", ids).rowcount


def purge(store: Any, policy: RetentionPolicy, *,
          now: dt.datetime | None = None) -> dict[str, int]:
    """Apply ``policy`` to a room's store in one transaction; return counts per kind.

    Sessions a room is in are left alone. The store is asked to truncate its WAL
    at the next checkpoint (:meth:`Store.wipe`) whenever something was erased.
    """
    now = now or dt.datetime.now(dt.UTC)
    counts = dict.fromkeys(KINDS, 0)
    with store.transaction() as db:
        conn = db.conn
        keep = running_sessions(conn)
        ended = _sessions(conn, "coalesce(closed_at, ended_at, started_at) <= ?"
                          + _WITH_CONTENT, _iso(now - dt.timedelta(days=policy.notes_days)),
                          keep)
        for start in range(0, len(ended), 500):  # SQLite's limit on bound values
            for kind, n in erase_content(conn, ended[start:start + 500]).items():
                counts[kind] += n
        cutoff = _iso(now - dt.timedelta(days=policy.sessions_days))
        old = _sessions(conn, "started_at < ?" + _NOT_ANONYMOUS, cutoff, keep)
        for start in range(0, len(old), 500):
            for kind, n in _anonymise(conn, old[start:start + 500]).items():
                counts[kind] += n
        counts["consent_log"] = _drop_consent_rows(conn, cutoff, keep)
        counts["appointments"] = conn.execute(  # label, opt-out note: gone with the rest
            "DELETE FROM appointments WHERE starts_at < ?", [cutoff]).rowcount
        if policy.evaluation_days:
            limit = now - dt.timedelta(days=policy.evaluation_days)
            expired = _sessions(conn, "started_at < ?", _iso(limit), keep)
            for start in range(0, len(expired), 500):
                counts["evaluation"] += _drop_sessions(conn, expired[start:start + 500])
            counts["survey_answers"] = conn.execute(
                "DELETE FROM survey_answers WHERE day < ?",
                [limit.date().isoformat()]).rowcount
    if any(counts.values()):
        store.wipe()
    return counts


def describe(counts: dict[str, int]) -> list[str]:
    """One German line per kind, for ``kiosk purge``."""
    width = max(len(label) for label in KINDS.values())
    return [f"{KINDS[kind]:<{width}}  {counts.get(kind, 0):>6}" for kind in KINDS]
