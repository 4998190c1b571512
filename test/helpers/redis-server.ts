import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

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
  "No redis-server binary found. Install it (Debian/Ubuntu: `sudo apt-get install -y redis-server`; " +
  "macOS: `brew install redis`), put it on PATH or set REDIS_SERVER_BIN, " +
  "or point the tests at a running server with REDIS_URL=redis://host:port.";

/** Finds the `redis-server` binary, or throws an error that says how to install it. */
export function findRedisServer(): string {
  const fromEnv = process.env.REDIS_SERVER_BIN;
  const candidates = fromEnv
    ? [fromEnv]
    : [
        ...(process.env.PATH ?? "").split(delimiter).map((dir) => join(dir, "redis-server")),
        "/usr/bin/redis-server",
        "/usr/local/bin/redis-server",
        "/usr/sbin/redis-server",
      ];
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {}
  }
  throw new Error(INSTALL_HINT);
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
