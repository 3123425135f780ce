// The partner's page: device check, lobby, call, leave. Signalling is WHIP:
// POST the offer with the link's token as Bearer, DELETE the resource to leave.
(() => {
  const $ = (id) => document.getElementById(id);
  const token = decodeURIComponent(location.pathname.split("/").pop());
  const iceServers = JSON.parse(document.body.dataset.ice || "[]").map((u) => ({ urls: u }));
  let stream = null, pc = null, resource = null, poll = null;

  const show = (id) => {
    for (const s of ["check", "lobby", "call", "ended"]) $(s).hidden = s !== id;
    $("leave").hidden = !(id === "lobby" || id === "call");
  };
  const fail = (text) => { $("device-error").textContent = text; $("device-error").hidden = false; };

  async function devices() {
    const all = await navigator.mediaDevices.enumerateDevices();
    for (const [kind, select] of [["videoinput", $("camera")], ["audioinput", $("microphone")]]) {
      select.replaceChildren(...all.filter((d) => d.kind === kind).map((d, i) =>
        new Option(d.label || `${kind === "videoinput" ? "Kamera" : "Mikrofon"} ${i + 1}`, d.deviceId)));
    }
  }

  async function preview() {
    $("join").disabled = true;
    if (!navigator.mediaDevices || !window.isSecureContext) {
      fail("Kamera und Mikrofon gibt der Browser nur über eine sichere Verbindung (https) frei. Bitte öffnen Sie den Link so, wie Sie ihn bekommen haben.");
      return;
    }
    if (stream) stream.getTracks().forEach((t) => t.stop());
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: $("camera").value ? { deviceId: { exact: $("camera").value } } : true,
        audio: $("microphone").value ? { deviceId: { exact: $("microphone").value } } : true });
    } catch (e) {
      fail("Kamera oder Mikrofon sind nicht freigegeben. Bitte erlauben Sie den Zugriff in Ihrem Browser (Symbol links neben der Adresse) und laden Sie die Seite neu.");
      return;
    }
    $("self").srcObject = stream;
    $("join").disabled = false;  // joining needs a working camera and microphone
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    ctx.createMediaStreamSource(stream).connect(analyser);
    const data = new Uint8Array(analyser.fftSize);
    const tick = () => {
      analyser.getByteTimeDomainData(data);
      const peak = Math.max(...data.map((v) => Math.abs(v - 128))) / 128;
      const level = Math.min(100, Math.round(peak * 300));
      $("level").style.width = `${level}%`;
      $("level").parentElement.setAttribute("aria-valuenow", level);
      if (!pc || pc.connectionState !== "closed") requestAnimationFrame(tick);
    };
    tick();
  }

  async function offer() {
    pc = new RTCPeerConnection({ iceServers });
    stream.getTracks().forEach((t) => pc.addTrack(t, stream));
    const remote = new MediaStream();
    $("room").srcObject = remote;
    pc.ontrack = (e) => remote.addTrack(e.track);
    const mine = pc;
    pc.addEventListener("connectionstatechange", () => {
      if (mine === pc && ["failed", "disconnected"].includes(pc.connectionState)) reconnect(mine);
    });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((done) => {
      if (pc.iceGatheringState === "complete") return done();
      pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && done());
      setTimeout(done, 2000);
    });
    return pc.localDescription.sdp;
  }

  async function join() {
    if (!window.RTCPeerConnection) { fail("Dieser Browser kann keine Videogespräche. Bitte nutzen Sie einen aktuellen Browser."); return; }
    const sdp = await offer();
    const res = await fetch("/api/whip", { method: "POST", body: sdp,
      headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token}` } });
    if (res.status !== 201) {
      ended("Beitritt nicht möglich", await res.text());
      pc.close();
      return;
    }
    resource = res.headers.get("Location");
    await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
    show("lobby");
    poll = setInterval(status, 500);
  }

  // After a dropped network: a new connection on the same call (the aiortc side cannot
  // restart ICE), every second, for up to a minute; no new link, no new admission.
  let reconnecting = false;
  async function reconnect(old) {
    if (reconnecting || !resource) return;
    reconnecting = true;
    clearInterval(poll);
    $("call-state").textContent = "Verbindung unterbrochen – verbinde neu …";
    const until = Date.now() + 60000;
    while (Date.now() < until) {
      old.close();
      try {
        const sdp = await offer();
        const res = await fetch(resource, { method: "POST", body: sdp,
          headers: { "Content-Type": "application/sdp" } });
        if (res.status === 404) break;
        if (res.status === 201) {
          await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
          reconnecting = false;
          poll = setInterval(status, 500);
          return;
        }
      } catch (e) { /* still offline */ }
      old = pc;
      await new Promise((r) => setTimeout(r, 1000));
    }
    reconnecting = false;
    ended("Die Verbindung ist abgebrochen", "Bitte bitten Sie die Beratung um einen neuen Link.");
  }

  async function status() {
    const res = await fetch(resource, { cache: "no-store" });
    if (!res.ok) { ended("Das Gespräch ist beendet", "Vielen Dank."); return; }
    const s = await res.json();
    if (s.state === "in_call") { show("call"); $("call-state").textContent = "Sie sind im Gespräch."; }
    else if (s.state === "paused") { show("call"); $("call-state").textContent = "Die Klientin oder der Klient hat das Video kurz pausiert."; }
    else if (s.state === "lobby") show("lobby");
    else ended(s.title, s.text);
  }

  function ended(title, text) {
    clearInterval(poll);
    if (pc) pc.close();
    if (stream) stream.getTracks().forEach((t) => t.stop());
    $("ended-title").textContent = title;
    $("ended-text").textContent = text;
    show("ended");
  }

  $("join").addEventListener("click", join);
  $("leave").addEventListener("click", async () => {
    if (resource) await fetch(resource, { method: "DELETE" });
    ended("Sie haben das Gespräch verlassen", "Vielen Dank.");
  });
  $("camera").addEventListener("change", preview);
  $("microphone").addEventListener("change", preview);
  (async () => { await preview(); await devices(); })();
})();
