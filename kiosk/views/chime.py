"""A short two-tone chime in the browser, for what a person must notice without looking:
a client in the waiting room, a ringing call. Made with Web Audio: no sound file."""

from __future__ import annotations

import param
from panel.custom import JSComponent

from kiosk.resources import ASSETS


class Chime(JSComponent):
    """Sounds each time ``count`` goes up (and not when the page opens)."""

    count = param.Integer(default=0, doc="Raise by one to sound the chime once.")

    _esm = (ASSETS / "chime.js").read_text(encoding="utf-8") + """
    export function render({ model, el }) {
      el.setAttribute("aria-hidden", "true");
      el.dataset.chimes = "0";
      let last = model.count;
      const ring = () => {
        const ctx = new (window.AudioContext || window.webkitAudioContext)();
        kioskChime(ctx);
        setTimeout(() => ctx.close(), 1200);
        el.dataset.chimes = String(Number(el.dataset.chimes) + 1);
      };
      model.on("count", () => { if (model.count > last) ring(); last = model.count; });
    }
    """
