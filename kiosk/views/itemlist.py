"""A list of items with action buttons, as one browser component.

The counsellor's note list changes on every note. Built from Panel rows, each
change would create new Bokeh models (about 8 ms a row) on the server loop
that also serves the client's screens; as one component, a change is one small
property patch. Text is set with ``textContent``, never parsed as HTML.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import param
from panel.custom import JSComponent


class ItemList(JSComponent):
    """Items ``{id, text, badge, actions: [{action, label, kind}]}``; clicks call ``on_action``."""

    items = param.List(default=[], doc="The rows to show, in order.")
    empty = param.String(default="", doc="Text shown when there is no item.")

    _esm = """
    export function render({ model, el }) {
      const list = document.createElement("ul");
      list.className = "item-list";
      el.appendChild(list);
      const draw = () => {
        list.replaceChildren();
        if (model.items.length === 0 && model.empty) {
          const li = document.createElement("li");
          li.className = "empty";
          li.textContent = model.empty;
          list.appendChild(li);
        }
        for (const item of model.items) {
          const li = document.createElement("li");
          li.dataset.item = item.id;
          const text = document.createElement("span");
          text.className = "text";
          if (item.badge) {
            const badge = document.createElement("b");
            badge.textContent = "[" + item.badge + "] ";
            text.appendChild(badge);
          }
          text.appendChild(document.createTextNode(item.text));
          li.appendChild(text);
          for (const act of item.actions || []) {
            const button = document.createElement("button");
            button.type = "button";
            button.className = "act " + (act.kind || "");
            button.textContent = act.label;
            const msg = {action: act.action, id: item.id};
            button.addEventListener("click", () => model.send_msg(msg));
            li.appendChild(button);
          }
          list.appendChild(li);
        }
      };
      draw();
      model.on("items", draw);
      model.on("empty", draw);
    }
    """

    _stylesheets = ["""
    ul.item-list { list-style: none; margin: 0; padding: 0; font-family: inherit; }
    ul.item-list li { display: flex; align-items: center; gap: .6rem; padding: .4rem 0;
                      border-bottom: 1px solid #e3e8ee; font-size: 1rem; }
    ul.item-list li .text { flex: 1; }
    ul.item-list li.empty { color: #4a525a; font-style: italic; }
    ul.item-list button.act { min-height: 48px; min-width: 48px; padding: 0 1rem;
                              border-radius: 4px; border: 1px solid #8a949e; background: #f4f6f8;
                              color: #1b1f23; font-size: .95rem; cursor: pointer; }
    ul.item-list button.act.primary { background: #0b5cad; border-color: #0b5cad; color: #fff; }
    ul.item-list button.act.success { background: #1e6b34; border-color: #1e6b34; color: #fff; }
    ul.item-list button.act:focus-visible { outline: 3px solid #0b5cad; outline-offset: 2px; }
    """]

    def __init__(self, on_action: Callable[[str, Any], None] | None = None, **params) -> None:
        super().__init__(**params)
        self._on_action = on_action

    def _handle_msg(self, msg: Any) -> None:
        if self._on_action and isinstance(msg, dict):
            self._on_action(str(msg.get("action")), msg.get("id"))
