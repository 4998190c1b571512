import { createHash, timingSafeEqual } from "node:crypto";
import { pathToFileURL } from "node:url";
import express, { type NextFunction, type Request, type Response } from "express";
import {
  isRedisSessionsError,
  RedisSessions,
  type RequestSession,
  redisSessions,
  requireFresh,
  verifyCsrf,
} from "../../src/index.js";
import { ensureRedis } from "../lib/ensure-redis.js";
import { serveExample } from "../lib/serve-example.js";
import { confirmPage, devicesPage, loginPage, profilePage, unavailablePage } from "./views.js";

/**
 * A website with a login form, a profile page and a "your devices" page, on Express 5.
 * Sessions live in Redis; the browser holds only a cookie with the token. The library gives
 * the forms their CSRF token (`req.rs.csrfToken()`, checked by `verifyCsrf()`), lists the
 * devices by handle (`req.rs.devices()`, `revoke`, `revokeOthers`), and asks for the password
 * again before "log out everywhere" (`requireFresh`, then `req.rs.reauthenticated()`).
 */

/** What this app keeps in a session's `d`. */
export interface WebData {
  name: string;
  visits: number;
}

/** Options of {@link createApp}. */
export interface WebLoginOptions {
  /** The session store; the caller owns (and quits) it. */
  store: RedisSessions<WebData>;
  /** Idle timeout in seconds. @default 7200 */
  ttl?: number;
  /** Absolute timeout in seconds: a login lasts at most this long, however active. @default 43200 */
  absolute?: number;
  /** How recent the password must be for "log out everywhere", in seconds. @default 300 */
  freshFor?: number;
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

function checkPassword(username: string, password: string): string | null {
  const user = Object.hasOwn(DEMO_USERS, username) ? DEMO_USERS[username] : undefined;
  // Compare even for unknown users (hashing first makes the lengths equal), so that timing does
  // not reveal which names exist.
  const ok = timingSafeEqual(sha256(password), sha256(user?.password ?? "\0unknown"));
  return ok && user ? user.name : null;
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
  app.use(
    redisSessions<WebData>({
      app: APP,
      store: options.store,
      ttl: options.ttl,
      absolute: options.absolute ?? 43_200,
    }),
  );
  // Every form of a logged-in page carries the session's token as _csrf.
  const csrf = verifyCsrf();
  const fresh = requireFresh(options.freshFor ?? 300);

  /** The session, or a redirect to the login page. */
  async function sessionOr(req: Request, res: Response) {
    const session = await rs(req).get();
    if (!session?.d) res.redirect(303, "/login");
    return session?.d ? { ...session, d: session.d } : null;
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
    // A new session with a new token (any session in the cookie before is killed); the
    // middleware records the browser (user agent), the ip and the time of this login.
    await rs(req).upsert(username, { name, visits: 0 });
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
        created: session.created ?? null,
        expires: session.expires ?? null,
        idleTimeout: session.ttl,
        csrf: await rs(req).csrfToken(),
      }),
    );
  });

  app.get("/devices", async (req, res) => {
    const session = await sessionOr(req, res);
    if (!session) return;
    const notes: Record<string, string> = {
      fresh: "Password confirmed.",
      revoked: "That device is logged out.",
      others: "Every other device is logged out.",
    };
    const note = notes[String(req.query.note ?? "")] ?? "";
    const devices = await rs(req).devices();
    const csrf = await rs(req).csrfToken();
    res.type("html").send(devicesPage(session.d.name, devices, csrf, note, rs(req).clock()));
  });

  app.post("/logout", csrf, async (req, res) => {
    await rs(req).kill();
    res.redirect(303, "/login?bye=1");
  });

  // Ending sessions is sensitive: with a stolen cookie, revoking the others would lock the real
  // user out. Each needs a password typed in the last `freshFor` seconds (see the error handler).
  app.post("/devices/revoke", csrf, fresh, async (req, res) => {
    // Only this user's sessions can be revoked: a handle of someone else's kills nothing.
    const revoked = await rs(req).revoke(String(req.body?.handle ?? ""));
    res.redirect(
      303,
      (await rs(req).get()) ? `/devices${revoked ? "?note=revoked" : ""}` : "/login?bye=1",
    );
  });

  app.post("/devices/revoke-others", csrf, fresh, async (req, res) => {
    await rs(req).revokeOthers();
    res.redirect(303, "/devices?note=others");
  });

  app.post("/logout-everywhere", csrf, fresh, async (req, res) => {
    await rs(req).killsoid();
    res.redirect(303, "/login?bye=all");
  });

  app.post("/confirm", csrf, async (req, res) => {
    const session = await sessionOr(req, res);
    if (!session) return;
    if (!checkPassword(session.id, String(req.body?.password ?? ""))) {
      const token = await rs(req).csrfToken();
      res.status(401).type("html").send(confirmPage(token, "Wrong password."));
      return;
    }
    await rs(req).reauthenticated();
    res.redirect(303, "/devices?note=fresh");
  });

  app.use(async (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const code = isRedisSessionsError(err) ? err.code : "";
    if (code === "ERS_REAUTHENTICATE") {
      // The login is too old for this action: ask for the password, then come back.
      const token = await rs(req)
        .csrfToken()
        .catch(() => "");
      res.status(401).type("html").send(confirmPage(token));
      return;
    }
    // Express 5 hands rejected promises of async routes to here: Redis trouble is a 503 page.
    const status = isRedisSessionsError(err) ? err.status : 500;
    if (status === 503)
      res.status(503).set("Retry-After", "5").type("html").send(unavailablePage());
    else if (code === "ERS_CSRF")
      res.status(403).type("text").send("Forbidden: stale or missing form token");
    else if (code === "ERS_NO_SESSION") res.redirect(303, "/login");
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
  // At most 10 sessions per user: an 11th login ends the least recently used one.
  const store = new RedisSessions<WebData>({ redis: await ensureRedis(), maxSessionsPerUser: 10 });
  serveExample("web-login", createApp({ store }), store, 3000, (url) => `open ${url}`);
}
