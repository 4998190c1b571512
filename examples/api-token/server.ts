import { createHash, timingSafeEqual } from "node:crypto";
import { pathToFileURL } from "node:url";
import express, { type NextFunction, type Request, type Response } from "express";
import {
  isRedisSessionsError,
  RedisSessions,
  type RequestSession,
  redisSessions,
  requireSession,
} from "../../src/index.js";
import { ensureRedis } from "../lib/ensure-redis.js";
import { serveExample } from "../lib/serve-example.js";

/**
 * A JSON API for mobile apps and scripts: no cookies at all. `POST /api/login` answers a token;
 * clients send it back as `Authorization: Bearer <token>` (or in `X-Session-Token`). Header
 * tokens are immune to CSRF, so no CSRF token is needed.
 */

/** What this API keeps in a session's `d`. */
export interface ApiData {
  name: string;
  client: string;
  theme?: string;
  lang?: string;
}

/** Options of {@link createApp}. */
export interface ApiTokenOptions {
  /** The session store; the caller owns (and quits) it. */
  store: RedisSessions<ApiData>;
  /** Idle timeout of API sessions, in seconds. @default 86400 */
  ttl?: number;
}

const APP = "apitoken";
const USERS: Record<string, { name: string; password: string }> = {
  alice: { name: "Alice", password: "wonderland" },
  bob: { name: "Bob", password: "builder" },
};
/** Keys a client may change with PATCH /api/me. */
const WRITABLE = new Set(["theme", "lang"]);

function hash(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

function checkPassword(username: string, password: string): string | null {
  const user = Object.hasOwn(USERS, username) ? USERS[username] : undefined;
  const ok = timingSafeEqual(hash(password), hash(user?.password ?? "\0unknown"));
  return ok && user ? user.name : null;
}

/** `req.rs` with this API's data type (see web-login for why it is not augmented here). */
function rs(req: Request): RequestSession<ApiData> {
  return req.rs as unknown as RequestSession<ApiData>;
}

/** An error the error handler turns into JSON. */
function httpError(status: number, code: string, message: string): Error {
  return Object.assign(new Error(message), { status, code, expose: true });
}

/** Builds the API. */
export function createApp(options: ApiTokenOptions): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.use(express.json({ limit: "16kb" }));
  app.use(
    "/api",
    redisSessions<ApiData>({
      app: APP,
      store: options.store,
      ttl: options.ttl ?? 86400,
      cookie: false,
      header: "x-session-token",
      bearer: true,
    }),
  );

  app.post("/api/login", async (req, res) => {
    const username = String(req.body?.username ?? "");
    const name = checkPassword(username, String(req.body?.password ?? ""));
    if (!name) throw httpError(401, "bad_credentials", "Wrong user or password");
    const client = String(req.body?.client ?? req.get("user-agent") ?? "unknown").slice(0, 80);
    // A login never reuses a token sent with the request: another user's session is killed.
    const session = await rs(req).upsert(username, { name, client });
    res.status(201).json({ token: rs(req).token, user: session.id, expiresIn: session.ttl });
  });

  // Everything below needs a session: 401 without one, 503 when Redis is down.
  app.use("/api", requireSession());

  app.get("/api/me", async (req, res) => {
    const session = await rs(req).get();
    res.json({ user: session?.id, data: session?.d ?? {}, idleTimeout: session?.ttl });
  });

  app.patch("/api/me", async (req, res) => {
    const patch = (req.body ?? {}) as Record<string, unknown>;
    const keys = Object.keys(patch);
    const bad = keys.find((k) => !WRITABLE.has(k));
    if (keys.length === 0 || bad) {
      throw httpError(400, "bad_patch", `Only ${[...WRITABLE].join(", ")} may be changed`);
    }
    const session = await rs(req).set(patch as Partial<ApiData>);
    res.json({ user: session?.id, data: session?.d ?? {} });
  });

  app.post("/api/token/rotate", async (req, res) => {
    res.json({ token: await rs(req).rotate() });
  });

  app.get("/api/sessions", async (req, res) => {
    const { sessions } = await rs(req).soid();
    res.json(
      sessions.map((s) => ({
        // Other devices' tokens are credentials: never send them; a hash identifies each one.
        id: hash(s.token).toString("hex").slice(0, 16),
        current: s.token === rs(req).token,
        client: s.d?.client,
        ip: s.ip,
        idle: s.idle,
      })),
    );
  });

  app.delete("/api/sessions/current", async (req, res) => {
    await rs(req).kill();
    res.status(204).end();
  });

  app.delete("/api/sessions", async (req, res) => {
    res.json(await rs(req).killsoid());
  });

  app.use((_req, res) => {
    res.status(404).json({ error: "not_found", message: "No such endpoint" });
  });

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { status?: number; code?: string; message?: string; expose?: boolean };
    const status = e.status ?? 500;
    // Store failures carry status 503 and a code such as ERS_STORE_TIMEOUT.
    const code = isRedisSessionsError(err)
      ? err.code
      : (e.code ?? (status < 500 ? "bad_request" : "internal"));
    if (status === 503) res.set("Retry-After", "5");
    res.status(status).json({ error: code, message: e.expose ? e.message : "Unavailable" });
  });
  return app;
}

// Started directly: serve on 127.0.0.1:$PORT (default 3001) against $REDIS_URL.
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const store = new RedisSessions<ApiData>({ redis: await ensureRedis() });
  serveExample("api-token", createApp({ store }), store, 3001, (url) => `listening on ${url}api`);
}
