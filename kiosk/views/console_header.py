"""The header of the counsellor's console: the talk at a glance, the frequent actions.

:func:`describe` turns the room state (and what the directory knows about
rings) into plain data: the phase and how long the talk runs, who is in with
consent and connection, the client's language, a pause, someone waiting, the
last ring, and the actions of this phase (pause, camera, microphone, ring the
duty desk, end, reset). :class:`ConsoleHeader` draws it
(``kiosk/assets/control_header.js``) and sends back the action tapped. What
ends or erases asks first (reset) or can be undone for a few seconds (end).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import param
from panel.custom import JSComponent

from kiosk.i18n import native_name
from kiosk.resources import ASSETS
from kiosk.room.state import Partner, RoomState, is_poor
from kiosk.views.plain import CONSENT_LABELS, PHASE_LABELS, STATE_LABELS, language_name

#: Seconds in which "Sitzung beenden" can be taken back before the client sees the summary.
END_DELAY = 5

RESET_QUESTIONS = {
    "welcome": "Raum zurücksetzen? Die Anmeldung der Klient:in am Bildschirm wird verworfen.",
    "consulting": "Gespräch abbrechen und Raum zurücksetzen? Notizen, Schritte und Partner "
                  "verschwinden von allen Bildschirmen; die Klient:in bekommt keine "
                  "Zusammenfassung.",
    "wrap_up": "Raum zurücksetzen? Die Zusammenfassung verschwindet vom Bildschirm der "
               "Klient:in; Notizen und Schritte verschwinden von allen Bildschirmen.",
    "survey": "Umfrage abbrechen und Raum zurücksetzen?",
}


@dataclass(frozen=True)
class Calls:
    """What the partner network adds to the header (from the directory panel)."""

    #: The one-touch duty desk call: (agency id, agency name, topic), or why there is none.
    desk: tuple[int, str, str] | str | None = None
    #: The room's latest ring: (whom, status, text or template with ``{s}``, seconds left).
    ring: tuple[str, str, str, int | None] | None = None


def _partner_fact(p: Partner, quality: dict[str, int] | None) -> dict[str, Any]:
    if p.is_client:
        label, words = "Klient:in per Video", [STATE_LABELS[p.state]]
    else:
        label = f"{p.name} ({p.agency})" if p.name else p.agency
        words = [CONSENT_LABELS[p.consent], STATE_LABELS[p.state]]
        if p.admitted and p.state != "connected":
            words.append("zugelassen")
    if p.muted:
        words.append("stumm")
    poor = p.state == "connected" and bool(quality) and is_poor(quality)
    if poor:
        words.append("⚠ schwache Verbindung")
    if p.consent in ("declined", "withdrawn") or p.state == "reconnecting" or poor:
        tone = "warn"
    elif p.state == "connected" and (p.is_client or p.media_allowed):
        tone = "ok"
    else:
        tone = "wait"
    return {"key": f"partner-{p.id}", "label": label, "text": " · ".join(words), "tone": tone}


def _facts(s: RoomState, calls: Calls) -> list[dict[str, Any]]:
    facts: list[dict[str, Any]] = []
    if not s.synced:
        facts.append({"key": "offline", "text": "Keine Verbindung zum Raum – Anzeigen sind "
                      "nicht aktuell", "tone": "error"})
    if s.privacy and s.phase != "idle":
        facts.append({"key": "privacy", "text": "Video pausiert: niemand sieht oder hört per "
                      "Video", "tone": "warn"})
    if s.phase == "welcome" and s.arrival:
        code = s.arrival.get("code")
        facts.append({"key": "arrival", "label": "Klient:in am Bildschirm",
                      "text": f"Termin-Code {code}" if code else "ohne Termin", "tone": "wait"})
    if s.phase != "idle":
        name = language_name(s.language)
        own = native_name(s.language)
        facts.append({"key": "language", "label": "Sprache der Klient:in",
                      "text": name if own in (name, s.language) else f"{name} ({own})"})
    if s.phase in ("consulting", "wrap_up"):
        if s.remote_client is None:
            facts.append({"key": "client", "label": "Klient:in", "text": "im Raum",
                          "tone": "ok"})
        facts += [_partner_fact(p, s.quality.get(p.id)) for p in s.partners
                  if p.state != "gone"]
    waiting = len(s.waiting)
    if waiting:
        facts.append({"key": "waiting", "label": "Video-Warteraum", "tone": "warn",
                      "text": f"{waiting} Klient:in{'nen warten' if waiting > 1 else ' wartet'}"})
    if calls.ring and s.phase in ("consulting", "wrap_up"):
        whom, status, text, left = calls.ring
        fact = {"key": "ring", "label": f"Anruf {whom}", "text": text,
                "tone": {"ringing": "wait", "accepted": "ok", "linked": "ok",
                         "cancelled": ""}.get(status, "warn")}
        if left is not None:
            fact["countdown"] = left
        facts.append(fact)
    return facts


def _actions(s: RoomState, calls: Calls, ending: float | None) -> list[dict[str, Any]]:
    acts: list[dict[str, Any]] = []
    if s.phase in ("idle", "welcome"):
        acts.append({"id": "start", "label": "Sitzung starten", "kind": "primary"})
    if s.phase in ("welcome", "consulting", "wrap_up"):
        acts.append({"id": "privacy", "label": "Video-Pause", "toggle": True, "kind": "pause",
                     "pressed": s.privacy, "state": "an" if s.privacy else "aus"})
    acts += [{"id": "camera", "label": "Kamera", "toggle": True, "kind": "media",
              "pressed": s.camera_on, "state": "an" if s.camera_on else "aus"},
             {"id": "mic", "label": "Mikrofon", "toggle": True, "kind": "media",
              "pressed": s.mic_on, "state": "an" if s.mic_on else "stumm"}]
    if s.phase == "consulting" and calls.desk is not None:
        if calls.ring and calls.ring[1] == "ringing":
            acts.append({"id": "ring_cancel", "label": "Anruf abbrechen",
                         "detail": calls.ring[0], "kind": "warning"})
        elif isinstance(calls.desk, tuple):
            acts.append({"id": "desk", "label": "Dienst anrufen", "kind": "primary",
                         "detail": f"{calls.desk[1]} · {calls.desk[2]}"})
        else:
            acts.append({"id": "desk", "label": "Dienst anrufen", "detail": calls.desk,
                         "disabled": True})
    if s.phase == "consulting" and ending is None:
        acts.append({"id": "end", "label": "Sitzung beenden", "kind": "warning"})
    if s.phase != "idle":
        acts.append({"id": "reset", "label": "Raum zurücksetzen", "kind": "quiet-danger",
                     "confirm": RESET_QUESTIONS[s.phase], "yes": "Ja, Raum zurücksetzen"})
    return acts


def elapsed(started: str | None) -> int | None:
    """Seconds since the talk started (None without a talk)."""
    try:
        since = dt.datetime.fromisoformat(started)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return max(0, int((dt.datetime.now(dt.UTC) - since).total_seconds()))


def describe(s: RoomState, *, tablet: str = "", calls: Calls = Calls(),
             ending: float | None = None, signout: bool = True) -> dict[str, Any]:
    """The header as plain data (every text in German)."""
    room = s.room_name + (f" · Tablet {tablet}" if tablet else "")
    talk = s.phase in ("consulting", "wrap_up", "survey")
    return {
        "room": room, "phase": {"id": s.phase, "label": PHASE_LABELS[s.phase]},
        "session": s.session_id, "elapsed": elapsed(s.session_started) if talk else None,
        "facts": _facts(s, calls), "actions": _actions(s, calls, ending),
        "ending": None if ending is None else {
            "seconds": round(ending), "undo": "Rückgängig: weiter im Gespräch",
            "text": "Das Gespräch endet in {s} s – dann sieht die Klient:in die "
                    "Zusammenfassung."},
        "signout": signout,
    }


class ConsoleHeader(JSComponent):
    """Draws :func:`describe`'s data; a tap calls ``on_action(action id)``."""

    data = param.Dict(default={}, doc="The header to draw, from describe().")

    _esm = ASSETS / "control_header.js"
    _stylesheets = [(ASSETS / "control_header.css").read_text(encoding="utf-8")]

    def __init__(self, on_action: Callable[[str], None] | None = None, **params: Any) -> None:
        super().__init__(**params)
        self._on_action = on_action

    def _handle_msg(self, msg: Any) -> None:
        if self._on_action and isinstance(msg, dict) and isinstance(msg.get("action"), str):
            self._on_action(msg["action"])
