import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import express, { type NextFunction, type Request, type Response } from "express";
import {
  isRedisSessionsError,
  RedisSessions,
  type RequestSession,
  redisSessions,
} from "../../src/index.js";
import { ensureRedis } from "../lib/ensure-redis.js";
import { devicesPage, loginPage, profilePage, unavailablePage } from "./views.js";

/**
 * A website with a login form, a profile page and a "your devices" page, on Express 5.
 * Sessions live in Redis; the browser holds only a cookie with the token.
 */

/** What this app keeps in a session's `d`. */
export interface WebData {
  name: string;
  /** Anti-CSRF token for this session's forms. */
  csrf: string;
  loginAt: number;
  visits: number;
  /** The browser, shown on the devices page. */
  agent: string;
}

/** Options of {@link createApp}. */
export interface WebLoginOptions {
  /** The session store; the caller owns (and quits) it. */
  store: RedisSessions<WebData>;
  /** Idle timeout in seconds. @default 7200 */
  ttl?: number;
  /** Express's "trust proxy" setting: set it when the app runs behind a TLS proxy. */
  trustProxy?: boolean | number | string;
}

const APP = "weblogin";
const DEMO_USERS: Record<string, { name: string; password: string }> = {
  alice: { name: "Alice", password: "wonderland" },
  bob: { name: "Bob", password: "builder" },
};

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** Compares secrets in constant time (hashing first makes the lengths equal). */
function same(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

function checkPassword(username: string, password: string): string | null {
  const user = Object.hasOwn(DEMO_USERS, username) ? DEMO_USERS[username] : undefined;
  // Compare even for unknown users, so that timing does not reveal which names exist.
  const ok = same(password, user?.password ?? "\0unknown");
  return ok && user ? user.name : null;
}

/** A handle for a device: lets the page revoke it without ever showing its token. */
function handleOf(token: string): string {
  return sha256(token).toString("hex").slice(0, 16);
}

/**
 * `req.rs` with this app's data type. In your own app, declare the type once by augmenting
 * `SessionData` (see the README) and use `req.rs` directly; the examples share one TypeScript
 * program with the tests, so they pass the type explicitly instead.
 */
function rs(req: Request): RequestSession<WebData> {
  return req.rs as unknown as RequestSession<WebData>;
}

/** Builds the app. */
export function createApp(options: WebLoginOptions): express.Express {
  const app = express();
  app.set("trust proxy", options.trustProxy ?? false);
  app.disable("x-powered-by");
  app.use((_req, res, next) => {
    res.set({
      "Content-Security-Policy":
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "same-origin",
    });
    next();
  });
  app.use(express.urlencoded({ extended: false, limit: "8kb" }));
  app.use(redisSessions<WebData>({ app: APP, store: options.store, ttl: options.ttl }));

  /** The session, or a redirect to the login page. */
  async function sessionOr(req: Request, res: Response) {
    const session = await rs(req).get();
    if (!session?.d) res.redirect(303, "/login");
    return session?.d ? { ...session, d: session.d } : null;
  }

  /** The session when the form's CSRF token matches it; else answers 403 (or the login page). */
  async function formSession(req: Request, res: Response) {
    const session = await sessionOr(req, res);
    if (!session) return null;
    const sent = typeof req.body?.csrf === "string" ? req.body.csrf : "";
    if (same(sent, session.d.csrf)) return session;
    res.status(403).type("text").send("Forbidden: stale or missing form token");
    return null;
  }

  app.get("/", async (req, res) => {
    res.redirect(303, (await rs(req).get()) ? "/profile" : "/login");
  });

  app.get("/login", (req, res) => {
    const bye = req.query.bye === "all" ? "Logged out on all devices." : "";
    res.type("html").send(loginPage(req.query.bye === "1" ? "Logged out." : bye));
  });

  app.post("/login", async (req, res) => {
    const username = String(req.body?.username ?? "");
    const name = checkPassword(username, String(req.body?.password ?? ""));
    if (!name) {
      res.status(401).type("html").send(loginPage("Wrong user or password.", username));
      return;
    }
    // A new session with a new token (any session in the cookie before is killed).
    await rs(req).upsert(username, {
      name,
      csrf: randomBytes(24).toString("base64url"),
      loginAt: Date.now(),
      visits: 0,
      agent: String(req.get("user-agent") ?? "unknown").slice(0, 120),
    });
    res.redirect(303, "/profile");
  });

  app.get("/profile", async (req, res) => {
    const session = await sessionOr(req, res);
    if (!session) return;
    const visits = session.d.visits + 1;
    await rs(req).set({ visits });
    res.type("html").send(
      profilePage({
        id: session.id,
        name: session.d.name,
        visits,
        loginAt: session.d.loginAt,
        idleTimeout: session.ttl,
        csrf: session.d.csrf,
      }),
    );
  });

  app.get("/devices", async (req, res) => {
    const session = await sessionOr(req, res);
    if (!session) return;
    const { sessions } = await rs(req).soid();
    const devices = sessions
      .map((s) => ({
        handle: handleOf(s.token),
        current: s.token === rs(req).token,
        agent: s.d?.agent ?? "unknown",
        ip: s.ip,
        idle: s.idle,
      }))
      .sort((a, b) => Number(b.current) - Number(a.current) || a.idle - b.idle);
    res.type("html").send(devicesPage(session.d.name, devices, session.d.csrf));
  });

  app.post("/logout", async (req, res) => {
    if (!(await formSession(req, res))) return;
    await rs(req).kill();
    res.redirect(303, "/login?bye=1");
  });

  app.post("/logout-everywhere", async (req, res) => {
    if (!(await formSession(req, res))) return;
    await rs(req).killsoid();
    res.redirect(303, "/login?bye=all");
  });

  app.post("/devices/revoke", async (req, res) => {
    if (!(await formSession(req, res))) return;
    const handle = String(req.body?.handle ?? "");
    const { sessions } = await rs(req).soid();
    const target = sessions.find((s) => handleOf(s.token) === handle && s.token !== rs(req).token);
    if (target) await options.store.kill({ app: APP, token: target.token });
    res.redirect(303, "/devices");
  });

  // Express 5 hands rejected promises of async routes to here: Redis trouble becomes a 503 page.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = isRedisSessionsError(err) ? err.status : 500;
    if (status === 503)
      res.status(503).set("Retry-After", "5").type("html").send(unavailablePage());
    else
      res
        .status(status)
        .type("text")
        .send(status < 500 ? String((err as Error).message) : "Error");
  });
  return app;
}

// Started directly (`npm start`): serve on 127.0.0.1:$PORT against $REDIS_URL.
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const store = new RedisSessions<WebData>({ redis: await ensureRedis() });
  const port = Number(process.env.PORT ?? 3000);
  const server = createApp({ store }).listen(port, "127.0.0.1", (err?: Error) => {
    if (err) {
      console.error(`web-login: cannot listen on 127.0.0.1:${port}: ${err.message}`);
      process.exit(1);
    }
    const { port: actual } = server.address() as AddressInfo;
    console.log(`web-login: open http://127.0.0.1:${actual}/ (Ctrl+C stops)`);
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      server.close(() => void store.quit());
      server.closeIdleConnections();
    });
  }
}
