"""/control: the counsellor's console, for a 10-inch tablet in either orientation.

A header that stays (:mod:`kiosk.views.console_header`: the talk at a glance,
pause, camera, microphone, the duty desk, end, reset), and below it panes: the
talk (:mod:`kiosk.views.talk_pane`: topics, notes, steps, outcome, handout) and
the partners (:mod:`kiosk.views.partner_pane`: who is in, the directory, an
invitation) side by side on a wide screen, as tabs on a narrow one; outside a
talk, the remote appointments. Every action is one command to the controller;
a refusal is shown in plain German. Nothing of one talk stays for the next.
"""

from __future__ import annotations

import asyncio
from typing import Any

import panel as pn
import param
from tornado.web import decode_signed_value

from kiosk.access.pairing_page import CREDENTIAL_DAYS, cookie_name
from kiosk.exceptions import BusError
from kiosk.views import touch
from kiosk.views.appointments import AppointmentPanel
from kiosk.views.base import STYLES, RoomView, alert_text, escape
from kiosk.views.console_header import END_DELAY, Calls, ConsoleHeader, describe
from kiosk.views.fields import NARROW, TabBar
from kiosk.views.partner_pane import PartnerPane
from kiosk.views.plain import refusal
from kiosk.views.talk_pane import PANE_CSS as PANE_LINKS
from kiosk.views.talk_pane import TalkPane

IN_TALK = ("consulting", "wrap_up")
#: A pane scrolls by itself; on a narrow screen only the chosen one shows.
PANE_CSS = f"""
:host {{ overflow-y: auto !important; overflow-x: hidden !important;
         overscroll-behavior: contain; }}
@media (max-width: {NARROW}px) {{ :host(.pane-off) {{ display: none !important; }} }}
"""
TOP_CSS = STYLES + """
.error { margin: .4rem 1rem; padding: .5rem .8rem; background: #fdf0f0;
         border: 2px solid #9b1c1c; border-radius: 6px; font-size: 1.05rem; }
.notice { margin: .4rem 1rem; padding: .5rem .8rem; font-size: 1.05rem; }
p.survey { font-size: 1.15rem; line-height: 1.5; }
"""


def pane(*objects: Any, name: str, flex: str = "1 1 0") -> pn.Column:
    """A pane that scrolls by itself; its content keeps its own height (never squeezed)."""
    content = pn.Column(*objects, sizing_mode="stretch_width", margin=0,
                        styles={"flex": "none", "max-height": "none"})
    return pn.Column(content, css_classes=["pane", f"pane-{name}"], stylesheets=[PANE_CSS],
                     sizing_mode="stretch_both", margin=0,
                     styles={"flex": flex, "min-width": "0", "min-height": "0",
                             "padding": "0 .75rem 2rem .75rem", "box-sizing": "border-box"})


class ControlView(RoomView):
    """The counsellor's tablet page."""

    role = "counsellor"

    tablet = param.String(default="", doc="Name of this paired tablet, once verified.")
    tab = param.Selector(objects=["talk", "partners"], default="talk",
                         doc="The pane shown on a narrow screen during a talk.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        served = pn.state.curdoc is not None and pn.state.curdoc.session_context is not None
        self._following: list[tuple] | None = [] if served else None
        if served:
            pn.state.onload(self._follow)
        self.header = ConsoleHeader(on_action=self._on_header, sizing_mode="stretch_width",
                                    css_classes=["control-header"], margin=0)
        self._alerts = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[TOP_CSS],
                                    css_classes=["control-alerts"], visible=False, margin=0)
        self._error = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[TOP_CSS],
                                   css_classes=["control-error"], margin=0)
        self._tabs = TabBar(tabs=self._tab_list(), active=self.tab, label="Bereiche des "
                            "Gesprächs", sizing_mode="stretch_width", margin=(4, 8, 0, 8))
        self._tabs.param.watch(lambda e: setattr(self, "tab", e.new), "active")
        self.talk = TalkPane(self)
        self.partners = PartnerPane(self)
        self._directory = self.partners.directory
        self._appointments = AppointmentPanel(self)
        self._survey = pn.pane.HTML(
            "<h2>Umfrage</h2><p class='survey'>Die Klient:in beantwortet gerade die kurze, "
            "anonyme Umfrage. Danach wird der Raum von selbst frei.</p>",
            stylesheets=[TOP_CSS], sizing_mode="stretch_width")
        self._talk_pane = pane(self.talk, name="talk", flex="1.15 1 0")
        self._partner_pane = pane(self.partners, name="partners")
        self._outside = pane(self._survey, self._appointments, name="outside")
        self._controls = pn.Column(
            pn.Column(self.header, self._alerts, self._error, self._appointments.chime,
                      self._tabs, sizing_mode="stretch_width", margin=0,
                      styles={"flex": "none"}),
            pn.Row(self._talk_pane, self._partner_pane, self._outside,
                   sizing_mode="stretch_both", margin=0,
                   styles={"flex": "1 1 0", "min-height": "0"}),
            sizing_mode="stretch_both", margin=0, css_classes=["control-console"],
            styles={"height": "100dvh", "overflow": "hidden", **touch.BASE_FONT})
        self._layout = pn.Column(self._controls, sizing_mode="stretch_both", margin=0)
        self._session = self.state.session_id
        self._ending: asyncio.Task | None = None
        self._ending_at = 0.0
        self._shown: dict[str, Any] = {}
        self.watch_state(self._render, "phase", "privacy", "room_name", "synced", "arrival",
                         "camera_on", "mic_on", "language", "session_id", "partners",
                         "quality", "appointments", "topics")
        if self.link.site is not None:
            self.watch_state(self._render_header, "rings", "presence", "agencies",
                             "contacts", on=self.link.site.state)
        self.watch_state(self._render_alerts, "devices")
        self.param.watch(self._show_error, "error")
        self.param.watch(self._render_tabs, ["tab"])
        self._render_alerts()
        self._check_pairing()
        self._render()

    def __panel__(self):
        return self._layout

    def watch_state(self, fn: Any, *names: str, on: Any = None) -> None:
        """Follow the room from the moment this browser has the page: a change in the
        moments while the page loads could otherwise miss the browser (its first
        picture is the state when the page was made; :meth:`_follow` catches up)."""
        if self._following is None:
            super().watch_state(fn, *names, on=on)
        else:
            self._following.append((fn, names, on))

    def _follow(self) -> None:
        waiting, self._following = self._following or [], None
        for fn, names, on in waiting:
            super().watch_state(fn, *names, on=on)
        for fn, _, _ in waiting:
            fn()

    # -- what is shown ---------------------------------------------------------------
    def _render(self, *events: Any) -> None:
        s = self.state
        if s.session_id != self._session:  # a new talk, or none: nothing of the last stays
            self._session = s.session_id
            self._clear()
        if s.phase != "consulting":
            self._cancel_end()
        talk = s.phase in IN_TALK
        self._talk_pane.visible = self._partner_pane.visible = self._tabs.visible = talk
        self._outside.visible = not talk
        self._survey.visible = s.phase == "survey"
        self._appointments.show(not talk)
        self._directory.show(s.phase == "consulting")
        self._render_tabs()
        self._render_header()

    def _render_header(self, *events: Any) -> None:
        ending = (max(0.0, self._ending_at - asyncio.get_event_loop().time())
                  if self._ending is not None else None)
        calls = Calls(desk=self._directory.desk(), ring=self._directory.latest_ring())
        data = describe(self.state, tablet=self.tablet, calls=calls, ending=ending)
        same = {k: v for k, v in data.items() if k != "elapsed"}
        if same != self._shown:
            self._shown = same
            self.header.data = data

    def _tab_list(self) -> list[dict[str, str]]:
        present = [p for p in self.state.partners if p.state != "gone"]
        return [{"id": "talk", "label": "Gespräch: Notizen und Schritte"},
                {"id": "partners", "label": f"Partner ({len(present)})" if present
                 else "Partner"}]

    def _render_tabs(self, *events: Any) -> None:
        self._tabs.param.update(tabs=self._tab_list(), active=self.tab)
        self._talk_pane.css_classes = ["pane", "pane-talk"] + (
            ["pane-off"] if self.tab != "talk" else [])
        self._partner_pane.css_classes = ["pane", "pane-partners"] + (
            ["pane-off"] if self.tab != "partners" else [])

    def _render_alerts(self, *events: Any) -> None:
        alerts = self.state.alerts
        self._alerts.object = ("<p class='notice' role='alert'>⚠ Technik: " + "; ".join(
            escape(alert_text(d)) for d in alerts) + ". Die Haustechnik sieht Details in der "
            "Verwaltung.</p>") if alerts else ""
        self._alerts.visible = bool(alerts)

    def _show_error(self, event: Any) -> None:
        self._error.object = (f"<p class='error' role='alert'>{escape(event.new)}</p>"
                              if event.new else "")

    def refused_text(self, reason: str) -> str:
        return refusal(reason)

    def _clear(self) -> None:
        """Forget this tablet's drafts, links and choices of the last talk."""
        self.talk.clear()
        self.partners.clear()
        self._appointments.clear()
        self.param.update(tab="talk", error="")

    # -- the header's actions --------------------------------------------------------
    def _on_header(self, action: str) -> None:
        s = self.state
        if action == "start":
            self.act("session.start")
        elif action == "privacy":
            self.act("privacy.set", on=not s.privacy)
        elif action == "camera":
            self.act("room.camera", on=not s.camera_on)
        elif action == "mic":
            self.act("room.mic", on=not s.mic_on)
        elif action == "desk":
            desk = self._directory.desk()
            if isinstance(desk, tuple):
                self._directory.ring(desk[2], agency=desk[0])
        elif action == "ring_cancel":
            ringing = [r for r in (self.link.site.rings if self.link.site else [])
                       if r.status == "ringing"]
            if ringing:
                self._directory.cancel(ringing[-1].id)
        elif action == "end":
            self._end_soon()
        elif action == "end_undo":
            self._cancel_end()
            self._render_header()
        elif action == "reset":
            self._cancel_end()
            self.act("room.reset")

    def _end_soon(self) -> None:
        """End the talk in a few seconds, unless the counsellor takes it back."""
        if self._ending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not served (a notebook, a test of the view): at once
            self.act("session.end")
            return

        async def later() -> None:
            await asyncio.sleep(END_DELAY)
            self._ending = None
            self.act("session.end")
            self._render_header()
        self._ending_at = loop.time() + END_DELAY
        self._ending = asyncio.ensure_future(later())
        self._pending.add(self._ending)
        self._ending.add_done_callback(self._pending.discard)
        self._render_header()

    def _cancel_end(self) -> None:
        if self._ending is not None:
            self._ending.cancel()
            self._ending = None

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
                "<p><a class='btn' href='/control/pair'>Tablet neu koppeln</a></p>",
                stylesheets=[PANE_LINKS],
                css_classes=["control-unpaired"])]
        self.act_async(check())
