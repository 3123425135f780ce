"""What every room view shares: the link, safe watchers on shared state, styles.

Views only show and forward: they read the mirrored :class:`RoomState` and
turn a user's action into one bus command. Watchers on the shared state are
owned by the view's browser session: each is wrapped so that one broken
session cannot stop the others, and all are removed when the session ends.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable

import panel as pn
import param

from ..exceptions import BusError
from ..link import RoomLink
from ..state import Note, Step

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
p.empty { font-size: 1.2rem; color: var(--muted); font-style: italic; }
.notice { background: #fff4e5; border: 2px solid var(--warn); color: #4d2a00; padding: 1rem;
          font-size: 1.3rem; border-radius: 6px; }
.phase { display: inline-block; padding: .2rem .7rem; border-radius: 1rem; background: var(--soft);
         font-weight: 600; }
.error { color: #9b1c1c; font-weight: 600; }
"""


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def items_html(notes: Iterable[Note], steps: Iterable[Step], *, notes_title: str,
               steps_title: str, empty: str, who_client: str = "Sie") -> str:
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
            meta = escape(who) + (f" · bis {escape(s.due)}" if s.due else "")
            out.append(f"<li class='step' data-step='{s.id}'>{escape(s.what)}"
                       f"<span class='meta'>{meta}</span></li>")
        out.append("</ul>")
    return "".join(out)


class RoomView(pn.viewable.Viewer):
    """Base of the room's pages: one instance per browser session."""

    link = param.ClassSelector(class_=RoomLink, doc="The process's link to the room.")
    error = param.String(default="", doc="Why the last action failed, for the user.")

    role = "counsellor"

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._watchers: list[param.parameterized.Watcher] = []
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.on_session_destroyed(lambda ctx: self.detach())

    @property
    def state(self):
        return self.link.state

    def watch_state(self, fn: Callable[..., None], *names: str) -> None:
        """Call ``fn`` on changes of the shared state, for this session's lifetime."""
        def safe(*events, _fn=fn):
            try:
                _fn(*events)
            except Exception:  # one broken session must not freeze the others
                log.exception("view update failed; detaching this view")
                self.detach()
        self._watchers.append(self.state.param.watch(safe, list(names)))

    def detach(self) -> None:
        """Stop following the shared state (the browser session ended)."""
        for watcher in self._watchers:
            self.state.param.unwatch(watcher)
        self._watchers = []

    async def send(self, name: str, **args) -> bool:
        """Forward one user action to the controller; show why if it fails."""
        try:
            reply = await self.link.send(self.role, name, **args)
        except BusError:
            self.error = self.offline_text
            return False
        self.error = "" if reply.ok else self.refused_text(reply.error)
        return reply.ok

    offline_text = "Keine Verbindung zum Raum-Controller. Bitte kurz warten und erneut versuchen."

    def refused_text(self, reason: str) -> str:
        return f"Abgelehnt: {reason}"
