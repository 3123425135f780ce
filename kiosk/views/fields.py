"""Small browser components the staff pages need and Panel lacks.

* :class:`Toggle`: a switch that says its state in words and carries ``aria-pressed``;
* :class:`DateField`: a German date (Tag, Monat, Jahr) in three labelled selects;
* :class:`CopyLink`: a link shown once, with a copy button and a visible "Kopiert";
* :class:`TabBar`: tabs for a narrow screen (hidden where the panes sit side by side).

Each is one component with touch-size targets; text is set with ``textContent``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import param
from panel.custom import JSComponent

BASE_CSS = """
:host { font-family: "Noto Sans", "DejaVu Sans", "Liberation Sans", Arial, sans-serif;
        color: #1b1f23; }
button { font: inherit; cursor: pointer; }
button:focus-visible, select:focus-visible { outline: 3px solid #0b5cad; outline-offset: 2px; }
"""
#: Where the two panes of /control stop sitting side by side (CSS pixels).
NARROW = 999


def spaced(params: dict[str, Any]) -> dict[str, Any]:
    """The margin of Panel's widgets, so that components line up with them."""
    params.setdefault("margin", (5, 10))
    return params


class Toggle(JSComponent):
    """A switch: its label and its state in words ("Für Klient:in sichtbar ja"), and
    ``aria-pressed``."""

    value = param.Boolean(default=False, doc="On (pressed) or off.")
    label = param.String(default="", doc="What it switches (its accessible name).")
    on_text = param.String(default="an", doc="The state in words when on.")
    off_text = param.String(default="aus", doc="The state in words when off.")

    _esm = """
    export function render({ model, el }) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "switch";
      const label = document.createElement("span");
      label.className = "label";
      const state = document.createElement("span");
      state.className = "state";
      button.append(label, " ", state);
      const draw = () => {
        label.textContent = model.label;
        state.textContent = model.value ? model.on_text : model.off_text;
        button.setAttribute("aria-pressed", model.value ? "true" : "false");
        button.classList.toggle("on", model.value);
      };
      button.addEventListener("click", () => { model.value = !model.value; });
      el.appendChild(button);
      draw();
      for (const name of ["value", "label", "on_text", "off_text"]) model.on(name, draw);
    }
    """
    _stylesheets = [BASE_CSS + """
    .switch { display: inline-flex; align-items: center; gap: .6rem; min-height: 48px;
              min-width: 48px; padding: .35rem 1rem .35rem .5rem; border-radius: 999px;
              border: 2px solid #4a525a; background: #fff; color: #1b1f23; font-size: 1rem; }
    .switch .label { font-weight: 600; }
    .switch .state { order: -1; min-width: 4.2rem; padding: .3rem .6rem; border-radius: 999px;
                     background: #e3e8ee; color: #1b1f23; font-weight: 700; text-align: center; }
    .switch.on { border-color: #1e6b34; }
    .switch.on .state { background: #1e6b34; color: #fff; }
    """]

    def __init__(self, **params: Any) -> None:
        super().__init__(**spaced(params))


MONTHS = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
          "Oktober", "November", "Dezember")


class DateField(JSComponent):
    """A date as Tag, Monat and Jahr, each a labelled select, in German order.

    ``value`` is ``YYYY-MM-DD``, ``""`` (no date) or ``"invalid"`` (incomplete, or a
    day the month does not have, e.g. 31. Februar).
    """

    value = param.String(default="", doc="The date chosen (ISO), '' or 'invalid'.")
    label = param.String(default="Datum", doc="What the date is for (the group's name).")
    years = param.List(default=[], item_type=int, doc="Years to offer (default: this and "
                                                      "the next two).")
    months = param.List(default=list(MONTHS), item_type=str, doc="Month names.")

    _esm = """
    export function render({ model, el }) {
      const group = document.createElement("fieldset");
      group.className = "date";
      const legend = document.createElement("legend");
      group.appendChild(legend);
      const parts = document.createElement("div");
      parts.className = "parts";
      group.appendChild(parts);
      const make = (name) => {
        const label = document.createElement("label");
        const text = document.createElement("span");
        text.textContent = name;
        const select = document.createElement("select");
        label.append(text, select);
        parts.appendChild(label);
        select.addEventListener("change", changed);
        return select;
      };
      const fill = (select, options) => {
        select.replaceChildren();
        for (const [value, text] of options) {
          const o = document.createElement("option");
          o.value = value;
          o.textContent = text;
          select.appendChild(o);
        }
      };
      const day = make("Tag"), month = make("Monat"), year = make("Jahr");
      function changed() {
        const d = day.value, m = month.value, y = year.value;
        if (!d && !m && !y) { model.value = ""; return; }
        const when = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
        const ok = d && m && y && when.getUTCDate() === Number(d);
        model.value = ok ? `${y}-${m.padStart(2, "0")}-${d.padStart(2, "0")}` : "invalid";
      }
      // Options are drawn once (and when the years change); a new value only moves the
      // choices, so a half-chosen date ("invalid") keeps what was picked so far.
      const options = () => {
        const keep = [day.value, month.value, year.value];
        fill(day, [["", "–"], ...Array.from({length: 31}, (_, i) => [String(i + 1), `${i + 1}.`])]);
        fill(month, [["", "–"], ...model.months.map((name, i) => [String(i + 1), name])]);
        fill(year, [["", "–"], ...model.years.map((y) => [String(y), String(y)])]);
        [day.value, month.value, year.value] = keep;
      };
      const choose = () => {
        const m = /^(\\d{4})-(\\d{2})-(\\d{2})$/.exec(model.value || "");
        if (m) {
          year.value = String(Number(m[1]));
          month.value = String(Number(m[2]));
          day.value = String(Number(m[3]));
        } else if (!model.value) {
          day.value = month.value = year.value = "";
        }
      };
      legend.textContent = model.label;
      options();
      choose();
      el.appendChild(group);
      model.on("value", choose);
      model.on("label", () => { legend.textContent = model.label; });
      model.on("years", () => { options(); choose(); });
    }
    """
    _stylesheets = [BASE_CSS + """
    fieldset.date { border: 0; margin: 0; padding: 0; min-width: 0; }
    fieldset.date legend { font-size: 1rem; font-weight: 600; padding: 0; margin-bottom: .3rem; }
    .parts { display: flex; gap: .5rem; flex-wrap: wrap; }
    .parts label { display: flex; flex-direction: column; font-size: .95rem; color: #4a525a; }
    .parts select { min-height: 48px; height: 48px; font: inherit; font-size: 1.05rem;
                    color: #1b1f23; border: 1px solid #6b747d; border-radius: 6px;
                    background: #fff; padding: 0 .5rem; min-width: 4.8rem; }
    """]

    def __init__(self, **params: Any) -> None:
        if not params.get("years"):
            this = dt.date.today().year
            params["years"] = [this, this + 1, this + 2]
        super().__init__(**spaced(params))


class CopyLink(JSComponent):
    """A sentence, a link in ``<code>`` and a button that copies it ("Kopiert")."""

    text = param.String(default="", doc="What the link is, e.g. whom it is for, until when.")
    url = param.String(default="", doc="The link (nothing is shown without one).")

    _esm = """
    async function copy(el, text) {
      try {
        if (navigator.clipboard && window.isSecureContext) {
          await navigator.clipboard.writeText(text);
          return true;
        }
      } catch (err) { /* fall back below */ }
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      el.appendChild(area);
      area.select();
      let ok = false;
      try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
      area.remove();
      return ok;
    }
    export function render({ model, el }) {
      const box = document.createElement("div");
      box.className = "link-box";
      const text = document.createElement("p");
      const code = document.createElement("code");
      const row = document.createElement("div");
      row.className = "row";
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Link kopieren";
      const status = document.createElement("span");
      status.className = "status";
      status.setAttribute("role", "status");
      row.append(button, status);
      box.append(text, code, row);
      el.appendChild(box);
      let timer = null;
      button.addEventListener("click", async () => {
        const ok = await copy(el, model.url);
        status.textContent = ok ? "✓ Kopiert" :
          "Kopieren ging nicht – bitte den Link markieren und kopieren.";
        status.className = ok ? "status ok" : "status failed";
        clearTimeout(timer);
        timer = setTimeout(() => { status.textContent = ""; }, 6000);
      });
      const draw = () => {
        box.hidden = !model.url;
        text.textContent = model.text;
        code.textContent = model.url;
        status.textContent = "";
      };
      draw();
      model.on("url", draw);
      model.on("text", draw);
    }
    """
    _stylesheets = [BASE_CSS + """
    .link-box { background: #eef3f8; border-left: 6px solid #0b5cad; border-radius: 4px;
                 padding: .6rem 1rem; margin: .5rem 0; }
    .link-box p { margin: 0 0 .3rem 0; font-size: 1rem; }
    .link-box code { display: block; word-break: break-all; font-size: .95rem;
                      font-family: "DejaVu Sans Mono", monospace; margin-bottom: .5rem; }
    .row { display: flex; align-items: center; gap: 1rem; flex-wrap: wrap; }
    .row button { min-height: 48px; min-width: 48px; padding: 0 1.1rem; border-radius: 6px;
                  border: 2px solid #0b5cad; background: #0b5cad; color: #fff;
                  font-size: 1rem; font-weight: 600; }
    .status.ok { color: #1e6b34; font-weight: 700; }
    .status.failed { color: #9b1c1c; font-weight: 600; }
    """]

    def __init__(self, **params: Any) -> None:
        super().__init__(**spaced(params))


class TabBar(JSComponent):
    """Tabs ``[{id, label}]``; a tap sets ``active``. Hidden on a wide screen."""

    tabs = param.List(default=[], doc="The tabs, in order: {id, label}.")
    active = param.String(default="", doc="The tab shown.")
    label = param.String(default="Bereiche", doc="Accessible name of the tab list.")

    _esm = """
    export function render({ model, el }) {
      const list = document.createElement("div");
      list.className = "tabs";
      list.setAttribute("role", "tablist");
      el.appendChild(list);
      const draw = () => {
        list.setAttribute("aria-label", model.label);
        list.replaceChildren();
        for (const tab of model.tabs) {
          const on = tab.id === model.active;
          const button = document.createElement("button");
          button.type = "button";
          button.setAttribute("role", "tab");
          button.setAttribute("aria-selected", on ? "true" : "false");
          button.dataset.tab = tab.id;
          button.className = on ? "tab on" : "tab";
          button.textContent = tab.label;
          button.addEventListener("click", () => { model.active = tab.id; });
          list.appendChild(button);
        }
      };
      draw();
      model.on("tabs", draw);
      model.on("active", draw);
    }
    """
    _stylesheets = [BASE_CSS + f"""
    @media (min-width: {NARROW + 1}px) {{ :host {{ display: none !important; }} }}
    .tabs {{ display: flex; gap: .25rem; border-bottom: 2px solid #0b5cad; }}
    .tab {{ flex: 1 1 0; min-height: 52px; padding: 0 1rem; border: 2px solid #8a949e;
            border-bottom: 0; border-radius: 8px 8px 0 0; background: #eef3f8; color: #1b1f23;
            font-size: 1.05rem; font-weight: 600; }}
    .tab.on {{ background: #0b5cad; border-color: #0b5cad; color: #fff; }}
    """]
