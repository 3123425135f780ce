// What the partner's page (/join) and the remote client's page (/visit) share: the
// device check (preview, level meter, choice of camera and microphone), joining by
// WHIP, following the call's status, reconnecting after a dropped network, seeing the
// other participants, leaving. Each page drives it through window.KioskCall(hooks).
window.KioskCall = (hooks) => {
  const $ = (id) => document.getElementById(id);
  // ICE servers as the room minted them for this page (TURN with credentials of their
  // own, valid for hours); a reconnect asks for fresh ones.
  let iceServers = JSON.parse(document.body.dataset.ice || "[]")
    .map((s) => (typeof s === "string" ? { urls: s } : s));
  const turn = () => iceServers.some((s) => [].concat(s.urls).some((u) => /^turns?:/.test(u)));
  const call = { stream: null, pc: null, resource: null, senders: {}, off: {}, screen: null };
  const t = (key, fallback) => (hooks.t ? hooks.t(key, fallback) : fallback);
  let poll = null, reconnecting = false, over = false;
  const pulls = new Map();  // participant id -> {pc, resource, figure}

  const fail = (text) => { $("device-error").textContent = text; $("device-error").hidden = false; };

  async function devices() {
    const all = await navigator.mediaDevices.enumerateDevices();
    for (const [kind, select] of [["videoinput", $("camera")], ["audioinput", $("microphone")]]) {
      select.replaceChildren(...all.filter((d) => d.kind === kind).map((d, i) =>
        new Option(d.label || (kind === "videoinput" ? t("call.camera_n", "Kamera {n}")
          : t("call.microphone_n", "Mikrofon {n}")).replace("{n}", i + 1), d.deviceId)));
    }
  }

  async function preview() {
    $("join").disabled = true;
    if (!window.RTCPeerConnection) {
      fail(t("call.no_webrtc", "Dieser Browser kann keine Videogespräche. Bitte nutzen Sie einen aktuellen Browser (Firefox, Chrome, Edge oder Safari)."));
      return;
    }
    if (!navigator.mediaDevices || !window.isSecureContext) {
      fail(t("call.insecure", "Kamera und Mikrofon gibt der Browser nur über eine sichere Verbindung (https) frei. Bitte öffnen Sie den Link so, wie Sie ihn bekommen haben."));
      return;
    }
    if (call.stream) call.stream.getTracks().forEach((t) => t.stop());
    try {
      call.stream = await navigator.mediaDevices.getUserMedia({
        video: $("camera").value ? { deviceId: { exact: $("camera").value } } : true,
        audio: $("microphone").value ? { deviceId: { exact: $("microphone").value } } : true });
    } catch (e) {
      fail(t("call.denied", "Kamera oder Mikrofon sind nicht freigegeben. Bitte erlauben Sie den Zugriff in Ihrem Browser (Symbol links neben der Adresse) und laden Sie die Seite neu."));
      if ($("permission-help")) $("permission-help").open = true;
      return;
    }
    $("device-error").hidden = true;
    $("self").srcObject = call.stream;
    if ($("self-small")) $("self-small").srcObject = call.stream;
    $("join").disabled = false;  // joining needs a working camera and microphone
    warmUp();
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    ctx.createMediaStreamSource(call.stream).connect(analyser);
    const data = new Uint8Array(analyser.fftSize);
    const tick = () => {
      analyser.getByteTimeDomainData(data);
      const peak = Math.max(...data.map((v) => Math.abs(v - 128))) / 128;
      const level = Math.min(100, Math.round(peak * 300));
      $("level").style.width = `${level}%`;
      $("level").parentElement.setAttribute("aria-valuenow", level);
      if (!over) requestAnimationFrame(tick);
    };
    tick();
  }

  // The offer once its candidates are gathered. Chromium never finishes gathering when
  // a firewall silently drops a TURN port: stop waiting shortly after the first relay
  // candidate, and at the latest after a cap (the room cannot take candidates later).
  // Candidates gathered beforehand (a warm connection's pool) come at once: then a
  // moment is enough for the rest of them.
  async function gathered(pc) {
    await pc.setLocalDescription(await pc.createOffer());
    const started = performance.now();
    await new Promise((done) => {
      if (pc.iceGatheringState === "complete") return done();
      pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && done());
      pc.addEventListener("icecandidate", (e) => {
        if (e.candidate && e.candidate.type === "relay")
          setTimeout(done, performance.now() - started < 100 ? 50 : 300);
      });
      setTimeout(done, turn() ? 8000 : 2000);
    });
    return pc.localDescription.sdp;
  }

  // The call's connection, made while the person checks camera and microphone: its ICE
  // candidates (the TURN allocations too) are gathered by the time they join.
  let warm = null;
  function warmUp() {
    if (!warm && !over) warm = new RTCPeerConnection({ iceServers, iceCandidatePoolSize: 1 });
  }

  // Fresh ICE servers for a new connection of the same call; false while offline.
  async function freshIce() {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 3000);
    try {
      const res = await fetch(`${call.resource}/ice`, { cache: "no-store", signal: abort.signal });
      if (!res.ok) return res.status === 404 ? null : false;
      iceServers = (await res.json()).iceServers;
      return true;
    } catch (e) {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  async function offer() {
    const pc = warm || new RTCPeerConnection({ iceServers });
    warm = null;  // a reconnect makes a new one, with fresh ICE servers
    call.pc = pc;
    call.senders = {};
    call.stream.getTracks().forEach((t) => {
      call.senders[t.kind] = pc.addTrack(t, call.stream);
      if (call.off[t.kind]) call.senders[t.kind].replaceTrack(null);  // still off after a reconnect
    });
    const remote = new MediaStream();
    $("room").srcObject = remote;
    pc.ontrack = (e) => remote.addTrack(e.track);
    pc.addEventListener("connectionstatechange", () => {
      if (pc === call.pc && ["failed", "disconnected"].includes(pc.connectionState)) reconnect(pc);
    });
    return gathered(pc);
  }

  // Join at `url` with the link's token; false (and the page ended) when refused.
  async function join(url, token) {
    const sdp = await offer();
    const res = await fetch(url, { method: "POST", body: sdp,
      headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token}` } });
    if (res.status !== 201) {
      ended(t("call.join_refused", "Beitritt nicht möglich"), t("call.join_refused_text", await res.text()));
      return false;
    }
    call.resource = res.headers.get("Location");
    await call.pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
    poll = setInterval(status, 500);
    return true;
  }

  // After a dropped network: a new connection on the same call (the aiortc side cannot
  // restart ICE), every second, for up to a minute; no new link, no new admission.
  async function reconnect(old) {
    if (reconnecting || !call.resource) return;
    reconnecting = true;
    clearInterval(poll);
    dropPulls();
    hooks.onState && hooks.onState({ state: "reconnecting" });
    const until = Date.now() + 60000;
    while (Date.now() < until) {
      old.close();
      try {
        const fresh = await freshIce();
        if (fresh === null) break;  // the call is over
        if (!fresh) throw new Error("offline");
        const sdp = await offer();
        const res = await fetch(call.resource, { method: "POST", body: sdp,
          headers: { "Content-Type": "application/sdp" } });
        if (res.status === 404) break;
        if (res.status === 201) {
          await call.pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
          reconnecting = false;
          poll = setInterval(status, 500);
          return;
        }
      } catch (e) { /* still offline */ }
      old = call.pc;
      await new Promise((r) => setTimeout(r, 1000));
    }
    reconnecting = false;
    ended(t("call.lost_title", "Die Verbindung ist abgebrochen"),
      hooks.lostText || t("call.lost_text", "Bitte bitten Sie die Beratung um einen neuen Link."));
  }

  async function status() {
    let res;
    try { res = await fetch(call.resource, { cache: "no-store" }); } catch (e) { return; }
    if (!res.ok) { ended(t("call.ended_title", "Das Gespräch ist beendet"), t("call.ended_text", "Vielen Dank.")); return; }
    const s = await res.json();
    if (["in_call", "paused", "lobby"].includes(s.state)) {
      paused(s.state === "paused");
      follow(s.state === "in_call" ? s.others || [] : []);
      if (call.screen && s.screen === "off") stopShare(false);  // the counsellor stopped it
      hooks.onState && hooks.onState(s);
    } else ended(s.title, s.text, s.state);
  }

  // A pause hides the room's picture at once (no frozen last frame) and says so, without
  // naming who paused; the picture comes back by itself when the talk goes on.
  function paused(on) {
    if (!$("paused")) return;
    $("paused").hidden = !on;
    $("room").hidden = on;
    $("others").hidden = on;
  }

  // The person's own microphone and camera: a sender without a track sends nothing at all.
  function toggle(kind, button, offText) {
    call.off[kind] = !call.off[kind];
    const track = call.stream && call.stream.getTracks().find((x) => x.kind === kind);
    if (call.senders[kind]) call.senders[kind].replaceTrack(call.off[kind] ? null : track);
    button.setAttribute("aria-pressed", String(!!call.off[kind]));
    if (kind === "video" && $("self-small")) $("self-small").hidden = !!call.off.video;
    const said = [];
    if (call.off.audio) said.push(t("call.mic_off", "Ihr Mikrofon ist stumm."));
    if (call.off.video) said.push(t("call.camera_off", "Ihre Kamera ist aus."));
    if ($("devices-state")) $("devices-state").textContent = said.join(" ");
  }

  // Share a screen (a form, a letter) as a second picture: its own connection to the room,
  // relayed like the camera and behind the same consent and admission.
  async function share() {
    if (call.screen) return stopShare(true);
    let stream;
    try { stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false }); }
    catch (e) { return; }  // the person chose nothing
    const track = stream.getVideoTracks()[0];
    const pc = new RTCPeerConnection({ iceServers });
    pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    const res = await fetch(`${call.resource}/screen`, { method: "POST", body: await gathered(pc),
      headers: { "Content-Type": "application/sdp" } });
    if (res.status !== 201) {
      track.stop(); pc.close();
      if ($("devices-state")) $("devices-state").textContent = await res.text();
      return;
    }
    await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
    call.screen = { pc, track, resource: res.headers.get("Location") };
    track.addEventListener("ended", () => stopShare(true));  // the browser's own "stop" bar
    $("share").setAttribute("aria-pressed", "true");
    $("share").textContent = t("call.share_stop", "Teilen beenden");
  }

  async function stopShare(tell) {
    const screen = call.screen;
    if (!screen) return;
    call.screen = null;
    screen.track.stop();
    screen.pc.close();
    if (tell && screen.resource) fetch(screen.resource, { method: "DELETE" }).catch(() => {});
    $("share").setAttribute("aria-pressed", "false");
    $("share").textContent = t("call.share", "Bildschirm teilen");
  }

  // Pull each other participant the room lets this page see; drop those who went.
  const pullKey = (o) => (o.screen ? `screen-${o.id}` : String(o.id));

  function follow(others) {
    const ids = new Set(others.map(pullKey));
    for (const [id, pull] of pulls) if (!ids.has(id)) { pull.pc.close(); pull.figure.remove(); pulls.delete(id); }
    for (const o of others) if (!pulls.has(pullKey(o))) pullOne(o);
  }

  async function pullOne(o) {
    const pc = new RTCPeerConnection({ iceServers });
    const figure = document.createElement("figure");
    figure.className = "other";
    const video = document.createElement("video");
    video.autoplay = true; video.playsInline = true;
    const who = [o.name, o.agency].filter(Boolean).join(", ");
    video.setAttribute("aria-label", o.screen ? t("call.screen_of", "Geteilter Bildschirm von {who}").replace("{who}", o.name || o.agency)
      : t("call.picture_of", "Bild von {who}").replace("{who}", o.name || o.agency));
    if (o.screen) figure.classList.add("screen");
    const caption = document.createElement("figcaption");
    caption.textContent = o.screen ? t("call.screen_caption", "Bildschirm: {who}").replace("{who}", who) : who;
    figure.append(video, caption);
    $("others").append(figure);
    pulls.set(pullKey(o), { pc, figure });
    pc.addTransceiver("video", { direction: "recvonly" });
    if (!o.screen) pc.addTransceiver("audio", { direction: "recvonly" });
    const remote = new MediaStream();
    video.srcObject = remote;
    pc.ontrack = (e) => remote.addTrack(e.track);
    try {
      const res = await fetch(`${call.resource}/watch/${o.id}${o.screen ? "/screen" : ""}`, { method: "POST",
        body: await gathered(pc), headers: { "Content-Type": "application/sdp" } });
      if (res.status !== 201) throw new Error(await res.text());
      await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
    } catch (e) {  // not ready yet: the next status tries again
      pc.close(); figure.remove(); pulls.delete(pullKey(o));
    }
  }

  function dropPulls() {
    for (const pull of pulls.values()) { pull.pc.close(); pull.figure.remove(); }
    pulls.clear();
  }

  function ended(title, text, why) {
    over = true;
    clearInterval(poll);
    dropPulls();
    stopShare(false);
    if (call.pc) call.pc.close();
    if (warm) { warm.close(); warm = null; }
    if (call.stream) call.stream.getTracks().forEach((t) => t.stop());
    hooks.onEnded(title, text, why);
  }

  async function leave() {
    if (call.resource) await fetch(call.resource, { method: "DELETE" });
    ended(t("call.left_title", "Sie haben das Gespräch verlassen"), t("call.ended_text", "Vielen Dank."), "left");
  }

  if ($("mic")) $("mic").addEventListener("click", () => toggle("audio", $("mic")));
  if ($("cam")) $("cam").addEventListener("click", () => toggle("video", $("cam")));
  if ($("share")) {
    $("share").hidden = !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
    $("share").addEventListener("click", share);
  }
  $("camera").addEventListener("change", preview);
  $("microphone").addEventListener("change", preview);
  (async () => { await preview(); await devices(); })();
  // The page's call, for its own diagnostics (getStats) and the field tests.
  window.kioskCall = { join, leave, ended, call };
  return window.kioskCall;
};
