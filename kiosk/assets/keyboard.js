// The touch screen's own keyboard (layouts from kiosk/views/keyboard.py). It types
// into its field as a hardware keyboard would: at the caret, within the field's
// maxlength, with an "input" event, and without taking the focus from the field.
// Keys are named for screen readers in the screen's language; what was typed is
// echoed in a polite live region. Bundled before kiosk_screen.js in one module.
const OSK = (() => {
  const make = (tag, attrs = {}, text = null) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, v);
    if (text !== null) node.textContent = text;
    return node;
  };
  const ICONS = { "{bksp}": "⌫", "{shift}": "⇧" };
  const WIDE = { "{bksp}": 1.6, "{shift}": 1.6, "{space}": 5, "{script}": 1.6 };

  // Write `text` into `input` at its caret (the end where the field has none).
  function insert(input, text) {
    const max = input.maxLength > 0 ? input.maxLength : Infinity;
    if (input.value.length + text.length > max) return false;
    let start = null, end = null;
    try { start = input.selectionStart; end = input.selectionEnd; } catch { /* type=email */ }
    if (start === null || end === null) input.value += text;
    else input.setRangeText(text, start, end, "end");
    return true;
  }

  function erase(input) {
    let start = null, end = null;
    try { start = input.selectionStart; end = input.selectionEnd; } catch { /* type=email */ }
    if (start === null || end === null) { input.value = [...input.value].slice(0, -1).join(""); return; }
    if (start === end && start > 0) start -= 1;
    input.setRangeText("", start, end, "end");
  }

  // The keyboard for `input`, described by `desc`; `state` ({shift, latin}) outlives
  // redraws of the page. The button beside the field (`toggle`) shows and hides it.
  function keyboard(desc, input, state) {
    const root = make("div", { class: `osk osk-${desc.kind}`, role: "group", "aria-label": desc.label,
                               id: `osk-${desc.kind}`, dir: desc.dir });
    const keys = make("div", { class: "osk-keys" });
    const echo = make("p", { class: "osk-echo", "aria-live": "polite" }, "");
    root.append(keys, echo);

    const say = (text) => { echo.textContent = ""; setTimeout(() => { echo.textContent = text; }, 20); };
    const cased = (key) => (desc.upper || state.shift ? key.toLocaleUpperCase(desc.locale) : key);

    function press(token) {
      if (token === "{shift}") { state.shift = !state.shift; draw(); say(desc.names[token]); return; }
      if (token === "{script}") { state.latin = !state.latin; state.shift = false; draw();
                                  say(desc.names[state.latin ? "{latin}" : "{script}"]); return; }
      if (token === "{bksp}") erase(input);
      else if (!insert(input, token === "{space}" ? " " : cased(token))) return;
      input.dispatchEvent(new Event("input", { bubbles: true }));
      say(token === "{bksp}" || token === "{space}" ? desc.names[token] : desc.names[token] || cased(token));
      if (state.shift && token !== "{bksp}") { state.shift = false; draw(); }
    }

    function key(token, lettersLang) {
      const special = token.startsWith("{") && token.length > 1;
      let label = special ? ICONS[token] || desc.names[token] : cased(token);
      let name = desc.names[token] || null;
      if (token === "{script}") {
        label = state.latin ? desc.script_sample : "ABC";
        name = desc.names[state.latin ? "{script}" : "{latin}"];
      }
      const b = make("button", {
        type: "button", class: `osk-key${special ? " osk-special" : ""}`, tabindex: "-1",
        "data-key": token, "aria-label": name, lang: special || name ? null : lettersLang,
        "aria-pressed": token === "{shift}" ? String(state.shift) : null,
        style: WIDE[token] ? `flex-grow:${WIDE[token]}` : null }, label);
      // Keep the focus (and the caret) in the field: act on click, never take focus.
      b.addEventListener("pointerdown", (e) => e.preventDefault());
      b.addEventListener("mousedown", (e) => e.preventDefault());
      b.addEventListener("click", () => {
        b.classList.add("hit");
        setTimeout(() => b.classList.remove("hit"), 150);
        press(token);
      });
      return b;
    }

    function draw() {
      const rows = state.latin && desc.latin ? desc.latin : desc.rows;
      const lettersLang = state.latin && desc.latin ? desc.latin_lang : desc.letters_lang;
      keys.setAttribute("dir", state.latin ? "ltr" : desc.dir);
      keys.replaceChildren(...rows.map((row) => {
        const r = make("div", { class: "osk-row" });
        r.append(...row.map((token) => key(token, lettersLang)));
        return r;
      }));
    }
    draw();
    return root;
  }

  // The button beside a field that shows or hides its keyboard (it says which).
  function toggle(desc, open, onToggle) {
    const b = make("button", { type: "button", class: "btn secondary osk-toggle",
      "aria-expanded": String(open), "aria-controls": open ? `osk-${desc.kind}` : null },
      open ? desc.hide : desc.show);
    b.addEventListener("click", onToggle);
    return b;
  }

  return { keyboard, toggle };
})();
