import { readFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import type { Router } from "express";
import { storeError } from "../errors.js";
import { listApps } from "../layouts/apps.js";
import type { RedisSessions } from "../store/store.js";
import type { Data } from "../types.js";
import type { Middleware } from "./auth.js";
import { sendError, sendJson, toErrorReply } from "./errors.js";

/** What the dashboard needs from the router that mounts it. */
export interface AdminOptions {
  store: RedisSessions<Data>;
  /** The API-key check; never empty here (the router refuses `admin` without a key). */
  guard: Middleware[];
}

// The page loads nothing from elsewhere and runs no inline code; it may not be framed.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** SCAN calls per node for the app list: keeps one dashboard request bounded. */
const MAX_APP_SCANS = 200;

/**
 * The page and its assets: plain HTML, CSS and JS in ./admin/ (copied into dist by the build),
 * read once. No external resources; the script renders data with `textContent` only (never
 * `innerHTML`), under a CSP that forbids inline code.
 */
const files = new Map<string, string>();
export function file(name: string): string {
  let text = files.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(`./admin/${name}`, import.meta.url), "utf8");
    files.set(name, text);
  }
  return text;
}

/** Sends one of the dashboard's files with its security headers. */
export function sendStatic(res: ServerResponse, type: string, body: string): void {
  res.statusCode = 200;
  res.setHeader("Content-Type", `${type}; charset=utf-8`);
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.setHeader("Content-Security-Policy", CSP);
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("Cache-Control", "no-cache");
  res.end(body);
}

/**
 * Mounts the dashboard at `/admin/`. The page and its two assets are static and hold no data,
 * so they are served without the key; the page asks for the key and sends it (as `x-api-key`)
 * with every call, and each call goes through the key check. No cookie is used, so there is
 * nothing for a cross-site request to ride on.
 */
export function mountAdmin(router: Router, { store, guard }: AdminOptions): void {
  router.get("/admin", (req, res) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (!path.endsWith("/")) {
      // Relative, so it stays under whatever prefix the router is mounted at (and is no open redirect).
      res.statusCode = 302;
      res.setHeader("Location", "admin/");
      res.end();
      return;
    }
    sendStatic(res, "text/html", file("index.html"));
  });
  for (const script of ["admin.js", "admin-view.js"]) {
    router.get(`/admin/${script}`, (_req, res) => sendStatic(res, "text/javascript", file(script)));
  }
  router.get("/admin/admin.css", (_req, res) => sendStatic(res, "text/css", file("admin.css")));
  router.get("/admin/api/apps", ...guard, (_req, res) => {
    listApps(store.redis, store.keys, MAX_APP_SCANS).then(
      (list) => sendJson(res, 200, list),
      (err: unknown) => sendError(res, toErrorReply(storeError(err))),
    );
  });
}
