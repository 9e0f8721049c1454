// raftcache dashboard: polls /cluster (every member's /status, gathered by this node) once a
// second, draws the members by zone, four line charts of the last minutes and warning banners.
// No library: the charts are drawn on a canvas here.
"use strict";

const POLL_MS = 1000;
const WINDOW_S = 300;                 // the charts show the last five minutes
const PROTOCOLS = ["resp", "memcache", "grpc"];
const PROTOCOL_NAMES = {resp: "Redis", memcache: "memcached", grpc: "gRPC"};
const PALETTE = ["#38bdf8", "#22c55e", "#f59e0b", "#f472b6", "#a78bfa", "#f87171", "#2dd4bf", "#facc15", "#fb923c"];
const MEMORY_WARN = 0.9;              // used / maxmemory past which a banner warns
const LAG_SAMPLES = 5;                // lag rising this many polls in a row is "growing"

const history = {};                   // member id -> [{t, ops, p99, lag, used}]
const previous = {};                  // member id -> {t, protocols} of the last poll
const lastSeen = {};                  // member id -> time (s) it last answered
let lastTime = 0;                     // the newest /cluster answer's time: an older or equal one is skipped
let samples = 0;

function esc(text) {
  return String(text).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
function fmtNum(v) {
  if (v === null || v === undefined || isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
  if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
  return a >= 100 || Number.isInteger(v) ? Math.round(v).toString() : v.toFixed(1);
}
function fmtBytes(v) {
  if (v === null || v === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : v) + " " + units[i];
}
function fmtUs(us) {
  if (us === null || us === undefined) return "–";
  if (us === 0) return "0";
  if (us < 1000) return Math.round(us) + " µs";
  if (us < 1e6) return (us / 1000).toFixed(us < 1e4 ? 2 : 1) + " ms";
  return (us / 1e6).toFixed(2) + " s";
}
function fmtAge(s) {
  if (s === null || s === undefined) return "never";
  if (s < 1) return Math.round(s * 1000) + " ms ago";
  if (s < 120) return s.toFixed(1) + " s ago";
  return Math.round(s / 60) + " min ago";
}
const UNIT_FORMAT = {ops: fmtNum, us: fmtUs, n: fmtNum, bytes: fmtBytes};

// ---------------------------------------------------------------- latency from histogram deltas

// buckets: [[low_us, high_us, count], …] since start; the calls between two polls are the difference.
function bucketDelta(now, before) {
  const old = new Map((before || []).map(b => [b[0], b[2]]));
  return now.map(b => [b[0], b[1], b[2] - (old.get(b[0]) || 0)]).filter(b => b[2] > 0);
}
function percentile(buckets, q) {
  const total = buckets.reduce((s, b) => s + b[2], 0);
  if (!total) return null;
  let seen = 0;
  for (const b of buckets) {
    seen += b[2];
    if (seen >= q * total) return (b[0] + b[1]) / 2;
  }
  const last = buckets[buckets.length - 1];
  return (last[0] + last[1]) / 2;
}

// Per protocol over the last poll: {ops, p50, p99, clients}; and all protocols merged.
function rates(id, status, t) {
  const before = previous[id];
  const out = {all: {ops: null, p99: null}};
  const merged = [];
  let ops = 0, any = false;
  for (const name of PROTOCOLS) {
    const now = (status.protocols || {})[name];
    if (!now) continue;
    const row = {clients: now.clients, ops: null, p50: null, p99: null};
    const was = before && before.protocols[name];
    if (was && t > before.t && now.calls >= was.calls) {
      const dt = t - before.t;
      const delta = bucketDelta(now.buckets, was.buckets);
      row.ops = (now.calls - was.calls) / dt;
      row.p50 = percentile(delta, 0.5);
      row.p99 = percentile(delta, 0.99);
      ops += row.ops;
      any = true;
      merged.push(...delta);
    }
    out[name] = row;
  }
  merged.sort((a, b) => a[0] - b[0]);
  if (any) out.all = {ops: ops, p99: percentile(merged, 0.99)};
  previous[id] = {t: t, protocols: status.protocols || {}};
  return out;
}

// ---------------------------------------------------------------- charts

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 4, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// series: [{name, color, points: [[t, v|null], …]}]; draws the seconds up to `now` that the
// history covers: at least one minute, at most WINDOW_S.
function drawChart(canvas, series, now) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 400, h = canvas.clientHeight || 170;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
  ctx.clearRect(0, 0, w, h);
  const fmt = UNIT_FORMAT[canvas.dataset.unit] || fmtNum;
  const left = 62, right = 8, top = 6, bottom = 18;
  const pw = w - left - right, ph = h - top - bottom;
  let max = 0, oldest = now;
  for (const s of series) for (const p of s.points) {
    if (p[1] !== null && p[1] > max) max = p[1];
    if (p[0] < oldest) oldest = p[0];
  }
  const span = Math.min(WINDOW_S, Math.max(60, Math.ceil((now - oldest) / 60) * 60));
  const counts = canvas.dataset.unit === "n" || canvas.dataset.unit === "ops";
  if (canvas.dataset.unit === "bytes") {     // round in KiB, MiB… so the labels come out even
    const scale = Math.pow(1024, Math.max(0, Math.floor(Math.log(Math.max(max, 1)) / Math.log(1024))));
    max = niceMax(max / scale) * scale;
  } else {
    max = Math.max(niceMax(max), counts ? 4 : 0);
  }
  ctx.font = "11px system-ui, sans-serif";
  ctx.strokeStyle = "#334155";
  ctx.fillStyle = "#94a3b8";
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let i = 0; i <= 4; i++) {
    const y = top + ph - (ph * i) / 4;
    ctx.beginPath(); ctx.moveTo(left, y + 0.5); ctx.lineTo(w - right, y + 0.5); ctx.stroke();
    ctx.fillText(fmt((max * i) / 4), left - 6, y);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const step = span <= 60 ? 10 : span <= 180 ? 30 : 60;
  for (let ago = 0; ago <= span; ago += step) {
    const x = left + pw - (pw * ago) / span;
    const label = !ago ? "now" : span <= 180 ? "-" + ago + " s" : "-" + ago / 60 + " min";
    ctx.fillText(label, Math.min(Math.max(x, left + 16), w - right - 12), top + ph + 4);
  }
  let drawn = 0;
  ctx.lineWidth = 1.8;
  ctx.lineJoin = "round";
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.beginPath();
    let pen = false;
    for (const [t, v] of s.points) {
      if (t < now - span || v === null) { pen = false; continue; }
      const x = left + pw - (pw * (now - t)) / span;
      const y = top + ph - (ph * v) / max;
      if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      pen = true;
      drawn++;
    }
    ctx.stroke();
  }
  canvas.dataset.points = String(drawn);   // what a test (or a curious user) can read back
}

function legend(el, series) {
  el.innerHTML = series.map(s => `<span><i style="background:${s.color}"></i>${esc(s.name)}</span>`).join("");
}

// ---------------------------------------------------------------- members

function roleOf(m) { return m.reachable ? m.status.role : "down"; }

function memberCard(m, view, color) {
  const role = roleOf(m);
  const s = m.status || {};
  const r = view.rates || {};
  let body = "";
  if (m.reachable) {
    const max = s.maxmemory_bytes || 0, used = s.used_bytes || 0;
    const share = max ? used / max : 0;
    const barClass = share >= 0.98 ? "full" : share >= MEMORY_WARN ? "high" : "";
    const dbs = (s.keys_per_db || []).map((n, i) => [i, n]).filter(p => p[1] > 0)
      .map(p => `db${p[0]}: ${fmtNum(p[1])}`).join(", ") || "none";
    const clients = PROTOCOLS.map(p => (r[p] || {}).clients).filter(c => c !== null && c !== undefined)
      .reduce((a, b) => a + b, 0);
    const contact = role === "leader" ? "leads" : fmtAge(s.last_leader_contact_s);
    const rows = PROTOCOLS.filter(p => r[p]).map(p => `<tr><td>${PROTOCOL_NAMES[p]}</td><td>${fmtNum(r[p].ops)}</td>` +
      `<td>${fmtUs(r[p].p50)}</td><td>${fmtUs(r[p].p99)}</td><td>${r[p].clients ?? "–"}</td></tr>`).join("");
    body = `<div class="kv">
        <div><span>term</span>${s.term}</div>
        <div><span>commit / applied</span>${s.commit_index} / ${s.applied_index}</div>
        <div><span>lag</span><b class="lag">${fmtNum(view.lag)}</b></div>
        <div><span>leader contact</span>${contact}</div>
        <div><span>keys</span>${fmtNum(s.keys)}</div>
        <div><span>evictions</span>${fmtNum(s.evicted_keys)}</div>
        <div><span>clients</span>${clients}</div>
        <div><span>ops/s</span>${fmtNum((r.all || {}).ops)}</div>
        <div><span>p99</span>${fmtUs((r.all || {}).p99)}</div>
      </div>
      <div class="mem">memory ${fmtBytes(used)} of ${max ? fmtBytes(max) : "no limit"}${max ? ` (${Math.round(share * 100)} %)` : ""}
        <div class="bar"><i class="${barClass}" style="width:${Math.min(100, share * 100).toFixed(1)}%"></i></div></div>
      <div class="dbs">keys per database: ${esc(dbs)}</div>
      <table class="protocols"><tr><th>protocol</th><th>ops/s</th><th>p50</th><th>p99</th><th>clients</th></tr>${rows}</table>`;
  } else {
    body = `<div class="error">${esc(m.error || "unreachable")}</div>
      <div class="kv"><div><span>last seen</span>${lastSeen[m.id] ? fmtAge(Date.now() / 1000 - lastSeen[m.id]) : "never"}</div>
      <div><span>http</span>${esc(m.http)}</div></div>`;
  }
  return `<article class="member ${role === "leader" ? "leader" : ""} ${m.reachable ? "" : "down"}" data-id="${esc(m.id)}"
      data-zone="${esc(m.zone)}" data-role="${esc(role)}">
    <div class="title"><i style="width:10px;height:10px;border-radius:5px;background:${color}"></i>
      <span class="id">${esc(m.id)}</span><span class="badge role-${esc(role)}">${esc(role)}</span>
      <span class="badge">zone ${esc(m.zone)}</span></div>
    <div class="body">${body}</div></article>`;
}

function warnings(data, leader, views) {
  const out = [];
  const members = data.members;
  for (const m of members) {
    if (!m.reachable) out.push(["critical", `${m.id} (zone ${m.zone}) is down: ${m.error || "unreachable"}`]);
  }
  if (!leader) out.push(["critical", "no leader: writes cannot be served until one is elected"]);
  if (leader) {
    for (const lm of leader.status.members) {
      const m = members.find(x => x.id === lm.id);
      if (m && m.reachable && !lm.connected) out.push(["warn", `${lm.id} answers but the leader has no connection to it`]);
    }
  }
  if (members.length % 2 === 0) {
    out.push(["warn", `${members.length} voters: an even number tolerates no more failures than ${members.length - 1} do`]);
  }
  for (const m of members) {
    const h = history[m.id] || [];
    const tail = h.slice(-LAG_SAMPLES - 1).map(p => p.lag);
    const rising = tail.length > LAG_SAMPLES && tail.every((v, i) => i === 0 || (v !== null && v > tail[i - 1]));
    if (rising) out.push(["warn", `${m.id}'s lag is growing: ${fmtNum(tail[tail.length - 1])} entries behind`]);
    const s = m.status;
    if (m.reachable && s.maxmemory_bytes && s.used_bytes / s.maxmemory_bytes >= MEMORY_WARN) {
      out.push(["warn", `${m.id} uses ${Math.round((100 * s.used_bytes) / s.maxmemory_bytes)} % of maxmemory ` +
        `(${s.maxmemory_policy === "noeviction" ? "writes will be refused" : "keys are being evicted"})`]);
    }
  }
  return out;
}

// ---------------------------------------------------------------- one poll

function render(data) {
  const now = data.time;
  if (now <= lastTime) return;        // the node's cached answer again (several pages poll it)
  lastTime = now;
  document.body.dataset.samples = String(++samples);
  const members = data.members.slice().sort((a, b) => a.id.localeCompare(b.id));
  const colors = {};
  members.forEach((m, i) => { colors[m.id] = PALETTE[i % PALETTE.length]; });
  const leader = members.find(m => m.reachable && m.status.role === "leader");
  const matchOf = {};
  if (leader) for (const lm of leader.status.members) matchOf[lm.id] = lm.match_index;
  const views = {};
  for (const m of members) {
    const view = {rates: {}, lag: null};
    if (m.reachable) {
      lastSeen[m.id] = now;
      const s = m.status;
      view.rates = rates(m.id, s, now);
      view.lag = leader ? (m.id === leader.id ? 0 : Math.max(0, leader.status.last_index - (matchOf[m.id] || 0)))
        : Math.max(0, s.commit_index - s.applied_index);
    } else {
      delete previous[m.id];
    }
    views[m.id] = view;
    const h = history[m.id] || (history[m.id] = []);
    h.push({t: now, ops: (view.rates.all || {}).ops ?? null, p99: (view.rates.all || {}).p99 ?? null,
            lag: view.lag, used: m.reachable ? m.status.used_bytes : null});
    while (h.length && h[0].t < now - WINDOW_S) h.shift();
  }
  // the picture: one column per zone, the members in it
  const zones = [...new Set(members.map(m => m.zone))].sort();
  document.getElementById("zones").innerHTML = zones.map(z => `<div class="zone" data-zone="${esc(z)}"><h2>zone ${esc(z)}</h2>` +
    members.filter(m => m.zone === z).map(m => memberCard(m, views[m.id], colors[m.id])).join("") + "</div>").join("");
  const up = members.filter(m => m.reachable).length;
  document.getElementById("summary").innerHTML = `<b>${members.length}</b> voters, <b>${up}</b> up · leader <b>${leader ? esc(leader.id) : "none"}</b>` +
    ` · term <b>${leader ? leader.status.term : "–"}</b> · page served by ${esc(data.served_by)}`;
  document.getElementById("updated").textContent = "updated " + new Date(now * 1000).toLocaleTimeString();
  showBanners(warnings(data, leader, views));
  for (const [key, field] of [["ops", "ops"], ["latency", "p99"], ["lag", "lag"], ["memory", "used"]]) {
    const series = members.map(m => ({name: m.id, color: colors[m.id], points: (history[m.id] || []).map(p => [p.t, p[field]])}));
    drawChart(document.getElementById("chart-" + key), series, now);
    legend(document.getElementById("legend-" + key), series);
  }
}

function showBanners(list) {
  document.getElementById("banners").innerHTML = list.map(([level, text]) =>
    `<div class="banner ${level}" data-level="${level}">${esc(text)}</div>`).join("");
}

async function poll() {
  try {
    const reply = await fetch("/cluster", {cache: "no-store"});
    if (!reply.ok) throw new Error("HTTP " + reply.status);
    render(await reply.json());
  } catch (e) {
    showBanners([["critical", `this node does not answer (${e.message}): open the dashboard on another member`]]);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
