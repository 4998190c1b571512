/** HTML of the web-login example: plain template strings, every value escaped. */

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML content and quoted attribute values. */
export function esc(value: unknown): string {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · web-login</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .3rem; }
  tr.current { background: #eef; } form.inline { display: inline; } .error { color: #b00; }
  nav a { margin-right: 1rem; }
</style>
</head>
<body>
<h1>${esc(title)}</h1>
${body}
</body>
</html>`;
}

function csrfField(csrf: string): string {
  return `<input type="hidden" name="csrf" value="${esc(csrf)}">`;
}

/** The login form; `message` is shown above it. */
export function loginPage(message = "", username = ""): string {
  return page(
    "Log in",
    `${message ? `<p class="error" id="message">${esc(message)}</p>` : ""}
<form method="post" action="/login">
  <p><label>User <input name="username" value="${esc(username)}" autocomplete="username" required></label></p>
  <p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
  <p><button type="submit" id="login">Log in</button></p>
</form>
<p>Demo users: <code>alice</code> / <code>wonderland</code>, <code>bob</code> / <code>builder</code>.</p>`,
  );
}

/** What the profile page shows. */
export interface ProfileView {
  id: string;
  name: string;
  visits: number;
  loginAt: number;
  idleTimeout: number;
  csrf: string;
}

function nav(csrf: string): string {
  return `<nav><a href="/profile">Profile</a><a href="/devices" id="devices-link">Your devices</a>
<form class="inline" method="post" action="/logout">${csrfField(csrf)}<button id="logout">Log out</button></form></nav>`;
}

/** The profile page, with the session's data. */
export function profilePage(v: ProfileView): string {
  return page(
    `Hello, ${v.name}`,
    `${nav(v.csrf)}
<table>
  <tr><th>User id</th><td id="user-id">${esc(v.id)}</td></tr>
  <tr><th>Visits of this page</th><td id="visits">${esc(v.visits)}</td></tr>
  <tr><th>Logged in at</th><td>${esc(new Date(v.loginAt).toISOString())}</td></tr>
  <tr><th>Idle timeout</th><td>${esc(v.idleTimeout)} s</td></tr>
</table>`,
  );
}

/** One row of the devices page. */
export interface DeviceView {
  handle: string;
  current: boolean;
  agent: string;
  ip: string;
  idle: number;
}

/** The "your devices" page: this device, the others, and the two ways to log out. */
export function devicesPage(name: string, devices: DeviceView[], csrf: string): string {
  const rows = devices
    .map(
      (d) => `<tr class="${d.current ? "current" : "device"}" data-handle="${esc(d.handle)}">
  <td>${d.current ? "<strong>This device</strong>" : "Other device"}</td>
  <td>${esc(d.agent)}</td><td>${esc(d.ip)}</td><td>${esc(d.idle)} s ago</td>
  <td>${
    d.current
      ? `<form class="inline" method="post" action="/logout">${csrfField(csrf)}<button id="logout-this">Log out this device</button></form>`
      : `<form class="inline" method="post" action="/devices/revoke">${csrfField(csrf)}<input type="hidden" name="handle" value="${esc(d.handle)}"><button>Log out</button></form>`
  }</td>
</tr>`,
    )
    .join("\n");
  return page(
    `${name}'s devices`,
    `${nav(csrf)}
<p id="count">${devices.length} active session${devices.length === 1 ? "" : "s"}</p>
<table>
  <tr><th></th><th>Browser</th><th>IP</th><th>Last active</th><th></th></tr>
  ${rows}
</table>
<form method="post" action="/logout-everywhere">${csrfField(csrf)}
  <p><button id="logout-everywhere">Log out everywhere</button></p>
</form>`,
  );
}

/** The page shown when the session store is unavailable (HTTP 503). */
export function unavailablePage(): string {
  return page(
    "Please try again",
    "<p>We cannot reach the session store right now. Please try again in a moment.</p>",
  );
}
