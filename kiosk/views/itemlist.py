"""A list of items with action buttons, as one browser component.

The counsellor's note list changes on every note. Built from Panel rows, each
change would create new Bokeh models (about 8 ms a row) on the server loop
that also serves the client's screens; as one component, a change is one small
property patch. Text is set with ``textContent``, never parsed as HTML.

An action that ends or erases something names a question (``confirm``): the
first tap asks it in the row ("Notiz löschen?" with "Ja, löschen" and "Nein"),
only the second one acts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import param
from panel.custom import JSComponent


class ItemList(JSComponent):
    """Items ``{id, text, badge, detail, tone, actions: [{action, label, kind, confirm,
    yes}]}``; clicks call ``on_action`` (after the row's question, for ``confirm``)."""

    items = param.List(default=[], doc="The rows to show, in order.")
    empty = param.String(default="", doc="Text shown when there is no item.")

    _esm = """
    export function render({ model, el }) {
      const list = document.createElement("ul");
      list.className = "item-list";
      el.appendChild(list);
      let asking = null;  // {id, action}: the question open in one row
      let focusNo = false;
      let rows = [];      // [{id, li, main, acts, msig, asig}], as drawn
      const button = (label, kind, onclick) => {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "act " + (kind || "");
        b.textContent = label;
        b.addEventListener("click", onclick);
        return b;
      };
      const mainOf = (item) => {
        const main = document.createElement("div");
        main.className = "main";
        const text = document.createElement("span");
        text.className = "text";
        if (item.badge) {
          const badge = document.createElement("b");
          badge.textContent = "[" + item.badge + "] ";
          text.appendChild(badge);
        }
        text.appendChild(document.createTextNode(item.text));
        main.appendChild(text);
        if (item.detail) {
          const detail = document.createElement("span");
          detail.className = "detail";
          detail.textContent = item.detail;
          main.appendChild(detail);
        }
        return main;
      };
      const actsOf = (item) => {
        const acts = document.createElement("div");
        acts.className = "acts";
        const open = asking && asking.id === item.id &&
          (item.actions || []).find((a) => a.action === asking.action && a.confirm);
        if (open) {
          const question = document.createElement("div");
          question.className = "confirm";
          question.setAttribute("role", "group");
          question.setAttribute("aria-label", open.confirm);
          const q = document.createElement("span");
          q.className = "question";
          q.textContent = open.confirm;
          const yes = button(open.yes || open.label, "danger", () => {
            asking = null;
            model.send_msg({action: open.action, id: item.id});
            draw();
          });
          const no = button("Nein", "no", () => { asking = null; draw(); });
          question.append(q, yes, no);
          acts.appendChild(question);
        } else {
          for (const act of item.actions || []) {
            acts.appendChild(button(act.label, act.kind, () => {
              if (act.confirm) {
                asking = {id: item.id, action: act.action};
                focusNo = true;
                draw();
              } else {
                model.send_msg({action: act.action, id: item.id});
              }
            }));
          }
        }
        return acts;
      };
      // Rows are updated in place while the list keeps its items: a button is never
      // replaced under a finger by a change elsewhere (a countdown, a quality figure).
      const draw = () => {
        const items = model.items;
        if (asking && !items.some((i) => i.id === asking.id)) asking = null;
        const sigs = items.map((item) => ({
          msig: JSON.stringify([item.badge, item.text, item.detail, item.tone]),
          asig: JSON.stringify(item.actions || []) + (asking && asking.id === item.id
            ? asking.action : "")}));
        const same = rows.length === items.length && rows.every((r, i) => r.id === items[i].id);
        if (!same || items.length === 0) {
          list.replaceChildren();
          rows = [];
          if (items.length === 0 && model.empty) {
            const li = document.createElement("li");
            li.className = "empty";
            li.textContent = model.empty;
            list.appendChild(li);
          }
        }
        items.forEach((item, i) => {
          let row = rows[i];
          if (!row) {
            const li = document.createElement("li");
            row = {id: item.id, li, main: null, acts: null, msig: null, asig: null};
            rows.push(row);
            list.appendChild(li);
          }
          row.li.dataset.item = item.id;
          row.li.className = item.tone || "";
          if (row.msig !== sigs[i].msig) {
            const main = mainOf(item);
            if (row.main) row.li.replaceChild(main, row.main); else row.li.prepend(main);
            row.main = main;
            row.msig = sigs[i].msig;
          }
          if (row.asig !== sigs[i].asig) {
            const acts = actsOf(item);
            if (row.acts) row.acts.remove();
            if (acts.childElementCount) row.li.appendChild(acts);
            row.acts = acts.childElementCount ? acts : null;
            row.asig = sigs[i].asig;
          }
        });
        if (focusNo) {
          const no = list.querySelector(".confirm button.no");
          if (no) no.focus();
          focusNo = false;
        }
      };
      draw();
      model.on("items", draw);
      model.on("empty", () => { rows = []; draw(); });
    }
    """

    _stylesheets = ["""
    :host { font-family: "Noto Sans", "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
    ul.item-list { list-style: none; margin: 0; padding: 0; font-family: inherit; }
    ul.item-list li { display: flex; flex-wrap: wrap; align-items: center; gap: .4rem .8rem;
                      padding: .5rem 0; border-bottom: 1px solid #d5dce3; font-size: 1.05rem;
                      color: #1b1f23; line-height: 1.4; }
    ul.item-list li .main { flex: 1 1 14rem; min-width: 0; overflow-wrap: anywhere; }
    ul.item-list li .text b { color: #0b4f94; }
    ul.item-list li .detail { display: block; font-size: .95rem; color: #4a525a; }
    ul.item-list li.gone { color: #4a525a; }
    ul.item-list li.gone .text b { color: #4a525a; }
    ul.item-list li.warn .detail { color: #8a4b00; font-weight: 600; }
    ul.item-list li.empty { color: #4a525a; font-style: italic; }
    .acts { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
    .confirm { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center;
               background: #fdf0f0; border: 2px solid #9b1c1c; border-radius: 6px;
               padding: .3rem .5rem; }
    .confirm .question { font-weight: 700; color: #5c1010; }
    button.act { min-height: 48px; min-width: 48px; padding: 0 1rem; border-radius: 6px;
                 border: 2px solid #6b747d; background: #fff; color: #1b1f23;
                 font-family: inherit; font-size: 1rem; font-weight: 600; cursor: pointer; }
    button.act.primary { background: #0b5cad; border-color: #0b5cad; color: #fff; }
    button.act.success { background: #1e6b34; border-color: #1e6b34; color: #fff; }
    button.act.danger { background: #9b1c1c; border-color: #9b1c1c; color: #fff; }
    button.act.quiet-danger { border-color: #9b1c1c; color: #9b1c1c; }
    button.act:focus-visible { outline: 3px solid #0b5cad; outline-offset: 2px; }
    """]

    def __init__(self, on_action: Callable[[str, Any], None] | None = None, **params) -> None:
        params.setdefault("margin", (5, 10))
        super().__init__(**params)
        self._on_action = on_action

    def _handle_msg(self, msg: Any) -> None:
        if self._on_action and isinstance(msg, dict):
            self._on_action(str(msg.get("action")), msg.get("id"))
