// The sessiongate portal. Everything it shows comes from the site API next to it (../api),
// called with the browser's own session cookie. Text from the API is only ever set with
// textContent.
"use strict";

const API = "../api";
const $ = (id) => document.getElementById(id);

const UNITS = { seconds: 1, minutes: 60, hours: 3600, days: 86400 };

// call sends one API request and returns its JSON (null when it has none); a refusal throws
// an Error carrying the API's status and error code.
async function call(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(API + path, opts);
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!res.ok) {
    const code = (data && data.error) || "http_" + res.status;
    const err = new Error(code + ((data && data.message) ? ": " + data.message : ""));
    err.status = res.status;
    err.code = code;
    throw err;
  }
  return data;
}

function showError(err) {
  const box = $("error");
  box.textContent = err.message;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

// act runs a user's action, showing its failure.
async function act(fn) {
  clearError();
  try {
    await fn();
  } catch (err) {
    showError(err);
  }
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function deviceText(d) {
  if (!d) return "Unknown device";
  const parts = [d.browser, d.os].filter((x) => x);
  const text = parts.length ? parts.join(" on ") : "Unknown device";
  return d.type ? text + " (" + d.type + ")" : text;
}

function placeText(loc) {
  if (!loc) return "—";
  return [loc.city, loc.country].filter((x) => x).join(", ") || "—";
}

// noteRow is a table row that says something instead of listing.
function noteRow(text) {
  const tr = document.createElement("tr");
  tr.append(cell(text, "muted"));
  return tr;
}

function sessionRow(s) {
  const tr = document.createElement("tr");
  tr.dataset.sessionId = s.id;
  if (s.current) tr.classList.add("current");
  tr.append(cell(deviceText(s.device)), cell(s.ip || "—"), cell(placeText(s.location)),
    cell(when(s.created_at)), cell(when(s.last_active_at)));
  return tr;
}

// --- My sessions

async function loadMySessions() {
  const data = await call("GET", "/me/sessions");
  const body = $("my-sessions");
  body.replaceChildren();
  for (const s of data.sessions) {
    const tr = sessionRow(s);
    const td = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "end-session";
    b.textContent = s.current ? "Sign out" : "End";
    b.addEventListener("click", () => act(async () => {
      if (!window.confirm(s.current ? "Sign out of this session?" : "End this session?")) return;
      await call("DELETE", "/me/sessions/" + encodeURIComponent(s.id));
      await loadMySessions();
    }));
    td.append(b);
    tr.append(td);
    body.append(tr);
  }
  if (!data.sessions.length) body.append(noteRow("No active sessions."));
}

// --- Users (tenant admins)

let usersCursor = "";
let shownUser = "";

async function loadUsers(more) {
  if (!more) usersCursor = "";
  const q = "?limit=50" + (usersCursor ? "&cursor=" + encodeURIComponent(usersCursor) : "");
  const data = await call("GET", "/users" + q);
  const body = $("users");
  if (!more) body.replaceChildren();
  for (const u of data.users) {
    const tr = document.createElement("tr");
    tr.dataset.userId = u.user_id;
    tr.append(cell(u.user_id), cell(String(u.active_sessions)), cell(when(u.last_active_at)));
    const td = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "show-user";
    b.textContent = "Sessions";
    b.addEventListener("click", () => act(() => showUser(u.user_id)));
    td.append(b);
    tr.append(td);
    body.append(tr);
  }
  usersCursor = data.next_cursor || "";
  $("users-more").hidden = !usersCursor;
}

async function showUser(userID) {
  let data;
  try {
    data = await call("GET", "/users/" + encodeURIComponent(userID) + "/sessions");
  } catch (err) {
    if (err.status !== 404) throw err;
    data = { sessions: [] }; // the API says 404 for a user without active sessions
  }
  shownUser = userID;
  $("user-detail-id").textContent = userID;
  const body = $("user-sessions");
  body.replaceChildren();
  for (const s of data.sessions) body.append(sessionRow(s));
  if (!data.sessions.length) body.append(noteRow("No active sessions."));
  $("end-user-sessions").hidden = !data.sessions.length;
  $("user-detail").hidden = false;
}

// --- Session settings (tenant admins)

function fillTimeout(prefix, t) {
  $(prefix + "-enabled").checked = t.enabled;
  const secs = t.seconds || 0;
  let unit = "hours";
  if (secs > 0) {
    unit = ["days", "hours", "minutes", "seconds"].find((u) => secs % UNITS[u] === 0);
  }
  $(prefix + "-unit").value = unit;
  $(prefix + "-value").value = secs > 0 ? String(secs / UNITS[unit]) : "";
}

function readTimeout(prefix) {
  const v = Number($(prefix + "-value").value || 0);
  return { enabled: $(prefix + "-enabled").checked, seconds: Math.round(v * UNITS[$(prefix + "-unit").value]) };
}

function fillPolicy(p) {
  $("policy-source").textContent = p.source || "tenant";
  fillTimeout("idle", p.idle_timeout);
  fillTimeout("relogin", p.force_relogin);
  $("max-enabled").checked = p.max_sessions.enabled;
  $("max-value").value = p.max_sessions.max ? String(p.max_sessions.max) : "";
  $("max-strategy").value = p.max_sessions.strategy || "evict_oldest";
}

async function loadPolicy() {
  fillPolicy(await call("GET", "/policy"));
}

async function savePolicy() {
  $("policy-status").textContent = "";
  const policy = {
    idle_timeout: readTimeout("idle"),
    force_relogin: readTimeout("relogin"),
    max_sessions: {
      enabled: $("max-enabled").checked,
      max: Number($("max-value").value || 0),
      strategy: $("max-strategy").value,
    },
  };
  await call("PUT", "/policy", policy);
  await loadPolicy();
  $("policy-status").textContent = "Saved.";
}

async function resetPolicy() {
  $("policy-status").textContent = "";
  if (!window.confirm("Use the default session settings for your account?")) return;
  await call("DELETE", "/policy");
  await loadPolicy();
  $("policy-status").textContent = "Default settings restored.";
}

// --- Tabs and start

const TABS = ["sessions", "users", "settings"];

function showTab(name) {
  for (const t of TABS) {
    $("tab-" + t).classList.toggle("active", t === name);
    $("view-" + t).hidden = t !== name;
  }
}

// probe loads a tab that needs a permission, hiding the tab when the caller lacks it.
async function probe(tab, load) {
  try {
    await load();
    $("tab-" + tab).hidden = false;
  } catch (err) {
    $("tab-" + tab).hidden = true;
    if (err.status !== 403) showError(err);
  }
}

async function start() {
  for (const t of TABS) $("tab-" + t).addEventListener("click", () => showTab(t));
  $("end-others").addEventListener("click", () => act(async () => {
    if (!window.confirm("Sign out of all your other sessions?")) return;
    await call("DELETE", "/me/sessions?keep_current=true");
    await loadMySessions();
  }));
  $("end-all").addEventListener("click", () => act(async () => {
    if (!window.confirm("Sign out of all your sessions, this one too?")) return;
    await call("DELETE", "/me/sessions");
    // This page's own session has ended too: there is nothing left to load.
    $("my-sessions").replaceChildren(noteRow("You are signed out of all your sessions."));
    for (const id of ["end-others", "end-all"]) $(id).disabled = true;
  }));
  $("users-more").addEventListener("click", () => act(() => loadUsers(true)));
  $("end-user-sessions").addEventListener("click", () => act(async () => {
    if (!window.confirm("Sign " + shownUser + " out of all sessions?")) return;
    await call("DELETE", "/users/" + encodeURIComponent(shownUser) + "/sessions");
    await showUser(shownUser);
    await loadUsers(false);
  }));
  $("policy-form").addEventListener("submit", (e) => {
    e.preventDefault();
    act(savePolicy);
  });
  $("policy-reset").addEventListener("click", () => act(resetPolicy));

  await act(loadMySessions);
  await probe("users", () => loadUsers(false));
  await probe("settings", loadPolicy);
  document.body.dataset.ready = "true";
}

start();
