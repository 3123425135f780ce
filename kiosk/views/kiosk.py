"""/kiosk: the client's touch screen.

The view keeps what the client chose on this screen (a sub-screen, text size,
contrast, survey answers) and forwards every tap that concerns the room to the
controller as a client command. What it shows comes from ``describe``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import panel as pn
import param

from kiosk.exceptions import CommandError
from kiosk.i18n import consent_version, t
from kiosk.room.commands import appointment_code, email_address
from kiosk.views.base import RoomView
from kiosk.views.kiosk_screen import SIZES, KioskChoices, KioskScreen, describe

THANKS_SECONDS = 10.0
QUESTIONS = ("satisfaction", "ease", "recommend")


class KioskView(RoomView):
    """The client's touch screen, following the room's phase."""

    role = "kiosk"
    precedence = 0
    defer = 0.0

    local = param.Selector(objects=[None, "checkin", "languages", "thanks"], default=None,
                           doc="A screen of the kiosk's own over the phase's screen.")
    text_size = param.Selector(objects=list(SIZES), default=100, doc="Text size in percent.")
    contrast = param.Boolean(default=False, doc="High-contrast theme.")
    satisfaction = param.Selector(objects=[None, 1, 2, 3, 4, 5], default=None,
                                  doc="Answer 1–5: satisfaction with this form of counselling.")
    ease = param.Selector(objects=[None, 1, 2, 3, 4, 5], default=None,
                          doc="Answer 1–5: ease of use.")
    recommend = param.Selector(objects=[None, *range(11)], default=None,
                               doc="Answer 0–10: would recommend.")
    invalid_code = param.Boolean(default=False, doc="The last code typed was not valid.")
    mail_invalid = param.Boolean(default=False,
                                 doc="The last mail address typed for the summary was malformed.")
    warning = param.Boolean(default=False, doc="The idle warning is showing.")
    thanks_language = param.String(default=None, allow_None=True,
                                   doc="The client's language, kept for the thank-you screen.")
    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._screen = KioskScreen(on_action=self._on_action, sizing_mode="stretch_both",
                                   min_height=600)
        self._thanks: asyncio.TimerHandle | None = None
        self._closing: str | None = None  # the client's language while the survey closes
        self._root = pn.Column(self._screen, self.beacon("touch", "touch", "Touchscreen"),
                               sizing_mode="stretch_both", margin=0)
        self.watch_state(self._on_phase, "phase")
        self.watch_state(self._render, "language", "room_name", "privacy", "notes", "draft",
                         "next_steps", "partners", "arrival", "topics", "outcome",
                         "summary_mail")
        self.param.watch(self._render, ["local", "text_size", "contrast", *QUESTIONS,
                                        "invalid_code", "warning", "error", "thanks_language",
                                        "mail_invalid"])
        self._render()

    def __panel__(self):
        return self._root

    @property
    def choices(self) -> KioskChoices:
        return KioskChoices(local=self.local, size=self.text_size, contrast=self.contrast,
                            answers={q: getattr(self, q) for q in QUESTIONS},
                            invalid_code=self.invalid_code, warning=self.warning,
                            error=self.error, mail_invalid=self.mail_invalid,
                            mail=self.link.mail_ready,
                            language=self.thanks_language if self.local == "thanks" else None)

    def _render(self, *events) -> None:
        screen = describe(self.state, self.choices, agency=self.link.agency,
                          idle=self.link.kiosk_idle)
        self._screen.screen = screen if self.device else {**screen, "idle": None}  # no timer

    def _on_phase(self, event) -> None:
        if event.new != "idle" and self.local in ("checkin", "languages", "thanks"):
            self.local = None
        if event.new == "idle" and self._closing:
            # The client just answered or skipped the survey: thank them at once (the
            # room's reply may come a moment after the phase; it thanks again, harmlessly).
            self._thank(self._closing)
        elif event.new == "idle" and self.local != "thanks":
            self._wipe()
        if event.new != "survey" and event.new != "wrap_up":
            self._closing = None
        self._render()

    def _wipe(self) -> None:
        """Forget everything this screen held for the client."""
        self.param.update(local=None, text_size=100, contrast=False, invalid_code=False,
                          mail_invalid=False, warning=False, error="", thanks_language=None,
                          **dict.fromkeys(QUESTIONS))

    @property
    def offline_text(self) -> str:  # type: ignore[override]
        return t(self.state.language, "error.offline")

    def refused_text(self, reason: str) -> str:
        return t(self.state.language, "error.refused")

    # -- what the client taps ----------------------------------------------------
    def _on_action(self, msg: dict[str, Any]) -> None:
        handler = getattr(self, "_do_" + msg["action"].replace(".", "_"), None)
        if handler is not None:
            handler(msg)

    def _do_language(self, msg: dict[str, Any]) -> None:
        if self.local == "languages":
            self.local = None
        self.act("language.set", language=msg.get("code"))

    def _do_language_menu(self, msg: dict[str, Any]) -> None:
        self.local = "languages" if self.local != "languages" else None

    def _do_languages_close(self, msg: dict[str, Any]) -> None:
        self.local = None

    def _do_size(self, msg: dict[str, Any]) -> None:
        self.text_size = SIZES[(SIZES.index(self.text_size) + 1) % len(SIZES)]

    def _do_contrast(self, msg: dict[str, Any]) -> None:
        self.contrast = not self.contrast

    def _do_checkin_open(self, msg: dict[str, Any]) -> None:
        self.param.update(local="checkin", invalid_code=False)

    def _do_checkin_back(self, msg: dict[str, Any]) -> None:
        self.param.update(local=None, invalid_code=False)

    def _do_checkin_code(self, msg: dict[str, Any]) -> None:
        try:
            code = appointment_code("code", msg.get("code"))
        except CommandError:
            self.invalid_code = True
            return
        self.invalid_code = False
        self.act("checkin", code=code)

    def _do_checkin_walkin(self, msg: dict[str, Any]) -> None:
        self.act("checkin", walk_in=True)

    def _do_privacy(self, msg: dict[str, Any]) -> None:
        self.act("privacy.set", on=not self.state.privacy)

    def _do_consent(self, msg: dict[str, Any]) -> None:
        self.act("consent.answer", partner=msg.get("partner"), yes=msg.get("yes") is True,
                 version=consent_version(self.state.language))

    def _do_withdraw(self, msg: dict[str, Any]) -> None:
        self.act("consent.withdraw", partner=msg.get("partner"),
                 version=consent_version(self.state.language))

    def _do_summary_next(self, msg: dict[str, Any]) -> None:
        self.act("survey.begin")

    def _do_summary_mail(self, msg: dict[str, Any]) -> None:
        """Mail the summary to the typed address; a malformed one changes nothing. The
        address is passed on once and kept by no parameter of this view."""
        try:
            address = email_address("email", msg.get("email"))
        except CommandError:
            self.mail_invalid = True
            return
        self.mail_invalid = False
        self.act("summary.mail", email=address)

    def _do_summary_done(self, msg: dict[str, Any]) -> None:
        self.act("survey.skip", then=self._thanker())

    def _do_answer(self, msg: dict[str, Any]) -> None:
        question, value = msg.get("q"), msg.get("v")
        if question in QUESTIONS and value in self.param[question].objects:
            setattr(self, question, value)

    def _do_survey_send(self, msg: dict[str, Any]) -> None:
        answers = {q: getattr(self, q) for q in QUESTIONS}
        if None in answers.values():
            self.error = t(self.state.language, "survey.incomplete")
            return
        self._closing = self.state.language
        self.act("survey.submit", **answers, then=self._thanker())

    def _do_survey_skip(self, msg: dict[str, Any]) -> None:
        self._closing = self.state.language
        self.act("survey.skip", then=self._thanker())

    def _do_thanks_back(self, msg: dict[str, Any]) -> None:
        self._wipe()

    def _do_idle_warn(self, msg: dict[str, Any]) -> None:
        self.warning = True

    def _do_idle_active(self, msg: dict[str, Any]) -> None:
        self.warning = False

    _do_idle_stay = _do_idle_active

    def _do_idle_expired(self, msg: dict[str, Any]) -> None:
        if self.state.phase in ("wrap_up", "survey") or (
                self.state.phase == "idle" and self.state.language != "de"):
            self.act("kiosk.reset")
        self._wipe()

    def _thanker(self):
        """What to do once the room has closed the talk: thank, in the client's language."""
        language = self.state.language
        return lambda: self._thank(language)

    def _thank(self, language: str) -> None:
        """Show the thank-you screen for a while, then the welcome screen."""
        self.param.update(local="thanks", thanks_language=language,
                          **dict.fromkeys(QUESTIONS))
        if self._thanks is not None:
            self._thanks.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._thanks = loop.call_later(THANKS_SECONDS, self._end_thanks)

    def _end_thanks(self) -> None:
        if self.local == "thanks":
            self._wipe()

    def detach(self) -> None:
        if self._thanks is not None:
            self._thanks.cancel()
        super().detach()


