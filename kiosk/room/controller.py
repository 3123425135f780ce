"""The room controller: the only writer of the room's state.

``handle`` checks a command against the command table, writes what must
persist in one transaction, then folds the change into its own state and
returns the keyed updates to publish. A refused command changes nothing.

The core answers the talk's own commands (check-in, session, notes, next
steps, privacy, camera and microphone, survey). Every other capability plugs
in as a :class:`~kiosk.room.feature.Feature` given to the controller; the core
imports none of them (the room's list is in ``kiosk/app/features.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import sqlite3
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from kiosk.exceptions import CommandError
from kiosk.room import commands, retention
from kiosk.room.feature import Feature, Handler
from kiosk.room.messages import Changes, Command, KeyedLog, Reply, Update
from kiosk.room.retention import RetentionPolicy
from kiosk.room.state import DEFAULT_LANGUAGE, Note, Partner, RoomState, Step, room_key
from kiosk.room.store import Store, now

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Feature)

#: The core's commands whose first change is a new item; the reply carries its id.
CREATES = frozenset({"session.start", "note.add", "step.add"})


class Controller(KeyedLog):
    """Validates commands, persists them, and keeps the keyed state to publish."""

    def __init__(self, store: Store, room_id: str, room_name: str, *,
                 retention: RetentionPolicy | None = None,
                 features: Sequence[type[Feature]] = ()) -> None:
        self.store = store
        self.retention = retention or RetentionPolicy()
        KeyedLog.__init__(self)
        self.state = RoomState(room_id=room_id, room_name=room_name)
        self.features: list[Feature] = [make(self) for make in features]
        for feature in self.features:
            missing = [n.__name__ for n in feature.needs if not self._has(n)]
            if missing:
                raise ValueError(f"{type(feature).__name__} needs {', '.join(missing)}")
        #: The room's command table: the core's and every feature's.
        self.commands = commands.table(commands.CORE, *(f.specs for f in self.features))
        self.creates = CREATES.union(*(f.creates for f in self.features))
        self._handlers: dict[str, Handler] = {
            "ping": lambda args: [],
            "checkin": self._checkin,
            "language.set": self._language,
            "session.start": self._session_start,
            "session.end": self._session_end,
            "session.outcome": self._session_outcome,
            "session.topics": self._session_topics,
            "room.reset": self._to_idle,
            "note.add": self._note_add,
            "note.draft": lambda args: self._draft(args["text"]),
            "note.update": self._note_update,
            "note.delete": self._note_delete,
            "step.add": self._step_add,
            "step.delete": self._step_delete,
            "privacy.set": self._privacy,
            "room.camera": lambda args: self._set_room(camera_on=int(args["on"])),
            "room.mic": lambda args: self._set_room(mic_on=int(args["on"])),
            "survey.begin": lambda args: self._set_room(phase="survey"),
            "survey.submit": self._survey_submit,
            "survey.skip": self._to_idle,
            "kiosk.reset": self._to_idle,
            "retention.purge": self._purge,
        }
        for feature in self.features:
            self._handlers.update(feature.handlers())
        if set(self._handlers) != set(self.commands):
            raise ValueError(f"commands without a handler or handlers without a spec: "
                             f"{sorted(set(self._handlers) ^ set(self.commands))}")
        self._load(room_id, room_name)

    def _has(self, kind: type[Feature]) -> bool:
        return any(isinstance(f, kind) for f in self.features)

    def feature(self, kind: type[F]) -> F:
        """The feature of this kind that the room carries."""
        for feature in self.features:
            if isinstance(feature, kind):
                return feature
        raise LookupError(f"this room carries no {kind.__name__}")

    def partner_gone(self, partner: Partner) -> Changes:
        """A participant left the talk or the talk closed: what each feature adds."""
        return [c for f in self.features for c in f.partner_gone(partner)]

    # -- reading ---------------------------------------------------------
    def _load(self, room_id: str, room_name: str) -> None:
        """Rebuild the state from the database (at start and after a restart)."""
        db = self.store.db
        rooms = db["rooms"]
        with self.store.transaction():
            if not rooms.count_where("id = ?", [room_id]):
                rooms.insert({"id": room_id, "name": room_name, "phase": "idle",
                              "language": DEFAULT_LANGUAGE, "privacy": 0, "session_id": None,
                              "updated_at": now()})
            elif room_name:
                rooms.update(room_id, {"name": room_name})
        row = rooms.get(room_id)
        values: dict[str, Any] = {
            "room_name": row["name"], "phase": row["phase"], "language": row["language"],
            "privacy": bool(row["privacy"]), "session_id": row["session_id"],
            "camera_on": bool(row["camera_on"]), "mic_on": bool(row["mic_on"]),
            "arrival": json.loads(row["arrival"]) if row["arrival"] else None,
        }
        if row["session_id"]:
            sid = row["session_id"]
            session = db["sessions"].get(sid)
            values["session_started"] = session["started_at"]
            if session["outcome"]:
                values["outcome"] = {"outcome": session["outcome"],
                                     "follow_up": session["follow_up"] or ""}
            values["topics"] = json.loads(session["topics"] or "[]")
            values["notes"] = [
                Note(r["id"], r["text"], bool(r["visible"]))
                for r in db["notes"].rows_where("session_id = ?", [sid], order_by="id")]
            values["next_steps"] = [
                Step(r["id"], r["what"], r["who"], r["due"] or "")
                for r in db["next_steps"].rows_where("session_id = ?", [sid], order_by="id")]
        for feature in self.features:
            values.update(feature.load(row["session_id"]))
        self.state.param.update(**values)
        for key, value in self.state.to_updates().items():
            self._publishable(key, value)

    # -- writing ---------------------------------------------------------
    def handle(self, cmd: Command) -> tuple[Reply, list[Update]]:
        """Check and apply one command; return the reply and the updates to publish."""
        try:
            spec, args = commands.check(cmd.name, cmd.role, self.state.phase, cmd.args,
                                        self.commands)
            changes = self._handlers[spec.name](args)
        except CommandError as exc:
            return Reply(cmd.id, False, self.seq, exc.code, exc.message), []
        changes, data = changes if isinstance(changes, tuple) else (changes, {})
        if changes and changes[0][1] is not None and spec.name in self.creates:
            data.setdefault("id", changes[0][1]["id"])
        updates = [self._publishable(key, value) for key, value in changes]
        self.state.apply(changes)  # the controller's own sequence number is self.seq
        return Reply(cmd.id, True, self.seq, data=data), updates

    def sweep(self) -> list[Update]:
        """Expire what has a time to live (device presence, the pairing code on offer);
        the bus calls this several times a second and publishes what it returns."""
        changes = [c for f in self.features for c in f.sweep()]
        updates = [self._publishable(key, value) for key, value in changes]
        self.state.apply(changes)
        return updates

    def _key(self, *parts: object) -> str:
        return room_key(self.state.room_id, *parts)

    def _set_room(self, **fields: Any) -> Changes:
        """Persist fields of the room row; return their changes."""
        with self.store.transaction():
            self.store.update("rooms", self.state.room_id, {**fields, "updated_at": now()})
        return self._room_changes(fields)

    def _room_changes(self, fields: dict[str, Any]) -> Changes:
        out: Changes = []
        for name, value in fields.items():
            if name in ("privacy", "camera_on", "mic_on"):  # bus keys: privacy, camera, mic
                out.append((self._key(name.removesuffix("_on")), bool(value)))
            elif name in ("phase", "language"):
                out.append((self._key(name), value))
        return out

    # -- handlers: each persists first, then returns its changes -----------
    def _checkin(self, args: dict[str, Any]) -> Changes:
        # The code lets the counsellor find the appointment; it leaves with the client
        # (cleared at idle) and never reaches the session's metadata.
        arrival = {"code": args["code"]} if args.get("code") else {"walk_in": args["walk_in"]}
        with self.store.transaction():
            self.store.update("rooms", self.state.room_id, {
                "phase": "welcome", "arrival": json.dumps(arrival), "updated_at": now()})
        return [(self._key("arrival"), arrival), (self._key("phase"), "welcome")]

    def _language(self, args: dict[str, Any]) -> Changes:
        return self._set_room(language=args["language"])

    def _privacy(self, args: dict[str, Any]) -> Changes:
        return self._set_room(privacy=int(args["on"]))

    def _session_start(self, args: dict[str, Any]) -> Changes:
        sid, started = uuid.uuid4().hex, now()
        with self.store.transaction():
            self.store.insert("sessions", {"id": sid, "room_id": self.state.room_id,
                                           "mode": "room", "started_at": started})
            self.store.update("rooms", self.state.room_id,
                              {"phase": "consulting", "session_id": sid, "updated_at": started})
        return [(self._key("session"), {"id": sid, "started": started}),
                (self._key("phase"), "consulting")]

    def _session_end(self, args: dict[str, Any]) -> Changes:
        ended = now()
        with self.store.transaction():
            self.store.update("sessions", self.state.session_id, {"ended_at": ended})
            self.store.update("rooms", self.state.room_id,
                              {"phase": "wrap_up", "updated_at": ended})
        return [(self._key("phase"), "wrap_up")]

    def _session_outcome(self, args: dict[str, Any]) -> Changes:
        outcome = {"outcome": args["outcome"],
                   "follow_up": args["follow_up"] if args["outcome"] == "follow_up" else ""}
        with self.store.transaction():
            self.store.update("sessions", self.state.session_id, outcome)
        return [(self._key("outcome"), outcome)]

    def _session_topics(self, args: dict[str, Any]) -> Changes:
        with self.store.transaction():
            self.store.update("sessions", self.state.session_id,
                              {"topics": json.dumps(args["topics"], ensure_ascii=False)})
        return [(self._key("topics"), args["topics"] or None)]

    def _to_idle(self, args: dict[str, Any]) -> Changes:
        """Close the session (if any) and wipe everything personal from the screens."""
        sid, closed = self.state.session_id, now()
        with self.store.transaction() as db:
            if sid:
                session = db["sessions"].get(sid)
                self.store.update("sessions", sid, {"ended_at": session["ended_at"] or closed,
                                                    "closed_at": closed})
                if self.retention.notes_days == 0:
                    # The client has left the summary and survey behind: the talk's
                    # notes and next steps go now (kiosk/retention.py).
                    retention.erase_content(db.conn, [sid])
            self.store.update("rooms", self.state.room_id, {
                "phase": "idle", "session_id": None, "language": DEFAULT_LANGUAGE,
                "privacy": 0, "arrival": None, "updated_at": closed})
        if sid or self.state.arrival:
            self.store.wipe()  # the arrival code and the notes also leave the WAL
        changes: Changes = [(self._key("notes", n.id), None) for n in self.state.notes]
        changes += self._draft("")
        changes += [(self._key("steps", s.id), None) for s in self.state.next_steps]
        for feature in self.features:
            changes += feature.idle()
        if sid:
            changes.append((self._key("session"), None))
        if self.state.arrival:
            changes.append((self._key("arrival"), None))
        if self.state.outcome:
            changes.append((self._key("outcome"), None))
        if self.state.topics:
            changes.append((self._key("topics"), None))
        return changes + self._room_changes(
            {"language": DEFAULT_LANGUAGE, "privacy": 0, "phase": "idle"})

    def purge(self, now: dt.datetime | None = None) -> dict[str, int]:
        """Apply the retention policy (never to the running session); counts per kind."""
        return retention.purge(self.store, self.retention, now=now)

    def _purge(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        """``kiosk purge``: nothing the screens show changes; the reply says what went.
        The WAL is truncated at once if no reader holds it, else at the next checkpoint."""
        erased = self.purge()
        wiped = not self.store.wipe_pending
        if not wiped:
            try:
                wiped = self.store.checkpoint() and not self.store.wipe_pending
            except sqlite3.DatabaseError:
                log.exception("truncating the WAL after a purge failed; the next try "
                              "comes with the next checkpoint")
        return [], {"erased": erased, "wal_clean": wiped}

    def _survey_submit(self, args: dict[str, Any]) -> Changes:
        day = dt.datetime.now(dt.UTC).date().isoformat()
        # Only how the appointment ran and which kinds of agency took part go with the
        # answer; the evaluation shows no figure from fewer than five answers.
        joined = [r[0] for r in self.store.db.execute(
            "SELECT agency_type FROM partner_calls WHERE session_id = ?",
            [self.state.session_id])]
        types = sorted({t for t in joined if t})
        session = self.store.db["sessions"].get(self.state.session_id)
        mode = "remote" if session["mode"] == "remote" else (
            "room_partners" if joined else "room")
        with self.store.transaction():
            # A random rowid: not even the order of rows can be matched to sessions.
            self.store.insert("survey_answers",
                              {"rowid": secrets.randbits(62), "day": day, **args,
                               "mode": mode, "agency_types": ",".join(types)})
        return self._to_idle(args)

    def _note_add(self, args: dict[str, Any]) -> Changes:
        stamp = now()
        with self.store.transaction():
            row_id = self.store.insert("notes", {
                "session_id": self.state.session_id, "text": args["text"],
                "visible": int(args["visible"]), "created_at": stamp, "updated_at": stamp})
        return [(self._key("notes", row_id), Note(row_id, args["text"], args["visible"]).to_dict()),
                *self._draft("")]

    def _draft(self, text: str) -> Changes:
        """The visible note being typed: published, never written to the file."""
        if text == self.state.draft:
            return []
        return [(self._key("draft"), text or None)]

    def _find(self, items: list, item_id: int, what: str) -> Any:
        for item in items:
            if item.id == item_id:
                return item
        raise CommandError("state", f"there is no {what} {item_id} in this session")

    def _note_update(self, args: dict[str, Any]) -> Changes:
        note = self._find(self.state.notes, args["id"], "note")
        text = args.get("text", note.text)
        visible = args.get("visible", note.visible)
        with self.store.transaction():
            self.store.update("notes", note.id, {"text": text, "visible": int(visible),
                                                 "updated_at": now()})
        return [(self._key("notes", note.id), Note(note.id, text, visible).to_dict())]

    def _note_delete(self, args: dict[str, Any]) -> Changes:
        note = self._find(self.state.notes, args["id"], "note")
        with self.store.transaction():
            self.store.delete("notes", note.id)
        return [(self._key("notes", note.id), None)]

    def _step_add(self, args: dict[str, Any]) -> Changes:
        with self.store.transaction():
            row_id = self.store.insert("next_steps", {
                "session_id": self.state.session_id, "what": args["what"], "who": args["who"],
                "due": args["due"], "created_at": now()})
        step = Step(row_id, args["what"], args["who"], args["due"])
        return [(self._key("steps", row_id), step.to_dict())]

    def _step_delete(self, args: dict[str, Any]) -> Changes:
        step = self._find(self.state.next_steps, args["id"], "next step")
        with self.store.transaction():
            self.store.delete("next_steps", step.id)
        return [(self._key("steps", step.id), None)]
