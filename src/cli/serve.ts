import { readFileSync } from "node:fs";
import { isIPv4, isIPv6 } from "node:net";
import { redactRedisUrl } from "../redis-url.js";
import type { RestSessionsOptions } from "../rest/router.js";
import { type RunningServer, serve } from "../rest/serve.js";
import { type LogFormat, type ServerLog, serverLog } from "../rest/server-log.js";
import { envFlag, UsageError, write } from "./flags.js";

const NAME = "express-redis-sessions";

/** The flags of `serve`, after commander applied defaults and environment variables. */
export interface ServeFlags {
  port: number;
  host: string;
  redis?: string;
  redisHost: string;
  redisPort: number;
  namespace: string;
  apiKey?: string[];
  apiKeyFile?: string;
  admin?: boolean;
  protectHealth?: boolean;
  log: string;
  logIds?: boolean;
  logEvents?: boolean;
  logFormat: LogFormat;
  metricApps: number;
  bodyLimit: number;
  timeout: number;
  wipe: number;
  shutdownTimeout: number;
}

/** Adds comma-separated keys to the list (RS_APIKEY can hold an old and a new key). */
export function collectKeys(value: string, previous: string[] | undefined): string[] {
  // Comma-separated, so that RS_APIKEY can hold an old and a new key during a rotation.
  const keys = value
    .split(",")
    .map((k) => k.trim())
    .filter((k) => k !== "");
  return [...(previous ?? []), ...keys];
}

function readKeyFile(path: string | undefined): string[] {
  if (!path) return [];
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read --api-key-file ${path}: ${(err as Error).message}`);
  }
  const keys = text
    .split(/\r?\n/)
    .map((k) => k.trim())
    .filter((k) => k !== "" && !k.startsWith("#"));
  if (keys.length === 0) throw new UsageError(`--api-key-file ${path} holds no key`);
  return keys;
}

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1 and `localhost`. */
function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (h === "localhost") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  if (isIPv4(v4)) return v4.startsWith("127.");
  return isIPv6(h) && /^(0{0,4}:){2,7}0{0,3}1$/.test(h);
}

/** Where Redis is, for the startup line: every credential masked. */
function safeRedis(flags: ServeFlags): string {
  return flags.redis ? redactRedisUrl(flags.redis) : `${flags.redisHost}:${flags.redisPort}`;
}

function routerOptions(flags: ServeFlags, keys: string[], admin: boolean): RestSessionsOptions {
  return {
    ...(flags.redis ? { redis: flags.redis } : { host: flags.redisHost, port: flags.redisPort }),
    namespace: flags.namespace,
    timeout: flags.timeout,
    wipe: flags.wipe,
    bodyLimit: flags.bodyLimit,
    apiKey: keys.length > 0 ? keys : undefined,
    admin,
    protectHealth: flags.protectHealth === true,
    metricApps: flags.metricApps,
  };
}

/** The server's messages: plain lines, or JSON lines with `--log-format json`. */
let log: ServerLog = serverLog(write);
const say = (line: string, level?: "warn" | "error") => log.message(line, level);

function watchRedis(running: RunningServer): void {
  let state: "unknown" | "up" | "down" = "unknown";
  running.store.redis.on("ready", () => {
    if (state !== "up") say(`redis: ${state === "down" ? "reconnected" : "connected"}\n`);
    state = "up";
  });
  running.store.redis.on("error", (err: Error) => {
    if (state !== "down") say(`redis: unavailable (${err.message}); retrying`, "warn");
    state = "down";
  });
}

/** True while process `pid` exists (EPERM: it exists, owned by another user). */
function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * npx, `npm exec` and `npm run` start the server under `sh -c`. A SIGTERM to npm ends that shell,
 * which does not pass the signal on: the server would keep running, orphaned. So under npm (which
 * sets npm_lifecycle_event) the server stops, as on SIGTERM, once the process that started it is
 * gone. Started otherwise (node, systemd, Docker, nohup), it keeps running as before.
 */
function watchParent(stop: (reason: string) => void): void {
  if (!process.env.npm_lifecycle_event) return;
  const parent = process.ppid;
  if (parent <= 1) return;
  const timer = setInterval(() => {
    if (exists(parent)) return;
    clearInterval(timer);
    stop(`parent process ${parent} exited`);
  }, 500);
  timer.unref();
}

function onSignals(running: RunningServer): void {
  let stopping = false;
  const stop = (reason: string) => {
    if (stopping) {
      say(`${reason} again: exiting now`, "warn");
      process.exit(1);
    }
    stopping = true;
    // close() stops the listener synchronously; the line is written after, so it is a promise.
    const closed = running.close();
    say(`${reason}: shutting down; waiting for requests in flight\n`);
    closed.then(
      () => {
        say("stopped: server closed, Redis connection quit\n");
        process.exitCode = 0;
        // Everything is closed, so the process ends now; this only fires if a handle leaked.
        setTimeout(() => process.exit(0), 2000).unref();
      },
      (err: unknown) => {
        say(`shutdown failed: ${(err as Error).message}`, "error");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  watchParent((reason) => {
    if (!stopping) stop(reason);
  });
}

/** The action of `serve`: starts the server, then runs until SIGTERM or SIGINT. */
export async function startServer(flags: ServeFlags): Promise<void> {
  log = serverLog(write, flags.logFormat);
  const keys = [...(flags.apiKey ?? []), ...readKeyFile(flags.apiKeyFile)];
  const admin = flags.admin === true || envFlag("RS_ADMIN");
  if (keys.some((k) => k.length < 16)) {
    say(
      "warning: an API key shorter than 16 characters is easy to guess; use 32+ random ones",
      "warn",
    );
  }
  if (!isLoopback(flags.host) && keys.length === 0) {
    throw new UsageError(
      `refusing to listen on ${flags.host} without an API key: anyone who reaches it could read ` +
        "and kill every session. Set --api-key (or RS_APIKEY / --api-key-file), or listen on 127.0.0.1.",
    );
  }
  let running: RunningServer;
  try {
    running = await serve({
      host: flags.host,
      port: flags.port,
      router: routerOptions(flags, keys, admin),
      log: flags.log.toLowerCase() !== "none",
      logIds: flags.logIds === true || envFlag("RS_LOG_IDS"),
      logEvents: flags.logEvents === true || envFlag("RS_LOG_EVENTS"),
      shutdownTimeout: flags.shutdownTimeout,
      logFormat: flags.logFormat,
      write,
    });
  } catch (err) {
    if (err instanceof TypeError) throw new UsageError(err.message.replace(`${NAME}: `, ""));
    throw err;
  }
  watchRedis(running);
  onSignals(running);
  const auth = keys.length > 0 ? `API key required (${keys.length} key(s))` : "no API key";
  say(
    `${NAME} listening on ${running.url} (redis ${safeRedis(flags)}, namespace "${flags.namespace}", ${auth}` +
      `${admin ? `, admin at ${running.url}/admin/` : ""})\n`,
  );
}
