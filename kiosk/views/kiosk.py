"""/kiosk: the client's touch screen.

One screen per room phase: welcome (idle), waiting (welcome), the live talk
(consulting), the summary (wrap_up) and the survey. Every string comes from
the translation catalogs in the client's language.
"""

from __future__ import annotations

import panel as pn
import param

from ..i18n import t
from .base import STYLES, RoomView, escape, items_html

BIG = {"height": 72, "min_width": 220, "stylesheets": [
    ":host .bk-btn { font-size: 1.35rem; font-weight: 600; }"]}


class KioskView(RoomView):
    """The client's touch screen, following the room's phase."""

    role = "kiosk"
    precedence = 0
    defer = 0.0

    satisfaction = param.Selector(objects=[None, 1, 2, 3, 4, 5], default=None,
                                  doc="Answer 1–5: satisfaction with this form of counselling.")
    ease = param.Selector(objects=[None, 1, 2, 3, 4, 5], default=None,
                          doc="Answer 1–5: ease of use.")
    recommend = param.Selector(objects=[None, *range(11)], default=None,
                               doc="Answer 0–10: would recommend.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._header = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[STYLES])
        self._body = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[STYLES],
                                  css_classes=["kiosk-body"])
        self._error = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[STYLES])
        self._actions = pn.Row(sizing_mode="stretch_width")
        self._survey = self._survey_form()
        self._layout = pn.Column(self._header, self._body, self._survey, self._actions,
                                 self._error, sizing_mode="stretch_both",
                                 styles={"padding": "2rem 3rem", "background": "#ffffff"})
        self.watch_state(self._render, "phase", "language", "room_name", "privacy")
        self.watch_state(self._render_body, "notes", "next_steps")
        self.param.watch(self._show_error, "error")
        self._render()

    def __panel__(self):
        return self._layout

    def _t(self, key: str) -> str:
        return t(self.state.language, key)

    def _button(self, key: str, action, kind: str = "primary") -> pn.widgets.Button:
        button = pn.widgets.Button(label=self._t(key), color=kind, **BIG)
        button.on_click(action)
        return button

    def _survey_form(self) -> pn.Column:
        """Three rows of answer buttons; none is chosen until the client taps one."""
        def scale(name: str, options: range) -> pn.Row:
            buttons = []
            for value in options:
                button = pn.widgets.Button(label=str(value), color="primary", variant="outline",
                                           height=56, width=60, css_classes=[f"answer-{name}"],
                                           stylesheets=[":host .bk-btn { font-size: 1.3rem; }"])
                button.on_click(lambda event, v=value: setattr(self, name, v))
                buttons.append(button)

            def mark(event) -> None:
                for value, button in zip(options, buttons, strict=True):
                    button.variant = "solid" if value == event.new else "outline"
            self.param.watch(mark, name)
            return pn.Row(*buttons, margin=(0, 0, 12, 0))
        self._questions = {name: pn.pane.HTML(stylesheets=[STYLES])
                           for name in ("satisfaction", "ease", "recommend")}
        return pn.Column(
            self._questions["satisfaction"], scale("satisfaction", range(1, 6)),
            self._questions["ease"], scale("ease", range(1, 6)),
            self._questions["recommend"], scale("recommend", range(11)),
            visible=False, sizing_mode="stretch_width")

    # -- rendering -----------------------------------------------------------
    def _render(self, *events) -> None:
        phase, tr = self.state.phase, self._t
        titles = {"idle": "welcome.title", "welcome": "waiting.title",
                  "consulting": "talk.title", "wrap_up": "summary.title",
                  "survey": "survey.title"}
        self._header.object = (f"<div class='room'>{escape(self.state.room_name)}</div>"
                               f"<h1>{escape(tr(titles[phase]))}</h1>")
        actions: list = []
        if phase == "idle":
            actions = [self._button("welcome.start", self._checkin)]
        elif phase == "consulting":
            key = "privacy.off" if self.state.privacy else "privacy.on"
            actions = [self._button(key, self._toggle_privacy, "warning")]
        elif phase == "wrap_up":
            actions = [self._button("summary.next", self._survey_begin),
                       self._button("summary.done", self._survey_skip, "light")]
        elif phase == "survey":
            for name, pane in self._questions.items():
                pane.object = f"<p class='lead'>{escape(tr('survey.' + name))}</p>"
            actions = [self._button("survey.send", self._survey_submit),
                       self._button("survey.skip", self._survey_skip, "light")]
        else:
            self.param.update(satisfaction=None, ease=None, recommend=None)
        self._survey.visible = phase == "survey"
        self._actions.objects = actions
        self._render_body()

    def _render_body(self, *events) -> None:
        phase, tr = self.state.phase, self._t
        if phase == "idle":
            html = f"<p class='lead'>{escape(tr('welcome.lead'))}</p>"
        elif phase == "welcome":
            html = f"<p class='lead'>{escape(tr('waiting.lead'))}</p>"
        elif phase in ("consulting", "wrap_up"):
            html = items_html(self.state.visible_notes, self.state.next_steps,
                              notes_title=tr("talk.notes"), steps_title=tr("talk.steps"),
                              empty=tr("talk.empty"), who_client=tr("who.client"))
            if self.state.privacy and phase == "consulting":
                html = f"<p class='notice'>{escape(tr('privacy.notice'))}</p>" + html
        else:
            html = f"<p class='lead'>{escape(tr('survey.lead'))}</p>"
        self._body.object = html

    def _show_error(self, event) -> None:
        self._error.object = f"<p class='error'>{escape(event.new)}</p>" if event.new else ""

    @property
    def offline_text(self) -> str:  # type: ignore[override]
        return self._t("error.offline")

    def refused_text(self, reason: str) -> str:
        return self._t("error.refused")

    # -- actions -------------------------------------------------------------
    def _checkin(self, event) -> None:
        self.act("checkin")

    def _toggle_privacy(self, event) -> None:
        self.act("privacy.set", on=not self.state.privacy)

    def _survey_begin(self, event) -> None:
        self.act("survey.begin")

    def _survey_skip(self, event) -> None:
        self.act("survey.skip")

    def _survey_submit(self, event) -> None:
        answers = {"satisfaction": self.satisfaction, "ease": self.ease,
                   "recommend": self.recommend}
        if None in answers.values():
            self.error = self._t("survey.incomplete")
            return
        self.act("survey.submit", **answers,
                 then=lambda: self.param.update(satisfaction=None, ease=None, recommend=None))
