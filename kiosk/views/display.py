"""/display: the room's second display, facing the client.

Shows the talk's title, topics, shared notes and next steps as they are
written and, once admitted with the client's consent, the partners' (or a
remote client's) video with the room's own small picture beside the notes.
During a privacy pause the video goes (the notes are no video and stay).
"""

from __future__ import annotations

from collections.abc import Iterable

import panel as pn
import param
import segno
from panel.custom import JSComponent

from kiosk.i18n import direction, t, tag
from kiosk.resources import ASSETS
from kiosk.room.state import Note, Step
from kiosk.views.base import STYLES, RoomView, escape, local_time
from kiosk.views.kiosk_screen import step_meta
from kiosk.views.tiles import reconnecting, standby_for, tiles_for

PAIRING_STYLES = """
.pairing { display: flex; gap: 2rem; align-items: center; background: #eef3f8;
           border: 3px solid #0b5cad; border-radius: 8px; padding: 1.2rem 1.6rem;
           margin-bottom: 1.5rem; }
.pairing .code { font: 700 3.2rem/1.1 "DejaVu Sans Mono", monospace; letter-spacing: .12em; }
.pairing p { font-size: 1.3rem; margin: .3rem 0; }
.pairing svg { background: #fff; flex: none; }
"""


def pairing_html(offer: dict[str, str], base_url: str) -> str:
    """The pairing code, large and as a QR code that opens /control/pair with it."""
    code = offer["code"]
    qr = segno.make(f"{base_url}/control/pair?code={code}", error="m")
    svg = qr.svg_inline(scale=5, title="QR-Code zum Koppeln des Tablets")
    shown = escape(f"{code[:4]} {code[4:]}")
    return (f"<div class='pairing' role='status'>{svg}<div>"
            f"<p>Tablet koppeln: auf dem Tablet <b>{escape(base_url)}/control/pair</b> "
            f"öffnen und diesen Code eingeben (oder den QR-Code scannen):</p>"
            f"<p class='code' aria-label='Code {escape(' '.join(code))}'>{shown}</p>"
            f"<p>Gültig bis {escape(local_time(offer['expires']))} Uhr, einmal.</p></div></div>")


def rich_html(parts: Iterable[str | dict[str, str]]) -> str:
    """Translated text with typed pieces, each typed piece isolated in a ``<bdi>``."""
    return "".join(escape(p) if isinstance(p, str) else f"<bdi>{escape(p['user'])}</bdi>"
                   for p in parts)


def items_html(notes: Iterable[Note], steps: Iterable[Step], lang: str) -> str:
    """The visible notes and the next steps (typed text isolated, dates localised)."""
    notes, steps = list(notes), list(steps)
    if not notes and not steps:
        return f"<p class='empty'>{escape(t(lang, 'talk.empty'))}</p>"
    out = []
    if notes:
        out.append(f"<section class='notes-block'><h2>{escape(t(lang, 'talk.notes'))}</h2>"
                   "<ul class='items notes'>")
        out += [f"<li data-note='{n.id}'><span class='typed' dir='auto'>{escape(n.text)}"
                f"</span></li>" for n in notes]
        out.append("</ul></section>")
    if steps:
        out.append(f"<section class='steps-block'><h2>{escape(t(lang, 'talk.steps'))}</h2>"
                   "<ul class='items steps'>")
        out += [f"<li class='step' data-step='{s.id}'><span class='typed' dir='auto'>"
                f"{escape(s.what)}</span><span class='meta'>{rich_html(step_meta(s, lang))}"
                f"</span></li>" for s in steps]
        out.append("</ul></section>")
    return "".join(out)


class DisplayStage(JSComponent):
    """Everything below the pairing offer in one browser component, so that one CSS grid
    gives the videos, the self-view, the title, the notes and the next steps an area each
    (``display_stage.js``, ``display_stage.css``); the view hands it plain data."""

    tiles = param.List(default=[], doc="Tiles to show: [{key, partner, kind, url, audio, "
                                       "caption}] (see kiosk.views.tiles).")
    standby = param.List(default=[], doc="Tiles to connect to unseen, for a picture that "
                                         "starts at once when shown (tiles.standby_for).")
    self_view = param.Dict(default=None, allow_None=True,
                           doc="{'label'} of the room's own picture, shown while tiles are.")
    head = param.String(default="", doc="Room, title, topics and notices (escaped HTML).")
    side = param.String(default="", doc="Notes and next steps, or a lead text (escaped HTML).")
    lang = param.String(default="de", doc="BCP 47 tag of the text.")
    dir = param.Selector(objects=["ltr", "rtl"], default="ltr", doc="Direction of the text.")

    _esm = ASSETS / "display_stage.js"
    _stylesheets = [(ASSETS / "display_stage.css").read_text(encoding="utf-8")]


class DisplayView(RoomView):
    """The second display: the talk's shared notes, large and calm, and the video."""

    role = "display"
    precedence = 0
    defer = 0.0

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._stage = DisplayStage(sizing_mode="stretch_both", margin=0,
                                   css_classes=["display-stage"])
        self._pairing = pn.pane.HTML(sizing_mode="stretch_width", visible=False, margin=0,
                                     stylesheets=[STYLES, PAIRING_STYLES])
        self._layout = pn.Column(self._pairing, self._stage,
                                 self.beacon("display", "display", "Zweite Anzeige"),
                                 sizing_mode="stretch_both",
                                 styles={"padding": "1.5rem 2.5rem", "background": "#ffffff",
                                         "box-sizing": "border-box", "height": "100vh",
                                         "overflow": "hidden"})
        self.watch_state(self._render, "phase", "language", "room_name", "privacy", "notes",
                         "draft", "next_steps", "partners", "topics", "screens")
        self.watch_state(self._render_pairing, "pairing")
        self._render()
        self._render_pairing()

    def __panel__(self):
        return self._layout

    def _render_pairing(self, *events) -> None:
        offer = self.state.pairing
        if offer:
            self._pairing.object = pairing_html(offer, self.link.base_url)
        self._pairing.visible = bool(offer)

    def _notices(self, lang: str) -> str:
        """A privacy pause, a partner's dropped connection: in words, above everything."""
        texts = [escape(t(lang, "privacy.notice"))] if self.state.privacy else []
        lost = reconnecting(self.state)
        if lost:
            names = ", ".join(f"<bdi>{escape(p.name or p.agency)}</bdi>" for p in lost)
            before, _, after = t(lang, "display.reconnecting", names="\x00").partition("\x00")
            texts.append(escape(before) + names + escape(after))
        return "".join(f"<p class='notice' role='status'>{text}</p>" for text in texts)

    def _render(self, *events) -> None:
        state, lang = self.state, self.state.language
        head = f"<div class='room'><bdi>{escape(state.room_name)}</bdi></div>"
        if state.phase in ("consulting", "wrap_up"):
            topics = "".join(f"<li>{escape(t(lang, f'topic.{x}'))}</li>" for x in state.topics)
            head += f"<h1>{escape(t(lang, 'talk.title'))}</h1>" + (
                f"<ul class='topics' aria-label='{escape(t(lang, 'talk.topics'))}'>{topics}</ul>"
                if topics else "")
            side = items_html(state.notes_on_screen, state.next_steps, lang)
        else:
            head += f"<h1>{escape(t(lang, 'welcome.title'))}</h1>"
            side = f"<p class='lead'>{escape(t(lang, 'welcome.lead'))}</p>"
        self._stage.param.update(
            head=head + self._notices(lang), side=side, lang=tag(lang), dir=direction(lang),
            tiles=tiles_for(state), standby=standby_for(state),
            self_view={"label": t(lang, "display.self_view")})
