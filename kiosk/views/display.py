"""/display: the room's second display, facing the client.

Shows the shared notes and next steps as they are written; partner video
tiles join here with the partner-video feature. During a privacy pause the
screen shows only a notice.
"""

from __future__ import annotations

import panel as pn
import segno

from kiosk.i18n import direction, t
from kiosk.views.base import STYLES, RoomView, escape, items_html, local_time
from kiosk.views.tiles import PartnerTiles

PAIRING_STYLES = """
.pairing { display: flex; gap: 2rem; align-items: center; background: #eef3f8;
           border: 3px solid #0b5cad; border-radius: 8px; padding: 1.2rem 1.6rem; }
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


class DisplayView(RoomView):
    """The second display: the talk's shared notes, large and calm."""

    role = "display"
    precedence = 0
    defer = 0.0

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._header = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[STYLES])
        self._body = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[STYLES],
                                  css_classes=["display-body"])
        self._tiles = PartnerTiles(sizing_mode="stretch_width", css_classes=["partner-tiles"])
        self._pairing = pn.pane.HTML(sizing_mode="stretch_width", visible=False,
                                     stylesheets=[STYLES, PAIRING_STYLES])
        self._layout = pn.Column(self._header, self._pairing, self._tiles, self._body,
                                 self.beacon("display", "display", "Zweite Anzeige"),
                                 sizing_mode="stretch_both",
                                 styles={"padding": "2rem 3rem", "background": "#ffffff"})
        self.watch_state(self._render, "phase", "language", "room_name", "privacy", "notes",
                         "draft", "next_steps", "partners", "topics")
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

    def _render(self, *events) -> None:
        state, lang = self.state, self.state.language
        self._header.object = f"<div class='room'>{escape(state.room_name)}</div>"
        if state.privacy:
            html = f"<p class='notice'>{escape(t(lang, 'privacy.notice'))}</p>"
        elif state.phase in ("consulting", "wrap_up"):
            topics = "".join(f"<li>{escape(t(lang, f'topic.{x}'))}</li>" for x in state.topics)
            html = f"<h1>{escape(t(lang, 'talk.title'))}</h1>" + (
                f"<h2>{escape(t(lang, 'talk.topics'))}</h2><ul class='topics'>{topics}</ul>"
                if topics else "") + items_html(
                state.notes_on_screen, state.next_steps, notes_title=t(lang, "talk.notes"),
                steps_title=t(lang, "talk.steps"), empty=t(lang, "talk.empty"),
                who_client=t(lang, "who.client"), due=t(lang, "talk.due"))
        else:
            html = (f"<h1>{escape(t(lang, 'welcome.title'))}</h1>"
                    f"<p class='lead'>{escape(t(lang, 'welcome.lead'))}</p>")
        self._body.object = f"<div lang='{lang}' dir='{direction(lang)}'>{html}</div>"
        # During a privacy pause no tile is shown (and the engine's gate sends nothing).
        allowed = [] if state.privacy else [p for p in state.partners if p.media_allowed]
        shown = [p for p in allowed if p.state == "connected"][:3]
        lost = [p for p in allowed if p.state == "reconnecting"]
        if lost:
            names = ", ".join(escape(p.name or p.agency) for p in lost)
            self._body.object = (f"<p class='notice' role='status'>Verbindung zu {names} "
                                 f"unterbrochen – verbinde neu …</p>") + self._body.object
        self._tiles.tiles = [{"id": p.id, "name": p.name, "agency": p.agency} for p in shown]
