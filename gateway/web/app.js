// The live dashboard: renders /api/snapshot, then every snapshot /events pushes.
// Plain browser JavaScript, no build step, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);

function fmt(x, digits = 0) {
  return x === null || x === undefined ? "–" : Number(x).toFixed(digits);
}

function metric(snap, name) {
  const v = snap.metrics[name];
  return v === undefined ? null : v;
}

function text(id, value) { $(id).textContent = value; }

// ec_gateway_edge_backend_info{backend="...",device="...",...}: what runs the edge model.
function edgeBackend(snap) {
  const key = Object.keys(snap.metrics).find((k) => k.startsWith("ec_gateway_edge_backend_info{"));
  if (!key) return null;
  const labels = {};
  for (const m of key.matchAll(/(\w+)="([^"]*)"/g)) labels[m[1]] = m[2];
  return labels;
}

// One polyline per series on a 300 x 60 box; nulls (seconds without answers) break it.
function sparkline(svgId, series, top) {
  const svg = $(svgId);
  const ns = "http://www.w3.org/2000/svg";
  const lines = series.map(([cls, values]) => {
    const line = document.createElementNS(ns, "polyline");
    const step = 300 / Math.max(1, values.length - 1);
    line.setAttribute("points", values.map((v, i) => v === null ? null
      : `${(i * step).toFixed(1)},${(58 - 56 * v / (top || 1)).toFixed(1)}`)
      .filter((p) => p !== null).join(" "));
    line.setAttribute("class", cls);
    line.dataset.points = values.filter((v) => v !== null).length;
    return line;
  });
  svg.replaceChildren(...lines);
}

function renderSeries(snap) {
  const s = snap.series;
  if (!s) return;
  const tiers = snap.tier_order.filter((t) => s.answers_per_s[t].some((v) => v > 0));
  const top = Math.max(1, ...tiers.flatMap((t) => s.answers_per_s[t]));
  sparkline("spark-answers", tiers.map((t) => ["s-" + t, s.answers_per_s[t]]), top);
  const last = (xs) => xs.length ? xs[xs.length - 1] : 0;
  text("spark-answers-sub", tiers.length
    ? tiers.map((t) => `${t} ${last(s.answers_per_s[t])}/s`).join(" · ") + ` · peak ${top}/s`
    : "no answers in the last minute");
  const lat = s.latency_ms_mean;
  const seen = lat.filter((v) => v !== null);
  sparkline("spark-latency", [["s-latency", lat]], Math.max(0.001, ...seen));
  text("spark-latency-sub", seen.length
    ? `last ${fmt(seen[seen.length - 1], 2)} ms · peak ${fmt(Math.max(...seen), 2)} ms`
    : "no answers in the last minute");
}

// issue 22: the label-free estimate (gateway/accuracy.py) and the drift alarms
function renderLiveAccuracy(snap) {
  const n = metric(snap, "ec_gateway_live_accuracy_answers") || 0;
  const pct = (v) => (100 * v).toFixed(1) + " %";
  text("live-accuracy", n > 0 ? pct(metric(snap, "ec_gateway_live_accuracy")) : "–");
  const audits = metric(snap, "ec_gateway_audits_in_window") || 0;
  const drift = metric(snap, "ec_gateway_drift_firing") || 0;
  const parts = n > 0
    ? [`${pct(metric(snap, "ec_gateway_live_accuracy_low"))} – ` +
       `${pct(metric(snap, "ec_gateway_live_accuracy_high"))} over ${fmt(n)} answers`,
       audits > 0 ? `audits agree ${pct(metric(snap, "ec_gateway_audit_agreement"))} ` +
                    `of ${fmt(audits)}` : "no audits yet"]
    : ["no answers yet"];
  if (drift > 0) parts.push(`DRIFT: ${fmt(drift)} alarm(s)`);
  text("live-accuracy-sub", parts.join(" · "));
  $("live-card").className = drift > 0 ? "card alarm" : "card";
}

function render(snap) {
  text("gateway-id", snap.gateway_id);
  text("answered", fmt(snap.answered));
  text("m-reports", fmt(metric(snap, "ec_gateway_reports_total")));
  text("accuracy", snap.accuracy === null ? "–" : (100 * snap.accuracy).toFixed(1) + " %");
  text("accuracy-sub", snap.judged ? `${snap.judged} frames with ground truth`
                                   : "no ground truth known");
  renderLiveAccuracy(snap);
  text("lat-p50", fmt(snap.latency_ms.p50, 1));
  text("lat-p90", fmt(snap.latency_ms.p90, 1));
  text("lat-p99", fmt(snap.latency_ms.p99, 1));
  if (snap.latency_ms.measures) $("lat-means").title = snap.latency_ms.measures;
  text("m-cloud-cost", fmt(metric(snap, "ec_gateway_cloud_cost_total"), 1));
  text("budget", snap.budget_messages === null ? "none"
       : `${fmt(metric(snap, "ec_gateway_budget_spent"), 1)} / ${fmt(snap.budget_messages)}`);
  const circuit = snap.circuit_names[metric(snap, "ec_gateway_circuit_state")] || "–";
  text("m-circuit", circuit);
  $("m-circuit").className = "big circuit-" + circuit;
  text("m-in-flight", fmt(metric(snap, "ec_gateway_cloud_in_flight")));
  text("m-spool-depth", fmt(metric(snap, "ec_gateway_spool_depth")));
  text("m-spool-bytes", fmt(metric(snap, "ec_gateway_spool_bytes")));
  const eb = edgeBackend(snap);
  if (eb) {
    text("edge-provider", eb.provider + (eb.fallback === "true" ? " (fallback)" : ""));
    text("edge-backend", `${eb.backend} ${eb.precision}`);
    text("edge-device", eb.device);
  }

  const bar = document.createElement("div");
  bar.className = "bar";
  for (const t of snap.tier_order) {
    const share = snap.tier_share[t] || 0;
    if (!share) continue;
    const seg = document.createElement("div");
    seg.className = "t-" + t;
    seg.style.width = (100 * share) + "%";
    seg.textContent = share >= 0.08 ? `${t} ${(100 * share).toFixed(0)}%` : "";
    seg.title = `${t}: ${snap.tiers[t]} answers`;
    seg.dataset.tier = t;
    bar.appendChild(seg);
  }
  const legend = document.createElement("div");
  legend.className = "legend";
  for (const t of snap.tier_order) {
    if (!snap.tiers[t]) continue;
    const item = document.createElement("span");
    item.innerHTML = `<i class="t-${t}"></i>`;
    item.append(`${t} ${(100 * snap.tier_share[t]).toFixed(1)}% · ${snap.tiers[t]}`);
    legend.appendChild(item);
  }
  if (snap.corrections) legend.append(`corrections ${snap.corrections}`);
  $("tiers").replaceChildren(bar, legend);

  $("devices").replaceChildren(...snap.devices.map((d) => {
    const tr = document.createElement("tr");
    const model = d.model_id ? `${d.model_id} v${d.model_version}` : "–";
    for (const [v, cls] of [[d.device_id, ""], [d.online ? "online" : "offline",
                            d.online ? "online" : "offline"], [model, ""]]) {
      const td = document.createElement("td");
      td.textContent = v;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    return tr;
  }));

  $("results").replaceChildren(...snap.last.map((r) => {
    const tr = document.createElement("tr");
    const frame = `${r.device_id}/${r.epoch}/${r.seq}` + (r.revision ? ` r${r.revision}` : "");
    const label = r.label_name !== undefined ? r.label_name : String(r.label);
    const cells = [frame, label, (100 * r.confidence).toFixed(1) + " %", r.tier,
                   r.reason + (r.degraded ? " · degraded" : "") + (r.stale ? " · stale" : ""),
                   r.latency_ms.toFixed(1)];
    cells.forEach((v, i) => {
      const td = document.createElement("td");
      td.textContent = v;
      if (i === 3) td.className = "tier";
      tr.appendChild(td);
    });
    return tr;
  }));
  renderSeries(snap);
  text("updated", "updated " + new Date().toLocaleTimeString());
  document.body.dataset.version = snap.version;
}

function connect() {
  const source = new EventSource("/events");
  source.onopen = () => { text("link", "live"); $("link").className = "pill"; };
  source.onerror = () => { text("link", "reconnecting…"); $("link").className = "pill off"; };
  source.onmessage = (ev) => render(JSON.parse(ev.data));
}

fetch("/api/snapshot").then((r) => r.json()).then(render).catch(() => {});
connect();
