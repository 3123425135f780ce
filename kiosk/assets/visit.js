// The remote client's page: device check, waiting room, the talk (with the visible
// notes, next steps and the question whether a partner may join), leave, the survey.
(() => {
  const $ = (id) => document.getElementById(id);
  const token = decodeURIComponent(location.pathname.split("/").pop());
  const auth = { Authorization: `Bearer ${token}` };
  let waiting = null, following = null, joined = false, asked = null;

  const show = (id) => {
    for (const s of ["check", "lobby", "call", "ended", "thanks"]) $(s).hidden = s !== id;
    $("leave").hidden = !(id === "lobby" || id === "call");
  };

  const list = (el, items, empty) => {
    el.replaceChildren(...(items.length ? items : [empty]).map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      if (!items.length) li.className = "empty";
      return li;
    }));
  };

  const due = (iso) => iso ? ` – bis ${iso.split("-").reverse().join(".")}` : "";

  const call = window.KioskCall({
    lostText: "Bitte öffnen Sie den Link aus Ihrer E-Mail noch einmal.",
    onState(s) {
      if (s.state === "in_call") { show("call"); $("call-state").textContent = "Sie sind im Gespräch."; }
      else if (s.state === "paused") { show("call"); $("call-state").textContent = "Das Gespräch ist kurz pausiert."; }
      else if (s.state === "reconnecting") $("call-state").textContent = "Verbindung unterbrochen – verbinde neu …";
    },
    onEnded(title, text) {
      clearInterval(waiting); clearInterval(following);
      $("ended-title").textContent = joined ? "Das Gespräch ist beendet" : title;
      $("ended-text").textContent = joined ? "Vielen Dank, dass Sie per Video dabei waren." : text;
      $("survey").hidden = !joined;
      show("ended");
    },
  });

  async function where() {
    let res;
    try { res = await fetch("/api/visit/status", { headers: auth, cache: "no-store" }); }
    catch (e) { return null; }  // offline for a moment: ask again
    if (!res.ok) {
      if (res.status !== 503) call.ended("Der Termin ist nicht mehr offen", await res.text());
      return null;
    }
    return res.json();
  }

  async function wait() {
    const s = await where();
    if (!s) return;
    if (s.status === "admitted" && !joined) {
      clearInterval(waiting);
      joined = await call.join("/api/visit/whip", token);
      if (joined) following = setInterval(follow, 700);
    } else if (s.status === "done") call.ended("Das Gespräch ist beendet", "Vielen Dank.");
  }

  async function follow() {
    const s = await where();
    if (!s || !s.phase) return;
    list($("notes"), s.notes, "Noch nichts.");
    list($("steps"), s.steps.map((x) => `${x.what}${x.who && x.who !== "client" ? ` (${x.who})` : ""}${due(x.due)}`), "Noch keine.");
    const c = s.consent;
    $("consent").hidden = !c;
    if (c && asked !== c.id) {
      asked = c.id;
      const who = [c.name, c.role].filter(Boolean).join(", ") || c.agency;
      $("consent-text").textContent = `${who} (${c.agency}) möchte per Video dazukommen${c.purpose ? `, um ${c.purpose}` : ""}. ${c.agency} sieht und hört Sie dann im Gespräch. Es wird nichts aufgezeichnet. Sie können Nein sagen; das hat keine Nachteile für Sie.`;
      $("consent-yes").focus();
    }
  }

  async function answer(yes) {
    if (asked === null) return;
    await fetch("/api/visit/consent", { method: "POST", headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ partner: asked, yes }) });
    $("consent").hidden = true;
    follow();
  }

  $("join").addEventListener("click", () => {
    show("lobby");
    wait();
    waiting = setInterval(wait, 1000);
  });
  $("leave").addEventListener("click", call.leave);
  $("consent-yes").addEventListener("click", () => answer(true));
  $("consent-no").addEventListener("click", () => answer(false));
  $("survey").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = new FormData($("survey"));
    const answers = {};
    for (const k of ["satisfaction", "ease", "recommend"]) answers[k] = form.get(k) === null ? null : Number(form.get(k));
    if (Object.values(answers).includes(null)) { $("survey-error").hidden = false; return; }
    const res = await fetch("/api/visit/survey", { method: "POST", headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify(answers) });
    if (!res.ok) { $("survey-error").textContent = await res.text(); $("survey-error").hidden = false; return; }
    show("thanks");
  });
  $("survey-skip").addEventListener("click", () => show("thanks"));
})();
