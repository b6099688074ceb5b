// The status page: asks for the operator (or console) token once (kept in
// sessionStorage, so it is gone with the tab), then reads the summary across
// municipalities (/api/v1/console) and one municipality's details (/api/v1/status).
// Plain DOM, no build step.
"use strict";
const KEY = "hub-token";
// The municipality shown in detail (a console token spans several).
const PLACE = "hub-municipality";
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    // data-*, aria-* and role are attributes; a property of that name would be ignored.
    if (k === "class") e.className = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role") e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}

async function api(path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  opts.headers.Authorization = "Bearer " + sessionStorage.getItem(KEY);
  const place = sessionStorage.getItem(PLACE);
  if (place) opts.headers["X-Hub-Municipality"] = place;
  const r = await fetch(path, opts);
  if (r.status === 401) { sessionStorage.removeItem(KEY); showLogin("The token was not accepted."); throw new Error("unauthorized"); }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
  return body;
}

function showLogin(message) {
  $("login").hidden = false;
  $("refresh").hidden = $("logout").hidden = true;
  $("targets").replaceChildren();
  $("summary").replaceChildren();
  $("received").replaceChildren();
  $("place").hidden = true;
  $("warnings").replaceChildren();
  $("who").textContent = "";
  showError(message);
}

function showError(message) {
  $("error").hidden = !message;
  $("error").textContent = message || "";
}

function table(headers, rows, empty) {
  if (!rows.length) return el("p", { class: "empty" }, empty);
  return el("div", { class: "scroll" }, el("table", {},
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows)));
}

// One transfer as a row; a click shows its protocol log.
function transferRow(t, x) {
  const row = el("tr", { class: "transfer", "data-transfer": x.id, tabIndex: 0, title: "Show the protocol log" },
    el("td", {}, "#" + x.id), el("td", { class: "state-" + x.state }, x.state),
    el("td", {}, x.records), el("td", {}, x.attempts),
    el("td", { class: "hide-narrow" }, x.payloads.map((p) => p.name).join(", ")),
    el("td", { class: "hide-narrow" }, x.created_at), el("td", { class: "msg" }, x.last_error || ""),
    el("td", {}, t.viewable.includes(x.id)
      ? viewButton(`/api/v1/transfers/${x.id}/view`, `Transfer #${x.id} (sent)`) : "",
      x.state === "open" ? retryButton(x.id) : ""));
  row.addEventListener("click", () => showLog(x.id));
  row.addEventListener("keydown", (ev) => { if (ev.key === "Enter") showLog(x.id); });
  return row;
}

// "Retry now": delivers an open transfer without waiting for the backoff or schedule.
function retryButton(id) {
  const b = el("button", { class: "retry", type: "button", title: "Deliver it now, without waiting for the backoff or schedule" }, "Retry now");
  b.addEventListener("click", async (ev) => {
    ev.stopPropagation();
    const reason = window.prompt(`Why retry transfer #${id} now?`, "retry from the status page");
    if (!reason) return;
    try {
      await api(`/api/v1/transfers/${id}/retry`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ reason }) });
      showError("");
      load();
    } catch (e) { showError("Not retried: " + e.message); }
  });
  return b;
}

// The transfers of one target a page at a time, newest first, through the paged route;
// `state` narrows them ("" for all). Replaces the table body, or appends with `more`.
async function pageTransfers(t, tbody, state, before, more) {
  const q = new URLSearchParams({ limit: "50" });
  if (state) q.set("state", state);
  if (before) q.set("before", String(before));
  const page = await api(`/api/v1/targets/${encodeURIComponent(t.name)}/transfers?${q}`);
  const rows = page.transfers.map((x) => transferRow(t, x));
  if (more) tbody.append(...rows); else tbody.replaceChildren(...rows);
  return page.next;
}

// The transfers table with its state filter and a "More" button.
function transfersPanel(t, rows) {
  const tbody = el("tbody", {}, ...rows);
  const tableEl = el("div", { class: "scroll" }, el("table", { class: "transfers" },
    el("thead", {}, el("tr", {}, ...["#", "State", "Records", "Attempts", "Payloads", "Created", "Last error", "Transport"].map((h) => el("th", {}, h)))),
    tbody));
  const state = el("select", { class: "transfer-state", "aria-label": "Show transfers of " + t.name + " in state" },
    ...[["", "every state"], ["open", "open"], ["in-doubt", "in doubt"], ["needs-check", "needs check"], ["sent", "sent"], ["done", "done"]]
      .map(([v, label]) => el("option", { value: v }, label)));
  // The overview carries the first page (50, as each More).
  let next = t.transfers.length >= 50 ? t.transfers[t.transfers.length - 1].id : null;
  const more = el("button", { class: "more", type: "button", hidden: next == null }, "More");
  const run = async (append) => {
    try {
      next = await pageTransfers(t, tbody, state.value, append ? next : null, append);
      more.hidden = next == null;
      showError("");
    } catch (e) { showError("Transfers not shown: " + e.message); }
  };
  state.addEventListener("change", () => run(false));
  more.addEventListener("click", () => run(true));
  return el("div", {}, el("div", { class: "filters" }, state), tableEl, more);
}

// How long ago an RFC 3339 time was, in words ("" for none).
function ago(time) {
  if (!time) return "";
  const ms = Date.now() - Date.parse(time);
  if (!(ms >= 0)) return time;
  const m = Math.floor(ms / 60000);
  if (m < 1) return "just now";
  if (m < 120) return m + " min ago";
  const h = Math.floor(m / 60);
  return h < 48 ? h + " h ago" : Math.floor(h / 24) + " days ago";
}

// Files of a target found by a part of their name and, optionally, a label (`page=522`),
// a page at a time through the files route; a row opens its transfer's log.
function filesPanel(t) {
  const text = el("input", { class: "file-text", type: "search", placeholder: "Part of a name, e.g. -24-", "aria-label": "Find files of " + t.name + " by name" });
  const label = el("input", { class: "file-label", placeholder: "Label, e.g. page=522", "aria-label": "Only files of " + t.name + " with this label" });
  const tbody = el("tbody", {});
  const results = el("div", { class: "scroll", hidden: true }, el("table", { class: "files" },
    el("thead", {}, el("tr", {}, ...["File", "State", "Transfer", "Size", "Delivered", "Labels"].map((h) => el("th", {}, h)))), tbody));
  const empty = el("p", { class: "empty", hidden: true }, "No file matches.");
  const more = el("button", { class: "more", type: "button", hidden: true }, "More");
  let next = null;
  const run = async (append) => {
    const q = new URLSearchParams({ limit: "50" });
    if (text.value.trim()) q.set("text", text.value.trim());
    if (label.value.trim()) q.set("label", label.value.trim());
    if (append && next) q.set("before", String(next));
    try {
      const page = await api(`/api/v1/targets/${encodeURIComponent(t.name)}/files?${q}`);
      const rows = page.files.map((f) => {
        const row = el("tr", { class: "file transfer", "data-transfer": f.transfer_id, tabIndex: 0, title: "Show the protocol log" },
          el("td", {}, f.name), el("td", { class: "state-" + f.state }, f.state), el("td", {}, "#" + f.transfer_id),
          el("td", {}, f.size), el("td", { class: "hide-narrow" }, f.delivered_at || ""),
          el("td", { class: "hide-narrow" }, Object.entries(f.labels || {}).map(([k, v]) => k + "=" + v).join(", ")));
        row.addEventListener("click", () => showLog(f.transfer_id));
        row.addEventListener("keydown", (ev) => { if (ev.key === "Enter") showLog(f.transfer_id); });
        return row;
      });
      if (append) tbody.append(...rows); else tbody.replaceChildren(...rows);
      next = page.next;
      results.hidden = !tbody.children.length;
      empty.hidden = !!tbody.children.length;
      more.hidden = next == null;
      showError("");
    } catch (e) { showError("Files not found: " + e.message); }
  };
  const form = el("form", { class: "file-search", role: "search" }, text, label, el("button", { type: "submit" }, "Find"));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); run(false); });
  more.addEventListener("click", () => run(true));
  return el("div", {}, form, empty, results, more);
}

// The summary across municipalities and targets (/api/v1/console): what waits, what
// needs a person, at a glance. A name opens that municipality's details.
function summary(c, shown) {
  const many = c.municipalities.length > 1;
  const rows = [];
  for (const m of c.municipalities) {
    if (m.error) {
      rows.push(el("tr", { "data-summary-error": m.name }, el("td", {}, m.name), el("td", { class: "state-failed", colSpan: 10 }, m.error)));
      continue;
    }
    for (const t of m.targets) {
      const r = t.records;
      const link = el("a", { href: "#target-" + t.target }, t.target);
      link.addEventListener("click", (ev) => {
        if (m.name === shown) return;
        ev.preventDefault();
        sessionStorage.setItem(PLACE, m.name);
        load().then(() => { const s = $("target-" + t.target); if (s) s.scrollIntoView(); });
      });
      const bad = (n) => (n ? "state-failed" : "");
      rows.push(el("tr", { "data-summary": t.target, "data-municipality": m.name },
        ...(many ? [el("td", {}, m.name)] : []),
        el("th", { scope: "row" }, link),
        el("td", { class: t.paused ? "state-failed" : "" }, t.paused ? "paused" : t.sending),
        el("td", {}, r.queued), el("td", {}, r.in_flight),
        el("td", { class: r.in_doubt ? "state-in-doubt" : "" }, r.in_doubt),
        el("td", { class: bad(r.failed) }, r.failed),
        el("td", { class: bad(t.stuck_files) }, t.stuck_files),
        el("td", { title: t.oldest_queued_at || "" }, ago(t.oldest_queued_at)),
        el("td", { title: t.last_done_at || "" }, ago(t.last_done_at) || "never"),
        el("td", {}, r.delivered)));
    }
  }
  const headers = ["Target", "Sending", "Queued", "In flight", "In doubt", "Needs a person", "Files stuck", "Oldest waiting", "Last success", "Delivered"];
  return el("section", { class: "summary", "aria-label": "Summary" }, el("h2", {}, "Summary"),
    table(many ? ["Municipality", ...headers] : headers, rows, "No targets."));
}

// Pause (with a reason) or resume a target; a paused target sends nothing, by schedule,
// real time or hand, until resumed.
function pausePanel(t) {
  const path = `/api/v1/targets/${encodeURIComponent(t.name)}/`;
  if (t.paused) {
    const resume = el("button", { class: "resume primary", type: "button" }, "Resume");
    resume.addEventListener("click", async () => {
      try { await api(path + "resume", { method: "POST" }); showError(""); load(); } catch (e) { showError("Not resumed: " + e.message); }
    });
    return el("div", { class: "paused", role: "status" },
      el("span", {}, `Paused since ${t.paused.since} by ${t.paused.by}: ${t.paused.reason}`), resume);
  }
  const reason = el("input", { class: "reason", placeholder: "Why pause", "aria-label": "Reason to pause " + t.name, required: true });
  const form = el("form", { class: "pause-form" }, reason, el("button", { class: "pause", type: "submit" }, "Pause"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api(path + "pause", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ reason: reason.value }) });
      showError("");
      load();
    } catch (e) { showError("Not paused: " + e.message); }
  });
  return form;
}

function target(t) {
  const c = t.counts;
  const counts = el("div", { class: "counts" },
    ...[["queued", c.queued], ["in flight", c.in_flight], ["in doubt", c.in_doubt], ["failed", c.failed], ["delivered", c.delivered], ["resolved", c.resolved]]
      .map(([k, v]) => el("div", { class: "count " + k.replace(" ", "-"), "data-count": k }, el("b", {}, v), k)));
  const transfers = t.transfers.map((x) => transferRow(t, x));
  const failed = t.needs_check.map((r) => {
    const reason = el("input", { class: "reason", placeholder: "Reason", "aria-label": "Reason for record " + r.id, required: true });
    const button = el("button", { class: "resolve primary", type: "submit", value: "resolve" }, "Resolve");
    // After the data was corrected at the receiver: a new queued record with the same body.
    const again = el("button", { class: "requeue", type: "submit", value: "requeue", title: "Queue it again, e.g. after the data was corrected at the receiver" }, "Send again");
    const form = el("form", { class: "resolve-form" }, reason, button, again);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const action = ev.submitter && ev.submitter.value === "requeue" ? "requeue" : "resolve";
      try {
        await api(`/api/v1/targets/${encodeURIComponent(t.name)}/records/${encodeURIComponent(r.id)}/${action}`, {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ reason: reason.value }) });
        showError("");
        load();
      } catch (e) { showError((action === "requeue" ? "Not queued again: " : "Not resolved: ") + e.message); }
    });
    return el("tr", { class: "failed", "data-record": r.id },
      el("td", {}, r.id), el("td", { class: "state-" + r.state }, r.state), el("td", {}, r.transfer_id ? "#" + r.transfer_id : ""),
      el("td", { class: "msg" }, r.messages.join("\n")), el("td", {}, form));
  });
  // Whether these arrived is unknown: a person asks the receiver, then settles.
  const doubts = t.in_doubt.map((d) => {
    const reason = el("input", { class: "reason", placeholder: "What the receiver said", "aria-label": "Reason for transfer #" + d.transfer_id, required: true });
    const yes = el("button", { class: "settle-delivered primary", type: "submit", value: "true" }, "Arrived");
    const no = el("button", { class: "settle-not-delivered", type: "submit", value: "false" }, "Did not arrive: send again");
    const form = el("form", { class: "settle-form" }, reason, yes, no);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const delivered = ev.submitter ? ev.submitter.value === "true" : false;
      try {
        await api(`/api/v1/transfers/${d.transfer_id}/settle`, {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ delivered, reason: reason.value }) });
        showError("");
        load();
      } catch (e) { showError("Not settled: " + e.message); }
    });
    return el("tr", { class: "doubt", "data-transfer": d.transfer_id },
      el("td", {}, "#" + d.transfer_id), el("td", {}, d.payload), el("td", { class: "state-in-doubt" }, d.kind),
      el("td", {}, d.records), el("td", { class: "msg" }, d.detail), el("td", {}, form));
  });
  const stuck = t.stuck.map((f) => el("tr", { class: "stuck" },
    el("td", {}, f.name), el("td", {}, "#" + f.transfer), el("td", {}, f.delivered_at), el("td", {}, f.minutes_waiting)));
  return el("section", { class: "target", "data-target": t.name, id: "target-" + t.name },
    el("h2", {}, t.name + (t.sending === "realtime" ? " (real-time)" : "")), pausePanel(t), counts,
    el("h3", {}, "In doubt: ask the receiver, then settle"),
    table(["Transfer", "Payload", "Why", "Records", "What the hub saw", ""], doubts, "None."),
    el("h3", {}, "Records that need a person"),
    table(["Record", "State", "Transfer", "Messages", ""], failed, "None."),
    el("h3", {}, "Files still on the receiver"),
    table(["File", "Transfer", "Delivered", "Minutes"], stuck, "None."),
    el("h3", {}, "Transfers (newest first)"),
    transfersPanel(t, transfers),
    el("h3", {}, "Find files"),
    filesPanel(t));
}

// A transport's readable view: HTML the hub rendered (every value escaped), shown in a
// sandboxed frame, so nothing in it can run even if it tried.
function viewButton(path, title) {
  const b = el("button", { class: "view", type: "button", "data-view": path }, "View");
  b.addEventListener("click", (ev) => { ev.stopPropagation(); showView(path, title); });
  return b;
}

async function showView(path, title) {
  try {
    const r = await fetch(path, { headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY) } });
    if (!r.ok) { const b = await r.json().catch(() => ({})); throw new Error(b.error || ("HTTP " + r.status)); }
    $("view-title").textContent = title;
    $("view-frame").srcdoc = await r.text();
    $("view").hidden = false;
    $("view").scrollIntoView();
  } catch (e) { showError("No view: " + e.message); }
}

function received(list) {
  if (!list || !list.length) return [];
  const rows = list.map((x) => el("tr", { class: "received", "data-received": x.id },
    el("td", {}, x.inbound), el("td", {}, x.sender), el("td", {}, x.receiver), el("td", {}, x.number),
    el("td", { class: "state-" + x.state }, x.state), el("td", {}, x.records), el("td", {}, x.rejected),
    el("td", {}, x.documents), el("td", { class: "hide-narrow" }, x.arrived_at),
    el("td", {}, viewButton(`/api/v1/received/${x.id}/view`, `Received at ${x.inbound}: number ${x.number} from ${x.sender}`))));
  return [el("section", { class: "received-transports" },
    el("h2", {}, "Received transports (newest first)"),
    table(["Inbound", "From", "To", "Number", "State", "Records", "Rejected", "Documents", "Arrived", "Transport"], rows, "None."))];
}

// A transfer's protocol log, in a panel beside the tables (over them on a phone).
async function showLog(id) {
  try {
    const log = await api(`/api/v1/transfers/${id}/log`);
    $("log-title").textContent = `Protocol log of transfer #${id}`;
    $("log-table").tBodies[0].replaceChildren(...log.attempts.map((a) => el("tr", {},
      el("td", {}, a.started_at), el("td", { class: "state-" + a.result }, a.result), el("td", {}, a.payload || ""),
      el("td", {}, a.endpoint), el("td", {}, a.credential || ""), el("td", {}, a.duration_ms),
      el("td", { class: "msg" }, a.sent), el("td", { class: "msg" }, [a.received, a.error].filter(Boolean).join("\n")))));
    $("log").hidden = false;
    $("log-close").focus();
  } catch (e) { showError(e.message); }
}

// The municipality picker, for a token that spans several.
function places(c, shown) {
  const names = c.municipalities.map((m) => m.name);
  $("place").hidden = names.length < 2;
  const select = $("place-select");
  select.replaceChildren(...names.map((n) => el("option", { value: n, selected: n === shown }, n)));
}

async function load() {
  try {
    const c = await api("/api/v1/console");
    const names = c.municipalities.map((m) => m.name);
    let shown = sessionStorage.getItem(PLACE);
    if (!names.includes(shown)) { shown = names[0]; sessionStorage.setItem(PLACE, shown); }
    const s = await api("/api/v1/status");
    $("login").hidden = true;
    $("refresh").hidden = $("logout").hidden = false;
    $("who").textContent = `${s.config} (${s.caller})`;
    places(c, shown);
    $("warnings").replaceChildren(...(s.warnings || []).map((w) => el("li", {}, w)));
    $("summary").replaceChildren(summary(c, shown));
    $("targets").replaceChildren(...s.targets.map(target));
    $("received").replaceChildren(...received(s.received));
    document.body.dataset.loaded = "yes";
  } catch (e) { if (e.message !== "unauthorized") showError(e.message); }
}

$("place-select").addEventListener("change", (ev) => {
  sessionStorage.setItem(PLACE, ev.target.value);
  load();
});
$("log-close").addEventListener("click", () => { $("log").hidden = true; });
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") $("log").hidden = true; });
$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $("token").value.trim());
  $("token").value = "";
  showError("");
  load();
});
$("refresh").addEventListener("click", load);
// Live: looked at again every 15 s (`?every=N` seconds) while the tab is shown, unless a
// person is typing a reason or has narrowed a table (their work is not thrown away under
// them). The answers carry ETags: an unchanged status is answered 304, not sent again.
const EVERY = Math.max(1, Number(new URLSearchParams(location.search).get("every")) || 15) * 1000;
setInterval(() => {
  if (document.hidden || !document.body.dataset.loaded || !$("login").hidden) return;
  const busy = [...document.querySelectorAll("#targets input, #targets select")]
    .some((i) => i === document.activeElement || i.value);
  if (!busy) load();
}, EVERY);
$("view-close").addEventListener("click", () => { $("view").hidden = true; $("view-frame").srcdoc = ""; });
$("logout").addEventListener("click", () => { sessionStorage.removeItem(KEY); sessionStorage.removeItem(PLACE); showLogin(""); });
if (sessionStorage.getItem(KEY)) load(); else showLogin("");
