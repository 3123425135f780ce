"""What the client's touch screen shows, as plain data, and the component that draws it.

``describe`` turns the room state and the kiosk's own choices into one
dictionary with every string already translated; ``KioskScreen`` (one browser
component, ``kiosk/assets/kiosk_screen.js``) draws it with semantic HTML and
sends back what the client taps. Keeping the description pure makes every
screen testable without a browser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import param
from panel.custom import JSComponent

from kiosk.handout.contacts import contacts
from kiosk.i18n import direction, languages, local_date, native_name, t, tag
from kiosk.resources import ASSETS
from kiosk.room.state import Partner, RoomState, Step
from kiosk.views import keyboard

SIZES = (100, 150, 200)


@dataclass
class KioskChoices:
    """What the client chose on this screen, apart from the room state."""

    local: str | None = None  # "checkin", "languages" or "thanks" over the phase's screen
    size: int = 100
    contrast: bool = False
    answers: dict[str, int | None] | None = None
    invalid_code: bool = False
    warning: bool = False
    error: str = ""
    language: str | None = None  # the thank-you screen keeps the client's language
    mail_invalid: bool = False  # the mail address typed for the summary is malformed
    mail: bool = True  # the room can mail the summary

    @property
    def personal(self) -> bool:
        return bool(self.local or self.size != 100 or self.contrast)


def asking(state: RoomState) -> Partner | None:
    """The first partner still waiting for the client's answer (not one who left)."""
    return next((p for p in present(state) if p.consent == "pending"), None)


def _kind(state: RoomState, choices: KioskChoices) -> str:
    if choices.local:
        return choices.local
    if state.phase == "consulting" and asking(state):
        return "consent"
    return {"idle": "welcome", "welcome": "waiting", "consulting": "session",
            "wrap_up": "summary", "survey": "survey"}[state.phase]


def user(text: str) -> dict[str, str]:
    """A piece of text someone typed (a name, an agency): the page isolates it, so that
    a German name keeps its order in an Arabic sentence and the other way round."""
    return {"user": text}


def sentence(language: str, key: str, **typed: str) -> list[str | dict[str, str]]:
    """A translated sentence with typed values in it, as parts: text and ``user`` pieces."""
    marks = {name: f"\x00{name}\x00" for name in typed}
    parts = t(language, key, **marks).split("\x00")
    return [user(typed[p]) if i % 2 else p for i, p in enumerate(parts) if p or i % 2]


def _topics(state: RoomState, lang: str) -> list[dict[str, Any]]:
    if not state.topics:
        return []
    return [{"type": "topics", "title": t(lang, "talk.topics"),
             "items": [t(lang, f"topic.{topic}") for topic in state.topics]}]


def _handout(state: RoomState, lang: str, choices: KioskChoices) -> list[dict[str, Any]]:
    """The rest of the summary screen: contacts, outcome, print and mail."""
    blocks: list[dict[str, Any]] = []
    found = contacts(state.partners)
    if found:
        blocks.append({"type": "people", "title": t(lang, "summary.contacts"), "people": [
            {"name": c.agency, "facts": [x for x in (c.name, c.role, c.email, c.phone) if x]}
            for c in found]})
    if state.outcome:
        who = state.outcome.get("follow_up") or ""
        key = ("summary.settled" if state.outcome["outcome"] == "settled" else
               "summary.follow_up_with" if who else "summary.follow_up")
        blocks.append({"type": "outcome", "title": t(lang, "summary.outcome"),
                       "text": sentence(lang, key, who=who) if who else t(lang, key)})
    status = (state.summary_mail or {}).get("status")
    blocks.append({
        "type": "handout", "print": t(lang, "summary.print"),
        "mail": {"label": t(lang, "summary.mail_label"), "hint": t(lang, "summary.mail_hint"),
                 "send": t(lang, "summary.mail_send"), "busy": status == "sending",
                 "invalid": t(lang, "summary.mail_invalid") if choices.mail_invalid else None,
                 "status": t(lang, f"summary.mail_{status}") if status else None,
                 "failed": status == "failed", "keyboard": keyboard.describe("email", lang)}
        if choices.mail else None})
    return blocks


def step_meta(step: Step, lang: str) -> list[str | dict[str, str]]:
    """Who does a step and by when: ``Sie · bis 18.12.2026`` (a typed "who" isolated)."""
    parts: list[str | dict[str, str]] = []
    if step.who:
        parts.append(t(lang, "who.client") if step.who == "client" else user(step.who))
    if step.due:
        parts += [" · "] * bool(parts) + [f"{t(lang, 'talk.due')} {local_date(lang, step.due)}"]
    return parts


def _items(state: RoomState, lang: str) -> list[dict[str, Any]]:
    blocks = _topics(state, lang)
    if state.notes_on_screen:
        blocks.append({"type": "list", "variant": "notes", "title": t(lang, "talk.notes"),
                       "items": [{"id": n.id, "text": n.text} for n in state.notes_on_screen]})
    if state.next_steps:
        blocks.append({"type": "list", "variant": "steps", "title": t(lang, "talk.steps"),
                       "items": [{"id": s.id, "text": s.what, "meta": step_meta(s, lang)}
                                 for s in state.next_steps]})
    if not blocks:
        blocks.append({"type": "text", "text": t(lang, "talk.empty")})
    return blocks


def present(state: RoomState) -> list[Partner]:
    """Partners in the talk or asked into it: not one who left, was removed or declined."""
    return [p for p in state.partners
            if p.consent in ("pending", "granted") and p.state != "gone"]


def _people(state: RoomState, lang: str) -> dict[str, Any]:
    people = [{"name": t(lang, "talk.counsellor"), "own": True, "facts": [],
               "status": t(lang, "talk.counsellor_role")}]
    for p in present(state):
        people.append({
            "name": p.name, "facts": [x for x in (p.agency, p.role) if x],
            "status": t(lang, "talk.partner_waiting" if p.consent == "pending" else
                        "talk.partner_joined"),
            "withdraw": {"label": t(lang, "talk.withdraw"), "partner": p.id}
            if p.consent == "granted" and not p.is_client else None})
    return {"type": "people", "title": t(lang, "talk.who"), "people": people}


def describe(state: RoomState, choices: KioskChoices, *, agency: str,
             idle: tuple[float, float]) -> dict[str, Any]:
    """The whole screen the client sees, translated into the room's client language."""
    lang = choices.language or state.language
    kind = _kind(state, choices)
    blocks: list[dict[str, Any]] = []
    actions: list[dict[str, str]] = []
    title = t(lang, {"welcome": "welcome.title", "languages": "toolbar.language",
                     "checkin": "checkin.title", "waiting": "waiting.title",
                     "session": "talk.title", "consent": "consent.title",
                     "summary": "summary.title", "survey": "survey.title",
                     "thanks": "thanks.title"}[kind])
    language_block = {"type": "languages", "label": t(lang, "toolbar.language"), "options": [
        {"code": code, "tag": tag(code), "label": native_name(code), "current": code == lang}
        for code in languages()]}
    if kind == "welcome":
        blocks = [{"type": "text", "text": t(lang, "welcome.lead")},
                  {"type": "text", "text": t(lang, "welcome.choose_language")}, language_block,
                  {"type": "text", "text": t(lang, "welcome.face_to_face")}]
        actions = [{"id": "checkin.open", "label": t(lang, "welcome.start"), "kind": "primary"}]
    elif kind == "languages":
        blocks = [language_block]
        actions = [{"id": "languages.close", "label": t(lang, "checkin.back"),
                    "kind": "secondary"}]
    elif kind == "checkin":
        blocks = [{"type": "text", "text": t(lang, "checkin.lead")},
                  {"type": "checkin", "label": t(lang, "checkin.code"),
                   "send": t(lang, "checkin.send"), "keyboard": keyboard.describe("code", lang),
                   "invalid": t(lang, "checkin.invalid") if choices.invalid_code else None}]
        actions = [{"id": "checkin.walkin", "label": t(lang, "checkin.no_appointment"),
                    "kind": "secondary"},
                   {"id": "checkin.back", "label": t(lang, "checkin.back"), "kind": "secondary"}]
    elif kind == "waiting":
        blocks = [{"type": "text", "text": t(lang, "waiting.lead")}]
    elif kind == "session":
        if state.privacy:
            blocks.append({"type": "notice", "text": t(lang, "privacy.notice")})
        blocks += [_people(state, lang), *_items(state, lang)]
    elif kind == "consent":
        p = asking(state)
        blocks = [{
            "type": "consent", "partner": p.id,
            "who_label": t(lang, "consent.who"),
            "who": [x for x in (p.name, p.agency, p.role) if x],
            "why_label": t(lang, "consent.why"), "why": p.purpose,
            "shared_label": t(lang, "consent.shared"), "shared": t(lang, "consent.shared_text"),
            "assurances": [t(lang, "consent.recorded"), t(lang, "consent.no_disadvantage"),
                           t(lang, "consent.withdraw_hint")],
            "yes": t(lang, "consent.yes"), "no": t(lang, "consent.no")}]
    elif kind == "summary":
        blocks = [{"type": "text", "text": t(lang, "summary.lead")}, *_items(state, lang),
                  *_handout(state, lang, choices)]
        actions = [{"id": "summary.next", "label": t(lang, "summary.next"), "kind": "primary"},
                   {"id": "summary.done", "label": t(lang, "summary.done"),
                    "kind": "secondary"}]
    elif kind == "survey":
        answers = choices.answers or {}
        blocks = [{"type": "text", "text": t(lang, "survey.lead")}]
        for q, options in (("satisfaction", range(1, 6)), ("ease", range(1, 6)),
                           ("recommend", range(11))):
            blocks.append({"type": "question", "id": q, "text": t(lang, f"survey.{q}"),
                           "scale": t(lang, f"survey.{q}_scale"), "options": list(options),
                           "value": answers.get(q)})
        actions = [{"id": "survey.send", "label": t(lang, "survey.send"), "kind": "primary"},
                   {"id": "survey.skip", "label": t(lang, "survey.skip"), "kind": "secondary"}]
    elif kind == "thanks":
        blocks = [{"type": "text", "text": t(lang, "thanks.lead")}]
        actions = [{"id": "thanks.back", "label": t(lang, "thanks.back"), "kind": "primary"}]

    watched = kind in ("summary", "survey", "thanks") or (
        kind in ("welcome", "languages", "checkin") and (choices.personal or lang != "de"))
    privacy_shown = kind in ("session", "consent", "summary")
    return {
        "kind": kind, "lang": tag(lang), "dir": direction(lang), "size": choices.size,
        "contrast": choices.contrast, "room": state.room_name, "title": title,
        "page_title": f"{title} – {state.room_name}",
        "toolbar": {"agency": agency, "logo_label": t(lang, "toolbar.logo"),
                    "language_label": t(lang, "toolbar.language"),
                    "language_button": native_name(lang),
                    "size_label": t(lang, "toolbar.text_size"),
                    "contrast_label": t(lang, "toolbar.contrast")},
        "blocks": blocks, "actions": actions,
        "privacy": {"on": state.privacy,
                    "label": t(lang, "privacy.off" if state.privacy else "privacy.on")}
        if privacy_shown else None,
        "error": choices.error or None,
        "idle": {"timeout": idle[0], "warning": idle[1]} if watched else None,
        "idle_key": f"{kind}:{state.phase}",
        "warning": {"title": t(lang, "idle.title"),
                    "lead": t(lang, "idle.lead", seconds=int(idle[1])),
                    "stay": t(lang, "idle.stay")} if choices.warning and watched else None,
    }


class KioskScreen(JSComponent):
    """Draws a screen described by :func:`describe`; taps go to ``on_action``."""

    screen = param.Dict(default={}, doc="The screen to draw, from describe().")

    # The keyboard's script comes first in the same module (one bundle, no import).
    _esm = "\n".join((ASSETS / name).read_text(encoding="utf-8")
                     for name in ("keyboard.js", "kiosk_screen.js"))
    _stylesheets = [(ASSETS / name).read_text(encoding="utf-8")
                    for name in ("kiosk_screen.css", "keyboard.css")]

    def __init__(self, on_action: Callable[[dict[str, Any]], None] | None = None,
                 **params) -> None:
        super().__init__(**params)
        self._on_action = on_action

    def _handle_msg(self, msg: Any) -> None:
        if self._on_action and isinstance(msg, dict) and isinstance(msg.get("action"), str):
            self._on_action(msg)
