import { createRequire } from "node:module";
import type * as Pino from "pino";

/** How the REST server writes its log: plain lines, or one JSON object per line. */
export type LogFormat = "text" | "json";

/** The formats of {@link LogFormat}. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** One request, as the request logger saw it: the path already redacted. */
export interface RequestEntry {
  method: string;
  path: string;
  /** null when the client went away before the response finished. */
  status: number | null;
  ms: number;
}

/** A lifecycle event of a session (the store's events): handles and ids, never a token. */
export interface EventEntry {
  /** created, rotated, killed, evicted or expired. */
  event: string;
  [field: string]: string | number | boolean | undefined;
}

/** Where the server's messages and request lines go. */
export interface ServerLog {
  /** A message of the server (startup, Redis state, shutdown). */
  message(text: string, level?: "info" | "warn" | "error"): void;
  request(entry: RequestEntry): void;
  /** One audit line for a session event. */
  event(entry: EventEntry): void;
}

/** `key=value` pairs in a fixed order; values JSON-quoted when they hold spaces or quotes. */
function pairs(entry: EventEntry): string {
  return Object.entries(entry)
    .filter(([key, value]) => key !== "event" && value !== undefined)
    .map(([key, value]) => {
      const text = String(value);
      return `${key}=${/^[\w.:@/+-]*$/.test(text) ? text : JSON.stringify(text)}`;
    })
    .join(" ");
}

/** Plain lines: `METHOD path status ms` for requests, messages as they are. */
function textLog(write: (line: string) => void): ServerLog {
  return {
    message: (text) => write(text.endsWith("\n") ? text : `${text}\n`),
    request: ({ method, path, status, ms }) =>
      write(`${method} ${path} ${status ?? "-"} ${ms.toFixed(1)}ms\n`),
    event: (entry) => write(`session ${entry.event} ${pairs(entry)}\n`),
  };
}

/**
 * JSON lines by pino: pino's own fields (`level` as a number, `time` in epoch ms, `pid`,
 * `hostname`, `name`, `msg`) that log shippers and `pino-pretty` read, and pino-http's
 * `req`/`res`/`responseTime` for requests. Each line is handed whole to `write`.
 */
function jsonLog(write: (line: string) => void): ServerLog {
  // Loaded here only: applications that never run the REST server with JSON logs never load it.
  const pino = createRequire(import.meta.url)("pino") as typeof Pino.default;
  const logger = pino({ name: "express-redis-sessions" }, { write });
  return {
    message: (text, level = "info") => logger[level](text.trimEnd()),
    request: ({ method, path, status, ms }) =>
      logger.info(
        { req: { method, url: path }, res: { statusCode: status }, responseTime: ms },
        status === null ? "request aborted" : "request completed",
      ),
    event: (entry) => logger.info(entry, `session ${entry.event}`),
  };
}

/** A server log in `format`, writing whole lines to `write`. */
export function serverLog(write: (line: string) => void, format: LogFormat = "text"): ServerLog {
  return format === "json" ? jsonLog(write) : textLog(write);
}
