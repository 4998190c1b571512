import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The Redis URL the examples use: REDIS_URL, else the usual local server. */
export const DEFAULT_REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

function answersPing(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname || "127.0.0.1", port: Number(port) || 6379 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    // Any reply proves a Redis is there (even -NOAUTH: ioredis will report that clearly).
    socket.on("data", () => done(true));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

/**
 * Returns a Redis URL that answers: `url` if a server is there; otherwise a private
 * `redis-server` (or `valkey-server`) started on a free port (stopped when this process exits).
 * When neither binary exists, it explains how to get one and exits.
 */
export async function ensureRedis(url = DEFAULT_REDIS_URL): Promise<string> {
  if (await answersPing(url)) return url;
  // Valkey, the fork of Redis, installs the same server as valkey-server.
  const server = ["redis-server", "valkey-server"].find(
    (name) => !spawnSync(name, ["--version"], { encoding: "utf8" }).error,
  );
  if (!server) {
    console.error(
      `Nothing answers at ${url} and no redis-server (or valkey-server) is installed.\n` +
        "Install Redis (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis),\n" +
        "or set REDIS_URL=redis://host:port to a running server, then run this again.",
    );
    process.exit(1);
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "ers-demo-"));
  const child = spawn(
    server,
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
    ],
    { stdio: "ignore" },
  );
  const stop = () => child.kill("SIGTERM");
  process.once("exit", stop);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      stop();
      process.exit(0);
    });
  }
  const privateUrl = `redis://127.0.0.1:${port}`;
  const until = Date.now() + 10_000;
  while (!(await answersPing(privateUrl))) {
    if (Date.now() > until) throw new Error(`the private ${server} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log(
    `Nothing answered at ${url}, so a private ${server} (pid ${child.pid}) runs at ${privateUrl}; ` +
      "it stops with this process and keeps nothing.",
  );
  return privateUrl;
}
