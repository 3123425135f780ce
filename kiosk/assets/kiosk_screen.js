// The client's touch screen: renders the screen the server describes and sends
// back what the client taps. No state of its own but what is typed, the idle
// clock, keyboard focus and the on-screen keyboard; every string arrives
// translated. Text someone typed (notes, names) is isolated (<bdi>, dir=auto), so
// that it keeps its own direction on a screen in the other.

const h = (tag, attrs = {}, ...children) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") el.textContent = v;
    else if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c) el.append(c);
  return el;
};

const bdi = (text) => h("bdi", { text });
// Translated text with typed pieces in it: ["Folgetermin mit: ", {user: "Jobcenter"}].
const rich = (parts) => (Array.isArray(parts) ? parts : [parts]).map(
  (p) => (typeof p === "string" ? p : bdi(p.user)));
// Typed values one after another: "Jobcenter · Sachbearbeitung", each isolated.
const joined = (items) => items.flatMap((x, i) => (i ? [" · ", bdi(x)] : [bdi(x)]));

export function render({ model, el }) {
  let typed = "";            // the appointment code being typed
  let typedMail = "";        // the mail address for the summary (never sent but to mail it)
  let lastTouch = Date.now();
  let warned = false, expired = false, idleKey = "", lastKind = "";
  const osk = { open: false, shift: false, latin: false };  // the on-screen keyboard
  let oskOpened = false;     // opened since the last draw: bring it into view
  const send = (msg) => model.send_msg(msg);
  const button = (label, msg, kind = "primary", extra = {}) =>
    h("button", { type: "button", class: `btn ${kind}`, "data-action": msg.action,
                  onclick: () => send(msg), ...extra }, label);

  const touched = () => {
    lastTouch = Date.now();
    expired = false;
    if (warned) { warned = false; send({ action: "idle.active" }); }
  };
  for (const type of ["pointerdown", "keydown", "touchstart"]) {
    document.addEventListener(type, touched, { capture: true, passive: true });
  }
  document.addEventListener("contextmenu", (e) => e.preventDefault());
  setInterval(() => {
    const idle = model.screen && model.screen.idle;
    if (!idle) return;
    const quiet = (Date.now() - lastTouch) / 1000;
    if (!warned && quiet >= idle.timeout - idle.warning) { warned = true; send({ action: "idle.warn" }); }
    if (!expired && quiet >= idle.timeout) { expired = true; send({ action: "idle.expired" }); }
  }, 250);

  // A field the client types into on the touch screen: with its keyboard and the
  // button that shows or hides it; a tap on the field shows it, too.
  const withKeyboard = (input, kb) => {
    input.addEventListener("click", () => { if (!osk.open) { osk.open = oskOpened = true; draw(); } });
    const row = h("div", { class: "field-row" }, input, OSK.toggle(kb, osk.open, () => {
      osk.open = !osk.open; oskOpened = osk.open; draw(); }));
    row.lastChild.setAttribute("data-action", `osk.toggle.${kb.kind}`);
    const board = osk.open ? OSK.keyboard(kb, input, osk) : null;
    return [row, board];
  };

  const blocks = {
    text: (b) => h("p", { class: "lead", text: b.text }),
    notice: (b) => h("p", { class: "notice", role: "status", text: b.text }),
    languages: (b) => h("div", { class: "languages", role: "group", "aria-label": b.label },
      b.options.map((o) => button(o.label, { action: "language", code: o.code },
        o.current ? "choice current" : "choice", { lang: o.tag,
        "aria-pressed": o.current ? "true" : "false" }))),
    checkin: (b) => {
      const [row, board] = withKeyboard(h("input", { id: "checkin-code", type: "text",
        autocomplete: "off", inputmode: "none", maxlength: "32", spellcheck: "false",
        dir: "ltr", "data-action": "checkin.code.input", "aria-invalid": b.invalid ? "true" : null,
        "aria-describedby": b.invalid ? "checkin-error" : null,
        oninput: (e) => { typed = e.target.value; } }), b.keyboard);
      row.firstChild.value = typed;
      return h("form", { class: "checkin", onsubmit: (e) => { e.preventDefault();
          send({ action: "checkin.code", code: typed }); } },
        h("label", { for: "checkin-code", text: b.label }), row,
        b.invalid ? h("p", { id: "checkin-error", class: "error", role: "alert", text: b.invalid }) : null,
        h("button", { type: "submit", class: "btn primary", "data-action": "checkin.code" }, b.send),
        board);
    },
    people: (b) => h("section", { "aria-labelledby": "who" },
      h("h2", { id: "who", text: b.title }),
      h("ul", { class: "people" }, b.people.map((p) => h("li", {},
        h("span", { class: "name" }, p.own ? p.name : bdi(p.name)),
        h("span", { class: "meta" }, joined(p.facts), p.facts.length && p.status ? " · " : null,
          p.status),
        p.withdraw ? button(p.withdraw.label, { action: "withdraw", partner: p.withdraw.partner },
                            "secondary") : null)))),
    list: (b) => h("section", { "aria-labelledby": `list-${b.variant}` },
      h("h2", { id: `list-${b.variant}`, text: b.title }),
      h("ul", { class: `items ${b.variant}`, role: "list", "aria-live": "polite" },
        b.items.map((i) => h("li", { "data-item": i.id },
          h("span", { class: "typed", dir: "auto", text: i.text }),
          i.meta && i.meta.length ? h("span", { class: "meta" }, rich(i.meta)) : null)))),
    topics: (b) => h("section", { "aria-labelledby": "list-topics" },
      h("h2", { id: "list-topics", text: b.title }),
      h("ul", { class: "topics", role: "list" }, b.items.map((x) => h("li", { text: x })))),
    outcome: (b) => h("section", { "aria-labelledby": "outcome" },
      h("h2", { id: "outcome", text: b.title }), h("p", { class: "lead" }, rich(b.text))),
    handout: (b) => {
      const parts = [h("div", { class: "actions" },
        h("button", { type: "button", class: "btn secondary", "data-action": "summary.print",
          onclick: () => window.open("/summary?print=1", "_blank") }, b.print))];
      const m = b.mail;
      if (m) {
        if (m.busy || (m.status && !m.failed)) { typedMail = ""; osk.open = false; }
        const described = ["summary-mail-hint", m.invalid ? "summary-mail-error" : null]
          .filter(Boolean).join(" ");
        const [row, board] = withKeyboard(h("input", { id: "summary-mail", type: "email",
          autocomplete: "off", inputmode: "none", spellcheck: "false", maxlength: "254",
          dir: "ltr", "data-action": "summary.mail.input", "aria-invalid": m.invalid ? "true" : null,
          "aria-describedby": described, oninput: (e) => { typedMail = e.target.value; } }),
          m.keyboard);
        row.firstChild.value = typedMail;
        parts.push(h("form", { class: "mail", novalidate: true, onsubmit: (e) => { e.preventDefault();
            send({ action: "summary.mail", email: typedMail }); } },
          h("label", { for: "summary-mail", text: m.label }),
          h("p", { id: "summary-mail-hint", class: "meta", text: m.hint }), row,
          m.invalid ? h("p", { id: "summary-mail-error", class: "error", role: "alert",
                                text: m.invalid }) : null,
          h("button", { type: "submit", class: "btn primary", "data-action": "summary.mail",
                        disabled: m.busy }, m.send),
          h("p", { class: m.failed ? "error mail-status" : "ok mail-status", role: "status",
                   "aria-live": "polite", text: m.status || "" }), board));
      }
      return h("section", { class: "handout" }, parts);
    },
    consent: (b) => h("section", { class: "consent", "aria-labelledby": "consent-who" },
      h("dl", {},
        h("dt", { id: "consent-who", text: b.who_label }), h("dd", {}, joined(b.who)),
        h("dt", { text: b.why_label }), h("dd", { dir: "auto", text: b.why }),
        h("dt", { text: b.shared_label }), h("dd", { text: b.shared })),
      h("ul", { class: "assurances" }, b.assurances.map((t) => h("li", { text: t }))),
      h("div", { class: "actions big" },
        button(b.yes, { action: "consent", partner: b.partner, yes: true }, "primary"),
        button(b.no, { action: "consent", partner: b.partner, yes: false }, "secondary"))),
    question: (b) => h("fieldset", { class: "question" },
      h("legend", { id: `q-${b.id}`, text: b.text }),
      h("p", { class: "scale", id: `scale-${b.id}`, text: b.scale }),
      h("div", { role: "radiogroup", "aria-labelledby": `q-${b.id}`,
                 "aria-describedby": `scale-${b.id}`, class: `answers answer-${b.id}` },
        b.options.map((v) => h("button", { type: "button", role: "radio",
          class: v === b.value ? "answer chosen" : "answer",
          "aria-checked": v === b.value ? "true" : "false",
          onclick: () => send({ action: "answer", q: b.id, v }) }, String(v))))),
  };

  const draw = () => {
    const s = model.screen;
    if (!s || !s.kind) return;
    const active = el.getRootNode().activeElement;
    const focusKey = active && el.contains(active) ? active.getAttribute("data-action") : null;
    document.documentElement.lang = s.lang;
    document.documentElement.dir = s.dir;
    document.title = s.page_title;
    el.lang = s.lang;
    el.dir = s.dir;
    if (s.idle_key !== idleKey) { idleKey = s.idle_key; lastTouch = Date.now(); warned = false; expired = false; }
    if (s.kind !== "checkin") typed = "";
    if (s.kind !== "summary") typedMail = "";
    if (s.kind !== lastKind) {  // a new screen: the code's keyboard is up at once
      Object.assign(osk, { open: s.kind === "checkin", shift: false, latin: false });
      oskOpened = osk.open;
    }
    const t = s.toolbar;
    const page = h("div", { class: `page kind-${s.kind} ${s.dir}${s.contrast ? " high-contrast" : ""}`,
                            style: `--scale:${s.size / 100}` },
      h("header", { class: "toolbar" },
        h("div", { class: "agency" },
          h("span", { class: "logo", role: "img", "aria-label": t.logo_label }),
          h("span", {}, bdi(t.agency))),
        h("div", { class: "tools" },
          button(t.language_button, { action: "language.menu" }, "tool",
                 { "aria-label": `${t.language_label}: ${t.language_button}` }),
          button(`A ${s.size} %`, { action: "size" }, "tool",
                 { "aria-label": `${t.size_label}: A ${s.size} %` }),
          button(t.contrast_label, { action: "contrast" }, "tool",
                 { "aria-pressed": s.contrast ? "true" : "false" }))),
      h("main", { class: "content" },
        h("p", { class: "room" }, bdi(s.room)),
        h("h1", { text: s.title, tabindex: "-1" }),
        s.blocks.map((b) => blocks[b.type](b)),
        s.error ? h("p", { class: "error", role: "alert", text: s.error }) : null,
        s.actions.length ? h("div", { class: "actions" },
          s.actions.map((a) => button(a.label, { action: a.id }, a.kind))) : null),
      s.privacy ? h("footer", { class: "privacy-bar" },
        button(s.privacy.label, { action: "privacy" }, s.privacy.on ? "privacy on" : "privacy",
               { "aria-pressed": s.privacy.on ? "true" : "false" })) : null,
      s.warning ? h("div", { class: "overlay" },
        h("div", { class: "dialog", role: "alertdialog", "aria-modal": "true",
                   "aria-labelledby": "idle-title", "aria-describedby": "idle-lead" },
          h("h2", { id: "idle-title", text: s.warning.title }),
          h("p", { id: "idle-lead", text: s.warning.lead }),
          button(s.warning.stay, { action: "idle.stay" }, "primary"))) : null);
    el.replaceChildren(page);
    const again = focusKey && el.querySelector(`[data-action="${focusKey}"]`);
    if (s.warning) el.querySelector(".dialog button").focus();
    else if (s.kind !== lastKind && lastKind) {
      // A new screen: put the focus where the client goes on, and let screen
      // readers announce it (the code field, else the heading).
      ((s.kind === "checkin" && el.querySelector("input")) || el.querySelector("h1")).focus();
    } else if (again) again.focus();
    const board = oskOpened && el.querySelector(".osk");
    if (board) board.scrollIntoView({ block: "nearest" });
    oskOpened = false;
    lastKind = s.kind;
  };
  draw();
  model.on("screen", draw);
}
