"""The counsellor's remote appointments on /control: book, see the mail go, cancel.

A part of :class:`~kiosk.views.control.ControlView`: it forwards through the
control view's link and shows the room's appointments from the mirrored state.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import panel as pn
import param

from kiosk import i18n
from kiosk.views.base import STYLES, escape
from kiosk.views.chime import Chime
from kiosk.views.itemlist import ItemList
from kiosk.visits.invitation import local

MAIL_LABELS = {"pending": "E-Mail wird gesendet", "sent": "E-Mail gesendet",
               "failed": "E-Mail NICHT gesendet"}
STATUS_BADGES = {"scheduled": "geplant", "waiting": "wartet", "admitted": "im Gespräch",
                 "done": "beendet", "cancelled": "abgesagt"}
OPTOUT_LABELS = {"phone": "möchte lieber telefonieren", "in_person": "möchte lieber persönlich"}


def appointment_text(a: Any) -> str:
    start = local(a.starts_at)
    text = f"{start:%d.%m.%Y %H:%M} Uhr, {a.minutes} Min."
    if a.label:
        text += f" — {a.label}"
    if a.status == "cancelled":
        return text + " — abgesagt"
    text += f" — {MAIL_LABELS.get(a.mail, a.mail)}"
    if a.mail == "failed" and a.mail_detail:
        text += f" ({a.mail_detail})"
    if a.optout:
        text += f" — ⚠ Klient:in {OPTOUT_LABELS[a.optout]}"
        if a.optout_note:
            text += f": {a.optout_note}"
    return text


class AppointmentPanel(pn.viewable.Viewer):
    """Booking form and list of the room's remote appointments."""

    when = param.String(default="", doc="Start as typed: YYYY-MM-DD HH:MM (local time).")
    minutes = param.Selector(objects=[15, 30, 45, 60, 90], default=30, doc="Length.")
    email = param.String(default="", doc="The client's mail address (not stored).")
    language = param.Selector(objects=list(i18n.languages()), default="de",
                              doc="The client's language for the mail.")
    label = param.String(default="", doc="A short note for this list.")

    def __init__(self, view: Any, **params: Any) -> None:
        super().__init__(**params)
        self.view = view
        self._book = pn.widgets.Button(label="Termin anlegen und Einladung senden",
                                       color="primary", height=48)
        self._book.on_click(self._on_book)
        self._link = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[STYLES],
                                  css_classes=["appointment-link"])
        self._list = ItemList(on_action=self._on_action, sizing_mode="stretch_width",
                              css_classes=["control-appointments"],
                              empty="Keine Videotermine geplant.")
        names = {code: i18n.native_name(code) for code in i18n.languages()}
        self._layout = pn.Column(
            pn.pane.HTML("<h2>Videotermine (Klient:in von zu Hause)</h2>", stylesheets=[STYLES]),
            pn.Row(pn.widgets.TextInput.from_param(self.param.when, label="Beginn "
                                                   "(JJJJ-MM-TT HH:MM)", description=None,
                                                   placeholder="2026-12-01 10:30"),
                   pn.widgets.Select.from_param(self.param.minutes, label="Minuten",
                                                description=None, width=110),
                   pn.widgets.TextInput.from_param(self.param.email, label="E-Mail der "
                                                   "Klient:in", description=None),
                   pn.widgets.Select.from_param(self.param.language, label="Sprache der "
                                                "E-Mail", description=None,
                                                options={v: k for k, v in names.items()}),
                   sizing_mode="stretch_width"),
            pn.Row(pn.widgets.TextInput.from_param(self.param.label, label="Hinweis für "
                                                   "Ihre Liste (freiwillig)",
                                                   description=None,
                                                   sizing_mode="stretch_width"),
                   self._book, sizing_mode="stretch_width"),
            self._link, self._list, sizing_mode="stretch_width")
        #: Always on the page (also during a talk): the waiting room's sound and notice.
        self.chime = Chime()
        self.notice = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[STYLES],
                                   css_classes=["waiting-notice"], visible=False)
        self._waiting = {a.id for a in view.state.waiting}
        view.watch_state(self._render, "appointments")
        self._render()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    def show(self, visible: bool) -> None:
        self._layout.visible = visible
        self._render()

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
        self.notice.visible = bool(waiting) and not self._layout.visible
        self.notice.object = (
            f"<p class='notice' role='alert'>{len(waiting)} Klient:in"
            f"{'nen warten' if len(waiting) > 1 else ' wartet'} im Video-Warteraum. "
            "Einlassen können Sie nach diesem Gespräch.</p>" if waiting else "")

    @staticmethod
    def _actions(a: Any) -> list[dict[str, str]]:
        admit = [{"action": "admit", "label": "Einlassen", "kind": "primary"}]
        cancel = [{"action": "cancel", "label": "Absagen", "kind": "danger"}]
        return {"waiting": admit + cancel, "scheduled": cancel}.get(a.status, [])

    def _on_action(self, action: str, appointment_id: Any) -> None:
        if action == "cancel":
            self.view.act("appointment.cancel", id=int(appointment_id))
        elif action == "admit":
            self.view.act("visit.admit", id=int(appointment_id))

    def _on_book(self, event: Any) -> None:
        try:
            start = dt.datetime.strptime(self.when.strip(), "%Y-%m-%d %H:%M").astimezone()
        except ValueError:
            self.view.error = "Beginn bitte als Datum und Uhrzeit, z. B. 2026-12-01 10:30."
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
            url = f"{self.view.link.base_url}/visit/{reply.data['visit_token']}"
            # Shown once, here: to pass on by phone should the mail not arrive.
            self._link.object = (f"<p>Termin angelegt. Persönlicher Link der Klient:in "
                                 f"(nur hier sichtbar):<br><code>{escape(url)}</code></p>")
            self.param.update(when="", email="", label="")
            self.view.error = ""
        self.view.act_async(show())
