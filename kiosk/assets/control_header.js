// The counsellor's console header (/control): the talk at a glance and the actions a
// talk needs most, one touch away. Drawn from `model.data` (kiosk/views/console_header.py);
// a tap sends {action}. Text is set with textContent only. A part is redrawn only when
// what it shows changed, so a tap never lands on a button that is being replaced; the
// clock, the talk's duration and countdowns tick here, without a message per second.
let uid = 0;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function two(n) { return String(n).padStart(2, "0"); }

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

export function render({ model, el: root }) {
  const box = el("div", "hdr");
  root.appendChild(box);
  const parts = {};        // name -> {node, sig}
  const order = ["top", "facts", "confirm", "ending", "actions"];
  let asking = null;       // the action whose question is open
  let focusQuestion = false;

  const send = (action) => model.send_msg({action});

  function place(name, sig, build) {
    const old = parts[name];
    if (old && old.sig === sig) return;
    const node = build();
    if (old && old.node) old.node.remove();
    parts[name] = {node, sig};
    if (!node) return;
    const next = order.slice(order.indexOf(name) + 1).map((n) => parts[n] && parts[n].node)
      .find((n) => n && n.parentNode === box);
    box.insertBefore(node, next || null);
  }

  function actionButton(a) {
    const b = el("button", `act ${a.kind || ""}`);
    b.type = "button";
    b.dataset.action = a.id;
    if (a.toggle) {  // the name says the state in words ("Kamera an"); so does aria-pressed
      b.append(el("span", "label", a.label), " ", el("span", "state", a.state));
      b.setAttribute("aria-pressed", a.pressed ? "true" : "false");
      b.classList.add("toggle", a.pressed ? "pressed" : "unpressed");
    } else {
      b.append(el("span", "label", a.label));
      if (a.detail) b.append(el("span", "detail", a.detail));
    }
    if (a.disabled) b.disabled = true;
    b.addEventListener("click", () => {
      if (a.confirm) { asking = a.id; focusQuestion = true; draw(); } else send(a.id);
    });
    return b;
  }

  function draw() {
    const d = model.data || {};
    box.dataset.phase = d.phase ? d.phase.id : "";

    const timed = d.elapsed === null || d.elapsed === undefined ? null : d.session;
    place("top", JSON.stringify([d.room, d.phase, timed, d.signout]), () => {
      const top = el("div", "top");
      const where = el("div", "where");
      where.append(el("span", "room", d.room || ""));
      const title = el("h1", "title");
      title.append(el("span", "sr-only", "Beratung: "),
                   el("span", `phase ${d.phase ? d.phase.id : ""}`, d.phase ? d.phase.label : ""));
      where.append(title);
      if (d.elapsed !== null && d.elapsed !== undefined) {
        const since = el("span", "elapsed");
        since.dataset.elapsed = String(d.elapsed);
        since.dataset.at = String(Date.now());
        where.append(since);
      }
      where.append(el("span", "clock"));
      top.append(where);
      if (d.signout) {
        const form = el("form", "signout");
        form.method = "post";
        form.action = "/logout";
        const out = el("button", "act quiet", "Abmelden");
        out.type = "submit";
        form.append(out);
        top.append(form);
      }
      return top;
    });

    place("facts", JSON.stringify(d.facts || []), () => {
      if (!(d.facts || []).length) return null;
      const facts = el("ul", "facts");
      facts.setAttribute("aria-label", "Lage im Raum");
      for (const f of d.facts) {
        const li = el("li", `fact ${f.tone || ""}`);
        if (f.key) li.dataset.fact = f.key;
        if (f.label) li.append(el("span", "fact-label", f.label + ": "));
        const text = el("span", "fact-text", f.text);
        if (f.countdown !== undefined) {
          text.dataset.template = f.text;
          text.dataset.seconds = String(f.countdown);
          text.dataset.at = String(Date.now());
        }
        li.append(text);
        facts.append(li);
      }
      return facts;
    });

    const question = (d.actions || []).find((a) => a.id === asking && a.confirm);
    if (!question) asking = null;
    place("confirm", JSON.stringify(question || null), () => {
      if (!question) return null;
      const bar = el("div", "confirm");
      bar.setAttribute("role", "alertdialog");
      const qid = `hdr-q-${++uid}`;
      const text = el("p", "question", question.confirm);
      text.id = qid;
      bar.setAttribute("aria-labelledby", qid);
      const yes = el("button", "act danger", question.yes || question.label);
      yes.type = "button";
      yes.addEventListener("click", () => { asking = null; send(question.id); draw(); });
      const no = el("button", "act", "Abbrechen");
      no.type = "button";
      no.className = "act no";
      no.addEventListener("click", () => { asking = null; draw(); });
      bar.append(text, yes, no);
      return bar;
    });
    if (focusQuestion && parts.confirm && parts.confirm.node) {
      parts.confirm.node.querySelector(".no").focus();
    }
    focusQuestion = false;

    place("ending", JSON.stringify(d.ending || null), () => {
      if (!d.ending) return null;
      const bar = el("div", "ending");
      const text = el("p", "question");
      text.setAttribute("role", "status");
      text.dataset.template = d.ending.text;
      text.dataset.seconds = String(d.ending.seconds);
      text.dataset.at = String(Date.now());
      const undo = el("button", "act primary", d.ending.undo);
      undo.type = "button";
      undo.addEventListener("click", () => send("end_undo"));
      bar.append(text, undo);
      return bar;
    });

    place("actions", JSON.stringify(d.actions || []) + (asking || ""), () => {
      const actions = el("div", "actions");
      actions.setAttribute("role", "group");
      actions.setAttribute("aria-label", "Aktionen");
      for (const a of d.actions || []) actions.append(actionButton(a));
      return actions;
    });
    tick();
  }

  function tick() {
    const now = new Date();
    const passed = (node) => (Date.now() - Number(node.dataset.at)) / 1000;
    const clock = box.querySelector(".clock");
    if (clock) clock.textContent = `${two(now.getHours())}:${two(now.getMinutes())} Uhr`;
    const since = box.querySelector(".elapsed");
    if (since) since.textContent = "Dauer " + duration(Number(since.dataset.elapsed) + passed(since));
    for (const node of box.querySelectorAll("[data-template]")) {
      const left = Math.max(0, Math.ceil(Number(node.dataset.seconds) - passed(node)));
      node.textContent = node.dataset.template.replace("{s}", String(left));
    }
  }

  draw();
  const timer = setInterval(tick, 1000);
  model.on("data", draw);
  model.on("remove", () => clearInterval(timer));
}
