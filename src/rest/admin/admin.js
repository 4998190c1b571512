(() => {
  const KEY = "ers-admin-key";
  const APP = "ers-admin-app";
  // The page lives at <mount>/admin/: the REST routes are one level up.
  const base = new URL("../", location.href);
  // Sessions are read a page at a time (never a whole app): each list keeps the cursors of the
  // pages before the one shown, so that Newer goes back and a refresh re-reads the same page.
  const PAGE = 50;
  const state = {
    key: sessionStorage.getItem(KEY) || "",
    app: sessionStorage.getItem(APP) || "",
    user: "",
    timer: 0,
    pages: { sessions: pager(), user: pager() },
  };

  function pager() {
    return { before: [], at: null, next: null };
  }

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

  /** The path of the page a list shows now, with its cursor. */
  const view = window.ersAdminView;
  const actions = {
    user: (id) => {
      void showUser(id);
    },
    kill: (s) => {
      api("DELETE", appPath(`handle/${encodeURIComponent(s.id)}/${encodeURIComponent(s.handle)}`))
        .then((r) => refresh(`Killed ${r.kill} session of ${s.id}.`))
        .catch((e) => {
          status(e.message, true);
        });
    },
  };

  function paged(path, page) {
    const cursor = page.at ? `&cursor=${encodeURIComponent(page.at)}` : "";
    return `${path}${path.includes("?") ? "&" : "?"}limit=${PAGE}${cursor}`;
  }

  function showPager(name, page, count) {
    $(`${name}-newer`).disabled = page.before.length === 0;
    $(`${name}-older`).disabled = !page.next;
    $(`${name}-pager`).hidden = page.before.length === 0 && !page.next;
    const first = page.before.length * PAGE + 1;
    $(`${name}-page`).textContent = count ? `${first}\u2013${first + count - 1}` : "";
  }

  function loadUser() {
    if (!state.user) return Promise.resolve();
    const page = state.pages.user;
    const path = paged(`soid/${encodeURIComponent(state.user)}`, page);
    return api("GET", appPath(path)).then((r) => {
      page.next = r.cursor;
      const none = r.sessions.length === 0 && page.before.length === 0;
      $("user-sessions").hidden = none;
      $("user-empty").hidden = !none;
      $("kill-user").hidden = none;
      view.renderRows($("user-sessions"), r.sessions, false, actions);
      showPager("user", page, r.sessions.length);
    });
  }

  function refresh(note) {
    if (!state.app) return Promise.resolve();
    const dt = $("window").value;
    const page = state.pages.sessions;
    return Promise.all([
      api("GET", appPath("activity?dt=60")),
      api("GET", appPath("activity?dt=600")),
      api("GET", appPath("activity?dt=3600")),
      api("GET", appPath(`count?dt=${dt}`)),
      api("GET", appPath(paged(`soapp?dt=${dt}`, page))),
      loadUser(),
    ])
      .then((r) => {
        const values = [r[0].activity, r[1].activity, r[2].activity];
        $("act-60").textContent = String(values[0]);
        $("act-600").textContent = String(values[1]);
        $("act-3600").textContent = String(values[2]);
        view.drawChart($("chart"), values);
        const count = r[3].count;
        $("count").textContent = `${count} session${count === 1 ? "" : "s"}`;
        const sessions = r[4].sessions;
        page.next = r[4].cursor;
        $("sessions-empty").hidden = sessions.length !== 0 || page.before.length !== 0;
        view.renderRows($("sessions"), sessions, true, actions);
        showPager("sessions", page, sessions.length);
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

  /** Moves a list one page older (+1) or newer (-1) and reads it. */
  function turn(name, step) {
    const page = state.pages[name];
    if (step > 0 && page.next) {
      page.before.push(page.at);
      page.at = page.next;
    } else if (step < 0 && page.before.length > 0) {
      page.at = page.before.pop();
    } else {
      return;
    }
    const done = name === "user" ? loadUser() : refresh("");
    done.catch((e) => {
      status(e.message, true);
    });
  }

  function showUser(id) {
    state.user = id;
    state.pages.user = pager();
    $("user-id").value = id;
    return loadUser().catch((e) => {
      status(e.message, true);
    });
  }

  function openApp(app) {
    state.app = app;
    state.user = "";
    state.pages = { sessions: pager(), user: pager() };
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
    state.pages.sessions = pager();
    void refresh("");
  });
  for (const name of ["sessions", "user"]) {
    $(`${name}-older`).addEventListener("click", () => turn(name, 1));
    $(`${name}-newer`).addEventListener("click", () => turn(name, -1));
  }
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
