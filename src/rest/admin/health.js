// The dashboard's health panel: the store's Redis, latency, errors and cache, from
// admin/api/health. Apart from admin.js on purpose: it shows whenever the login form is hidden,
// using the key admin.js keeps for the tab. Renders with textContent only.
(() => {
  const KEY = "ers-admin-key";
  const base = new URL("../", location.href);
  const panel = document.getElementById("health");
  const login = document.getElementById("login");
  let timer = 0;

  function show(id, text, cls) {
    const el = document.getElementById(id);
    el.textContent = text;
    el.className = cls || "";
  }

  function ms(v) {
    if (v === null) return "\u2013";
    return v < 10 ? `${v.toFixed(2)} ms` : `${Math.round(v)} ms`;
  }

  function pct(v) {
    return v === null ? "\u2013" : `${(v * 100).toFixed(v > 0 && v < 0.01 ? 2 : 1)} %`;
  }

  function render(h) {
    const ops = h.operations;
    show("health-redis", h.redis.up ? "up" : "down", h.redis.up ? "ok" : "bad");
    show("health-p50", ms(ops.p50Ms));
    show("health-p99", ms(ops.p99Ms));
    show("health-errors", pct(ops.errorRate), ops.errors > 0 ? "bad" : "");
    show("health-hits", h.cache.enabled ? pct(h.cache.hitRate) : "off");
    const sub = h.cache.subscriber;
    show("health-subscriber", sub, sub === "subscribed" ? "ok" : sub === "off" ? "" : "bad");
    const ping = h.redis.up ? `PING ${ms(h.redis.latencyMs)}` : `Redis: ${h.redis.code}`;
    show(
      "health-note",
      `${ops.count} operation${ops.count === 1 ? "" : "s"} in the last ${ops.windowSeconds} s \u00b7 ` +
        `${ping} \u00b7 ${h.cache.entries} cached \u00b7 updated ${new Date().toLocaleTimeString()}`,
      "muted",
    );
  }

  function load() {
    const key = sessionStorage.getItem(KEY);
    if (!key) return;
    fetch(new URL("admin/api/health", base), {
      headers: { "x-api-key": key, accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
    })
      .then((res) => (res.ok ? res.json() : Promise.reject(new Error(`HTTP ${res.status}`))))
      .then(render)
      .catch((e) => {
        show("health-note", `Health unavailable: ${e.message}`, "error");
      });
  }

  function sync() {
    const on = login.hidden;
    panel.hidden = !on;
    clearInterval(timer);
    if (!on) return;
    load();
    timer = setInterval(() => {
      if (!document.hidden) load();
    }, 5000);
  }

  new MutationObserver(sync).observe(login, { attributes: true, attributeFilter: ["hidden"] });
  sync();
})();
