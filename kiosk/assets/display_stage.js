// The second display's stage: the people far away (and later a shared screen) on
// one side, the self-view, the notes and the next steps on the other; above both
// the room, the title and any notice. Nothing scrolls and nothing overlaps: the
// CSS grid gives each part its own area, and a list longer than its area shows
// its newest entries. Each tile pulls its picture from the room's media engine
// (WHEP on the same host); the headings and lists arrive as escaped HTML.
export function render({ model, el }) {
  const make = (tag, cls) => { const n = document.createElement(tag); if (cls) n.className = cls; return n; };
  const stage = make("div", "stage");
  const head = make("header", "head");
  const videos = make("div", "videos");
  const side = make("div", "side");
  const body = make("div", "side-body");
  side.append(body);
  stage.append(head, videos, side);
  el.append(stage);
  const calls = new Map(); // tile key -> {el, pc, resource, retry, kind}

  async function pull(video, url, audio) {
    const pc = new RTCPeerConnection({ iceServers: [] });
    pc.addTransceiver("video", { direction: "recvonly" });
    if (audio) pc.addTransceiver("audio", { direction: "recvonly" });
    const stream = new MediaStream();
    pc.ontrack = (e) => stream.addTrack(e.track);
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((done) => {
      if (pc.iceGatheringState === "complete") return done();
      pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && done());
      setTimeout(done, 2000);
    });
    const res = await fetch(url, { method: "POST",
      body: pc.localDescription.sdp, headers: { "Content-Type": "application/sdp" } });
    if (res.status !== 201) { pc.close(); return null; }
    const resource = res.headers.get("Location");
    await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
    video.srcObject = stream;
    if (video.isConnected) play(video);  // a tile pulled ahead plays once it is shown
    return { pc, resource };
  }
  const play = (video) => {
    if (video.srcObject && video.paused)
      video.play().catch(() => { video.muted = true; video.play().catch(() => {}); });
  };
  const hangUp = (call) => {
    clearTimeout(call.retry);
    if (call.pc) call.pc.close();
    if (call.resource) fetch(call.resource, { method: "DELETE" });
  };
  // Pull into `call` until it works or the tile goes; pull again when the connection
  // fails, or stays cut for 3 s (the room ended it, or a loaded machine lost its checks):
  // the room's display must never keep a frozen or black tile.
  function connect(key, call, url, audio) {
    const again = () => {
      hangUp(call);
      call.pc = call.resource = null;
      call.retry = setTimeout(attempt, 1000);
    };
    const watch = (pc) => {
      let cut = null;
      pc.addEventListener("connectionstatechange", () => {
        if (calls.get(key) !== call || call.pc !== pc) return;
        clearTimeout(cut);
        if (pc.connectionState === "failed") again();
        else if (pc.connectionState === "disconnected") cut = setTimeout(() => {
          if (call.pc === pc && pc.connectionState !== "connected") again();
        }, 3000);
      });
    };
    const attempt = async () => {
      if (calls.get(key) !== call) return;
      const got = await pull(call.el.querySelector("video"), url, audio).catch(() => null);
      if (calls.get(key) !== call) { if (got) hangUp(got); return; }
      if (got) { Object.assign(call, got); watch(got.pc); }
      else call.retry = setTimeout(attempt, 1000);
    };
    attempt();
  }

  function figure(cls, caption, label, muted) {
    const fig = make("figure", cls);
    const video = make("video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = muted;
    video.setAttribute("aria-label", label);
    const cap = make("figcaption");
    cap.append(make("bdi"));  // a name keeps its own direction; the caption sits at the start
    cap.firstChild.textContent = caption;
    fig.append(video, cap);
    return fig;
  }

  // The small self-view: the room's camera as the others get it, while anyone is shown.
  function selfView(want) {
    const call = calls.get("self");
    if (want && !call) {
      const row = make("div", "self-row");
      const fig = figure("self-view", want.label, want.label, true);
      const label = make("p", "self-label");
      label.textContent = want.label;
      fig.querySelector("figcaption").remove();
      row.append(fig, label);
      side.prepend(row);
      const own = { el: fig, row, pc: null, resource: null, retry: null, kind: "self" };
      calls.set("self", own);
      connect("self", own, "/api/whep/room", false);
    } else if (!want && call) {
      hangUp(call);
      call.row.remove();
      calls.delete("self");
    } else if (want && call) {
      call.row.querySelector(".self-label").textContent = want.label;
      call.el.querySelector("video").setAttribute("aria-label", want.label);
    }
  }

  // Tiles on the stage, and those pulled ahead unseen (people in the lobby or waiting for
  // consent: the room lets no frame of theirs through before; then it starts at once).
  function syncTiles() {
    const wanted = new Map((model.tiles || []).map((t) => [t.key, t]));
    const ahead = new Map((model.standby || []).map((t) => [t.key, t]));
    for (const [key, call] of calls) {
      if (key !== "self" && !wanted.has(key) && !ahead.has(key)) {
        hangUp(call); call.el.remove(); calls.delete(key);
      }
    }
    for (const [key, t] of [...ahead, ...wanted]) {
      const known = calls.get(key);
      if (known) { known.el.querySelector("figcaption bdi").textContent = t.caption; continue; }
      const fig = figure(`tile tile-${t.kind}`, t.caption, t.caption, t.kind === "screen");
      fig.dataset.partner = t.partner;
      const call = { el: fig, pc: null, resource: null, retry: null, kind: t.kind };
      calls.set(key, call);
      connect(key, call, t.url, t.audio);
    }
    // Screens first (the large area), then the people in the order the room gave.
    const order = [...wanted.values()].sort((a, b) => (b.kind === "screen") - (a.kind === "screen"));
    videos.replaceChildren(...order.map((t) => calls.get(t.key).el));
    for (const t of order) play(calls.get(t.key).el.querySelector("video"));
    const people = order.filter((t) => t.kind !== "screen").length;
    videos.dataset.people = String(people);
    stage.classList.toggle("with-video", wanted.size > 0);
    stage.classList.toggle("with-screen", order.some((t) => t.kind === "screen"));
    selfView(wanted.size > 0 ? model.self_view : null);
    fit();
  }

  // A list longer than its area shows its newest entries, with a hint that more is above.
  function fit() {
    for (const list of body.querySelectorAll("ul.items")) {
      list.scrollTop = list.scrollHeight;
      list.classList.toggle("clipped", list.scrollHeight > list.clientHeight + 1);
    }
  }

  function syncText() {
    stage.lang = model.lang;
    stage.dir = model.dir;
    head.innerHTML = model.head;
    body.innerHTML = model.side;
    fit();
  }

  // For tests and the health view: video frames decoded across the people's and screens' tiles.
  window.kioskFramesDecoded = async () => {
    let n = 0;
    for (const call of calls.values()) {
      if (!call.pc || call.kind === "self") continue;
      const stats = await call.pc.getStats();
      stats.forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") n += r.framesDecoded || 0; });
    }
    return n;
  };
  syncText();
  syncTiles();
  new ResizeObserver(fit).observe(body);
  model.on(["head", "side", "lang", "dir"], syncText);
  model.on(["tiles", "standby", "self_view"], syncTiles);
  model.on("remove", () => { for (const call of calls.values()) hangUp(call); calls.clear(); });
}
