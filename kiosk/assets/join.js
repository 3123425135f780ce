// The partner's page: device check, lobby, call, leave (see call.js).
(() => {
  const $ = (id) => document.getElementById(id);
  const token = decodeURIComponent(location.pathname.split("/").pop());

  const show = (id) => {
    for (const s of ["check", "lobby", "call", "ended"]) $(s).hidden = s !== id;
    $("leave").hidden = !(id === "lobby" || id === "call");
  };

  const call = window.KioskCall({
    onState(s) {
      if (s.state === "in_call") { show("call"); $("call-state").textContent = "Sie sind im Gespräch."; }
      else if (s.state === "paused") { show("call"); $("call-state").textContent = "Das Gespräch ist kurz pausiert."; }
      else if (s.state === "reconnecting") $("call-state").textContent = "Verbindung unterbrochen – verbinde neu …";
      else if (s.state === "lobby") show("lobby");
    },
    onEnded(title, text) {
      $("ended-title").textContent = title;
      $("ended-text").textContent = text;
      show("ended");
    },
  });

  $("join").addEventListener("click", async () => {
    if (await call.join("/api/whip", token)) show("lobby");
  });
  $("leave").addEventListener("click", call.leave);
})();
