"""A short two-tone chime in the browser, for what a person must notice without looking:
a client in the waiting room, a ringing call. Made with Web Audio: no sound file."""

from __future__ import annotations

import param
from panel.custom import JSComponent


class Chime(JSComponent):
    """Sounds each time ``count`` goes up (and not when the page opens)."""

    count = param.Integer(default=0, doc="Raise by one to sound the chime once.")

    _esm = """
    export function render({ model, el }) {
      el.setAttribute("aria-hidden", "true");
      el.dataset.chimes = "0";
      let last = model.count;
      const ring = () => {
        const ctx = new (window.AudioContext || window.webkitAudioContext)();
        const at = ctx.currentTime;
        for (const [freq, start] of [[880, 0], [660, 0.25]]) {
          const osc = ctx.createOscillator(), gain = ctx.createGain();
          osc.frequency.value = freq;
          gain.gain.setValueAtTime(0.0001, at + start);
          gain.gain.exponentialRampToValueAtTime(0.3, at + start + 0.02);
          gain.gain.exponentialRampToValueAtTime(0.0001, at + start + 0.5);
          osc.connect(gain).connect(ctx.destination);
          osc.start(at + start);
          osc.stop(at + start + 0.55);
        }
        setTimeout(() => ctx.close(), 1200);
        el.dataset.chimes = String(Number(el.dataset.chimes) + 1);
      };
      model.on("count", () => { if (model.count > last) ring(); last = model.count; });
    }
    """
