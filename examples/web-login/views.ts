/** HTML of the web-login example: plain template strings, every value escaped. */

import type { Device } from "../../src/index.js";

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
  return `<input type="hidden" name="_csrf" value="${esc(csrf)}">`;
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
  /** Login time, unix seconds. */
  created: number | null;
  /** The absolute end of the session, unix seconds. */
  expires: number | null;
  idleTimeout: number;
  csrf: string;
}

function nav(csrf: string): string {
  return `<nav><a href="/profile">Profile</a><a href="/devices" id="devices-link">Your devices</a>
<form class="inline" method="post" action="/logout">${csrfField(csrf)}<button id="logout">Log out</button></form></nav>`;
}

/** A unix time as an ISO string without milliseconds (UTC); "unknown" for null. */
function when(seconds: number | null): string {
  return seconds === null ? "unknown" : new Date(seconds * 1000).toISOString().replace(".000", "");
}

/** The profile page, with the session's data. */
export function profilePage(v: ProfileView): string {
  return page(
    `Hello, ${v.name}`,
    `${nav(v.csrf)}
<table>
  <tr><th>User id</th><td id="user-id">${esc(v.id)}</td></tr>
  <tr><th>Visits of this page</th><td id="visits">${esc(v.visits)}</td></tr>
  <tr><th>Logged in at</th><td id="created">${esc(when(v.created))}</td></tr>
  <tr><th>Logged out at the latest</th><td id="expires">${esc(when(v.expires))}</td></tr>
  <tr><th>Idle timeout</th><td>${esc(v.idleTimeout)} s</td></tr>
</table>`,
  );
}

const BROWSERS: [RegExp, string][] = [
  [/Edg\//, "Edge"],
  [/OPR\//, "Opera"],
  [/Firefox\//, "Firefox"],
  [/Chrom(e|ium)\//, "Chrome"],
  [/Safari\//, "Safari"],
];
const SYSTEMS: [RegExp, string][] = [
  [/iPhone|iPad/, "iOS"],
  [/Android/, "Android"],
  [/Windows/, "Windows"],
  [/Mac OS X|Macintosh/, "macOS"],
  [/CrOS/, "ChromeOS"],
  [/Linux|X11/, "Linux"],
];

/**
 * "Chrome on Linux" from a user agent: a label, not a proof (the header is the client's). An
 * agent no rule knows is shown as it is, cut to 40 characters.
 */
export function browserLabel(ua: string | null): string {
  if (!ua) return "Unknown browser";
  const browser = BROWSERS.find(([re]) => re.test(ua))?.[1];
  const system = SYSTEMS.find(([re]) => re.test(ua))?.[1];
  if (!browser) return ua.length > 40 ? `${ua.slice(0, 40)}…` : ua;
  return system ? `${browser} on ${system}` : browser;
}

/** How long ago a unix time was, roughly. */
function ago(seconds: number, now: number): string {
  const s = Math.max(0, Math.round(now - seconds));
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} days ago`;
}

/**
 * The "your devices" page: this device first among equals, each with its browser, login time,
 * last ip and activity, a button that revokes it by handle (never its token), and the two ways
 * to log the others out.
 */
export function devicesPage(
  name: string,
  devices: Device[],
  csrf: string,
  note = "",
  now = Date.now() / 1000,
): string {
  const rows = devices
    .map(
      (d) => `<tr class="${d.current ? "current" : "device"}" data-handle="${esc(d.handle)}">
  <td>${d.current ? "<strong>This device</strong>" : "Other device"}</td>
  <td class="browser" title="${esc(d.ua ?? "")}">${esc(browserLabel(d.ua))}</td>
  <td class="created">${esc(when(d.created))}</td><td class="ip">${esc(d.ip)}</td>
  <td class="active">${esc(ago(d.lastActive, now))}</td>
  <td>${
    d.current
      ? `<form class="inline" method="post" action="/logout">${csrfField(csrf)}<button id="logout-this">Log out this device</button></form>`
      : `<form class="inline" method="post" action="/devices/revoke">${csrfField(csrf)}<input type="hidden" name="handle" value="${esc(d.handle)}"><button class="revoke">Log out</button></form>`
  }</td>
</tr>`,
    )
    .join("\n");
  return page(
    `${name}'s devices`,
    `${nav(csrf)}
${note ? `<p id="note">${esc(note)}</p>` : ""}
<p id="count">${devices.length} active session${devices.length === 1 ? "" : "s"}</p>
<table>
  <tr><th></th><th>Browser</th><th>Logged in</th><th>Last IP</th><th>Last active</th><th></th></tr>
  ${rows}
</table>
<form method="post" action="/devices/revoke-others">${csrfField(csrf)}
  <p><button id="logout-others">Log out the other devices</button></p>
</form>
<form method="post" action="/logout-everywhere">${csrfField(csrf)}
  <p><button id="logout-everywhere">Log out everywhere</button> (asks for your password if you logged in a while ago)</p>
</form>`,
  );
}

/** The password prompt before a sensitive action ("sudo mode"). */
export function confirmPage(csrf: string, message = ""): string {
  return page(
    "Confirm your password",
    `${message ? `<p class="error" id="message">${esc(message)}</p>` : ""}
<p id="why">You logged in a while ago. Type your password again to continue.</p>
<form method="post" action="/confirm">${csrfField(csrf)}
  <p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
  <p><button type="submit" id="confirm">Confirm</button></p>
</form>
<p><a href="/devices">Back to your devices</a></p>`,
  );
}

/** The page shown when the session store is unavailable (HTTP 503). */
export function unavailablePage(): string {
  return page(
    "Please try again",
    "<p>We cannot reach the session store right now. Please try again in a moment.</p>",
  );
}
