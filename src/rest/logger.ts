import type { Middleware } from "./auth.js";
import { type LogFormat, type ServerLog, serverLog } from "./server-log.js";

// Tokens are credentials: a log line must never carry one. Any token-shaped path segment is cut,
// judged after percent-decoding (`%4F%4C…` is a token too).
const TOKEN = /^[0-9A-Za-z]{64}$/;

/** Routes whose third segment is a user id (often an e-mail address): /:app/create/:id … */
const ID_ROUTES = new Set(["create", "soid", "killsoid", "handle"]);

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
  /** Plain lines (the default) or JSON lines; ignored when a {@link ServerLog} is given. */
  format?: LogFormat | undefined;
}

/**
 * A request logger: one entry per request, written when the response finishes (or the client
 * goes away, shown as status `-`): in text `METHOD path status ms`, in JSON pino-http's fields.
 */
export function requestLogger(
  out: ((line: string) => void) | ServerLog,
  { ids = false, format }: LoggerOptions = {},
): Middleware {
  const sink = typeof out === "function" ? serverLog(out, format) : out;
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
      const status = res.writableFinished ? res.statusCode : null;
      sink.request({ method: req.method ?? "-", path, status, ms });
    };
    res.once("finish", log);
    res.once("close", log);
    next();
  };
}
