import type { Middleware } from "./auth.js";

// Tokens are credentials: a log line must never carry one. Any token-shaped path segment is cut.
const TOKEN_SEGMENT = /(^|\/)([0-9A-Za-z]{6})[0-9A-Za-z]{58}(?=\/|$)/g;

/** The path of a URL without its query (which holds the user's ip) and with tokens shortened. */
export function redactPath(url: string): string {
  const q = url.indexOf("?");
  const path = q === -1 ? url : url.slice(0, q);
  return path.replace(TOKEN_SEGMENT, "$1$2…");
}

/** Paths that health checks hit every few seconds; logging them drowns everything else. */
const QUIET = new Set(["/ping", "/health"]);

/**
 * A request logger: one line per request, `METHOD path status ms`, written when the response
 * finishes (or the client goes away, shown as status `-`).
 */
export function requestLogger(write: (line: string) => void): Middleware {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    const url = req.url ?? "/";
    let logged = false;
    const log = () => {
      if (logged) return;
      logged = true;
      const path = redactPath(url);
      if (QUIET.has(path)) return;
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const status = res.writableFinished ? String(res.statusCode) : "-";
      write(`${req.method ?? "-"} ${path} ${status} ${ms.toFixed(1)}ms\n`);
    };
    res.once("finish", log);
    res.once("close", log);
    next();
  };
}
