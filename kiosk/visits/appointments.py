"""Remote appointments: the client at home gets a personal link by mail.

The counsellor books a slot (start, length, the client's mail address and
language). The controller keeps the slot and two secrets, each of 192 random
bits and kept only as a SHA-256 hash: the visit link, which works from
:data:`EARLY` before the start until the slot's end, and the opt-out link, with
which the client asks for a phone call or a talk in person instead. The mail
address is handed to the room's mailer once and never stored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from kiosk.exceptions import CommandError
from kiosk.partners.commands import new_token
from kiosk.partners.commands import token_hash as digest
from kiosk.room.commands import (
    ADMIN,
    ALL_PHASES,
    NOTE_ID,
    STAFF,
    Arg,
    boolean,
    choice,
    email_address,
    integer,
    iso_datetime,
    language,
    spec,
    text,
)
from kiosk.room.feature import Feature, Handler
from kiosk.room.messages import Changes
from kiosk.room.state import Appointment
from kiosk.room.store import now

#: The visit link works from this long before the start.
EARLY = dt.timedelta(minutes=15)
#: Booking: not in the past (a few minutes' grace), at most a year ahead.
GRACE, AHEAD = dt.timedelta(minutes=5), dt.timedelta(days=366)
OPTOUTS = ("phone", "in_person")

#: Why a visit link does not open (yet): code -> what the client's page says.
VISIT_ERRORS = {
    "visit_unknown": "Dieser Link ist nicht gültig. Bitte prüfen Sie, ob Sie ihn vollständig "
                     "aus der E-Mail übernommen haben.",
    "visit_cancelled": "Dieser Termin wurde abgesagt.",
    "visit_early": "Ihr Termin hat noch nicht begonnen. Der Link öffnet sich 15 Minuten vor "
                   "Beginn.",
    "visit_over": "Dieser Termin ist vorbei.",
}

#: Called when an appointment was booked: (appointment, visit token, opt-out token, address).
Notify = Callable[[Appointment, str, str, str], None]


def utcnow() -> dt.datetime:
    """The current time (a test may replace this to stand at another moment)."""
    return dt.datetime.now(dt.UTC)


def _utc(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso).astimezone(dt.UTC)


class AppointmentCommands(Feature):
    """Handlers for remote appointments; a feature of the room controller."""

    specs = (
        spec("appointment.create", STAFF, ALL_PHASES,
              "Book a remote appointment; the client gets a personal link by mail.",
              at=Arg(iso_datetime), minutes=Arg(integer(5, 240), default=30),
              email=Arg(email_address), language=Arg(language, default="de"),
              label=Arg(text(60, min_len=0), default="")),
        spec("appointment.cancel", STAFF, ALL_PHASES, "Cancel a remote appointment: its link "
              "stops working.", id=NOTE_ID),
        spec("appointment.mailed", ADMIN, ALL_PHASES, "Whether the invitation left (the room's "
              "mailer reports).", id=NOTE_ID, ok=Arg(boolean),
              detail=Arg(text(300, min_len=0), default="")),
        spec("appointment.optout", ADMIN, ALL_PHASES, "The client asks for a phone call or a "
              "talk in person instead (sent by the opt-out page).", token=Arg(text(200)),
              choice=Arg(choice("phone", "in_person")), note=Arg(text(200, min_len=0), default="")),
        spec("visit.check", STAFF, ALL_PHASES, "Which appointment a visit link opens now.",
              token=Arg(text(200))),
    )

    #: Set by the room: sends the invitation (the controller itself does no I/O).
    on_appointment: Notify | None = None

    def handlers(self) -> dict[str, Handler]:
        return {"appointment.create": self._appointment_create,
                "appointment.cancel": self._appointment_cancel,
                "appointment.mailed": self._appointment_mailed,
                "appointment.optout": self._appointment_optout,
                "visit.check": self._visit_check}


    def load(self, session_id: str | None) -> dict[str, Any]:
        return {"appointments": self.load_appointments()}

    def sweep(self) -> Changes:
        return self.expire_appointments()

    def load_appointments(self) -> list[Appointment]:
        """Booked appointments whose slot has not ended (the list /control shows)."""
        rows = self.store.db.execute(
            "SELECT * FROM appointments WHERE room_id = ? ORDER BY starts_at, id",
            [self.state.room_id]).fetchall()
        cols = [c[0] for c in self.store.db.execute(
            "SELECT * FROM appointments LIMIT 0").description]
        found = [self._appointment(dict(zip(cols, r, strict=True))) for r in rows]
        moment = utcnow()
        return [a for a in found if _utc(a.ends_at) > moment]

    @staticmethod
    def _appointment(row: dict[str, Any]) -> Appointment:
        return Appointment(row["id"], row["starts_at"], row["minutes"], row["language"],
                           row["label"] or "", row["status"], row["mail"],
                           row["mail_detail"] or "", row["optout"] or "",
                           row["optout_note"] or "")

    def _appointment_create(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        starts = _utc(args["at"])
        moment = utcnow()
        if starts < moment - GRACE:
            raise CommandError("schema", "'at' lies in the past")
        if starts > moment + AHEAD:
            raise CommandError("schema", "'at' lies more than a year ahead")
        visit, visit_hash = new_token()
        optout, optout_hash = new_token()
        with self.store.transaction() as db:
            appointment_id = db["appointments"].insert({
                "room_id": self.state.room_id, "starts_at": starts.isoformat(timespec="seconds"),
                "minutes": args["minutes"], "language": args["language"],
                "label": args["label"], "visit_hash": visit_hash, "optout_hash": optout_hash,
                "status": "scheduled", "mail": "pending", "created_at": now()}).last_pk
        appointment = Appointment(appointment_id, starts.isoformat(timespec="seconds"),
                                  args["minutes"], args["language"], args["label"])
        if self.on_appointment is not None:
            self.on_appointment(appointment, visit, optout, args["email"])
        return ([(self._key("appointments", appointment_id), appointment.to_dict())],
                {"id": appointment_id, "visit_token": visit, "optout_token": optout})

    def _update(self, appointment: Appointment, **fields: Any) -> Changes:
        with self.store.transaction() as db:
            db["appointments"].update(appointment.id, fields)
        new = dataclasses.replace(appointment, **{k: v for k, v in fields.items()
                                                  if k in Appointment.__dataclass_fields__})
        return [(self._key("appointments", appointment.id), new.to_dict())]

    def _appointment_cancel(self, args: dict[str, Any]) -> Changes:
        appointment = self._find(self.state.appointments, args["id"], "appointment")
        if appointment.status == "cancelled":
            raise CommandError("state", f"appointment {appointment.id} is already cancelled")
        return self._update(appointment, status="cancelled", cancelled_at=now())

    def _appointment_mailed(self, args: dict[str, Any]) -> Changes:
        appointment = self._find(self.state.appointments, args["id"], "appointment")
        return self._update(appointment, mail="sent" if args["ok"] else "failed",
                            mail_detail=args["detail"])

    def _row_by(self, column: str, token: str) -> dict[str, Any] | None:
        cur = self.store.db.execute(
            f"SELECT id FROM appointments WHERE {column} = ? AND room_id = ?",
            [digest(token), self.state.room_id])
        row = cur.fetchone()
        return row

    def _appointment_optout(self, args: dict[str, Any]) -> Changes:
        """The client asks for a phone call or a talk in person instead."""
        row = self._row_by("optout_hash", args["token"])
        appointment = next((a for a in self.state.appointments
                            if row is not None and a.id == row[0]), None)
        if appointment is None:
            raise CommandError("visit_unknown", VISIT_ERRORS["visit_unknown"])
        return self._update(appointment, optout=args["choice"], optout_note=args["note"],
                            optout_at=now())

    def _visit_check(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        """Which appointment a visit link opens now; refused before, after or cancelled."""
        row = self._row_by("visit_hash", args["token"])
        appointment = next((a for a in self.state.appointments
                            if row is not None and a.id == row[0]), None)
        if appointment is None:
            if row is not None:  # booked here, but the slot is over and off the list
                raise CommandError("visit_over", VISIT_ERRORS["visit_over"])
            raise CommandError("visit_unknown", VISIT_ERRORS["visit_unknown"])
        if appointment.status == "cancelled":
            raise CommandError("visit_cancelled", VISIT_ERRORS["visit_cancelled"])
        moment = utcnow()
        if moment < _utc(appointment.starts_at) - EARLY:
            raise CommandError("visit_early", VISIT_ERRORS["visit_early"])
        if moment >= _utc(appointment.ends_at):
            raise CommandError("visit_over", VISIT_ERRORS["visit_over"])
        return [], {"id": appointment.id, "starts_at": appointment.starts_at,
                    "ends_at": appointment.ends_at, "language": appointment.language}

    def expire_appointments(self) -> Changes:
        """Take appointments whose slot has ended off the list (the sweep calls this)."""
        moment = utcnow()
        return [(self._key("appointments", a.id), None) for a in self.state.appointments
                if _utc(a.ends_at) <= moment]
