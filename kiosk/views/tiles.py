"""Partner tiles on the second display: one browser component that pulls each
admitted partner's media from the room's engine (WHEP on loopback)."""

from __future__ import annotations

import param
from panel.custom import JSComponent

from kiosk.resources import ASSETS


class PartnerTiles(JSComponent):
    """Up to three partners, each with picture, sound, name and agency."""

    tiles = param.List(default=[], doc="[{id, name, agency}] of partners to show.")

    _esm = ASSETS / "partner_tiles.js"
    _stylesheets = ["""
    .tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(20rem, 1fr));
             gap: 1rem; }
    .tile { margin: 0; background: #111; border-radius: 8px; overflow: hidden;
            position: relative; }
    .tile video { width: 100%; display: block; max-height: 62vh; object-fit: contain;
                  background: #111; }
    .tile figcaption { position: absolute; left: 0; bottom: 0; color: #fff;
                       background: rgba(0, 0, 0, .65); padding: .5rem .9rem; font-size: 1.3rem;
                       font-family: "Noto Sans", "DejaVu Sans", sans-serif;
                       border-top-right-radius: 8px; }
    .self-view { position: fixed; right: 1.5rem; bottom: 1.5rem; width: 14rem; margin: 0;
                 border: 3px solid #fff; border-radius: 8px; overflow: hidden; background: #111; }
    .self-view video { width: 100%; display: block; }
    """]
