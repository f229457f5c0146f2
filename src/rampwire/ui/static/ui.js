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

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  const code = document.createElement("code");
  code.textContent = text;
  a.append(code);
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
  cell(row, d.order_id ? link("/ui/orders/" + encodeURIComponent(d.order_id), d.order_id) : "");
  const endpoint = document.createElement("code");
  endpoint.textContent = d.endpoint_id;
  cell(row, endpoint);
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
