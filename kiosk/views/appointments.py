"""The counsellor's remote appointments on /control: book, see the mail go, cancel.

A part of :class:`~kiosk.views.control.ControlView`, shown outside a talk: it
forwards through the control view's link and shows the room's appointments
from the mirrored state. The start is chosen as a German date (Tag, Monat,
Jahr) and a time; cancelling asks first. A client who arrives in the video
waiting room sounds the chime (also during a talk; the header says so).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import panel as pn
import param

from kiosk import i18n
from kiosk.views import touch
from kiosk.views.chime import Chime
from kiosk.views.fields import CopyLink, DateField
from kiosk.views.itemlist import ItemList
from kiosk.views.plain import plain
from kiosk.views.talk_pane import heading
from kiosk.visits.invitation import local

MAIL_LABELS = {"pending": "E-Mail wird gesendet", "sent": "E-Mail gesendet",
               "failed": "E-Mail NICHT gesendet"}
STATUS_BADGES = {"scheduled": "geplant", "waiting": "wartet", "admitted": "im Gespräch",
                 "done": "beendet", "cancelled": "abgesagt"}
OPTOUT_LABELS = {"phone": "möchte lieber telefonieren", "in_person": "möchte lieber persönlich"}
#: Start times offered, every quarter of an hour of a working day.
TIMES = [f"{h:02d}:{m:02d}" for h in range(7, 20) for m in (0, 15, 30, 45)] + ["20:00"]


def appointment_text(a: Any) -> str:
    start = local(a.starts_at)
    text = f"{start:%d.%m.%Y %H:%M} Uhr, {a.minutes} Min."
    if a.label:
        text += f" — {a.label}"
    if a.status == "cancelled":
        return text + " — abgesagt"
    text += f" — {MAIL_LABELS.get(a.mail, a.mail)}"
    if a.mail == "failed" and a.mail_detail:
        text += f" ({plain(a.mail_detail) or a.mail_detail})"
    if a.optout:
        text += f" — ⚠ Klient:in {OPTOUT_LABELS[a.optout]}"
        if a.optout_note:
            text += f": {a.optout_note}"
    return text


class AppointmentPanel(pn.viewable.Viewer):
    """Booking form and list of the room's remote appointments."""

    day = param.String(default="", doc="Day of the start (ISO date, '' or 'invalid').")
    time = param.Selector(objects=["", *TIMES], default="", doc="Time of the start (HH:MM).")
    minutes = param.Selector(objects=[15, 30, 45, 60, 90], default=30, doc="Length.")
    email = param.String(default="", doc="The client's mail address (not stored).")
    language = param.Selector(objects=list(i18n.languages()), default="de",
                              doc="The client's language for the mail.")
    label = param.String(default="", doc="A short note for this list.")

    def __init__(self, view: Any, **params: Any) -> None:
        super().__init__(**params)
        self.view = view
        book = touch.button("Termin anlegen und Einladung senden", "primary")
        book.on_click(self._on_book)
        self._link = CopyLink(sizing_mode="stretch_width", css_classes=["appointment-link"],
                              visible=False)
        self._list = ItemList(on_action=self._on_action, sizing_mode="stretch_width",
                              css_classes=["control-appointments"],
                              empty="Keine Videotermine geplant.")
        self._day = DateField(label="Tag des Termins", css_classes=["appointment-day"])
        self._day.param.watch(lambda e: setattr(self, "day", e.new), "value")
        self.param.watch(lambda e: setattr(self._day, "value", e.new), "day")
        names = {code: i18n.native_name(code) for code in i18n.languages()}
        self._layout = pn.Column(
            heading("Videotermine (Klient:in von zu Hause)"),
            touch.wrap(self._day,
                       touch.select(self.param.time, "Uhrzeit", width=140,
                                    options={"–": "", **{t: t for t in TIMES}}),
                       touch.select(self.param.minutes, "Minuten", width=120)),
            touch.wrap(touch.grow(touch.text(self.param.email, "E-Mail der Klient:in")),
                       touch.select(self.param.language, "Sprache der E-Mail", width=220,
                                    options={v: k for k, v in names.items()})),
            touch.wrap(touch.grow(touch.text(self.param.label, "Hinweis für Ihre Liste "
                                                               "(freiwillig)")), book),
            self._link, heading("Geplant"), self._list, sizing_mode="stretch_width")
        #: Always on the page (also during a talk): the waiting room's sound.
        self.chime = Chime()
        self._waiting = {a.id for a in view.state.waiting}
        view.watch_state(self._render, "appointments")
        self._render()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    def show(self, visible: bool) -> None:
        self._layout.visible = visible

    def clear(self) -> None:
        """The link shown once and the form go when a talk begins or ends."""
        self._link.param.update(url="", text="", visible=False)
        self.param.update(day="", time="", email="", label="", minutes=30, language="de")

    def _render(self, *events: Any) -> None:
        self._list.items = [
            {"id": a.id, "text": appointment_text(a),
             "badge": "Rückmeldung" if a.optout and a.status == "scheduled"
             else STATUS_BADGES.get(a.status, a.status),
             "actions": self._actions(a)}
            for a in self.view.state.appointments]
        waiting = {a.id for a in self.view.state.waiting}
        if waiting - self._waiting:  # someone new in the waiting room: sound
            self.chime.count += 1
        self._waiting = waiting

    @staticmethod
    def _actions(a: Any) -> list[dict[str, str]]:
        admit = [{"action": "admit", "label": "Einlassen", "kind": "primary"}]
        cancel = [{"action": "cancel", "label": "Absagen", "kind": "quiet-danger",
                   "confirm": "Diesen Termin absagen? Der Link der Klient:in gilt dann nicht "
                              "mehr.", "yes": "Ja, absagen"}]
        return {"waiting": admit + cancel, "scheduled": cancel}.get(a.status, [])

    def _on_action(self, action: str, appointment_id: Any) -> None:
        if action == "cancel":
            self.view.act("appointment.cancel", id=int(appointment_id))
        elif action == "admit":
            self.view.act("visit.admit", id=int(appointment_id))

    def _start(self) -> dt.datetime | None:
        """The start chosen, in the room's local time; or None with the reason shown."""
        if not self.day:
            self.view.error = "Bitte den Tag des Termins wählen (Tag, Monat, Jahr)."
        elif self.day == "invalid":
            self.view.error = ("Den Tag gibt es nicht oder er ist unvollständig: bitte Tag, "
                               "Monat und Jahr wählen.")
        elif not self.time:
            self.view.error = "Bitte die Uhrzeit wählen."
        else:
            return dt.datetime.fromisoformat(f"{self.day}T{self.time}").astimezone()
        return None

    def _on_book(self, event: Any) -> None:
        start = self._start()
        if start is None:
            return
        if not self.email.strip():
            self.view.error = "Bitte die E-Mail-Adresse der Klient:in eintragen."
            return
        future = self.view.link.post(self.view.role, "appointment.create",
                                     at=start.isoformat(), minutes=int(self.minutes),
                                     email=self.email.strip(), language=self.language,
                                     label=self.label.strip())

        async def show() -> None:
            reply = await self.view.link.settle(future)
            if not reply.ok:
                self.view.error = self.view.refused_text(reply.error)
                return
            # Shown once, here: to pass on by phone should the mail not arrive.
            self._link.param.update(
                url=f"{self.view.link.base_url}/visit/{reply.data['visit_token']}",
                text=f"Termin am {start:%d.%m.%Y} um {start:%H:%M} Uhr angelegt. Persönlicher "
                     "Link der Klient:in (nur hier sichtbar – falls die E-Mail nicht ankommt, "
                     "am Telefon weitergeben):", visible=True)
            self.param.update(day="", time="", email="", label="")
            self.view.error = ""
        self.view.act_async(show())
