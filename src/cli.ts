#!/usr/bin/env node
/**
 * The `express-redis-sessions` command: `express-redis-sessions serve` runs the REST server
 * (rest-sessions' routes) so that other platforms share sessions with Node apps. Configuration by
 * flags or by rest-sessions' environment variables; flags win. Exit codes: 0 after a clean
 * shutdown, 1 when the server fails, 2 for a usage error (bad flag, unsafe configuration).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { isIPv4, isIPv6 } from "node:net";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { migrateCommand } from "./migrate.js";
import type { RestSessionsOptions } from "./rest/router.js";
import { type RunningServer, serve } from "./rest/serve.js";

const NAME = "express-redis-sessions";

/** A configuration the CLI refuses: printed, then exit code 2. */
class UsageError extends Error {}

interface ServeFlags {
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
  bodyLimit: number;
  timeout: number;
  wipe: number;
  shutdownTimeout: number;
}

function write(line: string): void {
  process.stderr.write(line);
}

function integer(min: number, max: number) {
  return (value: string): number => {
    const text = value.trim();
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) {
      throw new InvalidArgumentError(`Expected an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

function collectKeys(value: string, previous: string[] | undefined): string[] {
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

function envFlag(name: string): boolean {
  return /^(1|true|yes|on)$/i.test(process.env[name] ?? "");
}

/** A Redis URL without its password, for log lines. */
function safeRedis(flags: ServeFlags): string {
  if (!flags.redis) return `${flags.redisHost}:${flags.redisPort}`;
  try {
    const url = new URL(flags.redis);
    if (url.password) url.password = "***";
    return url.toString();
  } catch {
    return "(unparsable URL)";
  }
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
  };
}

function watchRedis(running: RunningServer): void {
  let state: "unknown" | "up" | "down" = "unknown";
  running.store.redis.on("ready", () => {
    if (state !== "up") write(`redis: ${state === "down" ? "reconnected" : "connected"}\n`);
    state = "up";
  });
  running.store.redis.on("error", (err: Error) => {
    if (state !== "down") write(`redis: unavailable (${err.message}); retrying\n`);
    state = "down";
  });
}

function onSignals(running: RunningServer): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      write(`${signal} again: exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    // close() stops the listener synchronously; the line is written after, so it is a promise.
    const closed = running.close();
    write(`${signal}: shutting down; waiting for requests in flight\n`);
    closed.then(
      () => {
        write("stopped: server closed, Redis connection quit\n");
        process.exitCode = 0;
        // Everything is closed, so the process ends now; this only fires if a handle leaked.
        setTimeout(() => process.exit(0), 2000).unref();
      },
      (err: unknown) => {
        write(`shutdown failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

async function startServer(flags: ServeFlags): Promise<void> {
  const keys = [...(flags.apiKey ?? []), ...readKeyFile(flags.apiKeyFile)];
  const admin = flags.admin === true || envFlag("RS_ADMIN");
  if (keys.some((k) => k.length < 16)) {
    write("warning: an API key shorter than 16 characters is easy to guess; use 32+ random ones\n");
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
      shutdownTimeout: flags.shutdownTimeout,
      write,
    });
  } catch (err) {
    if (err instanceof TypeError) throw new UsageError(err.message.replace(`${NAME}: `, ""));
    throw err;
  }
  watchRedis(running);
  onSignals(running);
  const auth = keys.length > 0 ? `API key required (${keys.length} key(s))` : "no API key";
  write(
    `${NAME} listening on ${running.url} (redis ${safeRedis(flags)}, namespace "${flags.namespace}", ${auth}` +
      `${admin ? `, admin at ${running.url}/admin/` : ""})\n`,
  );
}

const ENV_HELP = `
Environment variables (a flag given on the command line wins):
  RS_PORT, RS_HOST, RS_REDISURL, RS_REDISHOST, RS_REDISPORT, RS_NAMESPACE, RS_LOGLEVEL
  (rest-sessions' own), plus RS_APIKEY (comma-separated keys), RS_APIKEY_FILE, RS_ADMIN=1,
  RS_BODYLIMIT, RS_TIMEOUT, RS_WIPE, RS_SHUTDOWN_TIMEOUT.

Security: without an API key only a loopback --host is allowed. Clients send the key as
"x-api-key: <key>" or "Authorization: Bearer <key>". Prefer RS_APIKEY or --api-key-file over
--api-key: command lines are visible to every user of the machine.

Routes: PUT /:app/create/:id?ip=&ttl=, GET /:app/get/:token, POST /:app/set/:token,
POST /:app/rotate/:token, DELETE /:app/kill/:token, GET /:app/activity?dt=, GET /:app/soapp?dt=,
GET /:app/soid/:id, DELETE /:app/killsoid/:id, DELETE /:app/killall, GET /ping, GET /health,
and with --admin the dashboard at /admin/.

Signals: SIGTERM or SIGINT stop accepting connections, let requests in flight finish, quit Redis
and exit with code 0. Exit codes: 0 clean stop, 1 server failure, 2 usage error.

Examples:
  ${NAME} serve --port 8101 --redis redis://127.0.0.1:6379
  RS_APIKEY=$(openssl rand -hex 32) ${NAME} serve --host 0.0.0.0 --admin
`;

function version(): string {
  try {
    // ../package.json from both src/cli.ts and dist/cli.js.
    return (createRequire(import.meta.url)("../package.json") as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** Builds the command-line program; `serve`'s action starts the server. */
function program(): Command {
  const root = new Command(NAME)
    .description("Redis sessions for every platform: the rest-sessions REST server and its admin")
    .version(version(), "-V, --version")
    .exitOverride()
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText("after", `\nRun "${NAME} serve --help" for the server's flags.\n${ENV_HELP}`);

  root
    .command("serve")
    .description(
      "start the REST server (rest-sessions' routes, JSON errors, optional admin dashboard)",
    )
    .addOption(
      new Option("-p, --port <port>", "port to listen on (0: any free port)")
        .env("RS_PORT")
        .default(8101)
        .argParser(integer(0, 65535)),
    )
    .addOption(
      new Option("-H, --host <address>", "address to listen on; non-loopback needs an API key")
        .env("RS_HOST")
        .default("127.0.0.1"),
    )
    .addOption(
      new Option(
        "--redis <url>",
        "Redis URL (redis://[:password@]host:port[/db]); wins over host/port",
      ).env("RS_REDISURL"),
    )
    .addOption(
      new Option("--redis-host <host>", "Redis host").env("RS_REDISHOST").default("127.0.0.1"),
    )
    .addOption(
      new Option("--redis-port <port>", "Redis port")
        .env("RS_REDISPORT")
        .default(6379)
        .argParser(integer(1, 65535)),
    )
    .addOption(
      new Option("-n, --namespace <ns>", "key prefix, as redis-sessions' namespace")
        .env("RS_NAMESPACE")
        .default("rs"),
    )
    .addOption(
      new Option(
        "-k, --api-key <key>",
        "API key clients must send; repeat or comma-separate for several",
      )
        .env("RS_APIKEY")
        .argParser(collectKeys),
    )
    .addOption(
      new Option("--api-key-file <path>", "file with API keys, one per line").env("RS_APIKEY_FILE"),
    )
    .addOption(
      new Option(
        "--admin",
        "serve the admin dashboard at /admin/ (needs an API key; env: RS_ADMIN=1)",
      ),
    )
    .addOption(new Option("--protect-health", "require the API key for /ping and /health too"))
    .addOption(
      new Option("--log <level>", 'request logging to stderr; "none" turns it off')
        .env("RS_LOGLEVEL")
        .default("dev"),
    )
    .addOption(
      new Option("--body-limit <bytes>", "largest JSON body; larger ones get a 413")
        .env("RS_BODYLIMIT")
        .default(65536)
        .argParser(integer(2, 100 * 1024 * 1024)),
    )
    .addOption(
      new Option("--timeout <ms>", "longest wait for one Redis command before a 503")
        .env("RS_TIMEOUT")
        .default(1000)
        .argParser(integer(1, 600_000)),
    )
    .addOption(
      new Option("--wipe <seconds>", "seconds between wipes of expired sessions; 0 disables")
        .env("RS_WIPE")
        .default(600)
        .argParser(integer(0, 86_400 * 365)),
    )
    .addOption(
      new Option("--shutdown-timeout <ms>", "longest wait for requests in flight at shutdown")
        .env("RS_SHUTDOWN_TIMEOUT")
        .default(10_000)
        .argParser(integer(0, 600_000)),
    )
    .addHelpText("after", ENV_HELP)
    .action(startServer);

  // Moves sessions between the compat and the cluster key layout (src/migrate.ts).
  root.addCommand(migrateCommand(write));

  return root;
}

/** Runs the CLI; resolves to the exit code, or undefined while the server runs. */
async function main(argv: readonly string[]): Promise<number | undefined> {
  try {
    await program().parseAsync([...argv]);
    return undefined;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof UsageError) {
      write(`${NAME}: error: ${err.message}\n`);
      return 2;
    }
    write(`${NAME}: ${(err as Error).message ?? String(err)}\n`);
    return 1;
  }
}

const code = await main(process.argv);
if (code !== undefined) process.exitCode = code;
