/**
 * The admin dashboard's static files, kept as strings so that `tsc` emits them into `dist` with
 * no copy step and no front-end build. Plain HTML/CSS/JS, no external resources; the script
 * renders data with `textContent` only (never `innerHTML`), under a CSP that forbids inline code.
 */

/** The page: a login form, then the dashboard. Relative URLs: it is served at `<mount>/admin/`. */
export const ADMIN_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sessions admin</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="admin.css">
<script src="admin.js" defer></script>
</head>
<body>
<header>
  <h1>Sessions <span class="muted">express-redis-sessions</span></h1>
  <form id="app-form" hidden>
    <label for="app-input">App</label>
    <input id="app-input" list="app-list" autocomplete="off" spellcheck="false" placeholder="app name" required>
    <datalist id="app-list"></datalist>
    <button type="submit">Open</button>
  </form>
  <span class="spacer"></span>
  <button id="refresh" type="button" hidden>Refresh</button>
  <button id="logout" type="button" hidden>Log out</button>
</header>
<main>
  <section id="login" class="card narrow">
    <h2>Log in</h2>
    <form id="login-form">
      <label for="key">API key</label>
      <input id="key" type="password" autocomplete="current-password" required>
      <button type="submit">Log in</button>
    </form>
    <p id="login-error" class="error" role="alert"></p>
  </section>
  <section id="dashboard" hidden>
    <p id="status" role="status"></p>
    <div class="grid">
      <section class="card">
        <h2>Activity <span class="muted">unique users</span></h2>
        <div class="stats">
          <div><strong id="act-60">–</strong><span>1 min</span></div>
          <div><strong id="act-600">–</strong><span>10 min</span></div>
          <div><strong id="act-3600">–</strong><span>1 h</span></div>
        </div>
        <svg id="chart" viewBox="0 0 300 120" role="img" aria-label="Activity chart"></svg>
      </section>
      <section class="card">
        <h2>User</h2>
        <form id="user-form">
          <input id="user-id" autocomplete="off" spellcheck="false" placeholder="user id" required>
          <button type="submit">Show</button>
        </form>
        <table id="user-sessions" hidden>
          <thead><tr><th>token</th><th>ip</th><th>idle</th><th>r/w</th><th></th></tr></thead>
          <tbody></tbody>
        </table>
        <p id="user-empty" class="muted" hidden>No sessions for this user.</p>
        <button id="kill-user" class="danger" type="button" hidden>Kill all sessions of this user</button>
      </section>
    </div>
    <section class="card">
      <h2>Active sessions
        <select id="window" aria-label="Active within">
          <option value="60">last minute</option>
          <option value="600">last 10 min</option>
          <option value="3600" selected>last hour</option>
          <option value="86400">last 24 h</option>
        </select>
        <span id="count" class="muted"></span>
      </h2>
      <table id="sessions">
        <thead><tr><th>token</th><th>id</th><th>ip</th><th>idle</th><th>r/w</th><th></th></tr></thead>
        <tbody></tbody>
      </table>
      <p id="sessions-empty" class="muted" hidden>No active sessions.</p>
    </section>
    <section class="card danger-zone">
      <h2>Danger zone</h2>
      <button id="kill-all" class="danger" type="button">Kill all sessions of this app</button>
    </section>
  </section>
</main>
</body>
</html>
`;

/** The stylesheet. */
export const ADMIN_CSS = `:root { color-scheme: light; --fg: #1d2330; --muted: #6b7385; --line: #e3e6ee;
  --bg: #f5f6fa; --card: #fff; --accent: #3559e0; --danger: #c8332b; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 12px; padding: 10px 20px; background: var(--card);
  border-bottom: 1px solid var(--line); flex-wrap: wrap; }
h1 { font-size: 18px; margin: 0 12px 0 0; }
h2 { font-size: 15px; margin: 0 0 10px; display: flex; align-items: center; gap: 8px; }
.muted { color: var(--muted); font-weight: normal; font-size: 12px; }
.spacer { flex: 1; }
main { padding: 16px 20px; max-width: 1100px; margin: 0 auto; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
@media (max-width: 800px) { .grid { grid-template-columns: 1fr; } }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px;
  margin-bottom: 16px; }
.narrow { max-width: 420px; margin: 40px auto; }
form { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
input, select { font: inherit; padding: 5px 8px; border: 1px solid var(--line); border-radius: 5px; }
button { font: inherit; padding: 5px 12px; border: 1px solid var(--accent); border-radius: 5px;
  background: var(--accent); color: #fff; cursor: pointer; }
button:disabled { opacity: .5; cursor: default; }
button.danger { background: #fff; color: var(--danger); border-color: var(--danger); }
button.danger:hover { background: var(--danger); color: #fff; }
button.small { padding: 1px 8px; font-size: 12px; }
.error { color: var(--danger); min-height: 1.4em; }
#status { margin: 0 0 10px; min-height: 1.4em; color: var(--muted); }
#status.error { color: var(--danger); }
.stats { display: flex; gap: 24px; margin-bottom: 6px; }
.stats div { display: flex; flex-direction: column; }
.stats strong { font-size: 24px; }
.stats span { color: var(--muted); font-size: 12px; }
#chart { width: 100%; max-width: 360px; height: 120px; }
#chart rect { fill: var(--accent); }
#chart text { font-size: 11px; fill: var(--muted); text-anchor: middle; }
table { width: 100%; border-collapse: collapse; margin: 6px 0; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
td.mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
td a { color: var(--accent); cursor: pointer; text-decoration: underline; }
.danger-zone { border-color: #efc7c4; }
`;

/** The script. ES2017, no modules, no dependencies, no backticks (it lives in a TS template). */
export const ADMIN_JS = `(function () {
  "use strict";
  var KEY = "ers-admin-key";
  var APP = "ers-admin-app";
  // The page lives at <mount>/admin/: the REST routes are one level up.
  var base = new URL("../", location.href);
  var state = {
    key: sessionStorage.getItem(KEY) || "",
    app: sessionStorage.getItem(APP) || "",
    user: "",
    timer: 0
  };

  function $(id) { return document.getElementById(id); }

  function api(method, path) {
    return fetch(new URL(path, base), {
      method: method,
      headers: { "x-api-key": state.key, accept: "application/json" },
      cache: "no-store",
      credentials: "omit"
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (body) {
        if (res.status === 401) {
          logout("The API key was refused.");
          throw new Error("unauthorized");
        }
        if (!res.ok) throw new Error(body.message || "HTTP " + res.status);
        return body;
      });
    });
  }

  function appPath(rest) { return encodeURIComponent(state.app) + "/" + rest; }

  function status(text, isError) {
    var el = $("status");
    el.textContent = text;
    el.className = isError ? "error" : "";
  }

  function fmtIdle(s) {
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function cell(tr, text, cls, title) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    if (title) td.title = title;
    tr.appendChild(td);
    return td;
  }

  function button(text, cls, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.className = cls;
    b.addEventListener("click", onClick);
    return b;
  }

  function killButton(s) {
    return button("Kill", "danger small", function () {
      api("DELETE", appPath("kill/" + s.token)).then(function (r) {
        return refresh("Killed " + r.kill + " session of " + s.id + ".");
      }).catch(function (e) { status(e.message, true); });
    });
  }

  function renderRows(table, sessions, withId) {
    var tbody = table.querySelector("tbody");
    tbody.replaceChildren();
    sessions.forEach(function (s) {
      var tr = document.createElement("tr");
      tr.dataset.token = s.token || "";
      cell(tr, s.token ? s.token.slice(0, 10) + "\\u2026" : "", "mono", s.token);
      if (withId) {
        var id = cell(tr, "");
        var a = document.createElement("a");
        a.textContent = s.id;
        a.title = "Show this user's sessions";
        a.addEventListener("click", function () { showUser(s.id); });
        id.appendChild(a);
      }
      cell(tr, s.ip);
      cell(tr, fmtIdle(s.idle));
      cell(tr, s.r + "/" + s.w);
      var td = document.createElement("td");
      if (s.token) td.appendChild(killButton(s));
      tr.appendChild(td);
      tbody.appendChild(tr);
    });
  }

  function drawChart(values) {
    var NS = "http://www.w3.org/2000/svg";
    var svg = $("chart");
    svg.replaceChildren();
    var labels = ["1 min", "10 min", "1 h"];
    var max = Math.max(1, Math.max.apply(null, values));
    values.forEach(function (v, i) {
      var h = Math.round((v / max) * 80);
      var x = 20 + i * 95;
      var rect = document.createElementNS(NS, "rect");
      rect.setAttribute("x", String(x));
      rect.setAttribute("y", String(96 - h));
      rect.setAttribute("width", "70");
      rect.setAttribute("height", String(Math.max(h, 1)));
      rect.setAttribute("rx", "3");
      svg.appendChild(rect);
      var value = document.createElementNS(NS, "text");
      value.setAttribute("x", String(x + 35));
      value.setAttribute("y", String(92 - h));
      value.textContent = String(v);
      svg.appendChild(value);
      var label = document.createElementNS(NS, "text");
      label.setAttribute("x", String(x + 35));
      label.setAttribute("y", "112");
      label.textContent = labels[i];
      svg.appendChild(label);
    });
  }

  function loadUser() {
    if (!state.user) return Promise.resolve();
    return api("GET", appPath("soid/" + encodeURIComponent(state.user))).then(function (r) {
      $("user-sessions").hidden = r.sessions.length === 0;
      $("user-empty").hidden = r.sessions.length !== 0;
      $("kill-user").hidden = r.sessions.length === 0;
      renderRows($("user-sessions"), r.sessions, false);
    });
  }

  function refresh(note) {
    if (!state.app) return Promise.resolve();
    var dt = $("window").value;
    return Promise.all([
      api("GET", appPath("activity?dt=60")),
      api("GET", appPath("activity?dt=600")),
      api("GET", appPath("activity?dt=3600")),
      api("GET", appPath("soapp?dt=" + dt)),
      loadUser()
    ]).then(function (r) {
      var values = [r[0].activity, r[1].activity, r[2].activity];
      $("act-60").textContent = String(values[0]);
      $("act-600").textContent = String(values[1]);
      $("act-3600").textContent = String(values[2]);
      drawChart(values);
      var sessions = r[3].sessions;
      $("count").textContent = sessions.length + " session" + (sessions.length === 1 ? "" : "s");
      $("sessions-empty").hidden = sessions.length !== 0;
      renderRows($("sessions"), sessions, true);
      status((note ? note + " " : "") + state.app + " \\u00b7 updated " +
        new Date().toLocaleTimeString());
    }).catch(function (e) {
      if (e.message !== "unauthorized") status(e.message, true);
    });
  }

  function showUser(id) {
    state.user = id;
    $("user-id").value = id;
    return loadUser().catch(function (e) { status(e.message, true); });
  }

  function openApp(app) {
    state.app = app;
    state.user = "";
    sessionStorage.setItem(APP, app);
    $("app-input").value = app;
    $("user-sessions").hidden = true;
    $("user-empty").hidden = true;
    $("kill-user").hidden = true;
    $("dashboard").hidden = false;
    status("Loading " + app + "\\u2026");
    return refresh("");
  }

  function showDashboard(apps) {
    $("login").hidden = true;
    $("app-form").hidden = false;
    $("refresh").hidden = false;
    $("logout").hidden = false;
    var list = $("app-list");
    list.replaceChildren();
    apps.forEach(function (a) {
      var o = document.createElement("option");
      o.value = a;
      list.appendChild(o);
    });
    var app = state.app || (apps.length === 1 ? apps[0] : "");
    if (app) openApp(app);
    else status(apps.length ? "Pick an app." : "No apps found; type an app name.");
    clearInterval(state.timer);
    state.timer = setInterval(function () { if (!document.hidden) refresh(""); }, 10000);
  }

  function login(key) {
    state.key = key;
    return api("GET", "admin/api/apps").then(function (r) {
      sessionStorage.setItem(KEY, key);
      $("login-error").textContent = "";
      showDashboard(r.apps);
    }).catch(function (e) {
      if (e.message !== "unauthorized") $("login-error").textContent = e.message;
    });
  }

  function logout(message) {
    clearInterval(state.timer);
    sessionStorage.removeItem(KEY);
    state.key = "";
    $("dashboard").hidden = true;
    $("app-form").hidden = true;
    $("refresh").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("key").value = "";
    $("login-error").textContent = message || "";
  }

  function confirmed(text) { return window.confirm(text); }

  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    login($("key").value);
  });
  $("app-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    openApp($("app-input").value.trim());
  });
  $("user-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    showUser($("user-id").value.trim());
  });
  $("window").addEventListener("change", function () { refresh(""); });
  $("refresh").addEventListener("click", function () { refresh(""); });
  $("logout").addEventListener("click", function () { logout(""); });
  $("kill-user").addEventListener("click", function () {
    if (!confirmed("Kill every session of user " + state.user + " in " + state.app + "?")) return;
    api("DELETE", appPath("killsoid/" + encodeURIComponent(state.user))).then(function (r) {
      return refresh("Killed " + r.kill + " session(s) of " + state.user + ".");
    }).catch(function (e) { status(e.message, true); });
  });
  $("kill-all").addEventListener("click", function () {
    if (!confirmed("Kill ALL sessions of " + state.app + "? Every user is logged out.")) return;
    api("DELETE", appPath("killall")).then(function (r) {
      return refresh("Killed " + r.kill + " session(s) of " + state.app + ".");
    }).catch(function (e) { status(e.message, true); });
  });

  if (state.key) login(state.key);
})();
`;
