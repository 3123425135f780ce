// The partner console: status, rings pushed over a websocket, accept / decline.
(() => {
  const $ = (id) => document.getElementById(id);
  const STATUS = { available: "Verfügbar", busy: "Beschäftigt", away: "Abwesend" };
  const cards = new Map();  // ring id -> {el, left, shownAt}
  let socket = null, retry = 500, leaving = false;

  // -- sound: a two-tone Web Audio chime, repeated while anything rings ------------
  let audio = null, tones = null;
  const context = () => {
    if (!audio) audio = new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === "suspended") audio.resume().catch(() => {});
    return audio;
  };
  const tone = () => {
    const ctx = context();
    kioskChime(ctx, 0.35);  // assets/chime.js
    document.body.dataset.tones = String(Number(document.body.dataset.tones || 0) + 1);
    $("sound-hint").textContent = ctx.state === "running"
      ? "Der Klingelton ist eingeschaltet."
      : "Der Browser hält den Ton noch zurück: bitte einmal „Klingelton testen“ drücken.";
  };
  const ringing = (on) => {
    if (on && !tones) { tone(); tones = setInterval(tone, 2000); }
    if (!on && tones) { clearInterval(tones); tones = null; }
  };
  $("sound").addEventListener("click", () => { context(); tone(); });
  for (const ev of ["pointerdown", "keydown"]) document.addEventListener(ev, () => { if (audio) context(); });

  // -- talking to the page server ---------------------------------------------------
  const post = async (path, body) => {
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                  body: JSON.stringify(body), credentials: "same-origin" });
    let data = {};
    try { data = await r.json(); } catch (e) { /* not JSON */ }
    if (r.status === 401) location.reload();
    return { ok: r.ok, data };
  };

  const note = (text) => {
    if (!text) return;
    const p = document.createElement("p");
    p.textContent = text;
    $("notes").prepend(p);
    setTimeout(() => p.remove(), 15000);
  };

  // -- rings --------------------------------------------------------------------------
  const fail = (card, text) => {
    if (!card.isConnected) { note(text); return; }  // the ring ended meanwhile
    const err = card.querySelector(".error");
    err.textContent = text; err.hidden = false;
    for (const b of card.querySelectorAll("button")) b.disabled = false;
  };
  const act = async (id, card, button, path, body, busyText) => {
    for (const b of card.querySelectorAll("button")) b.disabled = true;
    const label = button.textContent;
    button.textContent = busyText;
    const r = await post(path, { ring: id, ...body });
    button.textContent = label;
    if (!r.ok) { fail(card, r.data.error || "Das ging nicht."); return null; }
    return r.data;
  };

  const addRing = (ring) => {
    const el = $("ring-template").content.firstElementChild.cloneNode(true);
    el.dataset.ring = ring.id;
    el.setAttribute("aria-label", `Anruf aus ${ring.room}`);
    el.querySelector(".room").textContent = ring.room;
    el.querySelector(".counsellor").textContent = ring.counsellor;
    el.querySelector(".topic").textContent = ring.topic;
    const accept = el.querySelector(".accept");
    accept.addEventListener("click", async () => {
      const data = await act(ring.id, el, accept, "/partner/accept", {}, "Verbinde …");
      if (data && data.url) { leaving = true; location.assign(data.url); }
    });
    for (const [cls, reason] of [["decline-busy", "busy"], ["decline-matter", "not_our_matter"]]) {
      const b = el.querySelector("." + cls);
      b.addEventListener("click", () => act(ring.id, el, b, "/partner/decline", { reason }, "Sende …"));
    }
    $("rings").append(el);
    const entry = { el, until: Date.now() + ring.left * 1000, shownAt: Date.now() };
    el.dataset.shownAt = String(entry.shownAt);
    cards.set(ring.id, entry);
    countdown();
    accept.focus();
  };

  const countdown = () => {
    for (const { el, until } of cards.values()) {
      const s = Math.max(0, Math.round((until - Date.now()) / 1000));
      el.querySelector(".left").textContent = `Klingelt noch ${s} s`;
    }
  };
  setInterval(countdown, 1000);

  const show = (m) => {
    $("name").textContent = m.name;
    $("agency").textContent = m.agency;
    document.title = `Partnerkonsole – ${m.name}`;
    for (const input of document.querySelectorAll("input[name=status]")) input.checked = input.value === m.status;
    $("status-text").textContent = m.status ? `Ihr Status: ${STATUS[m.status]}` : "";
    for (const g of m.gone) {
      const c = cards.get(g.id);
      if (c) { c.el.remove(); cards.delete(g.id); }
      note(g.note);
    }
    for (const r of m.rings) if (!cards.has(r.id)) addRing(r);
    $("quiet").hidden = cards.size > 0;
    ringing(cards.size > 0);
  };

  for (const input of document.querySelectorAll("input[name=status]")) {
    input.addEventListener("change", async () => {
      const r = await post("/partner/status", { status: input.value });
      if (!r.ok) $("status-text").textContent = r.data.error || "Der Status ließ sich nicht setzen.";
    });
  }

  // -- the websocket: pushes, and keeps us present while open ----------------------
  const connect = () => {
    socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/partner/ws`);
    socket.addEventListener("open", () => { retry = 500; $("connection").hidden = true; });
    socket.addEventListener("message", (e) => show(JSON.parse(e.data)));
    socket.addEventListener("close", (e) => {
      if (leaving) return;
      if (e.code === 4401) { location.reload(); return; }
      $("connection").hidden = false;
      post("/partner/status", {}).catch(() => {});  // signed out: answers 401, and we reload
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    });
  };
  window.addEventListener("pagehide", () => { leaving = true; if (socket) socket.close(); });
  connect();
})();
