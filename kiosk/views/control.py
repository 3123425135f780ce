"""/control: the counsellor's tablet.

Start and end the appointment, write notes (internal, or visible to the
client at once), agree next steps, pause video. Every action is one command
to the controller; a refusal is shown with its reason.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param
from tornado.web import decode_signed_value

from kiosk.access.pairing_page import CREDENTIAL_DAYS, cookie_name
from kiosk.exceptions import BusError
from kiosk.room.agencies import AGENCY_TYPES, TOPICS
from kiosk.room.state import is_poor
from kiosk.views.appointments import AppointmentPanel
from kiosk.views.base import STYLES, RoomView, alert_text, escape, sign_out
from kiosk.views.chips import Chips
from kiosk.views.directory import DirectoryPanel
from kiosk.views.itemlist import ItemList

CONSENT_LABELS = {"pending": "Zustimmung erfragt", "granted": "zugestimmt",
                  "declined": "abgelehnt", "withdrawn": "zurückgezogen"}
LINK_MAIL_LABELS = {"sending": " · Link-E-Mail wird gesendet",
                    "sent": " · Link per E-Mail gesendet",
                    "failed": " · Link-E-Mail fehlgeschlagen"}
STATE_LABELS = {"invited": "eingeladen", "lobby": "im Warteraum", "connected": "verbunden",
                "reconnecting": "verbindet neu", "gone": "nicht mehr da"}
def quality_text(q: dict[str, int] | None) -> str:
    """A partner's connection quality in words, with a warning when it is poor."""
    if not q:
        return ""
    text = (f" — {q['rtt_ms']} ms, Verlust {q['loss_pct']} %, {q['kbps']} kbit/s, "
            f"{q['fps']} Bilder/s")
    return text + (" ⚠ schwache Verbindung" if is_poor(q) else "")


PHASE_LABELS = {"idle": "Frei", "welcome": "Klient:in wartet", "consulting": "Im Gespräch",
                "wrap_up": "Abschluss", "survey": "Umfrage"}


class ControlView(RoomView):
    """The counsellor's tablet page."""

    role = "counsellor"

    note_text = param.String(default="", doc="Draft of the next note.")
    note_visible = param.Boolean(default=True, doc="Show the next note to the client.")
    step_what = param.String(default="", doc="Draft next step: what.")
    step_who = param.String(default="client", doc="Draft next step: who (client or agency).")
    step_due = param.CalendarDate(default=None, allow_None=True,
                                  doc="Draft next step: by when (a date, or none).")
    partner_name = param.String(default="", doc="Partner to ask in: name.")
    partner_agency = param.String(default="", doc="Partner to ask in: agency.")
    partner_role = param.String(default="", doc="Partner to ask in: role.")
    partner_purpose = param.String(default="", doc="Why the partner should join.")
    partner_type = param.Selector(objects=["", *AGENCY_TYPES], default="",
                                  doc="Kind of agency, for the evaluation.")
    follow_up = param.String(default="", doc="Who follows up, when the matter is not settled.")
    tablet = param.String(default="", doc="Name of this paired tablet, once verified.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._status = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[STYLES])
        self._start = pn.widgets.Button(label="Sitzung starten", color="primary", height=56)
        self._end = pn.widgets.Button(label="Sitzung beenden", color="warning", height=56)
        self._reset = pn.widgets.Button(label="Raum zurücksetzen", color="light", height=56)
        self._privacy = pn.widgets.Button(label="Video pausieren", color="default",
                                          height=56)
        self._start.on_click(self._on_start)
        self._end.on_click(self._on_end)
        self._reset.on_click(self._on_reset)
        self._privacy.on_click(self._on_privacy)
        self._camera = pn.widgets.Button(label="Kamera aus", color="default", height=56)
        self._mic = pn.widgets.Button(label="Mikrofon stumm", color="default", height=56)
        self._camera.on_click(lambda e: self.act("room.camera", on=not self.state.camera_on))
        self._mic.on_click(lambda e: self.act("room.mic", on=not self.state.mic_on))
        self._add_note = pn.widgets.Button(label="Notiz hinzufügen", color="primary",
                                           height=48)
        self._add_note.on_click(self._on_add_note)
        self._add_step = pn.widgets.Button(label="Schritt hinzufügen", color="primary",
                                           height=48)
        self._add_step.on_click(self._on_add_step)
        self._notes = ItemList(on_action=self._on_note_action, sizing_mode="stretch_width",
                               css_classes=["control-notes"], empty="Noch keine Notizen.")
        self._topics = Chips(on_toggle=self._on_topic, options=list(TOPICS),
                             label="Themen des Gesprächs", sizing_mode="stretch_width",
                             css_classes=["control-topics"])
        self._who = pn.widgets.Select(label="Wer", options=self._who_options(), value="client",
                                      width=220)
        self._who.param.watch(lambda e: setattr(self, "step_who", e.new or "client"), "value")
        self._summary = pn.pane.HTML(stylesheets=[STYLES], css_classes=["control-summary"],
                                     sizing_mode="stretch_width")
        self._steps = ItemList(on_action=self._on_step_action, sizing_mode="stretch_width",
                               css_classes=["control-steps"], empty="Noch keine Schritte.")
        self._error = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[STYLES])
        self._partners = ItemList(on_action=self._on_partner_action, sizing_mode="stretch_width",
                                  css_classes=["control-partners"],
                                  empty="Noch keine Partner angefragt.")
        self._ask = pn.widgets.Button(label="Zustimmung der Klient:in erfragen", color="primary",
                                      height=48)
        self._ask.on_click(self._on_ask)
        self._invite = pn.widgets.Button(label="Per Link einladen", color="primary", height=48)
        self._invite.on_click(self._on_invite)
        self._link = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[STYLES],
                                  css_classes=["invite-link"])
        self._bot = pn.widgets.Button(label="Demo: simulierten Partner beitreten lassen",
                                      color="light", height=48, visible=False)
        self._bot.on_click(self._on_bot)
        self._bot_target: tuple[str, str] | None = None

        self._settled = pn.widgets.Button(label="In diesem Termin geklärt", color="success",
                                          height=48)
        self._settled.on_click(lambda e: self.act("session.outcome", outcome="settled"))
        self._later = pn.widgets.Button(label="Folgetermin nötig", color="warning", height=48)
        self._later.on_click(lambda e: self.act("session.outcome", outcome="follow_up",
                                                follow_up=self.follow_up))
        self._outcome = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[STYLES],
                                     css_classes=["control-outcome"])
        self._outcome_form = pn.Column(
            pn.pane.HTML("<h2>Ergebnis</h2>", stylesheets=[STYLES]),
            pn.Row(self._settled, pn.widgets.TextInput.from_param(
                       self.param.follow_up, name="Folgetermin mit (Stelle)", description=None),
                   self._later),
            self._outcome, sizing_mode="stretch_width")

        def field(name: str, label: str, **kw):
            return pn.widgets.TextInput.from_param(self.param[name], name=label,
                                                   description=None, **kw)
        self._directory = DirectoryPanel(self)
        self._partner_form = pn.Column(
            pn.pane.HTML("<h2>Partner per Video</h2>", stylesheets=[STYLES]),
            pn.Row(field("partner_name", "Name"), field("partner_agency", "Stelle"),
                   pn.widgets.Select.from_param(
                       self.param.partner_type, name="Art der Stelle", description=None,
                       options={"– bitte wählen –": "", **{t: t for t in AGENCY_TYPES}}),
                   field("partner_role", "Funktion"), sizing_mode="stretch_width"),
            pn.Row(field("partner_purpose", "Warum (sieht die Klient:in)",
                         sizing_mode="stretch_width"), self._ask, self._invite,
                   sizing_mode="stretch_width"),
            self._link, self._bot, self._partners, self._directory,
            sizing_mode="stretch_width")
        # A visible note shows on the client's screens while it is typed (note.draft).
        note_input = pn.widgets.TextAreaInput.from_param(
            self.param.note_text, name="Neue Notiz", placeholder="Was wurde besprochen?",
            height=110, sizing_mode="stretch_width", description=None)
        note_input.param.watch(self._on_typing, "value_input")
        self.param.watch(lambda e: self._on_typing(None), "note_visible")
        self._typed = ""
        self._editor = pn.Column(
            pn.pane.HTML("<h2>Themen</h2>", stylesheets=[STYLES]), self._topics,
            pn.pane.HTML("<h2>Notizen</h2>", stylesheets=[STYLES]),
            note_input,
            pn.Row(pn.widgets.Toggle.from_param(self.param.note_visible,
                                                name="Für Klient:in sichtbar", height=48),
                   self._add_note),
            self._notes,
            pn.pane.HTML("<h2>Nächste Schritte</h2>", stylesheets=[STYLES]),
            pn.Row(pn.widgets.TextInput.from_param(self.param.step_what, name="Was",
                                                   sizing_mode="stretch_width", description=None),
                   self._who, pn.widgets.DatePicker.from_param(
                       self.param.step_due, name="Bis wann", width=170, description=None),
                   self._add_step, sizing_mode="stretch_width"),
            self._steps, self._partner_form, self._outcome_form, self._summary,
            sizing_mode="stretch_width")
        self._alerts = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[STYLES],
                                    css_classes=["control-alerts"], visible=False)
        # Booking happens outside a talk: shown together, the talk's editor (whose lists
        # grow after layout) and this panel would overlap.
        self._appointments = AppointmentPanel(self)
        self._controls = pn.Column(
            pn.Row(self._status, sign_out(), sizing_mode="stretch_width"), self._alerts,
            self._appointments.notice, self._appointments.chime,
            pn.Row(self._start, self._end, self._privacy, self._camera, self._mic, self._reset),
            self._error, self._editor, self._appointments, sizing_mode="stretch_both")
        self._layout = pn.Column(self._controls, sizing_mode="stretch_both",
                                 styles={"padding": "1.5rem 2rem"})
        self.watch_state(self._render, "phase", "privacy", "room_name", "synced", "arrival",
                         "camera_on", "mic_on", "outcome", "topics", "summary_mail")
        self.watch_state(self._render_alerts, "devices")
        self._render_alerts()
        self._check_pairing()
        self.watch_state(self._render_items, "notes", "next_steps", "partners", "quality")
        self.param.watch(self._show_error, "error")
        self._render()
        self._render_items()

    def __panel__(self):
        return self._layout

    def _render(self, *events) -> None:
        s = self.state
        online = "" if s.synced else " · <span class='error'>keine Verbindung</span>"
        arrival = ""
        if s.arrival:
            arrival = (f" · Termin-Code <b>{escape(s.arrival['code'])}</b>"
                       if s.arrival.get("code") else " · ohne Termin")
        tablet = f" · Tablet {escape(self.tablet)}" if self.tablet else ""
        self._status.object = (
            f"<div class='room'>{escape(s.room_name)}{tablet}</div>"
            f"<h1>Beratung</h1><span class='phase'>{PHASE_LABELS[s.phase]}</span>"
            f"{arrival}{online}")
        self._start.visible = s.phase in ("idle", "welcome")
        self._end.visible = s.phase == "consulting"
        self._reset.visible = s.phase != "idle"
        self._privacy.visible = s.phase in ("welcome", "consulting", "wrap_up")
        self._privacy.label = "Video fortsetzen" if s.privacy else "Video pausieren"
        self._camera.label = "Kamera aus" if s.camera_on else "Kamera an"
        self._mic.label = "Mikrofon stumm" if s.mic_on else "Mikrofon an"
        self._editor.visible = s.phase in ("consulting", "wrap_up")
        self._appointments.show(not self._editor.visible)
        self._directory.show(s.phase == "consulting")
        self._topics.selected = list(s.topics)
        mailed = (s.summary_mail or {}).get("status")
        self._summary.visible = s.phase in ("consulting", "wrap_up", "survey")
        self._summary.object = (
            "<p>Zusammenfassung für die Klient:in: <a href='/summary' target='_blank'>"
            "Druckansicht</a> · <a href='/summary.pdf' target='_blank'>PDF</a>"
            + ({"sending": " · E-Mail wird gesendet …", "sent": " · per E-Mail gesendet",
                "failed": " · <span class='error'>E-Mail fehlgeschlagen</span>"}.get(mailed, ""))
            + "</p>")
        o = s.outcome
        self._outcome.object = (
            "" if not o else "<p role='status'><b>Ergebnis:</b> in diesem Termin geklärt</p>"
            if o["outcome"] == "settled" else "<p role='status'><b>Ergebnis:</b> Folgetermin"
            + (f" mit {escape(o['follow_up'])}" if o["follow_up"] else "") + "</p>")

    def _render_alerts(self, *events) -> None:
        alerts = self.state.alerts
        self._alerts.object = ("<p class='notice' role='alert'>⚠ Technik: " + "; ".join(
            escape(alert_text(d)) for d in alerts) + ". Die Haustechnik sieht Details auf "
            "/admin.</p>") if alerts else ""
        self._alerts.visible = bool(alerts)

    # -- the tablet's pairing ------------------------------------------------------
    def _check_pairing(self) -> None:
        """A paired tablet reports its health; a revoked one gets no controls."""
        if pn.state.curdoc is None or pn.state.curdoc.session_context is None:
            return  # not served (a notebook or a test of the view): no tablet to check
        name = cookie_name(self.state.room_id)
        raw = pn.state.cookies.get(name)
        if not raw:
            return  # not a paired tablet (on the room PC itself, or in the demo)
        signed = decode_signed_value(self.link.cookie_secret, name, raw,
                                     max_age_days=CREDENTIAL_DAYS)
        token = signed.decode("ascii", "replace") if signed else "-"  # forged: refused below
        self._layout[:] = [pn.pane.HTML("<p>Tablet wird geprüft …</p>", stylesheets=[STYLES])]

        async def check() -> None:
            try:
                reply = await self.link.send(self.role, "tablet.verify", token=token)
            except BusError:
                reply = None
            if reply is not None and reply.ok:
                self.tablet = reply.data["name"]
                self._layout[:] = [self._controls, self.beacon(
                    f"tablet-{reply.data['tablet']}", "tablet", reply.data["name"])]
                self._render()
                return
            why = ("Der Raum antwortet nicht. Bitte die Seite neu laden." if reply is None
                   else "Dieses Tablet ist nicht (mehr) mit dem Raum gekoppelt.")
            self._layout[:] = [pn.pane.HTML(
                f"<h1>Beratung</h1><p class='notice' role='alert'>{escape(why)}</p>"
                "<p><a href='/control/pair'>Tablet neu koppeln</a></p>", stylesheets=[STYLES],
                css_classes=["control-unpaired"])]
        self.act_async(check())

    def _who_options(self) -> dict[str, str]:
        """Who may do a step: the client, an agency in the talk, or a kind of agency."""
        agencies = [p.agency for p in self.state.partners if p.agency]
        return {"Klient:in": "client", **{a: a for a in dict.fromkeys(agencies)},
                **{a: a for a in AGENCY_TYPES if a not in agencies}}

    def _on_topic(self, topic: str) -> None:
        chosen = set(self.state.topics) ^ {topic}
        self.act("session.topics", topics=[x for x in TOPICS if x in chosen])

    def _render_items(self, *events) -> None:
        options = self._who_options()
        if options != self._who.options:
            self._who.options = options
            if self._who.value not in options.values():
                self._who.value = "client"
        self._notes.items = [
            {"id": n.id, "text": n.text, "badge": "sichtbar" if n.visible else "intern",
             "actions": [{"action": "toggle", "label": "Verbergen" if n.visible
                          else "Für Klient:in zeigen", "kind": "" if n.visible else "success"},
                         {"action": "delete", "label": "Löschen"}]}
            for n in self.state.notes]
        self._steps.items = [
            {"id": s.id, "text": s.what, "badge": ("Klient:in" if s.who == "client" else s.who)
             + (f", bis {s.due}" if s.due else ""),
             "actions": [{"action": "delete", "label": "Löschen"}]}
            for s in self.state.next_steps]
        self._partners.items = [
            {"id": p.id, "text": (f"{p.name}{' – ' + p.purpose if p.purpose else ''}"
                                  if p.is_client else
                                  f"{p.name} ({p.agency}{', ' + p.role if p.role else ''})")
                                 + quality_text(self.state.quality.get(p.id)),
             "badge": STATE_LABELS[p.state] if p.is_client else
                      f"{CONSENT_LABELS[p.consent]} · {STATE_LABELS[p.state]}"
                      + (" · zugelassen" if p.admitted else "")
                      + LINK_MAIL_LABELS.get(p.link_mail, "")
                      + (" · stumm" if p.muted else ""),
             "actions": ([{"action": "admit", "label": "Zulassen", "kind": "success"}]
                         if not p.admitted and p.state in ("lobby", "connected") else [])
                        + ([{"action": "unmute" if p.muted else "mute",
                             "label": "Ton an" if p.muted else "Stumm"}]
                           if p.state != "gone" else [])
                        + [{"action": "remove", "label": "Auflegen"}]}
            for p in self.state.partners]

    def _on_partner_action(self, action: str, partner_id: Any) -> None:
        if not any(p.id == partner_id for p in self.state.partners):
            return
        if action == "remove":
            self.act("partner.remove", partner=partner_id)
        elif action == "admit":
            self.act("partner.admit", partner=partner_id)
        elif action in ("mute", "unmute"):
            self.act("partner.mute", partner=partner_id, on=action == "mute")

    def _on_bot(self, event) -> None:
        if self._bot_target and self.link.simulate_partner is not None:
            self.link.simulate_partner(*self._bot_target)
            self._bot.visible = False

    def _on_invite(self, event) -> None:
        """Invite by a one-call link; the link is shown here once, to copy or send."""
        args = {"agency": self.partner_agency, "name": self.partner_name,
                "role": self.partner_role, "purpose": self.partner_purpose,
                "agency_type": self.partner_type}
        future = self.link.post(self.role, "partner.invite", **args)

        async def show() -> None:
            reply = await self.link.settle(future)
            if not reply.ok:
                self.error = self.refused_text(reply.error)
                return
            url, agency = self.link.base_url + reply.data["link"], self.partner_agency
            self._link.object = (f"<p>Link für {escape(agency)} (einmal gültig, "
                                 f"bis {escape(reply.data['expires'])}):<br>"
                                 f"<code>{escape(url)}</code></p>")
            self._bot.visible = self.link.simulate_partner is not None
            self._bot_target = (url, agency)
            self.param.update(partner_name="", partner_agency="", partner_role="",
                              partner_purpose="", partner_type="", error="")
        self.act_async(show())

    def _on_ask(self, event) -> None:
        self.act("consent.request", name=self.partner_name, agency=self.partner_agency,
                 role=self.partner_role, purpose=self.partner_purpose,
                 agency_type=self.partner_type,
                 then=lambda: self.param.update(partner_name="", partner_agency="",
                                                partner_role="", partner_purpose="",
                                                partner_type=""))

    def _on_note_action(self, action: str, note_id: Any) -> None:
        note = next((n for n in self.state.notes if n.id == note_id), None)
        if note is None:
            return
        if action == "toggle":
            self.act("note.update", id=note.id, visible=not note.visible)
        elif action == "delete":
            self.act("note.delete", id=note.id)

    def _on_step_action(self, action: str, step_id: Any) -> None:
        if action == "delete" and any(s.id == step_id for s in self.state.next_steps):
            self.act("step.delete", id=step_id)

    def _show_error(self, event) -> None:
        self._error.object = f"<p class='error'>{escape(event.new)}</p>" if event.new else ""

    def _on_start(self, event) -> None:
        self.act("session.start")

    def _on_end(self, event) -> None:
        self.act("session.end")

    def _on_reset(self, event) -> None:
        self.act("room.reset")

    def _on_privacy(self, event) -> None:
        self.act("privacy.set", on=not self.state.privacy)

    def _on_typing(self, event) -> None:
        """Forward the visible note as it is typed; an internal one never leaves."""
        if event is not None:
            self._typed = event.new or ""
        text = self._typed[:4000] if self.note_visible else ""
        if self.state.phase in ("consulting", "wrap_up") and text != self.state.draft:
            self.act("note.draft", text=text)

    def _on_add_note(self, event) -> None:
        self._typed = ""
        self.act("note.add", text=self.note_text, visible=self.note_visible,
                 then=lambda: setattr(self, "note_text", ""))

    def _on_add_step(self, event) -> None:
        self.act("step.add", what=self.step_what, who=self.step_who or "client",
                 due=self.step_due.isoformat() if self.step_due else "",
                 then=lambda: self.param.update(step_what="", step_due=None))
