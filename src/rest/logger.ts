import type { Middleware } from "./auth.js";

// Tokens are credentials: a log line must never carry one. Any token-shaped path segment is cut,
// judged after percent-decoding (`%4F%4C…` is a token too).
const TOKEN = /^[0-9A-Za-z]{64}$/;

/** Routes whose third segment is a user id (often an e-mail address): /:app/create/:id … */
const ID_ROUTES = new Set(["create", "soid", "killsoid"]);

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * The path of a URL for a log line: without its query (which holds the user's ip), tokens cut to
 * their first 6 characters, and user ids replaced by `:id` unless `ids` is true. Segments are
 * logged as they arrived (still percent-encoded), so a decoded line break cannot forge a line.
 */
export function redactPath(url: string, ids = false): string {
  const q = url.indexOf("?");
  const segments = (q === -1 ? url : url.slice(0, q)).split("/");
  return segments
    .map((segment, i) => {
      if (!ids && i === 3 && segments[0] === "" && ID_ROUTES.has(segments[2] ?? "")) return ":id";
      const text = decoded(segment);
      return TOKEN.test(text) ? `${text.slice(0, 6)}…` : segment;
    })
    .join("/");
}

/** Paths that health checks hit every few seconds; logging them drowns everything else. */
const QUIET = new Set(["/ping", "/health"]);

/** Options of {@link requestLogger}. */
export interface LoggerOptions {
  /** Log user ids in paths such as /:app/soid/:id (by default they show as `:id`). */
  ids?: boolean | undefined;
}

/**
 * A request logger: one line per request, `METHOD path status ms`, written when the response
 * finishes (or the client goes away, shown as status `-`).
 */
export function requestLogger(
  write: (line: string) => void,
  { ids = false }: LoggerOptions = {},
): Middleware {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    const url = req.url ?? "/";
    let logged = false;
    const log = () => {
      if (logged) return;
      logged = true;
      const path = redactPath(url, ids);
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
