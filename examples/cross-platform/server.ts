import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import express, { type NextFunction, type Request, type Response } from "express";
import { RedisSessions, type RequestSession, redisSessions } from "../../src/index.js";
import { ensureRedis } from "../lib/ensure-redis.js";
import { createLegacyApp, openLegacyStore, type ShopData } from "./legacy.js";

/**
 * Two services, one Redis, one set of sessions: this Express app on express-redis-sessions, and
 * a legacy service on redis-sessions 4.0.0 (legacy.ts). A user who logs in here can be served
 * there with the same token, and the other way round; each sees the other's changes at once.
 */

/** The app name both services use (redis-sessions keys are `rs:{app}:…`). */
export const APP = "shop";

/** Options of {@link createApp}. */
export interface CrossPlatformOptions {
  /** The new store; the caller owns (and quits) it. Its namespace must match the legacy one. */
  store: RedisSessions<ShopData>;
}

function rs(req: Request): RequestSession<ShopData> {
  return req.rs as unknown as RequestSession<ShopData>;
}

/** Builds the new (Express) service: `POST /login`, `GET /me`, `POST /cart`, `POST /logout`. */
export function createApp(options: CrossPlatformOptions): express.Express {
  const app = express();
  app.use(express.json({ limit: "4kb" }));
  // Cookies for browsers, bearer tokens for the calls that the legacy service hands over.
  app.use(redisSessions<ShopData>({ app: APP, store: options.store }));

  app.post("/login", async (req, res) => {
    await rs(req).upsert(String(req.body?.user ?? ""), { cart: 0, points: 0 });
    res.status(201).json({ token: rs(req).token });
  });

  app.get("/me", async (req, res) => {
    const session = await rs(req).get();
    if (!session) res.status(401).json({ error: "no session" });
    else res.json({ user: session.id, d: session.d });
  });

  app.post("/cart", async (req, res) => {
    const session = await rs(req).get();
    if (!session) {
      res.status(401).json({ error: "no session" });
      return;
    }
    const updated = await rs(req).set({ cart: (session.d?.cart ?? 0) + 1 });
    res.json({ user: updated?.id, d: updated?.d });
  });

  app.post("/logout", async (req, res) => {
    res.json(await rs(req).kill());
  });

  app.use(
    (err: { status?: number; code?: string }, _req: Request, res: Response, _n: NextFunction) => {
      res.status(err.status ?? 500).json({ error: err.code ?? "internal" });
    },
  );
  return app;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

// Started directly: the new service on $PORT (default 3002), the legacy one on the next port.
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const url = await ensureRedis();
  const store = new RedisSessions<ShopData>({ redis: url });
  const legacy = openLegacyStore(url);
  const port = Number(process.env.PORT ?? 3002);
  const modern = createServer(createApp({ store }));
  const old = createServer(createLegacyApp(legacy, APP));
  const [a, b] = await Promise.all([listen(modern, port), listen(old, port === 0 ? 0 : port + 1)]);
  console.log(`cross-platform: new service http://127.0.0.1:${a}/ , legacy http://127.0.0.1:${b}/`);
  console.log(
    `try: curl -s -XPOST -H 'content-type: application/json' -d '{"user":"ann"}' http://127.0.0.1:${a}/login`,
  );
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      for (const server of [modern, old]) {
        server.close();
        server.closeIdleConnections();
      }
      void Promise.all([store.quit(), legacy.quit()]);
    });
  }
}
