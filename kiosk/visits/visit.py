"""The remote client's way through an appointment: waiting room, admission, the talk,
the survey.

The client's page presents the visit link's token. While it polls
(``visit.wait``) the appointment shows as waiting on /control; a page that stops
polling leaves the waiting room after :data:`WAIT_TTL`. The counsellor admits
(``visit.admit``): the room's session starts (or the running one goes on) and
the client becomes a participant of kind ``client``, admitted, whose own
consent to the video is the act of joining (no consent-log row: that log is for
partners, whom the client lets in). The media engine then claims the link
(``visit.claim``) for the peer connection, again after a reload. After the talk
the page may send the anonymous survey once (``visit.survey``).
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

from kiosk.exceptions import CommandError
from kiosk.room.commands import (
    ADMIN,
    ALL_PHASES,
    COUNSELLOR,
    IN_TALK,
    MEDIA,
    NOTE_ID,
    Arg,
    integer,
    spec,
    text,
)
from kiosk.room.feature import Feature, Handler
from kiosk.room.messages import Changes
from kiosk.room.state import Appointment, Partner
from kiosk.room.store import now
from kiosk.visits.appointments import VISIT_ERRORS, AppointmentCommands, _utc, utcnow

#: A waiting client whose page has not asked for this long has left the waiting room.
WAIT_TTL = 20.0
#: The survey may be answered until this long after the slot's end.
SURVEY_AFTER = dt.timedelta(hours=2)
#: How the remote client shows in the room's lists and tiles.
CLIENT_NAME = "Klient:in (per Video)"


class VisitCommands(Feature):
    """Handlers for the remote client's visit; a feature of the room controller."""

    specs = (
        spec("visit.wait", ADMIN, ALL_PHASES, "The remote client's page asks where it stands; "
              "until admitted, the client waits (sent by the visit page).", token=Arg(text(200))),
        spec("visit.admit", COUNSELLOR, {"idle", "consulting"},
              "Let the waiting client of a remote appointment into the talk.", id=NOTE_ID),
        spec("visit.claim", MEDIA, IN_TALK, "The admitted client's page presents its link for "
              "the video connection.", token=Arg(text(200))),
        spec("visit.survey", ADMIN, ALL_PHASES, "The remote client's anonymous survey answer "
              "(sent by the visit page).", token=Arg(text(200)),
              satisfaction=Arg(integer(1, 5)), ease=Arg(integer(1, 5)),
              recommend=Arg(integer(0, 10))),
    )
    needs = (AppointmentCommands,)


    def handlers(self) -> dict[str, Handler]:
        self._waiting_seen: dict[int, float] = {}
        return {"visit.wait": self._visit_wait, "visit.admit": self._visit_admit,
                "visit.claim": self._visit_claim, "visit.survey": self._visit_survey}


    @property
    def _appointments(self) -> AppointmentCommands:
        return self.controller.feature(AppointmentCommands)

    def sweep(self) -> Changes:
        return self.expire_waiting()

    def _visit(self, token: str) -> tuple[Appointment, dict[str, Any]]:
        """The appointment the token opens now (errors as visit.check), and its row."""
        _, info = self._appointments._visit_check({"token": token})
        appointment = self._find(self.state.appointments, info["id"], "appointment")
        return appointment, self.store.db["appointments"].get(appointment.id)

    def _visit_wait(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        """The client's page asks where it stands; while not yet admitted, it waits."""
        appointment, row = self._visit(args["token"])
        changes: Changes = []
        if appointment.status in ("scheduled", "waiting"):
            self._waiting_seen[appointment.id] = time.monotonic()
            if appointment.status == "scheduled":
                changes = self._appointments._update(appointment, status="waiting")
        return changes, {"id": appointment.id, "status": "waiting" if changes else
                         appointment.status, "partner": row["partner_id"]}

    def _visit_admit(self, args: dict[str, Any]) -> Changes:
        """The counsellor lets a waiting client in: the talk begins with them."""
        appointment = self._find(self.state.appointments, args["id"], "appointment")
        if appointment.status != "waiting":
            raise CommandError("state", f"appointment {appointment.id} has nobody waiting "
                                        f"(status is {appointment.status})")
        if self.state.remote_client is not None:
            raise CommandError("state", "another client takes part by video in this talk; "
                                        "end that talk first")
        if self.state.phase == "welcome" or self.state.arrival:
            raise CommandError("phase", "a client has checked in at the room's screen; "
                                        "finish with them first")
        changes: Changes = []
        if self.state.phase == "idle":
            changes = self.controller._session_start({})
            self.state.apply(changes)  # the partner below belongs to the new session
        sid = self.state.session_id
        with self.store.transaction() as db:
            db["sessions"].update(sid, {"mode": "remote"})
            partner_id = db["partners"].insert({
                "session_id": sid, "name": CLIENT_NAME, "agency": "", "role": "",
                "purpose": appointment.label, "consent": "granted", "admitted": 1,
                "state": "invited", "created_at": now(), "agency_type": "",
                "kind": "client"}).last_pk
        partner = Partner(partner_id, CLIENT_NAME, "", purpose=appointment.label,
                          consent="granted", admitted=True, kind="client")
        self._waiting_seen.pop(appointment.id, None)
        return (changes + [(self._key("partners", partner_id), partner.to_dict())]
                + self._appointments._update(appointment, status="admitted", partner_id=partner_id,
                               session_id=sid))

    def _visit_claim(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        """The media engine presents an admitted client's link for their connection."""
        try:
            appointment, row = self._visit(args["token"])
        except CommandError as exc:
            raise CommandError("token_unknown", exc.message) from None
        partner = next((p for p in self.state.partners if p.id == row["partner_id"]
                        and p.is_client and p.state != "gone"), None)
        if appointment.status != "admitted" or partner is None:
            raise CommandError("state", "Sie sind noch nicht eingelassen. Bitte warten Sie.")
        with self.store.transaction() as db:
            db["partners"].update(partner.id, {"state": "lobby"})
        return ([(self._key("partners", partner.id),
                  Partner.from_dict({**partner.to_dict(), "state": "lobby"}).to_dict())],
                {"partner": partner.id})

    def _visit_survey(self, args: dict[str, Any]) -> Changes:
        """The remote client's anonymous answer, once per appointment: stored as the room's
        survey answers are, with nothing that leads back to the appointment."""
        row = self._appointments._row_by("visit_hash", args["token"])
        if row is None:
            raise CommandError("visit_unknown", VISIT_ERRORS["visit_unknown"])
        appointment = self.store.db["appointments"].get(row[0])
        ends = _utc(appointment["starts_at"]) + dt.timedelta(minutes=appointment["minutes"])
        if not appointment["session_id"] or appointment["status"] == "cancelled":
            raise CommandError("state", "Zu diesem Termin gab es kein Gespräch.")
        if appointment["surveyed"]:
            raise CommandError("state", "Die Umfrage zu diesem Termin ist schon beantwortet. "
                                        "Vielen Dank!")
        if utcnow() > ends + SURVEY_AFTER:
            raise CommandError("visit_over", VISIT_ERRORS["visit_over"])
        types = sorted({r[0] for r in self.store.db.execute(
            "SELECT agency_type FROM partner_calls WHERE session_id = ?",
            [appointment["session_id"]]) if r[0]})
        day = dt.datetime.now(dt.UTC).date().isoformat()
        with self.store.transaction() as db:
            db["survey_answers"].insert({
                "rowid": secrets.randbits(62), "day": day,
                **{k: args[k] for k in ("satisfaction", "ease", "recommend")},
                "mode": "remote", "agency_types": ",".join(types)})
            db["appointments"].update(appointment["id"], {"surveyed": 1})
        return []

    def partner_gone(self, partner: Partner) -> Changes:
        """The remote client left or the talk closed: their appointment is done."""
        return [c for a in self.state.appointments if a.status == "admitted"
                and self._admitted_as(a.id) == partner.id
                for c in self._appointments._update(a, status="done")]

    def _admitted_as(self, appointment_id: int) -> int | None:
        return self.store.db["appointments"].get(appointment_id)["partner_id"]

    def expire_waiting(self) -> Changes:
        """Clients whose page stopped asking leave the waiting room (the sweep)."""
        stale = time.monotonic() - WAIT_TTL
        changes: Changes = []
        for a in self.state.appointments:
            if a.status == "waiting" and self._waiting_seen.get(a.id, 0.0) < stale:
                self._waiting_seen.pop(a.id, None)
                changes += self._appointments._update(a, status="scheduled")
        return changes

