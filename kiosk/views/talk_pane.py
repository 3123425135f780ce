"""The talk's pane of the console: topics, notes, next steps, outcome and the handout.

A part of :class:`~kiosk.views.control.ControlView`: the drafts of this tablet
live here as params; what is agreed goes to the room as commands through the
view, and the lists show what the room holds. A visible note reaches the
client's screens while it is typed (``note.draft``); an internal one never does.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from kiosk.room.agencies import AGENCY_TYPES, TOPICS
from kiosk.views import touch
from kiosk.views.base import STYLES, escape
from kiosk.views.chips import Chips
from kiosk.views.fields import DateField, Toggle
from kiosk.views.itemlist import ItemList
from kiosk.views.plain import german_date

NOTE_MAX, STEP_MAX = 4000, 500
PANE_CSS = STYLES + """
h2 { font-size: 1.3rem; margin: .9rem 0 .4rem 0; }
h2:first-child { margin-top: .2rem; }
.links { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; margin: .3rem 0; }
a.btn { display: inline-flex; align-items: center; min-height: 48px; min-width: 48px;
        font-size: 1rem;
        padding: 0 1.1rem; border: 2px solid #0b5cad; border-radius: 6px; color: #0b5cad;
        font-weight: 600; text-decoration: none; box-sizing: border-box; }
a.btn:focus-visible { outline: 3px solid #1b1f23; outline-offset: 2px; }
p.hint { color: #4a525a; margin: .2rem 0; font-size: 1rem; }
"""
MAIL_WORDS = {"sending": "Die Zusammenfassung geht gerade per E-Mail hinaus …",
              "sent": "Die Zusammenfassung wurde per E-Mail gesendet.",
              "failed": "<span class='error'>Die E-Mail mit der Zusammenfassung ging nicht "
                        "hinaus.</span>"}


def heading(text: str) -> pn.pane.HTML:
    return pn.pane.HTML(f"<h2>{escape(text)}</h2>", stylesheets=[PANE_CSS], margin=(0, 10))


class TalkPane(pn.viewable.Viewer):
    """Topics, notes and steps of the running talk, its outcome and the handout."""

    note_text = param.String(default="", doc="Draft of the next note.")
    note_visible = param.Boolean(default=True, doc="Show the next note to the client.")
    step_what = param.String(default="", doc="Draft next step: what.")
    step_who = param.String(default="client", doc="Draft next step: who (client or agency).")
    step_due = param.String(default="", doc="Draft next step: by when (ISO date, '' or "
                                            "'invalid').")
    follow_up = param.String(default="", doc="Who follows up, when the matter is not settled.")

    def __init__(self, view: Any, **params: Any) -> None:
        super().__init__(**params)
        self.view = view
        self.topics = Chips(on_toggle=self._on_topic, options=list(TOPICS),
                            label="Themen des Gesprächs", sizing_mode="stretch_width",
                            css_classes=["control-topics"])
        note = touch.area(self.param.note_text, "Neue Notiz", placeholder="Was wurde "
                          "besprochen?", sizing_mode="stretch_width")
        note.param.watch(self._on_typing, "value_input")
        self._typed = ""
        self.visible_toggle = Toggle(label="Für Klient:in sichtbar", on_text="ja",
                                     off_text="nein", value=self.note_visible)
        self.visible_toggle.param.watch(lambda e: setattr(self, "note_visible", e.new), "value")
        self.param.watch(self._visibility, "note_visible")
        add_note = touch.button("Notiz hinzufügen", "primary")
        add_note.on_click(lambda e: self.add_note())
        self.notes = ItemList(on_action=self._on_note, sizing_mode="stretch_width",
                              css_classes=["control-notes"], empty="Noch keine Notizen.")
        self.who = touch.styled(pn.widgets.Select, label="Wer", options=self.who_options(),
                                value="client", width=220)
        self.who.param.watch(lambda e: setattr(self, "step_who", e.new or "client"), "value")
        self.due = DateField(label="Bis wann (freiwillig)")
        self.due.param.watch(lambda e: setattr(self, "step_due", e.new), "value")
        self.param.watch(lambda e: setattr(self.due, "value", e.new), "step_due")
        add_step = touch.button("Schritt hinzufügen", "primary")
        add_step.on_click(lambda e: self.add_step())
        self.steps = ItemList(on_action=self._on_step, sizing_mode="stretch_width",
                              css_classes=["control-steps"], empty="Noch keine Schritte.")
        settled = touch.button("In diesem Termin geklärt", "success")
        settled.on_click(lambda e: self.view.act("session.outcome", outcome="settled"))
        later = touch.button("Folgetermin nötig", "warning")
        later.on_click(lambda e: self.view.act("session.outcome", outcome="follow_up",
                                               follow_up=self.follow_up))
        self.outcome = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[PANE_CSS],
                                    css_classes=["control-outcome"])
        self.summary = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[PANE_CSS],
                                    css_classes=["control-summary"])
        self.editor = pn.Column(
            heading("Themen"), self.topics,
            heading("Notizen"), note,
            touch.wrap(self.visible_toggle, add_note), self.notes,
            heading("Nächste Schritte"),
            touch.wrap(touch.grow(touch.text(self.param.step_what, "Was")), self.who,
                       self.due, add_step),
            self.steps, sizing_mode="stretch_width")
        self._wrap_hint = pn.pane.HTML(
            "<p class='notice' role='status'>Die Klient:in sieht jetzt die Zusammenfassung. "
            "Notizen und Schritte lassen sich noch ergänzen; bitte das Ergebnis festhalten."
            "</p>", stylesheets=[PANE_CSS], sizing_mode="stretch_width")
        self.closing = pn.Column(
            self._wrap_hint,
            heading("Ergebnis"),
            touch.wrap(settled, touch.grow(touch.text(self.param.follow_up,
                                                      "Folgetermin mit (Stelle)")), later),
            self.outcome, heading("Zusammenfassung für die Klient:in"), self.summary,
            sizing_mode="stretch_width")
        self._layout = pn.Column(self.editor, self.closing, sizing_mode="stretch_width")
        view.watch_state(self.render, "topics", "outcome", "summary_mail", "phase")
        view.watch_state(self.render_items, "notes", "next_steps", "partners")
        self.render()
        self.render_items()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # -- what is shown ---------------------------------------------------------------
    def render(self, *events: Any) -> None:
        s = self.view.state
        self.editor.visible = self.closing.visible = s.phase in ("consulting", "wrap_up")
        # In the wrap-up, what is left to do comes first: the outcome and the handout.
        order = [self.closing, self.editor] if s.phase == "wrap_up" else [self.editor,
                                                                           self.closing]
        self._wrap_hint.visible = s.phase == "wrap_up"
        if list(self._layout.objects) != order:
            self._layout.objects = order
        self.topics.selected = list(s.topics)
        o = s.outcome
        self.outcome.object = (
            "" if not o else "<p role='status'><b>Ergebnis:</b> in diesem Termin geklärt</p>"
            if o["outcome"] == "settled" else "<p role='status'><b>Ergebnis:</b> Folgetermin"
            + (f" mit {escape(o['follow_up'])}" if o["follow_up"] else "") + "</p>")
        mailed = MAIL_WORDS.get((s.summary_mail or {}).get("status"), "")
        self.summary.object = (
            "<p class='hint'>Was die Klient:in mitnimmt: sichtbare Notizen, Schritte, "
            "Kontakte, Ergebnis.</p><div class='links'>"
            "<a class='btn' href='/summary?ui=de' target='_blank' rel='noopener'>"
            "Druckansicht öffnen</a><a class='btn' href='/summary.pdf' target='_blank' "
            "rel='noopener'>PDF öffnen</a></div>" + (f"<p>{mailed}</p>" if mailed else ""))

    def who_options(self) -> dict[str, str]:
        """Who may do a step: the client, an agency in the talk, or a kind of agency."""
        agencies = [p.agency for p in self.view.state.partners if p.agency]
        return {"Klient:in": "client", **{a: a for a in dict.fromkeys(agencies)},
                **{a: a for a in AGENCY_TYPES if a not in agencies}}

    def render_items(self, *events: Any) -> None:
        s = self.view.state
        options = self.who_options()
        if options != self.who.options:
            self.who.options = options
            if self.who.value not in options.values():
                self.who.value = "client"
        self.notes.items = [
            {"id": n.id, "text": n.text, "badge": "sichtbar" if n.visible else "intern",
             "actions": [{"action": "toggle", "label": "Verbergen" if n.visible
                          else "Für Klient:in zeigen", "kind": "" if n.visible else "success"},
                         {"action": "delete", "label": "Löschen", "kind": "quiet-danger",
                          "confirm": "Diese Notiz löschen?", "yes": "Ja, löschen"}]}
            for n in s.notes]
        self.steps.items = [
            {"id": st.id, "text": st.what,
             "badge": ("Klient:in" if st.who == "client" else st.who)
             + (f", bis {german_date(st.due)}" if st.due else ""),
             "actions": [{"action": "delete", "label": "Löschen", "kind": "quiet-danger",
                          "confirm": "Diesen Schritt löschen?", "yes": "Ja, löschen"}]}
            for st in s.next_steps]

    def clear(self) -> None:
        """Forget this tablet's drafts (a new talk begins with empty forms)."""
        if self._typed and not self.note_text:
            self.note_text = self._typed  # typed, never sent: the box must empty too
        self._typed = ""
        self.param.update(note_text="", note_visible=True, step_what="", step_due="",
                          follow_up="")
        self.who.value = "client"

    # -- what the counsellor does ----------------------------------------------------
    def _on_topic(self, topic: str) -> None:
        chosen = set(self.view.state.topics) ^ {topic}
        self.view.act("session.topics", topics=[x for x in TOPICS if x in chosen])

    def _visibility(self, event: Any) -> None:
        self.visible_toggle.value = event.new
        self._on_typing(None)

    def _on_typing(self, event: Any) -> None:
        """Forward the visible note as it is typed; an internal one never leaves."""
        if event is not None:
            self._typed = event.new or ""
        text = self._typed[:NOTE_MAX] if self.note_visible else ""
        s = self.view.state
        if s.phase in ("consulting", "wrap_up") and text != s.draft:
            self.view.act("note.draft", text=text)

    def add_note(self) -> None:
        text = self.note_text.strip()
        if not text:
            self.view.error = "Bitte zuerst eine Notiz schreiben."
            return
        if len(text) > NOTE_MAX:
            self.view.error = f"Die Notiz ist zu lang (höchstens {NOTE_MAX} Zeichen)."
            return
        self._typed = ""
        self.view.act("note.add", text=text, visible=self.note_visible,
                      then=lambda: setattr(self, "note_text", ""))

    def add_step(self) -> None:
        what = self.step_what.strip()
        if not what:
            self.view.error = "Bitte eintragen, was zu tun ist (Feld „Was“)."
            return
        if len(what) > STEP_MAX:
            self.view.error = f"Der Schritt ist zu lang (höchstens {STEP_MAX} Zeichen)."
            return
        if self.step_due == "invalid":
            self.view.error = ("Das Datum ist unvollständig oder es gibt den Tag nicht. Bitte "
                               "Tag, Monat und Jahr wählen – oder alle drei auf „–“ für "
                               "kein Datum.")
            return
        self.view.act("step.add", what=what, who=self.step_who or "client", due=self.step_due,
                      then=lambda: self.param.update(step_what="", step_due=""))

    def _on_note(self, action: str, note_id: Any) -> None:
        note = next((n for n in self.view.state.notes if n.id == note_id), None)
        if note is None:
            return
        if action == "toggle":
            self.view.act("note.update", id=note.id, visible=not note.visible)
        elif action == "delete":
            self.view.act("note.delete", id=note.id)

    def _on_step(self, action: str, step_id: Any) -> None:
        if action == "delete" and any(s.id == step_id for s in self.view.state.next_steps):
            self.view.act("step.delete", id=step_id)
