// hookd console: a small single-page app over the admin API (SPEC §6).
// No framework, no build step: DOM built with textContent only (nothing
// from the API is ever parsed as HTML), views chosen by the URL fragment.
"use strict";

const STATUSES = ["pending", "retrying", "delivered", "dead", "unrouted"];
const $ = (sel) => document.querySelector(sel);
const main = () => $("#main");

// ---- DOM helpers ----------------------------------------------------------

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

const svg = (tag, attrs, ...kids) => {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const kid of kids.flat()) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
};

const badge = (state) => h("span", { class: `badge s-${state}` }, state);
const when = (t) => (t ? new Date(t).toLocaleString() : "–");
const short = (t) => (t ? new Date(t).toLocaleTimeString() : "–");
const link = (href, text) => h("a", { href }, text);

function toast(text) {
  const t = $("#toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), 5000);
}

function show(...kids) {
  main().replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
}

// ---- the API --------------------------------------------------------------

class ApiError extends Error {}

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  if (r.status === 401) {
    askLogin();
    throw new ApiError("log in first");
  }
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  if (!r.ok) throw new ApiError((json && json.message) || `HTTP ${r.status}`);
  return json;
}

const qs = (params) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
};

// ---- login ----------------------------------------------------------------

let afterLogin = null;

function askLogin() {
  if (!$("#login").hidden) return;
  afterLogin = route;
  show(h("p", { class: "muted" }, "Log in to see what hookd received."));
  $("#login").hidden = false;
  $("#token").value = "";
  $("#token").focus();
}

async function login(ev) {
  ev.preventDefault();
  const token = $("#token").value;
  $("#token").value = "";
  const r = await fetch("/ui/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token }),
    credentials: "same-origin",
  });
  if (r.status === 204) {
    $("#login").hidden = true;
    $("#login-error").textContent = "";
    startTail();
    (afterLogin || route)();
  } else {
    $("#login-error").textContent = r.status === 401 ? "That is not the admin token." : `Login failed (HTTP ${r.status}).`;
    $("#token").focus();
  }
}

async function logout() {
  await fetch("/ui/logout", { method: "POST", credentials: "same-origin" });
  stopTail();
  askLogin();
}

// ---- the live feed (/v1/tail) --------------------------------------------

let tail = null;
const listeners = new Set();

function startTail() {
  stopTail();
  tail = new EventSource("/v1/tail");
  const live = $("#live");
  tail.onopen = () => { live.textContent = "live"; live.className = "live on"; };
  tail.onerror = () => { live.textContent = "reconnecting"; live.className = "live off"; };
  for (const name of ["received", "attempt", "dead", "lagged"]) {
    tail.addEventListener(name, (e) => {
      let data = {};
      try { data = JSON.parse(e.data); } catch (_) { return; }
      for (const fn of listeners) fn(name, data);
    });
  }
}

function stopTail() {
  if (tail) tail.close();
  tail = null;
}

/// Listen to the feed while the current view is shown.
function onTail(fn) {
  listeners.add(fn);
  viewCleanup.push(() => listeners.delete(fn));
}

// ---- routing --------------------------------------------------------------

let viewCleanup = [];

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query || "") };
}

function route() {
  for (const fn of viewCleanup) fn();
  viewCleanup = [];
  const { parts, params } = parseHash();
  const view = parts[0] || "events";
  for (const a of document.querySelectorAll("nav a")) {
    const current = a.dataset.view === view || (view === "event" && a.dataset.view === "events");
    if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const views = { events: eventsView, event: eventView, dlq: dlqView, routes: routesView, stats: statsView };
  const fn = views[view] || eventsView;
  fn(parts.slice(1), params).catch((e) => {
    if (!(e instanceof ApiError && e.message === "log in first")) show(h("p", { class: "error" }, String(e.message || e)));
  });
}

function setHash(path, params) {
  const q = qs(params);
  const next = `#/${path}${q}`;
  if (location.hash === next) route(); else location.hash = next;
}

// ---- events ---------------------------------------------------------------

function filterForm(fields, params, onSubmit) {
  const inputs = {};
  const form = h("form", { class: "filters", role: "search" });
  for (const f of fields) {
    let input;
    if (f.options) {
      input = h("select", { id: `f-${f.name}`, name: f.name },
        h("option", { value: "" }, "any"), ...f.options.map((o) => h("option", { value: o }, o)));
      input.value = params.get(f.name) || "";
    } else {
      input = h("input", { id: `f-${f.name}`, name: f.name, placeholder: f.placeholder || "", value: params.get(f.name) || "" });
    }
    inputs[f.name] = input;
    form.append(h("label", { for: `f-${f.name}` }, f.label, input));
  }
  form.append(h("button", { type: "submit", class: "primary" }, "Apply"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const values = {};
    for (const [k, el] of Object.entries(inputs)) values[k] = el.value.trim();
    onSubmit(values);
  });
  return form;
}

async function sourceNames() {
  try {
    const routes = await api("GET", "/v1/routes");
    return [...new Set(routes.items.map((r) => r.source))];
  } catch (e) {
    if (e instanceof ApiError && e.message === "log in first") throw e;
    return [];
  }
}

function eventRow(e, fresh) {
  return h("tr", { "data-id": e.id, class: fresh ? "fresh" : null },
    h("td", { class: "nowrap" }, short(e.received_at)),
    h("td", {}, e.source),
    h("td", {}, e.event_type),
    h("td", { class: "wide mono" }, e.event_id),
    h("td", { class: "status" }, badge(e.status)),
    h("td", { class: "id" }, link(`#/event/${encodeURIComponent(e.id)}`, e.id)));
}

function globMatch(glob, text) {
  if (!glob) return true;
  const re = new RegExp("^" + glob.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$");
  return re.test(text);
}

async function eventsView(_parts, params) {
  const filters = { source: params.get("source") || "", status: params.get("status") || "", type: params.get("type") || "", event_id: params.get("event_id") || "" };
  const sources = await sourceNames();
  const form = filterForm([
    { name: "source", label: "Source", options: sources },
    { name: "status", label: "Status", options: STATUSES },
    { name: "type", label: "Type (glob)", placeholder: "invoice.*" },
    { name: "event_id", label: "Sender's event id", placeholder: "evt_…" },
  ], params, (v) => setHash("events", v));
  const body = h("tbody", { id: "events-rows" });
  const table = h("div", { class: "scroll cards" }, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Received"), h("th", {}, "Source"), h("th", {}, "Type"),
      h("th", { class: "wide" }, "Event id"), h("th", {}, "Status"), h("th", {}, "hookd id"))),
    body));
  const more = h("button", { type: "button", id: "more", hidden: true }, "Load more");
  const empty = h("p", { class: "muted", id: "events-empty", hidden: true }, "No events match.");
  show(h("h1", {}, "Events"), form, table, empty, h("p", {}, more));
  let cursor = null;
  const load = async () => {
    const page = await api("GET", "/v1/events" + qs({ ...filters, limit: 50, cursor }));
    for (const e of page.items) body.append(eventRow(e, false));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    empty.hidden = body.children.length > 0;
  };
  more.addEventListener("click", () => load().catch((e) => toast(e.message)));
  await load();
  const refresh = async (id) => {
    const row = body.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
    if (!row) return;
    const e = await api("GET", `/v1/events/${encodeURIComponent(id)}`);
    row.querySelector(".status").replaceChildren(badge(e.status));
  };
  onTail((name, d) => {
    if (name === "lagged") { route(); return; }
    if (name === "received") {
      if (filters.event_id) return;
      if (filters.source && filters.source !== d.source) return;
      if (!globMatch(filters.type, d.type)) return;
      if (filters.status && filters.status !== d.status) return;
      const e = { id: d.id, received_at: d.received_at, source: d.source, event_type: d.type, event_id: d.event_id, status: d.status };
      body.prepend(eventRow(e, true));
      empty.hidden = true;
    } else {
      refresh(d.id).catch(() => {});
    }
  });
}

// ---- one event ------------------------------------------------------------

function attemptBlock(a) {
  const code = a.exit_code !== null && a.exit_code !== undefined ? `exit code ${a.exit_code}`
    : a.http_status ? `HTTP ${a.http_status}` : null;
  const took = a.duration_ms !== null && a.duration_ms !== undefined ? `${a.duration_ms} ms` : "running or interrupted";
  return h("div", { class: "attempt" },
    h("div", { class: "row" }, h("strong", {}, `#${a.number}`), h("span", {}, a.outcome), code && h("span", { class: "muted" }, code),
      h("span", { class: "muted" }, took), h("span", { class: "muted" }, when(a.started_at))),
    a.output_tail_cut && h("p", { class: "note" }, `Cut: the handler wrote more than [dispatch] output_tail; these are its last ${a.output_tail.length} bytes.`),
    a.output_tail ? h("pre", { class: "tail" }, a.output_tail) : h("p", { class: "muted" }, "(no output)"));
}

async function eventView(parts) {
  const id = parts[0] || "";
  await renderEvent(id);
  let again = null;
  onTail((name, d) => {
    if (d.id !== id || name === "received") return;
    clearTimeout(again);
    again = setTimeout(() => renderEvent(id).catch(() => {}), 150);
  });
}

async function renderEvent(id) {
  const e = await api("GET", `/v1/events/${encodeURIComponent(id)}`);
  const message = h("p", { id: "event-message", role: "status", "aria-live": "polite" });
  const act = async (what) => {
    const r = await api("POST", `/v1/events/${encodeURIComponent(id)}/${what}`);
    const n = what === "replay" ? r.replayed : r.retried;
    message.textContent = n > 0 ? `${what === "replay" ? "Replayed" : "Retrying"} ${n} deliver${n === 1 ? "y" : "ies"}.` : `Nothing to ${what}: ${r.reason}`;
    setTimeout(() => renderEvent(id).catch(() => {}), 600);
  };
  const bodyBox = h("div", { id: "body" });
  const showBody = h("button", { type: "button", id: "show-body" }, `Show body (${e.body_bytes} bytes)`);
  showBody.addEventListener("click", async () => {
    const r = await fetch(`/v1/events/${encodeURIComponent(id)}/body`, { credentials: "same-origin" });
    if (!r.ok) { bodyBox.replaceChildren(h("p", { class: "error" }, `HTTP ${r.status}`)); return; }
    const type = r.headers.get("content-type") || "application/octet-stream";
    let text = await r.text();
    if (type.includes("json")) { try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* as stored */ } }
    bodyBox.replaceChildren(h("p", { class: "muted" }, type), h("pre", { id: "body-text" }, text));
    showBody.hidden = true;
  });
  const deliveries = e.deliveries.map((d) => h("section", { class: "card delivery", "data-route": d.route },
    h("div", { class: "row" }, h("h2", {}, `Route ${d.route}`), badge(d.state),
      h("span", { class: "muted" }, `${d.attempt_count} attempt${d.attempt_count === 1 ? "" : "s"}`)),
    d.next_due_at && h("p", {}, `Next attempt ${when(d.next_due_at)}`),
    d.waiting_for_order_key && h("p", { class: "muted" }, `Waiting behind an earlier event with order key ${d.order_key}`),
    d.dead_reason && h("p", { class: "error" }, `Dead: ${d.dead_reason}`),
    ...(d.attempts || []).map(attemptBlock)));
  const untaken = e.routes_not_taken || [];
  show(
    h("p", {}, link("#/events", "← Events")),
    h("h1", {}, `${e.source} · ${e.event_type}`),
    h("section", { class: "card", id: "event" }, h("dl", { class: "facts" },
      h("dt", {}, "hookd id"), h("dd", { class: "mono" }, e.id),
      h("dt", {}, "Sender's id"), h("dd", { class: "mono" }, e.event_id),
      h("dt", {}, "Received"), h("dd", {}, when(e.received_at)),
      h("dt", {}, "Status"), h("dd", { id: "event-status" }, badge(e.status)),
      h("dt", {}, "Body"), h("dd", {}, `${e.body_bytes} bytes`)),
    h("div", { class: "row", style: null },
      h("button", { type: "button", id: "replay", onclick: () => act("replay").catch((x) => toast(x.message)) }, "Replay"),
      h("button", { type: "button", id: "retry", onclick: () => act("retry").catch((x) => toast(x.message)) }, "Retry now"),
      showBody),
    message),
    ...deliveries,
    e.deliveries.length === 0 && h("p", { class: "muted" }, "No deliveries: no route took this event (unrouted)."),
    untaken.length > 0 && h("section", { class: "card", id: "not-taken" }, h("h2", {}, "Routes not taken"),
      h("ul", {}, ...untaken.map((r) => h("li", {}, h("strong", {}, r.route), `: ${r.why}`)))),
    h("section", { class: "card" }, h("h2", {}, "Body"), bodyBox));
  bodyBox.append(h("p", { class: "muted" }, "Shown on request (button above)."));
}

// ---- the DLQ --------------------------------------------------------------

/// Ask, showing the dry-run count; then run `steps` (a list of async
/// functions) with a progress bar. Resolves when done or cancelled.
function confirmRun(title, text, steps, doneText) {
  return new Promise((resolve) => {
    const box = $("#confirm"), yes = $("#confirm-yes"), no = $("#confirm-no");
    const progress = $("#confirm-progress"), status = $("#confirm-status");
    $("#confirm-title").textContent = title;
    $("#confirm-text").textContent = text;
    progress.hidden = true; status.textContent = ""; yes.disabled = steps.length === 0; yes.hidden = false;
    no.textContent = "Cancel";
    box.hidden = false;
    (steps.length ? yes : no).focus();
    const close = () => { box.hidden = true; yes.onclick = null; no.onclick = null; box.onkeydown = null; resolve(); };
    no.onclick = close;
    box.onkeydown = (ev) => {
      if (ev.key === "Escape") close();
      if (ev.key !== "Tab") return;
      // Keep the focus inside the dialog while it is open.
      const buttons = [...box.querySelectorAll("button")].filter((b) => !b.hidden && !b.disabled);
      const at = buttons.indexOf(document.activeElement);
      const next = (at + (ev.shiftKey ? -1 : 1) + buttons.length) % buttons.length;
      buttons[next].focus();
      ev.preventDefault();
    };
    yes.onclick = async () => {
      yes.disabled = true; yes.hidden = true; no.textContent = "Close";
      progress.hidden = false; progress.max = steps.length; progress.value = 0;
      let total = 0;
      for (let i = 0; i < steps.length; i++) {
        status.textContent = `Running… ${i} / ${steps.length}`;
        try { total += await steps[i](); } catch (e) { status.textContent = `Stopped: ${e.message}`; return; }
        progress.value = i + 1;
      }
      status.textContent = doneText(total);
      no.focus();
    };
  });
}

async function deadIds(filters) {
  const ids = new Set();
  let cursor = null;
  do {
    const page = await api("GET", "/v1/dlq" + qs({ ...filters, limit: 1000, cursor }));
    for (const d of page.items) ids.add(d.id);
    cursor = page.next_cursor;
  } while (cursor);
  return [...ids];
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

const chunks = (list, n) => Array.from({ length: Math.ceil(list.length / n) }, (_, i) => list.slice(i * n, i * n + n));

async function replayDead(ids, filters) {
  const dry = ids ? await api("POST", "/v1/dlq/replay?dry_run=true", { ids })
    : await api("POST", "/v1/dlq/replay?dry_run=true", { all: true, ...filters });
  const list = ids || await deadIds(filters);
  const steps = chunks(list, 20).map((batch) => async () => (await api("POST", "/v1/dlq/replay", { ids: batch })).replayed);
  await confirmRun("Replay dead deliveries",
    `This replays ${plural(dry.replayed, "dead delivery", "dead deliveries")} of ${plural(dry.events, "event", "events")} (new attempts, same event).`,
    dry.replayed > 0 ? steps : [], (n) => `Done: replayed ${plural(n, "delivery", "deliveries")}.`);
}

async function purgeDead(ids, filters) {
  let count;
  if (ids) {
    count = 0;
    for (const id of ids) count += (await api("DELETE", `/v1/dlq/${encodeURIComponent(id)}?dry_run=true`).catch(() => ({ purged: 0 }))).purged;
  } else {
    count = (await api("DELETE", "/v1/dlq" + qs({ ...filters, all: "true", dry_run: "true" }))).purged;
  }
  const list = ids || await deadIds(filters);
  const steps = list.map((id) => async () => (await api("DELETE", `/v1/dlq/${encodeURIComponent(id)}`).catch(() => ({ purged: 0 }))).purged);
  await confirmRun("Purge dead events",
    `This removes ${count === 1 ? "1 event and its body" : `${count} events and their bodies`} for good (an event with a delivery still in flight is kept).`,
    count > 0 ? steps : [], (n) => `Done: purged ${plural(n, "event", "events")}.`);
}

async function dlqView(_parts, params) {
  const filters = { source: params.get("source") || "", type: params.get("type") || "" };
  const sources = await sourceNames();
  const form = filterForm([
    { name: "source", label: "Source", options: sources },
    { name: "type", label: "Type (glob)", placeholder: "invoice.*" },
  ], params, (v) => setHash("dlq", v));
  const page = await api("GET", "/v1/dlq" + qs({ ...filters, limit: 200 }));
  const selected = new Set();
  const count = h("span", { class: "muted", id: "selected-count" }, "0 selected");
  const update = () => { count.textContent = `${selected.size} selected`; };
  const reload = () => dlqView(_parts, params).catch((e) => toast(e.message));
  const rows = page.items.map((d) => {
    const box = h("input", { type: "checkbox", "aria-label": `select ${d.id}`, class: "pick", value: d.id });
    box.addEventListener("change", () => { if (box.checked) selected.add(d.id); else selected.delete(d.id); update(); });
    return h("tr", { "data-id": d.id },
      h("td", { class: "pick" }, box),
      h("td", { class: "nowrap" }, short(d.died_at)),
      h("td", {}, d.source), h("td", {}, d.route), h("td", { class: "wide" }, d.event_type),
      h("td", { class: "wide" }, d.dead_reason || ""),
      h("td", { class: "id" }, link(`#/event/${encodeURIComponent(d.id)}`, d.id)),
      h("td", { class: "nowrap" },
        h("button", { type: "button", class: "replay-one", onclick: () => replayDead([d.id]).then(reload, (e) => toast(e.message)) }, "Replay"), " ",
        h("button", { type: "button", class: "danger purge-one", onclick: () => purgeDead([d.id]).then(reload, (e) => toast(e.message)) }, "Purge")));
  });
  const all = h("input", { type: "checkbox", "aria-label": "select all shown" });
  all.addEventListener("change", () => {
    for (const b of document.querySelectorAll("input.pick")) { b.checked = all.checked; if (all.checked) selected.add(b.value); else selected.delete(b.value); }
    update();
  });
  const bulk = h("div", { class: "row card" },
    count,
    h("button", { type: "button", id: "replay-selected", onclick: () => selected.size && replayDead([...selected]).then(reload, (e) => toast(e.message)) }, "Replay selected"),
    h("button", { type: "button", id: "purge-selected", class: "danger", onclick: () => selected.size && purgeDead([...selected]).then(reload, (e) => toast(e.message)) }, "Purge selected"),
    h("button", { type: "button", id: "replay-all", onclick: () => replayDead(null, filters).then(reload, (e) => toast(e.message)) }, "Replay all matching"),
    h("button", { type: "button", id: "purge-all", class: "danger", onclick: () => purgeDead(null, filters).then(reload, (e) => toast(e.message)) }, "Purge all matching"));
  show(h("h1", {}, "Dead letters"), form, bulk,
    page.items.length === 0 ? h("p", { class: "muted", id: "dlq-empty" }, "No dead deliveries match.") :
      h("div", { class: "scroll cards" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", { class: "pick" }, all), h("th", {}, "Died"), h("th", {}, "Source"), h("th", {}, "Route"),
          h("th", { class: "wide" }, "Type"), h("th", { class: "wide" }, "Reason"), h("th", {}, "hookd id"), h("th", {}, ""))),
        h("tbody", { id: "dlq-rows" }, ...rows))),
    page.next_cursor && h("p", { class: "muted" }, "More than 200: narrow the filter to see the rest (\"all matching\" includes them)."));
  onTail((name) => { if (name === "dead") toast("A delivery went dead. Apply the filter again to see it."); });
}

// ---- routes ---------------------------------------------------------------

async function routesView() {
  const r = await api("GET", "/v1/routes");
  const when = (t) => new Date(t).toLocaleString();
  const act = async (x, what) => {
    await api("POST", `/v1/routes/${encodeURIComponent(x.source)}/${encodeURIComponent(x.route)}/${what}`);
    toast(`${x.source}/${x.route} ${what === "pause" ? "paused" : "resumed"}.`);
    await routesView();
  };
  const stateCell = (x) => h("td", {}, badge(x.state),
    x.paused_since && h("div", { class: "muted" }, `since ${when(x.paused_since)}`),
    x.state === "breaker_open" && h("div", { class: "muted" }, x.breaker_open_until ? `probe at ${when(x.breaker_open_until)}` : "probe running"));
  const limits = (x) => [`timeout ${x.timeout_ms / 1000}s`, x.priority && `priority ${x.priority}`, x.rate && `rate ${x.rate}`,
    x.concurrency && `concurrency ${x.concurrency}`, x.breaker && `breaker ${x.breaker.failures} / ${x.breaker.cool_down_ms / 1000}s`,
    x.order_by && `order_by ${x.order_by}`].filter(Boolean).join(", ");
  show(h("h1", {}, "Routes"),
    h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Source"), h("th", {}, "Route"), h("th", {}, "Events"), h("th", {}, "Handler"),
        h("th", { class: "wide" }, "Target"), h("th", { class: "wide" }, "Limits"), h("th", {}, "State"),
        h("th", { class: "num" }, "Waiting"), h("th", { class: "num" }, "Due"), h("th", { class: "num" }, "Running"), h("th", {}, ""))),
      h("tbody", { id: "route-rows" }, ...r.items.map((x) => h("tr", {},
        h("td", {}, x.source), h("td", {}, x.route), h("td", { class: "mono" }, x.events.join(", ")), h("td", {}, x.handler),
        h("td", { class: "wide mono" }, x.target),
        h("td", { class: "wide" }, limits(x)),
        stateCell(x),
        h("td", { class: "num" }, x.waiting), h("td", { class: "num" }, x.due), h("td", { class: "num" }, x.running),
        h("td", {}, x.state === "paused"
          ? h("button", { type: "button", class: "resume", onclick: () => act(x, "resume").catch((e) => toast(e.message)) }, "Resume")
          : h("button", { type: "button", class: "pause", onclick: () => act(x, "pause").catch((e) => toast(e.message)) }, "Pause"))))))),
    h("p", { class: "muted" }, "A paused route starts no attempts (running ones finish) until resumed, across restarts too. A route whose breaker is open waits for its cool-down, then tries one delivery."));
}

// ---- stats ----------------------------------------------------------------

/// A tick step of 1, 2 or 5 × 10^k giving at most 5 steps up to `top`.
function tickStep(top) {
  const raw = top / 5;
  const mag = Math.pow(10, Math.floor(Math.log10(Math.max(1, raw))));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || mag * 10;
}

/// Grouped bars per minute: received, delivered, failed attempts.
function chart(minutes) {
  // As wide as the page allows, so that its text stays readable on a phone.
  const W = Math.round(Math.max(320, Math.min(720, main().clientWidth - 48))), H = 240, L = 34, R = 8, T = 10, B = 28;
  const every = W < 500 ? 20 : 10;
  const series = ["received", "delivered", "failed"];
  const top = Math.max(1, ...minutes.flatMap((m) => series.map((s) => m[s])));
  const step = Math.max(1, tickStep(top));
  const ymax = Math.ceil(top / step) * step;
  const slot = (W - L - R) / minutes.length;
  const bar = Math.max(1, slot / series.length - 0.6);
  const y = (v) => T + (H - T - B) * (1 - v / ymax);
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", id: "chart",
    "aria-label": "Received, delivered and failed attempts per minute over the last hour" });
  for (let v = 0; v <= ymax; v += step) {
    g.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }),
      svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, v));
  }
  minutes.forEach((m, i) => {
    const group = svg("g", {}, svg("title", {}, `${new Date(m.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}: ${m.received} received, ${m.delivered} delivered, ${m.failed} failed`));
    series.forEach((s, k) => {
      if (m[s] > 0) group.append(svg("rect", { x: (L + i * slot + k * (bar + 0.6)).toFixed(1), y: y(m[s]).toFixed(1), width: bar.toFixed(1), height: (y(0) - y(m[s])).toFixed(1), class: s }));
    });
    g.append(group);
    if (i % every === 0) {
      g.append(svg("text", { x: L + i * slot, y: H - 8, "text-anchor": "start" }, new Date(m.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
    }
  });
  return g;
}

async function statsView() {
  await renderStats();
  const timer = setInterval(() => renderStats().catch(() => {}), 10000);
  viewCleanup.push(() => clearInterval(timer));
}

async function renderStats() {
  const [stats, per] = await Promise.all([api("GET", "/v1/stats"), api("GET", "/v1/stats/minutes")]);
  const fields = ["pending", "retrying", "delivered", "dead", "unrouted"];
  const sum = (f) => per.minutes.reduce((a, m) => a + m[f], 0);
  show(h("h1", {}, "Stats"),
    h("div", { class: "totals" },
      h("div", {}, h("b", {}, stats.queue_depth), "queue depth"),
      h("div", {}, h("b", {}, stats.running), "running now"),
      h("div", {}, h("b", {}, stats.dlq_size), "dead letters"),
      h("div", {}, h("b", {}, sum("received")), "received, last hour")),
    h("section", { class: "card" }, h("h2", {}, "Per minute, last hour"),
      h("div", { class: "legend" }, h("span", { class: "received" }, "received"), h("span", { class: "delivered" }, "delivered"), h("span", { class: "failed" }, "failed attempts")),
      chart(per.minutes),
      h("p", { class: "muted" }, `Counted in memory since ${when(per.counting_since)} (hookd's start).`)),
    h("h2", {}, "By source"),
    h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Source"), ...fields.map((f) => h("th", { class: "num" }, f)))),
      h("tbody", {}, ...Object.entries(stats.sources || {}).map(([name, c]) =>
        h("tr", {}, h("td", {}, name), ...fields.map((f) => h("td", { class: "num" }, c[f]))))))));
}

// ---- start ----------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", (ev) => login(ev).catch((e) => ($("#login-error").textContent = e.message)));
  $("#logout").addEventListener("click", () => logout().catch(() => {}));
  window.addEventListener("hashchange", route);
  api("GET", "/v1/stats").then(() => { startTail(); route(); }, () => {});
});
