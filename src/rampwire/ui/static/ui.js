// rampwire dashboard: the pages work without this; it asks before a replay and keeps the
// delivery log live.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.action.endsWith("/replay")) {
    if (!window.confirm("Send this event again to its endpoint?")) event.preventDefault();
  }
});

// Live delivery log: rows from /ui/live/deliveries (server-sent events) inserted or replaced,
// built with textContent only. Without this script the page is the same, reloaded by hand.
function cell(row, text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (text instanceof Node) td.append(text); else td.textContent = text;
  row.append(td);
}

function code(text, ref) {
  const el = document.createElement("code");
  el.textContent = text;
  if (ref) { el.className = "ref"; el.title = text; }  // cut to its start, as the page does
  return el;
}

function link(href, text, ref) {
  const a = document.createElement("a");
  a.href = href;
  a.append(code(text, ref));
  return a;
}

function deliveryRow(d) {
  const row = document.createElement("tr");
  row.dataset.id = d.id;
  cell(row, link("/ui/deliveries/" + encodeURIComponent(d.id), d.id));
  const badge = document.createElement("span");
  badge.className = "badge d-" + d.status;
  badge.textContent = d.status;
  cell(row, badge);
  cell(row, d.event_type);
  cell(row, d.order_id ? link("/ui/orders/" + encodeURIComponent(d.order_id), d.order_id, true) : "");
  cell(row, code(d.endpoint_id, true));
  cell(row, String(d.attempts), "num");
  cell(row, String(d.last));
  cell(row, d.updated_at.replace("T", " "));
  return row;
}

document.addEventListener("DOMContentLoaded", () => {
  const body = document.getElementById("live-deliveries");
  if (!body || !window.EventSource) return;
  const state = document.querySelector(".live-state");
  const source = new EventSource(body.dataset.live);
  source.addEventListener("open", () => { if (state) state.textContent = "live"; });
  source.addEventListener("delivery", (event) => {
    const d = JSON.parse(event.data);
    const row = deliveryRow(d);
    const old = body.querySelector(`tr[data-id="${CSS.escape(d.id)}"]`);
    const empty = body.querySelector("tr.empty");
    if (empty) empty.remove();
    if (old) old.replaceWith(row); else body.prepend(row);
  });
});

// Endpoint form: only the chosen format's secret field shows (all of them without scripts).
document.addEventListener("DOMContentLoaded", () => {
  const dialect = document.getElementById("dialect");
  if (dialect) {
    const show = () => {
      for (const el of document.querySelectorAll(".secret-for")) {
        el.hidden = el.dataset.dialect !== dialect.value;
      }
    };
    dialect.addEventListener("change", show);
    show();
  }
});

// Live overview: figures from /ui/live/overview (server-sent events) written with textContent,
// the bar charts redrawn from their series as charts.bars draws them. Without this script
// the page is the same, reloaded by hand.
const BAR_W = 6;
const CHART_H = 36;

function redrawBars(holder, series, classes) {
  const svg = holder && holder.querySelector("svg");
  if (!svg) return;
  const slots = Math.max(0, ...series.map((s) => s.length));
  const totals = Array.from({ length: slots }, (_, i) => series.reduce((t, s) => t + (s[i] || 0), 0));
  const top = Math.max(0, ...totals) || 1;
  svg.querySelectorAll("rect").forEach((r) => r.remove());
  const axis = svg.querySelector("line");
  for (let i = 0; i < slots; i++) {
    let y = CHART_H;
    series.forEach((values, k) => {
      const h = (values[i] || 0) * (CHART_H - 2) / top;
      if (h > 0) {
        y -= h;
        const rect = document.createElementNS(svg.namespaceURI, "rect");
        rect.setAttribute("class", classes[k]);
        rect.setAttribute("x", String(i * BAR_W));
        rect.setAttribute("y", y.toFixed(1));
        rect.setAttribute("width", String(BAR_W - 1));
        rect.setAttribute("height", h.toFixed(1));
        svg.insertBefore(rect, axis);
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("live-overview");
  if (!root || !window.EventSource) return;
  const state = document.querySelector(".live-state");
  const source = new EventSource(root.dataset.live);
  source.addEventListener("open", () => { if (state) state.textContent = "live"; });
  source.addEventListener("overview", (event) => {
    const o = JSON.parse(event.data);
    for (const [name, text] of Object.entries(o.numbers)) {
      const el = root.querySelector(`:scope .tile [data-figure="${CSS.escape(name)}"]`);
      if (el) el.textContent = text;
    }
    const meter = root.querySelector('[data-meter="success_rate"]');
    const total = o.deliveries[0].reduce((a, b) => a + b, 0) + o.deliveries[1].reduce((a, b) => a + b, 0);
    if (meter && total) meter.value = o.deliveries[0].reduce((a, b) => a + b, 0) / total;
    redrawBars(root.querySelector('[data-chart="deliveries"]'), o.deliveries, ["ok", "bad"]);
    for (const [id, s] of Object.entries(o.ingest)) {
      const row = root.querySelector(`tr[data-source="${CSS.escape(id)}"]`);
      if (!row) continue;
      row.querySelector('[data-figure="accepted"]').textContent = String(s.accepted);
      const refused = row.querySelector('[data-figure="refused"]');
      refused.textContent = String(s.refused);
      refused.classList.toggle("warn", s.refused > 0);
      redrawBars(row.querySelector('[data-chart="ingest"]'), [s.per_minute], ["ok"]);
    }
    root.dataset.updated = new Date().toISOString();
  });
});
