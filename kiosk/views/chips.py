"""Toggle chips (e.g. the topics of a talk), as one browser component.

Each option is a button with ``aria-pressed``; a tap calls ``on_toggle`` with
the option. What is selected comes from the room state, never from the tap
itself, so every tablet shows what the room holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import param
from panel.custom import JSComponent


class Chips(JSComponent):
    """Options shown as toggle buttons; ``selected`` are pressed."""

    options = param.List(default=[], item_type=str, doc="Every option, in order.")
    selected = param.List(default=[], item_type=str, doc="The options that are on.")
    label = param.String(default="", doc="Accessible name of the group.")

    _esm = """
    export function render({ model, el }) {
      const group = document.createElement("div");
      group.className = "chips";
      group.setAttribute("role", "group");
      el.appendChild(group);
      const draw = () => {
        group.setAttribute("aria-label", model.label);
        group.replaceChildren();
        for (const option of model.options) {
          const on = model.selected.includes(option);
          const button = document.createElement("button");
          button.type = "button";
          button.className = on ? "chip on" : "chip";
          button.setAttribute("aria-pressed", on ? "true" : "false");
          button.textContent = (on ? "✓ " : "") + option;
          button.addEventListener("click", () => model.send_msg({toggle: option}));
          group.appendChild(button);
        }
      };
      draw();
      model.on("options", draw);
      model.on("selected", draw);
      model.on("label", draw);
    }
    """

    _stylesheets = ["""
    div[role=group].chips { display: flex; flex-wrap: wrap; gap: .5rem; }
    .chip { min-height: 48px; padding: 0 1rem; border-radius: 999px; border: 2px solid #0b5cad;
            background: #fff; color: #0b5cad; font-size: .95rem; font-weight: 600;
            cursor: pointer; font-family: inherit; }
    .chip.on { background: #0b5cad; color: #fff; }
    .chip:focus-visible { outline: 3px solid #1b1f23; outline-offset: 2px; }
    """]

    def __init__(self, on_toggle: Callable[[str], None] | None = None, **params) -> None:
        params.setdefault("margin", (5, 10))
        super().__init__(**params)
        self._on_toggle = on_toggle

    def _handle_msg(self, msg: Any) -> None:
        if self._on_toggle and isinstance(msg, dict) and msg.get("toggle") in self.options:
            self._on_toggle(msg["toggle"])
