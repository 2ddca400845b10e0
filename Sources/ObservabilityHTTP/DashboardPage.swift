/// The coordinator's dashboard (`GET /`): one page of plain HTML, CSS and a small script of
/// the project's own, nothing fetched from elsewhere. It loads `/api/history` and
/// `/api/control`, then follows `/api/events` (server-sent events: a `snapshot` a second,
/// `event` for joins, failovers, handovers and fencing, `control` for simulator reports) and
/// draws on canvases: members, the partition map (one cell per partition, coloured by owner;
/// usable with 4,096 partitions), throughput and latency, the timeline, refusals by reason,
/// and control quality (temperature against band with the heater, the fleet out of band).
///
/// For programs and tests the page keeps what it drew in the DOM: `#workers tr[data-worker]`,
/// `#partition-summary[data-owned]`, each chart's `data-points`, `#events li.<kind>`.
enum DashboardPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Thermoshard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
:root { --bg:#f4f5f7; --card:#fff; --ink:#1d2330; --muted:#6b7280; --line:#e3e6eb; --bad:#c0392b; --good:#1e8449; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--ink); }
header { display:flex; align-items:center; gap:16px; padding:10px 20px; background:#1d2330; color:#fff; }
header h1 { font-size:18px; margin:0; font-weight:600; }
header .stat { font-size:13px; opacity:.9; }
header .stat b { font-variant-numeric: tabular-nums; }
#ready { padding:2px 10px; border-radius:10px; font-weight:600; font-size:12px; }
#ready.yes { background:var(--good); } #ready.no { background:var(--bad); }
#conn { margin-left:auto; font-size:12px; opacity:.8; }
main { display:grid; grid-template-columns: repeat(12, 1fr); gap:14px; padding:14px 20px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 14px; min-width:0; }
section h2 { font-size:13px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); margin:0 0 8px; font-weight:600; }
.w4 { grid-column: span 4; } .w6 { grid-column: span 6; } .w8 { grid-column: span 8; } .w12 { grid-column: span 12; }
table { border-collapse: collapse; width:100%; font-variant-numeric: tabular-nums; }
th, td { text-align:left; padding:3px 6px; border-bottom:1px solid var(--line); white-space:nowrap; }
th { color:var(--muted); font-weight:500; font-size:12px; }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:6px; vertical-align:middle; }
.state-active { color:var(--good); } .state-silent { color:#b9770e; } .state-leaving { color:#2471a3; }
canvas { width:100%; display:block; }
.legend { font-size:12px; color:var(--muted); margin-top:4px; }
.legend span { margin-right:12px; white-space:nowrap; }
#events { list-style:none; margin:6px 0 0; padding:0; max-height:160px; overflow:auto; font-size:12px; }
#events li { padding:2px 0; border-bottom:1px dashed var(--line); }
#events li .t { color:var(--muted); margin-right:8px; font-variant-numeric: tabular-nums; }
#events li.failover { color:var(--bad); font-weight:600; } #events li.handover { color:#2471a3; }
#events li.joined { color:var(--good); } #events li.fenced { color:#b9770e; }
#tip { position:fixed; pointer-events:none; background:#1d2330; color:#fff; padding:4px 8px; border-radius:4px; font-size:12px; display:none; z-index:5; }
.bars div { display:flex; align-items:center; gap:8px; margin:3px 0; font-size:12px; }
.bars .bar { height:10px; background:#c0392b; border-radius:2px; }
.bars .label { width:140px; color:var(--muted); }
.empty { color:var(--muted); font-size:12px; }
#sensor-picker label { margin-right:10px; font-size:12px; white-space:nowrap; }
</style>
</head>
<body>
<header>
  <h1>Thermoshard</h1>
  <span id="ready" class="no">not ready</span>
  <span class="stat">accepted <b id="c-accepted">0</b></span>
  <span class="stat">processed <b id="c-processed">0</b></span>
  <span class="stat">commands <b id="c-commands">0</b></span>
  <span class="stat">failovers <b id="c-failovers">0</b></span>
  <span class="stat">moves <b id="c-moves">0</b></span>
  <span class="stat">fenced <b id="c-fenced">0</b></span>
  <span id="conn">connecting…</span>
</header>
<main>
  <section class="w4">
    <h2>Members</h2>
    <table><thead><tr><th>worker</th><th>state</th><th>partitions</th><th>heard</th></tr></thead><tbody id="workers"></tbody></table>
    <div id="no-workers" class="empty">no worker has joined</div>
  </section>
  <section class="w8">
    <h2>Partition map <span id="partition-summary" data-owned="0" data-total="0"></span></h2>
    <canvas id="partitions" height="200"></canvas>
    <div class="legend" id="partition-legend"></div>
  </section>
  <section class="w6">
    <h2>Throughput (per second, 3 s average)</h2>
    <canvas id="throughput" height="170" data-points="0"></canvas>
    <div class="legend"><span><i class="swatch" style="background:#2471a3"></i>accepted</span><span><i class="swatch" style="background:#1e8449"></i>processed</span><span><i class="swatch" style="background:#d35400"></i>commands</span><span><i class="swatch" style="background:#c0392b"></i>refused</span></div>
  </section>
  <section class="w6">
    <h2>Latency (ms, log scale)</h2>
    <canvas id="latency" height="170" data-points="0"></canvas>
    <div class="legend"><span><i class="swatch" style="background:#2471a3"></i>ingest p50</span><span><i class="swatch" style="background:#85c1e9"></i>ingest p99</span><span><i class="swatch" style="background:#d35400"></i>reading→command p50</span><span><i class="swatch" style="background:#f0b27a"></i>reading→command p99</span></div>
  </section>
  <section class="w8">
    <h2>Timeline: failovers, handovers, joins</h2>
    <canvas id="timeline" height="60" data-points="0"></canvas>
    <ul id="events"></ul>
  </section>
  <section class="w4">
    <h2>Refused requests by reason</h2>
    <div id="refused" class="bars"><div class="empty">none</div></div>
    <h2 style="margin-top:10px">Rejected items by reason</h2>
    <div id="rejected" class="bars"><div class="empty">none</div></div>
    <h2 style="margin-top:10px">Pauses of moved partitions</h2>
    <div id="pauses" class="empty">none yet</div>
  </section>
  <section class="w8">
    <h2>Control quality: temperature against the desired band, heater on/off</h2>
    <div id="sensor-picker" class="legend"></div>
    <canvas id="control" height="300" data-points="0"></canvas>
    <div class="legend"><span><i class="swatch" style="background:#cfe8cf"></i>desired band</span><span><i class="swatch" style="background:#c0392b"></i>temperature</span><span><i class="swatch" style="background:#e67e22"></i>heater on</span></div>
  </section>
  <section class="w4">
    <h2>Fleet out of band</h2>
    <canvas id="fleet" height="170" data-points="0"></canvas>
    <div class="legend"><span><i class="swatch" style="background:#2980b9"></i>now</span><span><i class="swatch" style="background:#222"></i>share of time</span></div>
    <div id="fleet-summary" class="empty">no simulator reports yet</div>
  </section>
</main>
<div id="tip"></div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const WINDOW_MS = 10 * 60 * 1000;
const state = { snap: null, points: [], events: [], control: [], picked: null, cells: null };
const palette = ["#2471a3","#1e8449","#d35400","#8e44ad","#c0392b","#17a589","#b7950b","#2e4053",
                 "#e74c3c","#5dade2","#58d68d","#f5b041","#af7ac5","#48c9b0","#f4d03f","#839192"];
const colour = (i) => palette[i % palette.length];
const fmt = (n) => n >= 1e9 ? (n/1e9).toFixed(1)+"G" : n >= 1e6 ? (n/1e6).toFixed(1)+"M" : n >= 1e4 ? (n/1e3).toFixed(0)+"k" : String(Math.round(n));
const clock = (t) => new Date(t).toTimeString().slice(0, 8);

function fit(canvas) {
  const ratio = window.devicePixelRatio || 1, w = canvas.clientWidth, h = Number(canvas.getAttribute("height"));
  // Sized to its box in device pixels, again whenever its width or its (drawn) height changes.
  if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
    canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio); canvas.style.height = h + "px";
  }
  const ctx = canvas.getContext("2d"); ctx.setTransform(ratio, 0, 0, ratio, 0, 0); ctx.clearRect(0, 0, w, h);
  return { ctx, w, h };
}

// The time axis: the last ten minutes at most, from the first point on (at least a minute).
function span() {
  const now = Date.now(), first = state.points.length ? state.points[0].t : now;
  return { now, t0: Math.max(now - WINDOW_MS, Math.min(first, now - 60000)) };
}
function timeAxis(ctx, left, w, h, t0, now) {
  ctx.fillStyle = "#6b7280"; ctx.font = "11px system-ui";
  for (let i = 0; i <= 4; i++) {
    const x = left + (w - left) * i / 4, ago = (now - t0) * (4 - i) / 4 / 1000;
    const label = i === 4 ? "now" : ago >= 90 ? "-" + (ago / 60).toFixed(1).replace(".0", "") + "m" : "-" + Math.round(ago) + "s";
    ctx.textAlign = i === 4 ? "right" : i === 0 ? "left" : "center"; ctx.fillText(label, i === 4 ? w - 2 : x, h - 4);
  }
  ctx.textAlign = "left";
}
// Moving average over `n` points, to read a trend through one-second jitter.
function smooth(values, n) {
  return values.map(([t], i) => { const part = values.slice(Math.max(0, i - n + 1), i + 1); return [t, part.reduce((a, [, v]) => a + v, 0) / part.length]; });
}

// A line chart of series over the last minutes: [{values:[[t,v]...], colour}], y from 0
// (or, with `log`, a logarithmic axis: latencies from tenths of a millisecond to seconds).
function lines(canvas, series, unit, log) {
  const { ctx, w, h } = fit(canvas), left = 44, bottom = 18, top = 6;
  const { now, t0 } = span(), width = now - t0;
  let max = 0, count = 0;
  for (const s of series) for (const [t, v] of s.values) if (t >= t0) { max = Math.max(max, v); count++; }
  max = max > 0 ? max * 1.1 : 1;
  ctx.strokeStyle = "#e3e6eb"; ctx.fillStyle = "#6b7280"; ctx.font = "11px system-ui"; ctx.lineWidth = 1;
  const plotH = h - top - bottom;
  let Y;
  if (log) {
    const lo = -1, hi = Math.max(1, Math.ceil(Math.log10(max)));
    Y = (v) => top + plotH * (1 - (Math.log10(Math.max(v, 0.1)) - lo) / (hi - lo));
    for (let e = lo; e <= hi; e++) {
      const y = Y(Math.pow(10, e)); ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(w, y); ctx.stroke();
      ctx.fillText(e < 0 ? "0.1 ms" : e < 3 ? Math.pow(10, e) + " ms" : Math.pow(10, e - 3) + " s", 2, y + 4);
    }
  } else {
    Y = (v) => top + plotH * (1 - v / max);
    for (let i = 0; i <= 4; i++) {
      const y = top + plotH * i / 4;
      ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(w, y); ctx.stroke();
      ctx.fillText(fmt(max * (4 - i) / 4) + (unit || ""), 2, y + 4);
    }
  }
  timeAxis(ctx, left, w, h, t0, now);
  const X = (t) => left + (t - t0) / width * (w - left);
  for (const s of series) {
    ctx.strokeStyle = s.colour; ctx.lineWidth = 1.6; ctx.beginPath();
    let started = false;
    for (const [t, v] of s.values) {
      if (t < t0 || v === null || v === undefined) { started = false; continue; }
      if (!started) { ctx.moveTo(X(t), Y(v)); started = true; } else ctx.lineTo(X(t), Y(v));
    }
    ctx.stroke();
  }
  canvas.dataset.points = String(count);
}

function drawCharts() {
  const p = state.points;
  lines($("throughput"), [
    { values: smooth(p.map(x => [x.t, x.accepted]), 3), colour: "#2471a3" },
    { values: smooth(p.map(x => [x.t, x.processed]), 3), colour: "#1e8449" },
    { values: smooth(p.map(x => [x.t, x.commands]), 3), colour: "#d35400" },
    { values: smooth(p.map(x => [x.t, x.refused]), 3), colour: "#c0392b" },
  ]);
  const lat = (k, q) => p.filter(x => x[k]).map(x => [x.t, x[k][q]]);
  lines($("latency"), [
    { values: lat("ingest", "p50"), colour: "#2471a3" }, { values: lat("ingest", "p99"), colour: "#85c1e9" },
    { values: lat("reading_to_command", "p50"), colour: "#d35400" }, { values: lat("reading_to_command", "p99"), colour: "#f0b27a" },
  ], "ms", true);
  drawTimeline();
}

function drawTimeline() {
  const canvas = $("timeline"), { ctx, w, h } = fit(canvas), left = 64, { now, t0 } = span(), width = now - t0;
  ctx.fillStyle = "#f4f5f7"; ctx.fillRect(left, 6, w - left, h - 24);
  timeAxis(ctx, left, w, h, t0, now);
  const colours = { failover: "#c0392b", handover: "#2471a3", joined: "#1e8449", left: "#839192", fenced: "#b9770e" };
  const rows = { failover: 0, handover: 1, joined: 2, left: 2, fenced: 1 };
  let count = 0;
  for (const e of state.events) {
    if (e.t < t0) continue;
    const x = left + (e.t - t0) / width * (w - left), y = 12 + rows[e.kind] * 11;
    ctx.fillStyle = colours[e.kind] || "#333";
    if (e.kind === "failover") { ctx.beginPath(); ctx.moveTo(x, y - 5); ctx.lineTo(x + 5, y + 4); ctx.lineTo(x - 5, y + 4); ctx.fill(); }
    else ctx.fillRect(x - 2, y - 4, 4, 8);
    count++;
  }
  ctx.fillStyle = "#6b7280"; ctx.fillText("failover", 0, 16); ctx.fillText("handover", 0, 27); ctx.fillText("join/leave", 0, 38);
  canvas.dataset.points = String(count);
}

function renderEvents() {
  const list = $("events"); list.textContent = "";
  for (const e of state.events.slice(-60).reverse()) {
    const li = document.createElement("li"); li.className = e.kind;
    const t = document.createElement("span"); t.className = "t"; t.textContent = clock(e.t);
    li.append(t, e.detail); list.append(li);
  }
}

function renderWorkers(snap) {
  const body = $("workers"); body.textContent = "";
  const order = snap.workers.map((wk, i) => [wk, i]).sort((a, b) => a[0].id.localeCompare(b[0].id, undefined, { numeric: true }));
  order.forEach(([wk, i]) => {
    const tr = document.createElement("tr"); tr.dataset.worker = wk.id; tr.dataset.state = wk.state;
    tr.innerHTML = `<td><i class="swatch" style="background:${colour(i)}"></i></td><td class="state-${wk.state}">${wk.state}</td><td>${wk.partitions}</td><td>${wk.last_heard_ms} ms ago</td>`;
    tr.firstChild.append(wk.id); body.append(tr);
  });
  $("no-workers").style.display = snap.workers.length ? "none" : "block";
}

function drawPartitions(snap) {
  const canvas = $("partitions"), n = snap.partition_count;
  // Cells as large as fit about 240 px of height, filling the width (4,096 partitions: 7 px).
  const width = canvas.clientWidth, cell = Math.max(3, Math.min(40, Math.floor(Math.sqrt(width * 240 / n))));
  // As many rows as the width needs, then the columns spread evenly over them (64 cells that fit
  // 21 to a row are 4 rows of 16, not 3 of 21 and one straggler).
  const rows = Math.ceil(n / Math.max(1, Math.floor(width / cell))), cols = Math.ceil(n / rows), height = Math.max(20, rows * cell);
  canvas.setAttribute("height", String(height));
  const { ctx } = fit(canvas);
  const maxLag = Math.max(1, ...snap.lags);
  let owned = 0, releasing = 0;
  for (let p = 0; p < n; p++) {
    const x = (p % cols) * cell, y = Math.floor(p / cols) * cell, o = snap.owners[p], s = snap.states[p], g = cell > 5 ? 1 : 0;
    if (s === "u" || o < 0) { ctx.fillStyle = "#d5d8dc"; ctx.fillRect(x, y, cell - g, cell - g); ctx.strokeStyle = "#c0392b"; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(x + 1, y + 1); ctx.lineTo(x + cell - 2, y + cell - 2); ctx.stroke(); continue; }
    owned++;
    ctx.fillStyle = colour(o); ctx.fillRect(x, y, cell - g, cell - g);
    if (snap.lags[p] > 0) { ctx.fillStyle = `rgba(0,0,0,${0.15 + 0.55 * snap.lags[p] / maxLag})`; ctx.fillRect(x, y + (cell - g) * 0.6, cell - g, (cell - g) * 0.4); }
    if (s === "r") { releasing++; ctx.strokeStyle = "#fff"; ctx.lineWidth = 2; ctx.strokeRect(x + 1.5, y + 1.5, cell - g - 3, cell - g - 3); }
  }
  state.cells = { cols, cell, n };
  const summary = $("partition-summary");
  summary.dataset.owned = String(owned); summary.dataset.total = String(n); summary.dataset.releasing = String(releasing);
  summary.textContent = `— ${owned} of ${n} owned` + (releasing ? `, ${releasing} in handover` : "") + `, lag ${fmt(snap.lags.reduce((a, b) => a + b, 0))} items`;
  $("partition-legend").innerHTML = snap.workers.map((wk, i) => [wk, i]).sort((a, b) => a[0].id.localeCompare(b[0].id, undefined, { numeric: true })).map(([wk, i]) => `<span><i class="swatch" style="background:${colour(i)}"></i>${escape(wk.id)} (${wk.partitions})</span>`).join("") +
    `<span><i class="swatch" style="background:#d5d8dc"></i>unassigned</span><span>white frame: handover in progress; dark band: lag</span>`;
}

function escape(s) { return String(s).replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c])); }

function bars(el, counts) {
  const entries = Object.entries(counts || {}).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
  if (!entries.length) { el.innerHTML = `<div class="empty">none</div>`; return; }
  const max = entries[0][1];
  el.innerHTML = entries.map(([k, v]) => `<div data-reason="${escape(k)}"><span class="label">${escape(k)}</span><span class="bar" style="width:${Math.max(2, 160 * v / max)}px"></span><span>${fmt(v)}</span></div>`).join("");
}

function onSnapshot(snap) {
  state.snap = snap;
  if (snap.point && (!state.points.length || state.points[state.points.length - 1].t < snap.point.t)) state.points.push(snap.point);
  while (state.points.length && state.points[0].t < Date.now() - WINDOW_MS) state.points.shift();
  const r = $("ready"); r.className = snap.ready ? "yes" : "no"; r.textContent = snap.ready ? "ready" : "not ready";
  const c = snap.counters;
  $("c-accepted").textContent = fmt(c.accepted); $("c-processed").textContent = fmt(c.processed); $("c-commands").textContent = fmt(c.commands);
  $("c-failovers").textContent = fmt(c.workers_lost); $("c-moves").textContent = fmt(c.partition_moves); $("c-fenced").textContent = fmt(c.fenced);
  renderWorkers(snap); drawPartitions(snap); drawCharts();
  const refused = Object.assign({}, snap.refused);
  bars($("refused"), refused);
  bars($("rejected"), snap.rejected);
  const ps = snap.pauses;
  $("pauses").textContent = ps && ps.count ? `${ps.count} moves: median ${ps.median_ms.toFixed(1)} ms, p99 ${ps.p99_ms.toFixed(1)} ms, max ${ps.max_ms.toFixed(1)} ms` : "none yet";
}

// Control quality: the picked sensors' temperature against their band, the heater below.
function pickers() {
  const last = state.control[state.control.length - 1]; if (!last) return;
  const ids = last.samples.map(s => s.sensor);
  if (!state.picked) state.picked = new Set(ids.slice(0, 3));
  const el = $("sensor-picker");
  if (el.dataset.ids === ids.join(",")) return;
  el.dataset.ids = ids.join(","); el.textContent = "sensors: ";
  for (const id of ids) {
    const label = document.createElement("label"), box = document.createElement("input");
    box.type = "checkbox"; box.checked = state.picked.has(id); box.dataset.sensor = String(id);
    box.onchange = () => { box.checked ? state.picked.add(id) : state.picked.delete(id); drawControl(); };
    label.append(box, " " + id); el.append(label);
  }
}

function drawControl() {
  pickers();
  const canvas = $("control"), reports = state.control;
  const picked = state.picked ? [...state.picked] : [];
  canvas.setAttribute("height", String(Math.max(1, picked.length) * 100 + 10));
  const { ctx, w } = fit(canvas), left = 44;
  let points = 0;
  if (!reports.length) { ctx.fillStyle = "#6b7280"; ctx.fillText("no simulator reports yet (thermoshard simulate sends them)", left, 20); canvas.dataset.points = "0"; }
  const t0 = reports.length ? reports[0].time_ms : 0, t1 = reports.length ? Math.max(t0 + 1, reports[reports.length - 1].time_ms) : 1;
  const X = (t) => left + (t - t0) / (t1 - t0) * (w - left - 4);
  picked.forEach((id, row) => {
    const y0 = row * 100 + 4, plot = 76;
    const series = reports.map(r => [r.time_ms, r.samples.find(s => s.sensor === id)]).filter(x => x[1]);
    if (!series.length) return;
    let lo = Infinity, hi = -Infinity;
    for (const [, s] of series) { lo = Math.min(lo, s.temperature, s.desired - s.down); hi = Math.max(hi, s.temperature, s.desired + s.up); }
    lo -= 0.5; hi += 0.5;
    const Y = (v) => y0 + plot * (1 - (v - lo) / (hi - lo));
    ctx.fillStyle = "#cfe8cf"; ctx.beginPath();
    series.forEach(([t, s], i) => i ? ctx.lineTo(X(t), Y(s.desired + s.up)) : ctx.moveTo(X(t), Y(s.desired + s.up)));
    for (let i = series.length - 1; i >= 0; i--) ctx.lineTo(X(series[i][0]), Y(series[i][1].desired - series[i][1].down));
    ctx.closePath(); ctx.fill();
    ctx.strokeStyle = "#c0392b"; ctx.lineWidth = 1.6; ctx.beginPath();
    series.forEach(([t, s], i) => i ? ctx.lineTo(X(t), Y(s.temperature)) : ctx.moveTo(X(t), Y(s.temperature)));
    ctx.stroke(); points += series.length;
    ctx.fillStyle = "#eee"; ctx.fillRect(left, y0 + plot + 4, w - left - 4, 8);
    ctx.fillStyle = "#e67e22";
    for (let i = 0; i < series.length; i++) if (series[i][1].heating) {
      const next = i + 1 < series.length ? series[i + 1][0] : series[i][0];
      ctx.fillRect(X(series[i][0]), y0 + plot + 4, Math.max(1, X(next) - X(series[i][0])), 8);
    }
    ctx.fillStyle = "#6b7280"; ctx.font = "11px system-ui";
    ctx.fillText(hi.toFixed(1) + "°", 2, y0 + 10); ctx.fillText(lo.toFixed(1) + "°", 2, y0 + plot); ctx.fillText("#" + id, 2, y0 + plot + 12);
  });
  canvas.dataset.points = String(points);
  const fleet = $("fleet"), f = fit(fleet), fl = 44, fh = f.h - 18;
  const FX = (t) => fl + (t - t0) / (t1 - t0) * (f.w - fl - 4), FY = (v) => 4 + (fh - 4) * (1 - Math.min(1, v));
  f.ctx.strokeStyle = "#e3e6eb"; f.ctx.fillStyle = "#6b7280"; f.ctx.font = "11px system-ui";
  for (let i = 0; i <= 4; i++) { const y = FY(i / 4); f.ctx.beginPath(); f.ctx.moveTo(fl, y); f.ctx.lineTo(f.w, y); f.ctx.stroke(); f.ctx.fillText((i * 25) + "%", 2, y + 4); }
  for (const [key, c] of [["out_of_band", "#2980b9"], ["out_of_band_time", "#222"]]) {
    f.ctx.strokeStyle = c; f.ctx.lineWidth = 1.6; f.ctx.beginPath();
    reports.forEach((r, i) => i ? f.ctx.lineTo(FX(r.time_ms), FY(r[key])) : f.ctx.moveTo(FX(r.time_ms), FY(r[key])));
    f.ctx.stroke();
  }
  fleet.dataset.points = String(reports.length);
  const last = reports[reports.length - 1];
  if (last) $("fleet-summary").textContent = `${last.sensors} heaters, ${(last.out_of_band * 100).toFixed(1)}% out of band now, ${(last.out_of_band_time * 100).toFixed(1)}% of the time so far, ${last.heating} heating`;
}

$("partitions").addEventListener("mousemove", (ev) => {
  const snap = state.snap, c = state.cells, tip = $("tip");
  if (!snap || !c) return;
  const rect = ev.target.getBoundingClientRect(), col = Math.floor((ev.clientX - rect.left) / c.cell), row = Math.floor((ev.clientY - rect.top) / c.cell);
  const p = row * c.cols + col;
  if (col >= c.cols || p >= c.n || p < 0) { tip.style.display = "none"; return; }
  const o = snap.owners[p], st = { o: "owned", r: "handover in progress", u: "unassigned" }[snap.states[p]];
  tip.textContent = `partition ${p}: ${o >= 0 ? snap.workers[o].id : "no owner"}, ${st}, epoch ${snap.epochs[p]}, lag ${snap.lags[p]}` + (snap.lag_ages[p] ? ` (${snap.lag_ages[p]} s)` : "");
  tip.style.left = (ev.clientX + 12) + "px"; tip.style.top = (ev.clientY + 12) + "px"; tip.style.display = "block";
});
$("partitions").addEventListener("mouseleave", () => { $("tip").style.display = "none"; });

// The stream and the history can both hold an event (it is opened first, so that nothing that
// happens while the history loads is in neither): kept once, in time order.
function eventKey(e) { return e.t + "|" + e.kind + "|" + (e.worker || "") + "|" + e.detail; }
function addEvents(list) {
  const seen = new Set(state.events.map(eventKey));
  for (const e of list) { const k = eventKey(e); if (!seen.has(k)) { seen.add(k); state.events.push(e); } }
  state.events.sort((a, b) => a.t - b.t);
  if (state.events.length > 500) state.events.splice(0, state.events.length - 500);
}

async function start() {
  const source = new EventSource("/api/events");
  source.onopen = () => { $("conn").textContent = "live"; };
  source.onerror = () => { $("conn").textContent = "reconnecting…"; };
  source.addEventListener("snapshot", (m) => { onSnapshot(JSON.parse(m.data)); $("conn").textContent = "live · " + clock(Date.now()); });
  source.addEventListener("event", (m) => { addEvents([JSON.parse(m.data)]); renderEvents(); drawTimeline(); });
  source.addEventListener("control", (m) => {
    const r = JSON.parse(m.data);
    if (!state.control.length || state.control[state.control.length - 1].time_ms < r.time_ms) state.control.push(r);
    if (state.control.length > 600) state.control.shift();
    drawControl();
  });
  try {
    const h = await (await fetch("/api/history")).json();
    // Points the stream brought meanwhile are newer than the history's: they stay after it.
    const history = h.points || [], last = history.length ? history[history.length - 1].t : -Infinity;
    state.points = history.concat(state.points.filter((pt) => pt.t > last));
    addEvents(h.events || []);
    const control = await (await fetch("/api/control")).json(), newest = control.length ? control[control.length - 1].time_ms : -Infinity;
    state.control = control.concat(state.control.filter((r) => r.time_ms > newest));
  } catch (e) { /* the stream fills in */ }
  renderEvents(); drawCharts(); drawControl();
  window.addEventListener("resize", () => { if (state.snap) onSnapshot(state.snap); drawControl(); });
}
start();
</script>
</body>
</html>
"""#
}
