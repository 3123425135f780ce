"""What every room view shares: the link, safe watchers on shared state, styles.

Views only show and forward: they read the mirrored :class:`RoomState` and
turn a user's action into one bus command. Only the room's own pages act: its
page server builds them with ``device=True``. Anywhere else (a notebook, a
preview, ``pn.serve``) a view is an observer: no heartbeat, no timers, and
:meth:`RoomView.act` forwards nothing (and the room refuses every command of a
link that ``kiosk.connect()`` made without a role). Watchers on the shared
state are owned by the view's browser session: each is wrapped so that one
broken session cannot stop the others, and all are removed when the session ends.
A watcher that fires outside its session (the mirror's update, a timer) runs on the
session's next tick, where it renders what holds then: Panel would otherwise queue the
change it computed now, and a newer change made in the session meanwhile (the thank-you
after a reply) would be overwritten by the older one when the queue runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import html
import logging
from collections.abc import Callable, Iterable

import panel as pn
import param
from panel.io.state import set_curdoc

from kiosk.exceptions import BusError
from kiosk.room.link import RoomLink
from kiosk.room.state import Device, Note, Step
from kiosk.views.beacon import Beacon

log = logging.getLogger(__name__)

STYLES = """
:host { --ink: #1b1f23; --muted: #4a525a; --accent: #0b5cad; --paper: #ffffff;
        --soft: #eef3f8; --warn: #8a4b00; --ok: #1e6b34;
        font-family: "Noto Sans", "DejaVu Sans", "Liberation Sans", Arial, sans-serif;
        color: var(--ink); }
h1 { font-size: 2.4rem; margin: 0 0 .5rem 0; font-weight: 700; }
h2 { font-size: 1.6rem; margin: 1.2rem 0 .5rem 0; }
p.lead { font-size: 1.35rem; color: var(--muted); line-height: 1.5; max-width: 46rem; }
.room { font-size: 1rem; color: var(--muted); text-transform: uppercase; letter-spacing: .06em; }
ul.items { list-style: none; padding: 0; margin: 0; }
ul.items li { background: var(--soft); border-left: 6px solid var(--accent); margin: .5rem 0;
              padding: .8rem 1rem; font-size: 1.3rem; line-height: 1.45; border-radius: 4px; }
ul.items li.step { border-left-color: var(--ok); }
ul.items li .meta { display: block; font-size: 1rem; color: var(--muted); margin-top: .2rem; }
ul.topics { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: .6rem; }
ul.topics li { border: 2px solid var(--accent); border-radius: 999px; padding: .3rem 1rem;
               font-size: 1.2rem; font-weight: 600; background: var(--soft); }
p.empty { font-size: 1.2rem; color: var(--muted); font-style: italic; }
.notice { background: #fff4e5; border: 2px solid var(--warn); color: #4d2a00; padding: 1rem;
          font-size: 1.3rem; border-radius: 6px; }
.phase { display: inline-block; padding: .2rem .7rem; border-radius: 1rem; background: var(--soft);
         font-weight: 600; }
.error { color: #9b1c1c; font-weight: 600; }
"""


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def local_time(iso: str) -> str:
    """A stored UTC time as the room's local clock time (with the date if not today)."""
    try:
        when = dt.datetime.fromisoformat(iso).astimezone()
    except (TypeError, ValueError):
        return "–"
    if when.date() == dt.datetime.now().astimezone().date():
        return when.strftime("%H:%M:%S")
    return when.strftime("%d.%m.%Y %H:%M")


def alert_text(device: Device) -> str:
    """One device's problem in words, e.g. ``Touchscreen offline seit 10:31:05``."""
    name = device.label or device.id
    if device.alert == "offline":
        return f"{name} offline seit {local_time(device.last_seen)}"
    if device.alert == "no_frames":
        return f"{name} liefert keine Bilder ({device.fps or 0} Bilder/s)"
    return f"{name}: {device.detail or 'Anzeige nicht verbunden'}"


def items_html(notes: Iterable[Note], steps: Iterable[Step], *, notes_title: str,
               steps_title: str, empty: str, who_client: str = "Sie", due: str = "bis") -> str:
    """The visible notes and the next steps as HTML (text is escaped)."""
    notes, steps = list(notes), list(steps)
    if not notes and not steps:
        return f'<p class="empty">{escape(empty)}</p>'
    out = []
    if notes:
        out.append(f"<h2>{escape(notes_title)}</h2><ul class='items notes'>")
        out += [f"<li data-note='{n.id}'>{escape(n.text)}</li>" for n in notes]
        out.append("</ul>")
    if steps:
        out.append(f"<h2>{escape(steps_title)}</h2><ul class='items steps'>")
        for s in steps:
            who = who_client if s.who == "client" else s.who
            meta = escape(who) + (f" · {escape(due)} {escape(s.due)}" if s.due else "")
            out.append(f"<li class='step' data-step='{s.id}'>{escape(s.what)}"
                       f"<span class='meta'>{meta}</span></li>")
        out.append("</ul>")
    return "".join(out)


def sign_out() -> pn.pane.HTML:
    """The staff pages' sign-out button (a plain form: POST /logout)."""
    return pn.pane.HTML(
        "<form method='post' action='/logout' class='signout'>"
        "<button type='submit'>Abmelden</button></form>",
        stylesheets=[STYLES + ".signout button { min-height: 44px; padding: 0 1.2rem; "
                     "font-size: 1rem; border-radius: 6px; border: 1px solid #555; "
                     "background: #fff; color: #222; cursor: pointer; }"],
        css_classes=["staff-signout"], align="end")


class RoomView(pn.viewable.Viewer):
    """Base of the room's pages: one instance per browser session."""

    link = param.ClassSelector(class_=RoomLink, doc="The process's link to the room.")
    error = param.String(default="", doc="Why the last action failed, for the user.")
    device = param.Boolean(default=False, constant=True, doc=(
        "The room's own page, built by its page server for one of its devices or signed-in "
        "staff: it forwards actions, sends its heartbeat and runs its timers. False (a "
        "notebook, a preview): it only watches."))

    role = "counsellor"
    #: Order in which views hear of a change (lower first), and how long staff
    #: views wait to render (coalescing bursts): the client's screens are
    #: patched first, so the client sees what is written without delay.
    precedence = 1
    defer = 0.01

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._watchers: list[tuple[param.Parameterized, param.parameterized.Watcher]] = []
        self._pending: set[asyncio.Task] = set()
        doc = pn.state.curdoc
        self._doc = doc if doc is not None and doc.session_context is not None else None
        if self._doc is not None:
            pn.state.on_session_destroyed(lambda ctx: self.detach())

    @property
    def state(self):
        return self.link.state

    def watch_state(self, fn: Callable[..., None], *names: str,
                    on: param.Parameterized | None = None) -> None:
        """Call ``fn`` on changes of the shared state (or of another shared model ``on``,
        e.g. the site's mirror), for this session's lifetime.

        Views with a ``defer`` render at most once per ``defer`` seconds, after
        the client's screens have been patched.
        """
        due: list[asyncio.TimerHandle] = []

        def run(*events) -> None:
            try:
                fn(*events)
            except Exception:  # one broken session must not freeze the others
                log.exception("view update failed; detaching this view")
                self.detach()

        def in_session(*events) -> None:
            if self._watchers:  # not detached meanwhile
                with set_curdoc(self._doc):
                    run(*events)

        def safe(*events) -> None:
            due.clear()
            if self._doc is not None and not pn.state._unblocked(self._doc):
                self._doc.add_next_tick_callback(functools.partial(in_session, *events))
            else:
                run(*events)

        def later(*events) -> None:
            if due:
                return  # already coming: one render covers every change until then
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a notebook cell, a test): render now
                safe(*events)
                return
            due.append(loop.call_later(self.defer, safe))

        model = self.state if on is None else on
        self._watchers.append((model, model.param.watch(
            later if self.defer else safe, list(names), precedence=self.precedence)))

    def detach(self) -> None:
        """Stop following the shared state (the browser session ended)."""
        for model, watcher in self._watchers:
            model.param.unwatch(watcher)
        self._watchers = []

    def act(self, name: str, /, *, then: Callable[[], None] | None = None, **args) -> None:
        """Forward one user action now, from a click handler; ``then`` runs on success.

        The command leaves before the handler returns, so the room does not
        wait for the event loop's next turn; the reply is handled when it comes.
        An observer sends nothing and says so.
        """
        if not self.device:
            self.error = self.watching_text
            return
        try:
            future = self.link.post(self.role, name, **args)
        except BusError:
            self.error = self.offline_text
            return

        async def settle() -> None:
            try:
                reply = await self.link.settle(future)
            except BusError:
                self.error = self.offline_text
                return
            if self.defer:
                await asyncio.sleep(self.defer)  # after the client's screens, as for renders
            self.error = "" if reply.ok else self.refused_text(reply.error)
            if reply.ok and then is not None:
                then()
        self.act_async(settle())

    def act_async(self, coro) -> None:
        """Run a coroutine for this session, kept until it is done."""
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    offline_text = "Keine Verbindung zum Raum-Controller. Bitte kurz warten und erneut versuchen."
    watching_text = "Diese Ansicht zeigt den Raum nur an und sendet nichts."

    def refused_text(self, reason: str) -> str:
        return f"Abgelehnt: {reason}"

    def beacon(self, device: str, kind: str, label: str) -> Beacon | pn.Spacer:
        """This page's heartbeat, reported as the room device ``device``; an observer's is
        an empty spacer (it is no device of the room)."""
        if not self.device:
            return pn.Spacer(width=0, height=0, margin=0, visible=False)

        def beat(info: dict[str, str]) -> None:
            try:
                future = self.link.post(self.role, "device.heartbeat", device=device, kind=kind,
                                        label=label, browser=info["browser"],
                                        detail=f"Bildschirm {info['screen']}")
            except BusError:
                return  # the room notices the silence

            async def settle() -> None:
                with contextlib.suppress(BusError):
                    await self.link.client.settle(future, 3.0)
            self.act_async(settle())
        return Beacon(on_beat=beat)
