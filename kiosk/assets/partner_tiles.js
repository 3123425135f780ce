// The second display's partner tiles: each pulls one partner's picture and sound
// from the room's media engine (WHEP on the same host) and shows name and agency.
export function render({ model, el }) {
  const calls = new Map(); // partner id -> {pc, resource, tile, retry}
  const grid = document.createElement("div");
  grid.className = "tiles";
  el.appendChild(grid);

  async function pull(tile, url = `/api/whep/partners/${tile.id}`, audio = true) {
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
    const video = tile.el.querySelector("video");
    video.srcObject = stream;
    video.play().catch(() => { video.muted = true; video.play().catch(() => {}); });
    return { pc, resource };
  }

  // The small self-view: the room's camera as partners get it, while anyone is shown.
  const self = document.createElement("figure");
  self.className = "self-view";
  self.innerHTML = '<video autoplay playsinline muted aria-label="Ihr eigenes Bild"></video>';
  let selfCall = null, selfWanted = false;
  async function selfView(on) {
    selfWanted = on;
    if (on && !selfCall) {
      el.appendChild(self);
      selfCall = "pending";
      const call = await pull({ el: self }, "/api/whep/room", false).catch(() => null);
      if (selfWanted) { selfCall = call; return; }
      // The tiles emptied while this connection was being made: close it, and be
      // ready to pull anew the next time someone is shown.
      if (call) { call.pc.close(); fetch(call.resource, { method: "DELETE" }); }
      selfCall = null;
    } else if (!on && selfCall) {
      if (selfCall !== "pending") { selfCall.pc.close(); fetch(selfCall.resource, { method: "DELETE" }); }
      selfCall = null;
      self.remove();
    }
  }

  function sync() {
    const wanted = new Map((model.tiles || []).map((t) => [t.id, t]));
    selfView(wanted.size > 0);
    for (const [id, call] of calls) {
      if (!wanted.has(id)) {
        clearTimeout(call.retry);
        if (call.pc) call.pc.close();
        if (call.resource) fetch(call.resource, { method: "DELETE" });
        call.el.remove();
        calls.delete(id);
      }
    }
    for (const [id, t] of wanted) {
      if (calls.has(id)) continue;
      const tileEl = document.createElement("figure");
      tileEl.className = "tile";
      tileEl.dataset.partner = id;
      const video = document.createElement("video");
      video.autoplay = true;
      video.playsInline = true;
      video.setAttribute("aria-label", `${t.name} (${t.agency})`);
      const caption = document.createElement("figcaption");
      caption.textContent = t.name ? `${t.name} · ${t.agency}` : t.agency;
      tileEl.append(video, caption);
      grid.appendChild(tileEl);
      const call = { el: tileEl, pc: null, resource: null, retry: null };
      calls.set(id, call);
      const attempt = async () => {
        if (calls.get(id) !== call) return;
        const got = await pull({ id, el: tileEl }).catch(() => null);
        if (calls.get(id) !== call) { if (got) { got.pc.close(); fetch(got.resource, { method: "DELETE" }); } return; }
        if (got) Object.assign(call, got);
        else call.retry = setTimeout(attempt, 1000);
      };
      attempt();
    }
  }
  // For tests and the health view: video frames decoded across all tiles (getStats).
  window.kioskFramesDecoded = async () => {
    let n = 0;
    for (const call of calls.values()) {
      if (!call.pc) continue;
      const stats = await call.pc.getStats();
      stats.forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") n += r.framesDecoded || 0; });
    }
    return n;
  };
  sync();
  model.on("tiles", sync);
}
