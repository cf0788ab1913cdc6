// fleetprune dashboard: a dependency-free single-page app over the coordinator's API.
"use strict";

const main = document.getElementById("main");
const liveEl = document.getElementById("live");
const toastEl = document.getElementById("toast");

// h builds an element; attrs starting with "on" are listeners; children may be
// strings, nodes, arrays or null.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  const add = (c) => {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) c.forEach(add);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  };
  children.forEach(add);
  return el;
}

async function api(path, opts) {
  const resp = await fetch(path, Object.assign({ headers: { "Accept": "application/json" } }, opts));
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = text; }
  if (!resp.ok) {
    const msg = body && body.error ? body.error : "HTTP " + resp.status;
    const err = new Error(msg);
    err.status = resp.status;
    err.field = body && body.field;
    throw err;
  }
  return body;
}

async function svg(path) {
  const resp = await fetch(path);
  if (!resp.ok) {
    let msg = "HTTP " + resp.status;
    try { msg = (await resp.json()).error || msg; } catch (e) { /* not JSON */ }
    return h("p", { class: "muted" }, msg);
  }
  const box = h("div", { class: "chartbox" });
  // The SVG comes from this server, built from numbers and escaped labels.
  box.innerHTML = await resp.text();
  return box;
}

function toast(msg, isError) {
  toastEl.textContent = msg;
  toastEl.className = "toast" + (isError ? " error" : "");
  toastEl.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { toastEl.hidden = true; }, 6000);
}

const badge = (text, cls) => h("span", { class: "badge " + (cls || text) }, text);
const f = (v, d) => (v === undefined || v === null || Number.isNaN(v)) ? "—" : Number(v).toFixed(d);
const nsToMs = (ns) => ns / 1e6;
function ago(t) {
  if (!t || t.startsWith("0001")) return "never";
  const s = Math.round((Date.now() - Date.parse(t)) / 1000);
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  return Math.round(s / 3600) + " h ago";
}
function when(t) { return (!t || t.startsWith("0001")) ? "—" : new Date(t).toLocaleString(); }
function si(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + "G";
  if (n >= 1e6) return (n / 1e6).toFixed(2) + "M";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + "k";
  return String(n);
}

function table(headers, rows, empty) {
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "empty" }, empty || "none"))));
}

// ---- pages ----

function classRows(classes) {
  return classes.map((c) => {
    const t = c.tuning || {};
    return h("tr", { class: "click", dataset: { class: c.name }, onclick: () => { location.hash = "#/class/" + encodeURIComponent(c.name); } },
      h("td", {}, h("a", { href: "#/class/" + encodeURIComponent(c.name) }, c.name)),
      h("td", {}, c.baseModel),
      h("td", { class: "n" }, f(c.sloP95Ms, 2) + " ms"),
      h("td", { class: "n" }, f(c.slo.maxAccuracyDrop, 2) + " pp"),
      h("td", { class: "n" }, c.devices + " (" + c.liveDevices + " live, " + c.staleDevices + " stale)"),
      h("td", {}, badge(c.status)),
      h("td", {}, t.phase || "—"),
      h("td", { class: "n" }, t.iterations === undefined ? "—" : t.iterations),
      h("td", {}, t.verdict ? h("b", {}, t.verdict) : "—", t.reason ? h("div", { class: "muted" }, t.reason) : null,
        t.retuneReason ? h("div", { class: "muted" }, "retuned: " + t.retuneReason) : null),
      h("td", {}, t.accepted || "—"));
  });
}

function deviceRows(devices, withClass) {
  return devices.map((d) => {
    const r = d.lastReport;
    return h("tr", { dataset: { device: d.id } },
      h("td", {}, d.id),
      withClass ? h("td", {}, d.class || "—") : null,
      h("td", {}, badge(d.presence)),
      h("td", {}, (d.profile.arch || "") + ", " + d.profile.cores + (d.profile.cores === 1 ? " core" : " cores") + (d.profile.threads ? ", " + d.profile.threads + (d.profile.threads === 1 ? " thread" : " threads") : "") +
        (d.profile.cpuQuota ? ", quota " + d.profile.cpuQuota : "")),
      h("td", {}, d.installedVariant || h("span", { class: "muted" }, "none")),
      h("td", {}, r ? [r.kind + " ", r.ok ? h("span", { class: "ok" }, "ok") : h("span", { class: "bad" }, r.error || "failed"),
        r.variantId ? h("div", { class: "muted" }, r.variantId) : null] : h("span", { class: "muted" }, "none")),
      h("td", { class: "n" }, r && r.p95Ms ? f(r.p95Ms, 3) : "—"),
      h("td", { class: "n" }, d.reportsApplied),
      h("td", {}, ago(d.lastSeen)));
  });
}
const deviceHeaders = (withClass) => ["device", withClass ? "class" : null, "presence", "profile", "variant", "last report", "p95 ms", "reports", "seen"].filter((x) => x);

async function pageOverview() {
  const o = await api("/api/v1/overview");
  return [
    h("h1", {}, "Fleet"),
    h("p", { class: "muted" }, o.classes.length + " classes, " + o.devices.length + " devices, " + o.rollouts.length + " rollouts — etcd revision " + o.revision),
    h("h2", {}, "Classes"),
    table(["class", "base model", "p95 SLO", "max drop", "devices", "status", "phase", "iterations", "verdict", "accepted"], classRows(o.classes), "no classes: declare them with `fleetprune apply -f fleet.yaml`"),
    h("h2", {}, "Devices"),
    table(deviceHeaders(true), deviceRows(o.devices, true), "no devices registered"),
    h("h2", {}, "Rollouts"),
    o.rollouts.length ? o.rollouts.map(rolloutCard) : h("p", { class: "muted" }, "no rollouts yet"),
  ];
}

async function pageClass(name) {
  const enc = encodeURIComponent(name);
  const [o, tv, devices, variants, rollouts] = await Promise.all([
    api("/api/v1/overview"), api("/api/v1/classes/" + enc + "/tuning"), api("/api/v1/classes/" + enc + "/devices"),
    api("/api/v1/classes/" + enc + "/variants"), api("/api/v1/rollouts?class=" + enc)]);
  const c = o.classes.find((x) => x.name === name);
  if (!c) throw new Error("no class " + name);
  const st = tv.state;
  const model = (st && st.model) || c.baseModel;
  const [pareto, sens] = await Promise.all([svg("/api/v1/classes/" + enc + "/pareto.svg"), svg("/api/v1/models/" + encodeURIComponent(model) + "/sensitivity.svg")]);
  const reason = h("input", { type: "text", id: "retune-reason", placeholder: "reason (optional)" });
  const t = c.tuning || {};
  return [
    h("h1", {}, "Class " + name + " ", badge(c.status)),
    h("div", { class: "grid" },
      h("div", { class: "card" }, h("h3", {}, "Service level"),
        h("dl", { class: "kv" },
          h("dt", {}, "base model"), h("dd", {}, c.baseModel),
          h("dt", {}, "p95 latency"), h("dd", {}, f(c.sloP95Ms, 2) + " ms"),
          h("dt", {}, "largest accuracy drop"), h("dd", {}, f(c.slo.maxAccuracyDrop, 2) + " pp"),
          c.slo.maxModelBytes ? [h("dt", {}, "largest model"), h("dd", {}, c.slo.maxModelBytes)] : null,
          c.slo.maxPeakMemory ? [h("dt", {}, "peak memory"), h("dd", {}, c.slo.maxPeakMemory)] : null,
          h("dt", {}, "accuracy floor"), h("dd", {}, tv.accuracyFloor ? f(tv.accuracyFloor, 2) + " %" : "—"),
          h("dt", {}, "devices"), h("dd", {}, c.devices + " (" + c.liveDevices + " live, " + c.staleDevices + " stale)"))),
      h("div", { class: "card" }, h("h3", {}, "Tuning"),
        h("dl", { class: "kv" },
          h("dt", {}, "generation"), h("dd", {}, t.generation === undefined ? "—" : t.generation),
          h("dt", {}, "phase"), h("dd", {}, t.phase || "not started"),
          h("dt", {}, "iterations"), h("dd", {}, t.iterations === undefined ? 0 : t.iterations),
          h("dt", {}, "verdict"), h("dd", { id: "verdict" }, t.verdict || "—"),
          h("dt", {}, "reason"), h("dd", {}, t.reason || "—"),
          h("dt", {}, "accepted"), h("dd", {}, t.accepted || "—"),
          h("dt", {}, "retune reason"), h("dd", {}, t.retuneReason || "—"),
          t.message ? [h("dt", {}, "message"), h("dd", {}, t.message)] : null),
        h("div", { class: "actions" }, reason,
          h("button", { id: "retune", onclick: () => act("/api/v1/classes/" + enc + "/retune", reason.value, "retune " + name) }, "Retune"),
          h("a", { href: "/api/v1/classes/" + enc + "/report?download=1" }, "download report")))),
    h("div", { class: "grid" },
      h("div", { class: "card" }, h("h3", {}, "Variants tried: accuracy against measured p95"), pareto),
      h("div", { class: "card" }, h("h3", {}, "Sensitivity of " + model), sens)),
    h("h2", {}, "Trials"),
    table(["#", "variant", "budget", "p95 ms", "accuracy %", "drop pp", "sparsity", "MACs", "params", "SLO"],
      tv.points.map((p) => h("tr", { dataset: { variant: p.variantId } },
        h("td", { class: "n" }, p.base ? "base" : p.iteration),
        h("td", {}, p.variantId, p.accepted ? [" ", badge("accepted", "met")] : null),
        h("td", { class: "n" }, f(p.budget, 3)), h("td", { class: "n" }, f(p.p95Ms, 3)),
        h("td", { class: "n" }, f(p.accuracy, 2)), h("td", { class: "n" }, f(p.accuracyDrop, 2)),
        h("td", { class: "n" }, f(100 * p.sparsity, 1) + "%"), h("td", { class: "n" }, si(p.macs)), h("td", { class: "n" }, si(p.params)),
        h("td", {}, p.meetsSlo ? h("span", { class: "ok" }, "met") : h("span", { class: "bad" }, p.violation)))),
      "no measured variants yet"),
    h("h2", {}, "Devices"),
    table(deviceHeaders(false), deviceRows(devices, false), "no devices in this class"),
    h("h2", {}, "Published variants"),
    table(["variant", "created", "size", "sha256", "running on"], variants.map((v) => h("tr", {},
      h("td", {}, v.id, v.accepted ? [" ", badge("accepted", "met")] : null), h("td", {}, when(v.createdAt)),
      h("td", { class: "n" }, si(v.sizeBytes) + "B"), h("td", {}, h("code", {}, v.sha256.slice(0, 16) + "…")),
      h("td", { class: "n" }, v.devices))), "no variants published"),
    h("h2", {}, "Rollouts"),
    rollouts.length ? rollouts.map(rolloutCard) : h("p", { class: "muted" }, "no rollouts of this class yet"),
  ];
}

async function pageRollouts() {
  const rs = await api("/api/v1/rollouts");
  return [h("h1", {}, "Rollouts"), rs.length ? rs.map(rolloutCard) : h("p", { class: "muted" }, "no rollouts yet")];
}

function rolloutCard(r) {
  const key = r.class + "/" + r.id;
  const path = "/api/v1/rollouts/" + encodeURIComponent(r.class) + "/" + encodeURIComponent(r.id) + "/";
  const eff = r.state === "paused" ? r.pausedFrom : r.state;
  const can = {
    pause: !r.final && r.state !== "paused",
    resume: r.state === "paused",
    promote: !r.final && r.stage >= 0 && eff !== "pending",
    abort: !r.final,
  };
  const gateOf = {};
  (r.gates || []).forEach((g) => { gateOf[g.stage] = g; });
  const reason = h("input", { type: "text", placeholder: "reason (optional)", dataset: { rollout: key } });
  const btn = (action, label, cls) => h("button", {
    class: cls, disabled: !can[action], dataset: { rollout: key, action: action },
    onclick: () => act(path + action, reason.value, action + " " + key),
  }, label);
  return h("div", { class: "card rollout", dataset: { rollout: key, state: r.state } },
    h("h3", {}, h("a", { href: "#/class/" + encodeURIComponent(r.class) }, r.class), " / " + r.id + " ", badge(r.state, r.state), " "),
    h("div", {}, "variant ", h("b", {}, r.variant), " replacing ", r.previous || "nothing", " — " + r.stagesPassed + " of " + r.plan.stages.length + " stages passed",
      r.message ? h("div", { class: "muted" }, r.message) : null),
    h("div", { class: "stages" }, r.plan.stages.map((pct, i) => {
      const g = gateOf[i];
      let cls = "stage";
      if (g && g.passed) cls += " passed";
      else if (g && !g.passed) cls += " failed";
      if (i === r.stage && !r.final) cls += " current";
      const cohort = (r.cohorts && r.cohorts[i]) ? r.cohorts[i].length + " dev" : "";
      return h("span", { class: cls, title: g ? g.reason : "" }, "stage " + i + ": " + pct + "%" + (cohort ? " · " + cohort : "") + (g ? (g.passed ? " ✓" : " ✗") : ""));
    })),
    h("div", { class: "actions" }, btn("pause", "Pause"), btn("resume", "Resume"), btn("promote", "Promote"), btn("abort", "Abort", "danger"), reason),
    (r.gates && r.gates.length) ? table(["stage", "gate", "reports", "devices", "worst p95", "reason"], r.gates.map((g) => h("tr", {},
      h("td", { class: "n" }, g.stage), h("td", {}, badge(g.passed ? "passed" : "failed"), g.promoted ? " (promoted)" : ""),
      h("td", { class: "n" }, g.reports), h("td", { class: "n" }, g.devices), h("td", {}, g.worstP95 || "—"),
      h("td", {}, g.reason, g.failing && g.failing.length ? h("div", { class: "bad" }, "failing: " + g.failing.join(", ")) : null)))) : null,
    h("details", { open: true }, h("summary", {}, "history (" + (r.history || []).length + ")"),
      table(["at", "stage", "from", "to", "message"], (r.history || []).slice().reverse().map((e) => h("tr", {},
        h("td", {}, when(e.at)), h("td", { class: "n" }, e.stage), h("td", {}, e.from), h("td", {}, e.to), h("td", {}, e.message))))));
}

async function act(path, reason, what) {
  document.querySelectorAll("button").forEach((b) => { b.dataset.wasDisabled = b.disabled; b.disabled = true; });
  try {
    await api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(reason ? { reason: reason } : {}) });
    toast(what + ": done");
  } catch (e) {
    toast(what + ": " + e.message, true);
  }
  await render();
}

// ---- routing and live updates ----

async function render() {
  const hash = location.hash || "#/";
  let page = "overview";
  let build = pageOverview;
  if (hash.startsWith("#/class/")) {
    page = "class";
    const name = decodeURIComponent(hash.slice("#/class/".length));
    build = () => pageClass(name);
  } else if (hash === "#/rollouts") {
    page = "rollouts";
    build = pageRollouts;
  }
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === page));
  const seq = ++render.seq;
  try {
    const nodes = await build();
    if (seq !== render.seq) return; // a newer render started meanwhile
    // Keep what the operator is typing across live re-renders.
    const key = (el) => el.id || (el.dataset.rollout ? "reason:" + el.dataset.rollout : "");
    const typed = {};
    main.querySelectorAll("input[type=text]").forEach((el) => { if (key(el)) typed[key(el)] = el.value; });
    const focused = document.activeElement && main.contains(document.activeElement) ? key(document.activeElement) : "";
    const y = window.scrollY;
    main.replaceChildren(...[nodes].flat(Infinity).filter((n) => n));
    main.querySelectorAll("input[type=text]").forEach((el) => {
      const k = key(el);
      if (k && typed[k]) el.value = typed[k];
      if (k && k === focused) el.focus();
    });
    window.scrollTo(0, y);
    render.last = Date.now();
    document.body.dataset.page = page;
    document.body.dataset.route = hash;
    document.body.dataset.rendered = String(seq);
  } catch (e) {
    if (seq !== render.seq) return;
    main.replaceChildren(h("div", { class: "card bad" }, "Could not load: " + e.message));
    document.body.dataset.page = page;
    document.body.dataset.route = hash;
    document.body.dataset.rendered = String(seq);
  }
}
render.seq = 0;

// refreshSoon re-renders after a change event, at most once a second, so a busy
// fleet does not keep the page redrawing.
let pending = null;
render.last = 0;
function refreshSoon() {
  if (pending) return;
  const wait = Math.max(150, render.last + 1000 - Date.now());
  pending = setTimeout(() => { pending = null; render(); }, wait);
}

let poller = null;
function setLive(state) {
  liveEl.className = "live " + state;
  liveEl.textContent = state === "on" ? "live" : state === "poll" ? "polling" : "connecting…";
  if (state === "poll" && !poller) poller = setInterval(render, 5000);
  if (state === "on" && poller) { clearInterval(poller); poller = null; }
}

function connect() {
  if (!window.EventSource) { setLive("poll"); return; }
  const es = new EventSource("/api/v1/events");
  es.addEventListener("hello", () => { setLive("on"); refreshSoon(); });
  es.addEventListener("change", refreshSoon);
  es.onerror = () => setLive("poll"); // EventSource retries by itself meanwhile
}

window.addEventListener("hashchange", render);
render();
connect();
