// frugal dashboard: reads the JSON API under /api (docs/dashboard.md) and draws every
// chart as inline SVG. No dependencies, nothing loaded from anywhere but this gateway.
"use strict";

const COLORS = ["#2f6f4f", "#c77d2e", "#3d6fb6", "#8c4fa8", "#b3261e", "#5b8c2a", "#7a7a72",
  "#d4a017", "#2a8c8c", "#a8526b"];
const SOURCES = [
  ["savings_routing_usd", "routing", "#2f6f4f"],
  ["savings_compression_usd", "compression", "#3d6fb6"],
  ["savings_caching_usd", "caching", "#c77d2e"],
];
const RECENT_EVERY_MS = 3000;
const PANELS_EVERY_MS = 30000;

const state = { days: 30, bucket: "day", selected: null, lastSeq: null };

// ---- helpers ------------------------------------------------------------------------

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Dollars: six decimals below a cent, four below $100, else two with separators. */
function usd(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  const a = Math.abs(x);
  if (a === 0) return "$0";
  const digits = a < 0.01 ? 6 : a < 100 ? 4 : 2;
  const s = a.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return (x < 0 ? "-$" : "$") + s;
}
const pct = (x) => (x === null || x === undefined ? "–" : (x * 100).toFixed(1) + "%");
const ms = (x) => (x === null || x === undefined ? "–" : x.toFixed(x < 10 ? 2 : 1) + " ms");
const int = (x) => (x === null || x === undefined ? "–" : x.toLocaleString("en-US"));

function when(t) {
  return new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function label(t) {
  const d = new Date(t).toISOString();
  return state.bucket === "hour" ? d.slice(5, 13).replace("T", " ") + "h" : d.slice(5, 10);
}

async function api(path, init) {
  // location.origin, not a relative URL: a page opened as http://user:key@host/ would
  // otherwise hand fetch() a URL with credentials, which it refuses.
  const r = await fetch(location.origin + path, Object.assign({ credentials: "same-origin" }, init));
  const body = await r.json().catch(() => null);
  if (!r.ok) {
    const msg = body && body.error ? body.error.message : r.status + " " + r.statusText;
    throw new Error(path.split("?")[0] + ": " + msg);
  }
  return body;
}

function fail(e) {
  $("#status").textContent = e.message;
}

function legend(target, series) {
  const box = $(target);
  box.replaceChildren(...series.map((s) => el("span", {}, el("i", { style: "background:" + s.color }), s.name)));
}

// ---- charts -------------------------------------------------------------------------

const W = 640, H = 190, PAD = { l: 58, r: 8, t: 10, b: 22 };

function frame(target, min, max, fmt) {
  const root = $(target);
  root.setAttribute("viewBox", `0 0 ${W} ${H}`);
  root.replaceChildren();
  const span = max - min;
  const y = (v) => PAD.t + (H - PAD.t - PAD.b) * (1 - (span > 0 ? (v - min) / span : 0));
  for (let i = 0; i <= 4; i++) {
    const v = min + (span * i) / 4;
    root.append(svg("line", { class: "axis", x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v) }));
    root.append(svg("text", { x: PAD.l - 4, y: y(v) + 3, "text-anchor": "end" }, fmt(v)));
  }
  return { root, y };
}

function xTicks(root, buckets, x) {
  const every = Math.max(1, Math.ceil(buckets.length / 8));
  buckets.forEach((t, i) => {
    if (i % every === 0) root.append(svg("text", { x: x(i), y: H - 6, "text-anchor": "middle" }, label(t)));
  });
}

/** Stacked bars: one bar per bucket, one segment per series; negative values (a routed
 * request dearer than the baseline) stack below zero. */
function bars(target, buckets, series, fmt) {
  const sum = (i, sign) => series.reduce((a, s) => a + (sign * (s.values[i] || 0) > 0 ? s.values[i] : 0), 0);
  const max = Math.max(0, ...buckets.map((_, i) => sum(i, 1))) * 1.1;
  const min = Math.min(0, ...buckets.map((_, i) => sum(i, -1))) * 1.1;
  const { root, y } = frame(target, min, max, fmt);
  const step = (W - PAD.l - PAD.r) / Math.max(1, buckets.length);
  const x = (i) => PAD.l + step * (i + 0.5);
  buckets.forEach((t, i) => {
    let up = 0, down = 0;
    for (const s of series) {
      const v = s.values[i] || 0;
      if (v === 0) continue;
      const from = v > 0 ? up : down, to = from + v;
      if (v > 0) up = to; else down = to;
      const r = svg("rect", {
        x: PAD.l + step * i + step * 0.12, width: Math.max(1, step * 0.76),
        y: y(Math.max(from, to)), height: Math.max(0.5, Math.abs(y(from) - y(to))), fill: s.color,
      });
      r.append(svg("title", {}, `${when(t)} ${s.name}: ${fmt(v)}`));
      root.append(r);
    }
  });
  xTicks(root, buckets, x);
}

/** Lines: one polyline per series; null values break nothing (drawn as gaps). */
function lines(target, buckets, series, fmt) {
  const all = series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined));
  const max = Math.max(...all, 0) * 1.1;
  const min = Math.min(...all, 0) * 1.1;
  const { root, y } = frame(target, min, max, fmt);
  const step = (W - PAD.l - PAD.r) / Math.max(1, buckets.length - 1);
  const x = (i) => PAD.l + step * i;
  for (const s of series) {
    let d = "";
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      d += (d && s.values[i - 1] !== null && s.values[i - 1] !== undefined ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1);
    });
    if (d) root.append(svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 1.8 }));
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      const c = svg("circle", { cx: x(i), cy: y(v), r: 2.2, fill: s.color });
      c.append(svg("title", {}, `${when(buckets[i])} ${s.name}: ${fmt(v)}`));
      root.append(c);
    });
  }
  xTicks(root, buckets, x);
}

// ---- panels -------------------------------------------------------------------------

function card(w) {
  const row = (name, field, text) => [el("dt", {}, name), el("dd", { "data-field": field }, text)];
  const title = w.name === "today" ? "today (UTC)" : "last " + w.name.replace("d", " days");
  return el("div", { class: "card", "data-window": w.name },
    el("h3", {}, title),
    el("div", { class: "big", "data-field": "savings_usd" }, usd(w.savings_usd)),
    el("div", { class: "muted", "data-field": "savings_pct" }, w.savings_pct.toFixed(1) + "% of the baseline saved"),
    el("dl", {},
      ...row("requests", "requests", int(w.requests)),
      ...row("cost", "cost_usd", usd(w.cost_usd)),
      ...row("baseline", "baseline_cost_usd", usd(w.baseline_cost_usd)),
      ...row("routing", "savings_routing_usd", usd(w.savings_routing_usd)),
      ...row("compression", "savings_compression_usd", usd(w.savings_compression_usd)),
      ...row("caching", "savings_caching_usd", usd(w.savings_caching_usd)),
      ...row("verification cost", "verify_cost_usd", usd(w.verify_cost_usd)),
      ...row("error rate", "error_rate", pct(w.error_rate)),
      ...row("fallback rate", "fallback_rate", pct(w.fallback_rate)),
      ...row("latency", "latency_ms_avg", ms(w.latency_ms_avg)),
      ...row("overhead", "overhead_ms_avg", ms(w.overhead_ms_avg))));
}

async function loadSummary() {
  const s = await api(`/api/summary?days=${Math.max(state.days, 7)}`);
  $("#backend").textContent = s.backend;
  $("#summary").replaceChildren(...s.windows.map(card));
}

async function loadSeries() {
  const ts = await api(`/api/timeseries?days=${state.days}&bucket=${state.bucket}`);
  const t = ts.points.map((p) => p.t);
  const sources = SOURCES.map(([f, name, color]) => ({ name, color, values: ts.points.map((p) => p[f]) }));
  legend("#savings-legend", sources);
  bars("#savings-chart", t, sources, usd);
  const cost = [
    { name: "baseline", color: "#7a7a72", values: ts.points.map((p) => p.baseline_cost_usd) },
    { name: "actual cost", color: "#2f6f4f", values: ts.points.map((p) => p.cost_usd) },
    { name: "verification", color: "#8c4fa8", values: ts.points.map((p) => p.verify_cost_usd) },
  ];
  legend("#cost-legend", cost);
  lines("#cost-chart", t, cost, usd);
  const active = ts.points.map((p) => p.requests > 0);
  const rates = [
    { name: "errors", color: "#b3261e", values: ts.points.map((p, i) => (active[i] ? p.error_rate : null)) },
    { name: "fallbacks", color: "#c77d2e", values: ts.points.map((p, i) => (active[i] ? p.fallback_rate : null)) },
  ];
  legend("#rates-legend", rates);
  lines("#rates-chart", t, rates, pct);
  const lat = [
    { name: "latency", color: "#3d6fb6", values: ts.points.map((p) => p.latency_ms_avg) },
    { name: "frugal overhead", color: "#2f6f4f", values: ts.points.map((p) => p.overhead_ms_avg) },
  ];
  legend("#latency-legend", lat);
  lines("#latency-chart", t, lat, (v) => v.toFixed(1));
}

async function loadMix() {
  const { mix } = await api(`/api/mix?days=${state.days}&bucket=${state.bucket}`);
  const shares = (list) => list.map((s, i) => ({ name: s.name, color: COLORS[i % COLORS.length], values: s.series }));
  const tiers = shares(mix.tiers), models = shares(mix.models);
  legend("#tiers-legend", tiers);
  bars("#tiers-chart", mix.buckets, tiers, (v) => v.toFixed(0));
  legend("#models-legend", models);
  bars("#models-chart", mix.buckets, models, (v) => v.toFixed(0));
  const all = mix.models.reduce((a, m) => a + m.requests, 0);
  $("#models-table tbody").replaceChildren(...mix.models.map((m) => el("tr", { "data-model": m.name },
    el("td", {}, m.name),
    el("td", { class: "n", "data-field": "requests" }, int(m.requests)),
    el("td", { class: "n" }, pct(all ? m.requests / all : 0)),
    el("td", { class: "n", "data-field": "cost_usd" }, usd(m.cost_usd)),
    el("td", { class: "n", "data-field": "savings_usd" }, usd(m.savings_usd)),
    el("td", { class: "n", "data-field": "error_rate" }, pct(m.error_rate)),
    el("td", { class: "n", "data-field": "fallback_rate" }, pct(m.fallback_rate)),
    el("td", { class: "n" }, ms(m.latency_ms_avg)),
    el("td", { class: "n" }, ms(m.overhead_ms_avg)))));
}

const TIERS = ["simple", "medium", "complex", "frontier"];

async function loadQuality() {
  const q = await api(`/api/quality?days=${state.days}`);
  const b = q.boundaries;
  const show = (v) => v.map((x, i) => `${TIERS[i]} | ${TIERS[i + 1]} at ${x.toFixed(3)}`).join(", ");
  $("#boundaries").replaceChildren("Tier boundaries now: ", el("b", { "data-field": "live" }, show(b.live)),
    el("span", { class: "muted" }, ` (configured: ${show(b.configured)})`));
  const loop = q.loop;
  $("#loop").textContent = `Feedback loop ${loop.enabled ? (loop.dry_run ? "on (dry run: proposes, moves nothing)" : "on") : "off"}; ` +
    `target quality ${loop.floor}–${loop.ceiling}. Verification threshold ${q.verify.threshold.toFixed(3)} ` +
    `(${q.verify.moves} moves). Model-aware router: ${q.router.learning ? "learning" : "not learning"}, ${q.router.labelled_rows} labels.`;
  $("#quality-table tbody").replaceChildren(...q.feedback.map((r) => el("tr", {},
    el("td", {}, r.tier || "–"), el("td", {}, r.model || "–"),
    el("td", { class: "n" }, int(r.samples)), el("td", { class: "n" }, r.mean.toFixed(3)),
    el("td", { class: "n" }, `${r.lower.toFixed(3)} – ${r.upper.toFixed(3)}`))));
  $("#router-table tbody").replaceChildren(...q.router.models.map((m) => el("tr", {},
    el("td", {}, m.model), el("td", { class: "n" }, int(m.labels)),
    el("td", { class: "n" }, m.mean === null ? "–" : m.mean.toFixed(3)))));
  const events = q.events.length ? q.events.map((e) => el("tr", {},
    el("td", {}, when(e.ts_ms)), el("td", {}, e.tier), el("td", { class: "n" }, e.boundary),
    el("td", {}, `${e.old_value.toFixed(3)} → ${e.new_value.toFixed(3)}${e.dry_run ? " (dry run)" : ""}`),
    el("td", { class: "n" }, `${e.quality.toFixed(3)} [${e.lower.toFixed(2)}, ${e.upper.toFixed(2)}]`),
    el("td", { class: "n" }, int(e.samples)), el("td", {}, e.reason)))
    : [el("tr", {}, el("td", { colSpan: 7, class: "muted" }, "No moves in this range."))];
  $("#events-table tbody").replaceChildren(...events);
}

function recentRow(r) {
  const tr = el("tr", { "data-id": r.request_id, "data-seq": String(r.seq) },
    el("td", {}, when(r.ts_ms)), el("td", {}, r.decision), el("td", {}, r.tier || "–"),
    el("td", {}, r.model || "–"), el("td", {}, r.stage || "–"),
    el("td", { class: "n", "data-field": "cost_usd" }, "$" + r.cost_usd),
    el("td", { class: "n" }, ms(r.latency_ms)),
    el("td", { class: "n" }, r.error ? `${r.status} ${r.error}` : String(r.status)));
  if (r.status !== 200 || r.error) tr.classList.add("failed");
  if (r.request_id === state.selected) tr.classList.add("selected");
  tr.addEventListener("click", () => explain(r.request_id));
  return tr;
}

async function loadRecent() {
  const { requests } = await api("/api/requests?limit=50");
  $("#recent-table tbody").replaceChildren(...requests.map(recentRow));
}

async function explain(id) {
  state.selected = id;
  for (const tr of document.querySelectorAll("#recent-table tbody tr")) {
    tr.classList.toggle("selected", tr.dataset.id === id);
  }
  const box = $("#explain");
  try {
    const { request, explanation } = await api(`/api/requests/${encodeURIComponent(id)}`);
    const parts = [el("h3", {}, request.request_id), el("ul", {}, ...explanation.map((l) => el("li", {}, l)))];
    if (request.prompt) parts.push(el("h3", {}, "prompt"), el("pre", {}, request.prompt));
    if (request.calls) parts.push(el("h3", {}, "calls"), el("pre", {}, JSON.stringify(request.calls, null, 2)));
    box.replaceChildren(...parts);
  } catch (e) {
    box.replaceChildren(el("p", { class: "error" }, e.message));
  }
}

async function route(ev) {
  ev.preventDefault();
  const box = $("#pg-result");
  try {
    const body = JSON.stringify({ prompt: $("#pg-prompt").value, model: $("#pg-model").value || "auto" });
    const { plan, explanation } = await api("/api/route", {
      method: "POST", headers: { "content-type": "application/json" }, body,
    });
    const first = plan.candidates[0];
    $("#pg-tier").textContent = plan.tier;
    $("#pg-model-out").textContent = first ? first.model : "–";
    $("#pg-cost").textContent = first ? "$" + first.est_cost_usd : "–";
    $("#pg-baseline").textContent = plan.baseline_est_cost_usd ? "$" + plan.baseline_est_cost_usd : "–";
    $("#pg-explain").replaceChildren(...explanation.map((l) => el("li", {}, l)));
  } catch (e) {
    $("#pg-explain").replaceChildren(el("li", { class: "error" }, e.message));
  }
  box.hidden = false;
}

function budgetCell(list) {
  if (!list.length) return el("span", { class: "muted" }, "no budget");
  return el("span", {}, ...list.map((b) => {
    const limit = parseFloat(b.limit_usd), used = parseFloat(b.spent_usd) + parseFloat(b.reserved_usd);
    const share = limit > 0 ? Math.min(1, used / limit) : 1;
    const bar = el("span", { class: share >= 1 ? "bar over" : "bar" }, el("i", { style: `width:${(share * 100).toFixed(1)}%` }));
    return el("span", { class: "budget", "data-period": b.period }, bar,
      `${b.period}: $${b.spent_usd} of $${b.limit_usd} spent, $${b.reserved_usd} reserved, $${b.remaining_usd} left` +
      (b.resets_at ? ` (resets ${b.resets_at})` : ""));
  }));
}

async function loadKeys() {
  const k = await api(`/api/keys?days=${state.days}`);
  const rows = k.keys.map((key) => el("tr", { "data-key": key.name },
    el("td", {}, key.name), el("td", {}, key.project), el("td", {}, key.status),
    el("td", { class: "n", "data-field": "requests" }, int(key.spend.requests)),
    el("td", { class: "n", "data-field": "cost_usd" }, usd(key.spend.cost_usd)),
    el("td", { class: "n" }, usd(key.spend.savings_usd)),
    el("td", {}, budgetCell(key.budgets))));
  $("#keys-table tbody").replaceChildren(...(rows.length ? rows
    : [el("tr", {}, el("td", { colSpan: 7, class: "muted" }, "No gateway keys (docs/keys.md)."))]));
  $("#projects-table").hidden = !k.projects.length;
  $("#projects-table tbody").replaceChildren(...k.projects.map((p) => el("tr", {},
    el("td", {}, p.name), el("td", {}, budgetCell(p.budgets)))));
  $("#keys-other").textContent = `Without a key: ${int(k.without_key.requests)} requests, ${usd(k.without_key.cost_usd)}. ` +
    `Other keys: ${int(k.unrecognised_keys.requests)} requests, ${usd(k.unrecognised_keys.cost_usd)} ` +
    "(keys neither configured nor created: accepted while keys are not required, or since removed).";;
}

// ---- refresh ------------------------------------------------------------------------

async function all(tasks) {
  const results = await Promise.allSettled(tasks.map((t) => t()));
  const failed = results.find((r) => r.status === "rejected");
  if (failed) fail(failed.reason);
  else $("#status").textContent = "";
  $("#updated").textContent = new Date().toISOString().slice(11, 19) + "Z";
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

const refreshAll = () => all([loadSummary, loadSeries, loadMix, loadQuality, loadRecent, loadKeys]);

function start() {
  $("#range").addEventListener("change", (e) => {
    const [days, bucket] = e.target.value.split(":");
    Object.assign(state, { days: Number(days), bucket });
    refreshAll();
  });
  $("#pg-form").addEventListener("submit", route);
  refreshAll();
  setInterval(() => { if ($("#live").checked) loadRecent().catch(fail); }, RECENT_EVERY_MS);
  setInterval(() => { if ($("#live").checked) refreshAll(); }, PANELS_EVERY_MS);
}

document.addEventListener("DOMContentLoaded", start);
