"""The heartbeat of a page: the browser says every second that it is alive.

The view forwards each beat as ``device.heartbeat``, so the room sees a
closed, crashed or frozen browser go silent (and /admin marks it offline),
and learns the browser's version and screen size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import param
from panel.custom import JSComponent


class Beacon(JSComponent):
    """Invisible; calls ``on_beat({browser, screen})`` about once a second."""

    interval = param.Integer(default=1000, bounds=(200, 60_000), doc="Milliseconds between beats.")

    _esm = """
    function browser() {
      const ua = navigator.userAgent;
      for (const [re, name] of [[/Edg\\/([\\d.]+)/, "Edge"], [/OPR\\/([\\d.]+)/, "Opera"],
                                [/Firefox\\/([\\d.]+)/, "Firefox"],
                                [/(?:Headless)?Chrom(?:e|ium)\\/([\\d.]+)/, "Chromium"],
                                [/Version\\/([\\d.]+).*Safari/, "Safari"]]) {
        const m = ua.match(re);
        if (m) return name + " " + m[1];
      }
      return ua.slice(0, 60);
    }
    export function render({ model }) {
      const beat = () => model.send_msg({
        browser: browser(), screen: screen.width + "x" + screen.height});
      beat();
      let timer = setInterval(beat, model.interval);
      model.on("interval", () => {
        clearInterval(timer);
        timer = setInterval(beat, model.interval);
      });
      model.on("remove", () => clearInterval(timer));
    }
    """

    def __init__(self, on_beat: Callable[[dict[str, str]], None], **params: Any) -> None:
        params.setdefault("width", 0)
        params.setdefault("height", 0)
        params.setdefault("margin", 0)
        super().__init__(**params)
        self._on_beat = on_beat

    def _handle_msg(self, msg: Any) -> None:
        if isinstance(msg, dict):
            self._on_beat({"browser": str(msg.get("browser", ""))[:120],
                           "screen": str(msg.get("screen", ""))[:40]})
