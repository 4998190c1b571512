import { createHash, timingSafeEqual } from "node:crypto";
import { pathToFileURL } from "node:url";
import express, { type NextFunction, type Request, type Response } from "express";
import passport from "passport";
import { Strategy as LocalStrategy } from "passport-local";
import {
  isRedisSessionsError,
  RedisSessions,
  type RequestSession,
  redisSessions,
  verifyCsrf,
} from "../../src/index.js";
import { ensureRedis } from "../lib/ensure-redis.js";
import { serveExample } from "../lib/serve-example.js";
import { esc } from "../web-login/views.js";

/**
 * Passport's strategies without express-session. Passport 0.6+ calls `req.session.regenerate()`
 * in `req.login()`, so it cannot log in through another session layer; with
 * `passport.authenticate("local", { session: false })` it only checks the credentials and puts
 * the user on `req.user`, and the route logs in with `req.rs.upsert(user.id)`. Any strategy
 * (OAuth, OpenID Connect, SAML) works the same way.
 */

/** What this app keeps in a session's `d`. */
export interface PassportData {
  name: string;
}

/** A user as the strategy finds it. */
interface User {
  id: string;
  name: string;
}

/** Options of {@link createApp}. */
export interface PassportOptions {
  /** The session store; the caller owns (and quits) it. */
  store: RedisSessions<PassportData>;
}

const APP = "passport";
const USERS: Record<string, { id: string; name: string; password: string }> = {
  alice: { id: "u-1001", name: "Alice", password: "wonderland" },
  bob: { id: "u-1002", name: "Bob", password: "builder" },
};

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** passport-local's verify function: the user for good credentials, else false. */
function verify(
  username: string,
  password: string,
  done: (err: unknown, user?: User | false) => void,
): void {
  const user = Object.hasOwn(USERS, username) ? USERS[username] : undefined;
  const ok = timingSafeEqual(sha256(password), sha256(user?.password ?? "\0unknown"));
  done(null, ok && user ? { id: user.id, name: user.name } : false);
}

function rs(req: Request): RequestSession<PassportData> {
  return req.rs as unknown as RequestSession<PassportData>;
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)} · passport</title></head>
<body><h1>${esc(title)}</h1>
${body}
</body></html>`;
}

function loginForm(message: string): string {
  return page(
    "Log in with Passport",
    `${message ? `<p id="message">${esc(message)}</p>` : ""}
<form method="post" action="/login">
  <p><label>User <input name="username" autocomplete="username" required></label></p>
  <p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
  <p><button type="submit" id="login">Log in</button></p>
</form>
<p>Demo users: <code>alice</code> / <code>wonderland</code>, <code>bob</code> / <code>builder</code>.</p>`,
  );
}

/** Builds the app. */
export function createApp(options: PassportOptions): express.Express {
  // A Passport instance of its own, so that two apps in one process do not share strategies.
  const auth = new passport.Passport();
  auth.use(new LocalStrategy(verify));

  const app = express();
  app.disable("x-powered-by");
  app.use((_req, res, next) => {
    res.set({
      "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
      "X-Content-Type-Options": "nosniff",
    });
    next();
  });
  app.use(express.urlencoded({ extended: false, limit: "8kb" }));
  app.use(redisSessions<PassportData>({ app: APP, store: options.store }));
  app.use(auth.initialize());

  app.get("/", async (req, res) => {
    const session = await rs(req).get();
    if (!session) {
      res.type("html").send(loginForm(req.query.error ? "Wrong user or password." : ""));
      return;
    }
    const csrf = await rs(req).csrfToken();
    res.type("html").send(
      page(
        `Hello, ${session.d?.name ?? session.id}`,
        `<p>User id <code id="user-id">${esc(session.id)}</code></p>
<form method="post" action="/logout"><input type="hidden" name="_csrf" value="${esc(csrf)}">
<button id="logout">Log out</button></form>`,
      ),
    );
  });

  app.post(
    "/login",
    // Passport checks the password and sets req.user; no express-session is involved.
    auth.authenticate("local", { session: false, failureRedirect: "/?error=1" }),
    async (req, res) => {
      const user = req.user as User;
      // The login: a new session (and token) for the user, its cookie, the user agent and ip.
      await rs(req).upsert(user.id, { name: user.name });
      res.redirect(303, "/");
    },
  );

  app.post("/logout", verifyCsrf(), async (req, res) => {
    await rs(req).kill();
    res.redirect(303, "/");
  });

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = isRedisSessionsError(err) ? err.status : 500;
    res
      .status(status)
      .type("text")
      .send(status < 500 ? String((err as Error).message) : "Error");
  });
  return app;
}

// Started directly: serve on 127.0.0.1:$PORT against $REDIS_URL.
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const store = new RedisSessions<PassportData>({ redis: await ensureRedis() });
  serveExample("passport", createApp({ store }), store, 3000, (url) => `open ${url}`);
}
