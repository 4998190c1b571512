#!/usr/bin/env node
/**
 * The `express-redis-sessions` command: `express-redis-sessions serve` runs the REST server
 * (rest-sessions' routes) so that other platforms share sessions with Node apps. Configuration by
 * flags or by rest-sessions' environment variables; flags win. Exit codes: 0 after a clean
 * shutdown, 1 when the server fails, 2 for a usage error (bad flag, unsafe configuration).
 */
import { createRequire } from "node:module";
import { Command, CommanderError, Option } from "commander";
import { integer, UsageError, write } from "./flags.js";
import { migrateCommand } from "./migrate.js";
import { collectKeys, startServer } from "./serve.js";

const NAME = "express-redis-sessions";

const ENV_HELP = `
Environment variables (a flag given on the command line wins):
  RS_PORT, RS_HOST, RS_REDISURL, RS_REDISHOST, RS_REDISPORT, RS_NAMESPACE, RS_LOGLEVEL
  (rest-sessions' own), plus RS_APIKEY (comma-separated keys), RS_APIKEY_FILE, RS_ADMIN=1,
  RS_LOG_IDS=1, RS_LOG_FORMAT, RS_METRIC_APPS, RS_BODYLIMIT, RS_TIMEOUT, RS_WIPE,
  RS_SHUTDOWN_TIMEOUT.

Security: without an API key only a loopback --host is allowed, and the server answers only
requests addressed to localhost, 127.0.0.1 or [::1] (or the address it listens on) that do not
come from another site's web page (an Origin header other than its own, Sec-Fetch-Site
cross-site or same-site): others get a 403. That stops DNS rebinding and cross-site requests
from pages in your browser. Clients send the key as "x-api-key: <key>" or
"Authorization: Bearer <key>". Prefer RS_APIKEY or --api-key-file over --api-key: command lines
are visible to every user of the machine. Logs never show tokens, query strings (user ips),
Redis passwords or, without --log-ids, user ids.

Routes: PUT /:app/create/:id?ip=&ttl=, GET /:app/get/:token, POST /:app/set/:token,
POST /:app/rotate/:token, DELETE /:app/kill/:token, GET /:app/activity?dt=, GET /:app/soapp?dt=,
GET /:app/soid/:id, DELETE /:app/killsoid/:id, DELETE /:app/killall, GET /ping, GET /health,
GET /metrics (Prometheus), and with --admin the dashboard at /admin/.

Signals: SIGTERM or SIGINT stop accepting connections, let requests in flight finish, quit Redis
and exit with code 0. Under npx, npm exec or npm run it also shuts down this way once the
process that started it exits (npm's shell does not pass signals on). Exit codes: 0 clean stop,
1 server failure, 2 usage error.

Examples:
  ${NAME} serve --port 8101 --redis redis://127.0.0.1:6379
  RS_APIKEY=$(openssl rand -hex 32) ${NAME} serve --host 0.0.0.0 --admin
`;

function version(): string {
  try {
    // ../../package.json from both src/cli/index.ts and dist/cli/index.js.
    return (createRequire(import.meta.url)("../../package.json") as { version: string }).version;
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
      new Option(
        "--log-ids",
        "show user ids in logged paths such as /:app/soid/:id (env: RS_LOG_IDS=1)",
      ),
    )
    .addOption(
      new Option(
        "--log-events",
        "one line per session event: created, rotated, killed, evicted, expired (env: RS_LOG_EVENTS=1)",
      ),
    )
    .addOption(
      new Option("--log-format <format>", "text lines, or JSON lines (pino) for log shippers")
        .env("RS_LOG_FORMAT")
        .choices(["text", "json"])
        .default("text"),
    )
    .addOption(
      new Option("--metric-apps <n>", "app names /metrics labels; later apps count as other")
        .env("RS_METRIC_APPS")
        .default(0)
        .argParser(integer(0, 1000)),
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

  // Moves sessions between the compat and the cluster key layout (src/migrate/).
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
