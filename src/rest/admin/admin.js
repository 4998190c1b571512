(() => {
  const KEY = "ers-admin-key";
  const APP = "ers-admin-app";
  // The page lives at <mount>/admin/: the REST routes are one level up.
  const base = new URL("../", location.href);
  const state = {
    key: sessionStorage.getItem(KEY) || "",
    app: sessionStorage.getItem(APP) || "",
    user: "",
    timer: 0,
  };

  function $(id) {
    return document.getElementById(id);
  }

  function api(method, path) {
    return fetch(new URL(path, base), {
      method: method,
      headers: { "x-api-key": state.key, accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
    }).then((res) =>
      res
        .json()
        .catch(() => ({}))
        .then((body) => {
          if (res.status === 401) {
            logout("The API key was refused.");
            throw new Error("unauthorized");
          }
          if (!res.ok) throw new Error(body.message || `HTTP ${res.status}`);
          return body;
        }),
    );
  }

  function appPath(rest) {
    return `${encodeURIComponent(state.app)}/${rest}`;
  }

  function status(text, isError) {
    const el = $("status");
    el.textContent = text;
    el.className = isError ? "error" : "";
  }

  function fmtIdle(s) {
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }

  function cell(tr, text, cls, title) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    if (title) td.title = title;
    tr.appendChild(td);
    return td;
  }

  function button(text, cls, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.className = cls;
    b.addEventListener("click", onClick);
    return b;
  }

  function killButton(s) {
    return button("Kill", "danger small", () => {
      api("DELETE", appPath(`kill/${s.token}`))
        .then((r) => refresh(`Killed ${r.kill} session of ${s.id}.`))
        .catch((e) => {
          status(e.message, true);
        });
    });
  }

  function renderRows(table, sessions, withId) {
    const tbody = table.querySelector("tbody");
    tbody.replaceChildren();
    sessions.forEach((s) => {
      const tr = document.createElement("tr");
      tr.dataset.token = s.token || "";
      cell(tr, s.token ? `${s.token.slice(0, 10)}\u2026` : "", "mono", s.token);
      if (withId) {
        const id = cell(tr, "");
        const a = document.createElement("a");
        a.textContent = s.id;
        a.title = "Show this user's sessions";
        a.addEventListener("click", () => {
          void showUser(s.id);
        });
        id.appendChild(a);
      }
      cell(tr, s.ip);
      cell(tr, fmtIdle(s.idle));
      cell(tr, `${s.r}/${s.w}`);
      const td = document.createElement("td");
      if (s.token) td.appendChild(killButton(s));
      tr.appendChild(td);
      tbody.appendChild(tr);
    });
  }

  function drawChart(values) {
    const NS = "http://www.w3.org/2000/svg";
    const svg = $("chart");
    svg.replaceChildren();
    const labels = ["1 min", "10 min", "1 h"];
    const max = Math.max(1, Math.max.apply(null, values));
    values.forEach((v, i) => {
      const h = Math.round((v / max) * 80);
      const x = 20 + i * 95;
      const rect = document.createElementNS(NS, "rect");
      rect.setAttribute("x", String(x));
      rect.setAttribute("y", String(96 - h));
      rect.setAttribute("width", "70");
      rect.setAttribute("height", String(Math.max(h, 1)));
      rect.setAttribute("rx", "3");
      svg.appendChild(rect);
      const value = document.createElementNS(NS, "text");
      value.setAttribute("x", String(x + 35));
      value.setAttribute("y", String(92 - h));
      value.textContent = String(v);
      svg.appendChild(value);
      const label = document.createElementNS(NS, "text");
      label.setAttribute("x", String(x + 35));
      label.setAttribute("y", "112");
      label.textContent = labels[i];
      svg.appendChild(label);
    });
  }

  function loadUser() {
    if (!state.user) return Promise.resolve();
    return api("GET", appPath(`soid/${encodeURIComponent(state.user)}`)).then((r) => {
      $("user-sessions").hidden = r.sessions.length === 0;
      $("user-empty").hidden = r.sessions.length !== 0;
      $("kill-user").hidden = r.sessions.length === 0;
      renderRows($("user-sessions"), r.sessions, false);
    });
  }

  function refresh(note) {
    if (!state.app) return Promise.resolve();
    const dt = $("window").value;
    return Promise.all([
      api("GET", appPath("activity?dt=60")),
      api("GET", appPath("activity?dt=600")),
      api("GET", appPath("activity?dt=3600")),
      api("GET", appPath(`soapp?dt=${dt}`)),
      loadUser(),
    ])
      .then((r) => {
        const values = [r[0].activity, r[1].activity, r[2].activity];
        $("act-60").textContent = String(values[0]);
        $("act-600").textContent = String(values[1]);
        $("act-3600").textContent = String(values[2]);
        drawChart(values);
        const sessions = r[3].sessions;
        $("count").textContent = `${sessions.length} session${sessions.length === 1 ? "" : "s"}`;
        $("sessions-empty").hidden = sessions.length !== 0;
        renderRows($("sessions"), sessions, true);
        status(
          (note ? `${note} ` : "") +
            state.app +
            " \u00b7 updated " +
            new Date().toLocaleTimeString(),
        );
      })
      .catch((e) => {
        if (e.message !== "unauthorized") status(e.message, true);
      });
  }

  function showUser(id) {
    state.user = id;
    $("user-id").value = id;
    return loadUser().catch((e) => {
      status(e.message, true);
    });
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
    status(`Loading ${app}\u2026`);
    return refresh("");
  }

  function showDashboard(apps) {
    $("login").hidden = true;
    $("status").hidden = false;
    $("app-form").hidden = false;
    $("refresh").hidden = false;
    $("logout").hidden = false;
    const list = $("app-list");
    list.replaceChildren();
    apps.forEach((a) => {
      const o = document.createElement("option");
      o.value = a;
      list.appendChild(o);
    });
    const app = state.app || (apps.length === 1 ? apps[0] : "");
    if (app) void openApp(app);
    else status(apps.length ? "Pick an app." : "No apps found; type an app name.");
    clearInterval(state.timer);
    state.timer = setInterval(() => {
      if (!document.hidden) void refresh("");
    }, 10000);
  }

  function login(key) {
    state.key = key;
    return api("GET", "admin/api/apps")
      .then((r) => {
        sessionStorage.setItem(KEY, key);
        $("login-error").textContent = "";
        showDashboard(r.apps);
      })
      .catch((e) => {
        if (e.message !== "unauthorized") $("login-error").textContent = e.message;
      });
  }

  function logout(message) {
    clearInterval(state.timer);
    sessionStorage.removeItem(KEY);
    state.key = "";
    $("dashboard").hidden = true;
    $("status").hidden = true;
    $("app-form").hidden = true;
    $("refresh").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("key").value = "";
    $("login-error").textContent = message || "";
  }

  function confirmed(text) {
    return window.confirm(text);
  }

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    void login($("key").value);
  });
  $("app-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    void openApp($("app-input").value.trim());
  });
  $("user-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    void showUser($("user-id").value.trim());
  });
  $("window").addEventListener("change", () => {
    void refresh("");
  });
  $("refresh").addEventListener("click", () => {
    void refresh("");
  });
  $("logout").addEventListener("click", () => {
    logout("");
  });
  $("kill-user").addEventListener("click", () => {
    if (!confirmed(`Kill every session of user ${state.user} in ${state.app}?`)) return;
    api("DELETE", appPath(`killsoid/${encodeURIComponent(state.user)}`))
      .then((r) => refresh(`Killed ${r.kill} session(s) of ${state.user}.`))
      .catch((e) => {
        status(e.message, true);
      });
  });
  $("kill-all").addEventListener("click", () => {
    if (!confirmed(`Kill ALL sessions of ${state.app}? Every user is logged out.`)) return;
    api("DELETE", appPath("killall"))
      .then((r) => refresh(`Killed ${r.kill} session(s) of ${state.app}.`))
      .catch((e) => {
        status(e.message, true);
      });
  });

  if (state.key) void login(state.key);
})();
