/**
 * One HTTP server variant of the bench, in a process of its own so that it does not share an
 * event loop with autocannon. Usage:
 * `node --import tsx bench/http-server.ts <variant> <redisUrl> [touchAfter seconds]`.
 * Prints `{"port":N}` once listening (with `touchAfter`: what the store took); exits
 * on SIGTERM or when its stdin closes (parent gone).
 *
 * Every variant answers `POST /login` (creates a session, answers `{headers}` to send, plus any
 * Set-Cookie) and `GET /` (reads the session, answers `{user}`), so they do the same work.
 * `GET /__cpu` answers the process' CPU time.
 */
import type { Server } from "node:http";
import { RedisStore } from "connect-redis";
import express, { type Express } from "express";
import session from "express-session";
import { createClient } from "redis";
import v4module from "redis-sessions";
import { redisSessions, type StoreOptions } from "../src/index.js";
import { CACHETIME, type Variant } from "./variants.js";

declare module "express-session" {
  interface SessionData {
    user: string;
    name: string;
  }
}

const APP = "bench";
const NAME = "bench user";

interface Built {
  app: Express;
  close: () => Promise<void>;
}

let users = 0;
const nextId = () => `u${users++}`;

async function build(
  variant: Variant,
  url: string,
  touchAfter: number,
  info: Record<string, unknown>,
): Promise<Built> {
  const app = express();
  // This process' CPU time in µs, for the bench's CPU-per-request figures; mounted before any
  // session middleware so that it costs the same in every variant.
  app.get("/__cpu", (_req, res) => {
    const { user, system } = process.cpuUsage();
    res.json({ us: user + system });
  });
  switch (variant) {
    case "express": {
      app.post("/login", (_req, res) => {
        res.json({ headers: {} });
      });
      app.get("/", (_req, res) => {
        res.json({ user: null });
      });
      return { app, close: async () => {} };
    }
    case "ours":
    case "ours-cached":
    case "ours-untraced":
    case "ours-touch":
    case "ours-cluster":
    case "ours-cluster-touch": {
      const cachetime = variant === "ours-cached" ? CACHETIME : 0;
      const openTelemetry = variant !== "ours-untraced";
      const layout = variant.startsWith("ours-cluster") ? "cluster" : "compat";
      const store: StoreOptions = { redis: url, cachetime, layout, openTelemetry };
      const middleware = redisSessions({
        app: APP,
        store: variant.endsWith("-touch") ? { ...store, touchAfter } : store,
      });
      info.touchAfter = middleware.store.options.touchAfter;
      app.use(middleware);
      app.post("/login", async (req, res) => {
        await req.rs.upsert(nextId(), { name: NAME });
        res.json({ headers: {} }); // the token travels in the rs.sid cookie
      });
      app.get("/", async (req, res) => {
        const s = await req.rs.get();
        res.json({ user: s?.id ?? null });
      });
      return { app, close: () => middleware.store.quit() };
    }
    case "express-session": {
      const client = createClient({ url });
      client.on("error", () => {});
      await client.connect();
      app.use(
        session({
          store: new RedisStore({ client, prefix: "bench:" }),
          secret: "bench secret",
          resave: false,
          saveUninitialized: false,
        }),
      );
      app.post("/login", (req, res) => {
        req.session.user = nextId();
        req.session.name = NAME;
        res.json({ headers: {} }); // the id travels in the connect.sid cookie
      });
      app.get("/", (req, res) => {
        res.json({ user: req.session.user ?? null });
      });
      return {
        app,
        close: async () => {
          await client.quit();
        },
      };
    }
    case "v4": {
      // What an app would write around redis-sessions 4.0.0, which ships no middleware.
      const parsed = new URL(url);
      const rs = new v4module.default({ host: parsed.hostname, port: Number(parsed.port) });
      app.post("/login", async (_req, res) => {
        const { token } = await rs.create({
          app: APP,
          id: nextId(),
          ip: "127.0.0.1",
          d: { name: NAME },
        });
        res.json({ headers: { "x-session-token": token } });
      });
      app.get("/", async (req, res) => {
        const token = req.headers["x-session-token"];
        const s = typeof token === "string" ? await rs.get({ app: APP, token }) : null;
        res.json({ user: s?.id ?? null });
      });
      return { app, close: () => rs.quit() };
    }
  }
}

async function main(): Promise<void> {
  const [variant, url, touchAfter] = process.argv.slice(2) as [Variant, string, string?];
  const info: Record<string, unknown> = {};
  const { app, close } = await build(variant, url, Number(touchAfter ?? 60), info);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.closeAllConnections();
    server.close();
    // Exit through process.exit so that --cpu-prof writes its profile.
    void close().finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.stdin.on("end", stop);
  process.stdin.resume();
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ ...info, port })}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
