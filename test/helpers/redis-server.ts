import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { basename, delimiter, dirname, join } from "node:path";

/** A private, throwaway `redis-server` process owned by the test that started it. */
export interface RedisServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** Freezes the process (`SIGSTOP`): the socket stays open, nothing answers. */
  freeze(): void;
  /** Resumes a frozen process (`SIGCONT`). */
  thaw(): void;
  /** Kills the process with `SIGKILL` and waits for it to exit. */
  crash(): Promise<void>;
  /** Starts the server again on the same port after a crash or stop. */
  restart(): Promise<void>;
  /** Stops the server (by pid) and removes its directory. */
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  /** Extra `redis-server` arguments, e.g. `["--maxmemory", "1mb"]`. */
  args?: string[];
  port?: number;
}

const INSTALL_HINT =
  "No redis-server (or valkey-server) binary found. Install it (Debian/Ubuntu: `sudo apt-get install -y redis-server`; " +
  "macOS: `brew install redis`), put it on PATH or set REDIS_SERVER_BIN, " +
  "or point the tests at a running server with REDIS_URL=redis://host:port.";

/** Redis and its fork Valkey ship the same tools under two names: redis-cli, valkey-cli… */
const FAMILIES = ["redis", "valkey"] as const;

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first `redis-<tool>` or `valkey-<tool>` in the PATH's directories, in PATH order. */
function onPath(tool: string): string | undefined {
  const dirs = [
    ...(process.env.PATH ?? "").split(delimiter).filter((d) => d !== ""),
    "/usr/bin",
    "/usr/local/bin",
    "/usr/sbin",
  ];
  for (const dir of dirs) {
    for (const family of FAMILIES) {
      const file = join(dir, `${family}-${tool}`);
      if (executable(file)) return file;
    }
  }
  return undefined;
}

/**
 * Finds the server binary: REDIS_SERVER_BIN, else the first `redis-server` or `valkey-server` on
 * PATH (so a host with only Valkey works, and whichever comes first on PATH is used). Throws an
 * error that says how to install one.
 */
export function findRedisServer(): string {
  const fromEnv = process.env.REDIS_SERVER_BIN;
  if (fromEnv) {
    if (executable(fromEnv)) return fromEnv;
    throw new Error(`REDIS_SERVER_BIN=${fromEnv} is not an executable file. ${INSTALL_HINT}`);
  }
  const found = onPath("server");
  if (found) return found;
  throw new Error(INSTALL_HINT);
}

/**
 * Finds another tool of the server's kind (`cli`, `benchmark`): the one beside the server binary
 * (valkey-cli beside valkey-server), else the first of either name on PATH; undefined if none.
 */
export function findRedisTool(tool: "cli" | "benchmark"): string | undefined {
  let server: string | undefined;
  try {
    server = findRedisServer();
  } catch {}
  if (server) {
    const family = basename(server).startsWith("valkey") ? "valkey" : "redis";
    const beside = join(dirname(server), `${family}-${tool}`);
    if (executable(beside)) return beside;
  }
  return onPath(tool);
}

/** Asks the kernel for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once `PING` on host:port answers `+PONG`, or rejects after `deadlineMs`. */
export async function waitForPong(host: string, port: number, deadlineMs = 10_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    if (await pingOnce(host, port)) return;
    if (Date.now() > until) throw new Error(`redis-server on ${host}:${port} did not answer PING`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function pingOnce(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let data = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      data += chunk.toString();
      if (data.includes("\r\n")) done(data.startsWith("+PONG"));
    });
  });
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Starts a private `redis-server` on a free loopback port, without persistence. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const bin = findRedisServer();
  const host = "127.0.0.1";
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), "ers-redis-"));
  const args = [
    "--port",
    String(port),
    "--bind",
    host,
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--enable-debug-command",
    "local",
    "--loglevel",
    "warning",
    ...(options.args ?? []),
  ];
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(bin, args, { stdio: "ignore" });
    child.on("error", () => {});
    try {
      await waitForPong(host, port);
    } catch (err) {
      child.kill("SIGKILL");
      throw err;
    }
  };
  await launch();
  const signal = (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  return {
    host,
    port,
    url: `redis://${host}:${port}`,
    get pid() {
      return child.pid ?? -1;
    },
    freeze: () => signal("SIGSTOP"),
    thaw: () => signal("SIGCONT"),
    async crash() {
      signal("SIGKILL");
      await waitForExit(child);
    },
    restart: launch,
    async stop() {
      signal("SIGCONT");
      signal("SIGTERM");
      const timer = setTimeout(() => signal("SIGKILL"), 3000);
      await waitForExit(child);
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
