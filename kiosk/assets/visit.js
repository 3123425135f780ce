// The remote client's page: device check, waiting room, the talk (with the visible
// notes, next steps and the question whether a partner may join), leave, the survey.
// Every text comes from the page (data-texts, in the client's language); what people
// typed (names, agency, purpose, notes, steps) goes in as text, isolated for bidi.
(() => {
  const $ = (id) => document.getElementById(id);
  const texts = JSON.parse(document.body.dataset.texts || "{}");
  const t = (key, fallback) => texts[key] || fallback || key;
  const token = decodeURIComponent(location.pathname.split("/").pop());
  const auth = { Authorization: `Bearer ${token}` };
  let waiting = null, following = null, joined = false, asked = null;

  const show = (id) => {
    for (const s of ["check", "lobby", "call", "ended", "thanks"]) $(s).hidden = s !== id;
    $("leave").hidden = !(id === "lobby" || id === "call");
    $("languages").hidden = id !== "check";  // another language reloads the page
  };

  // A user's text on its own: a <bdi> keeps its direction inside the page's.
  const bdi = (value) => {
    const el = document.createElement("bdi");
    el.textContent = value;
    return el;
  };

  // The nodes of a text with {placeholders}: the text's parts as text, each value (a
  // string, a node or a list of them) in its place.
  const fill = (template, values) => template.split(/\{(\w+)\}/).flatMap((part, i) => {
    if (i % 2 === 0) return part ? [document.createTextNode(part)] : [];
    const value = values[part] ?? "";
    return typeof value === "string" ? [bdi(value)] : [].concat(value);
  });

  const paragraph = (nodes) => {
    const p = document.createElement("p");
    p.append(...nodes);
    return p;
  };

  const list = (el, items, empty) => {
    el.replaceChildren(...(items.length ? items : [[empty]]).map((nodes) => {
      const li = document.createElement("li");
      li.append(...nodes);
      if (!items.length) li.className = "empty";
      return li;
    }));
  };

  // An ISO date as the page's language writes it (date.format and date.months).
  const date = (iso) => {
    const [y, m, d] = iso.split("-").map(Number);
    if (!y || !m || !d) return iso;
    const months = t("date.months", "").split(",");
    const values = { d, dd: String(d).padStart(2, "0"), m, mm: String(m).padStart(2, "0"), yyyy: y,
                     month: (months[m - 1] || String(m)).trim() };
    return t("date.format", "{dd}.{mm}.{yyyy}").replace(/\{(\w+)\}/g, (all, k) => values[k] ?? all);
  };

  const step = (x) => {
    const nodes = [bdi(x.what)];
    if (x.who && x.who !== "client") nodes.push(" (", bdi(x.who), ")");
    if (x.due) nodes.push(` – ${t("talk.due")} ${date(x.due)}`);
    return nodes;
  };

  // Who asks to join and what it means, from the page's texts; the partner's name,
  // agency and purpose only as text.
  const consentText = (c) => {
    const person = [c.name, c.role].filter(Boolean).join(", ");
    const who = person ? [bdi(person), " (", bdi(c.agency), ")"] : [bdi(c.agency)];
    const parts = [paragraph(fill(t("visit.consent_ask"), { who }))];
    if (c.purpose) parts.push(paragraph([`${t("consent.why")}: `, bdi(c.purpose)]));
    parts.push(paragraph(fill(t("visit.consent_sees"), { agency: c.agency })),
               paragraph([t("consent.recorded")]), paragraph([t("visit.consent_no")]));
    return parts;
  };

  const call = window.KioskCall({
    t,
    lostText: t("visit.relink"),
    onState(s) {
      if (s.state === "in_call") { show("call"); $("call-state").textContent = t("visit.in_call"); }
      else if (s.state === "paused") { show("call"); $("call-state").textContent = t("visit.paused"); }
      else if (s.state === "reconnecting") $("call-state").textContent = t("visit.reconnecting");
    },
    onEnded(title, text) {
      clearInterval(waiting); clearInterval(following);
      $("ended-title").textContent = joined ? t("visit.ended_title") : title;
      $("ended-text").textContent = joined ? t("visit.ended_text") : text;
      $("survey").hidden = !joined;
      show("ended");
    },
  });

  async function where() {
    let res;
    try { res = await fetch("/api/visit/status", { headers: auth, cache: "no-store" }); }
    catch (e) { return null; }  // offline for a moment: ask again
    if (!res.ok) {
      if (res.status !== 503) call.ended(t("visit.closed_title"), t("visit.relink"));
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
    } else if (s.status === "done") call.ended(t("call.ended_title"), t("call.ended_text"));
  }

  async function follow() {
    const s = await where();
    if (!s || !s.phase) return;
    list($("notes"), s.notes.map((note) => [bdi(note)]), t("talk.empty"));
    list($("steps"), s.steps.map(step), t("visit.steps_empty"));
    const c = s.consent;
    $("consent").hidden = !c;
    if (c && asked !== c.id) {
      asked = c.id;
      $("consent-text").replaceChildren(...consentText(c));
      $("consent-yes").focus();
    }
  }

  async function answer(yes) {
    if (asked === null) return;
    await fetch("/api/visit/consent", { method: "POST", headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ partner: asked, yes, language: document.body.dataset.language }) });
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
  const incomplete = $("survey-error").textContent;
  $("survey").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = new FormData($("survey"));
    const answers = {};
    for (const k of ["satisfaction", "ease", "recommend"]) answers[k] = form.get(k) === null ? null : Number(form.get(k));
    const error = (text) => { $("survey-error").textContent = text; $("survey-error").hidden = false; };
    if (Object.values(answers).includes(null)) return error(incomplete);
    const res = await fetch("/api/visit/survey", { method: "POST", headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify(answers) });
    if (!res.ok) return error(t("visit.survey_failed"));
    show("thanks");
  });
  $("survey-skip").addEventListener("click", () => show("thanks"));
})();
