import type { IncomingMessage, ServerResponse } from "node:http";
import { checkKeys } from "../option-checks.js";
import { STORE_OPTION_HINTS, STORE_OPTION_NAMES, type StoreOptions } from "../store/options.js";
import { isRedisSessions, RedisSessions } from "../store/store.js";
import type { DefaultData } from "../types.js";
import { contextOf } from "./context.js";
import { type MiddlewareOptions, resolveMiddlewareOptions } from "./options.js";
import { readToken } from "./read-token.js";
import { isRequestSession, RequestSession } from "./request-session.js";
import { SessionCookie } from "./session-cookie.js";

/** Connect's `next`: call it once, with an error to skip to the error handlers. */
export type NextFunction = (err?: unknown) => void;

/** A request after the middleware ran (for `node:http` and Connect; Express is augmented). */
export type RequestWithSession<D = DefaultData> = IncomingMessage & { rs: RequestSession<D> };

/** The middleware: a Connect/Express handler that also exposes its store. */
export interface RedisSessionsMiddleware<D = DefaultData> {
  (req: IncomingMessage, res: ServerResponse, next: NextFunction): void;
  /** The store behind `req.rs`: the one you passed, or the one created from your options. */
  readonly store: RedisSessions<D>;
}

/** Which middleware instance made each `req.rs`. */
const owners = new WeakMap<object, object>();

function resolveStore<D>(store: unknown): RedisSessions<D> {
  if (store === undefined) return new RedisSessions<D>();
  if (typeof store !== "object" || store === null || Array.isArray(store)) {
    throw new TypeError(
      `express-redis-sessions: option "store" must be a RedisSessions or store options (received ${String(store)})`,
    );
  }
  if (isRedisSessions(store)) return store as unknown as RedisSessions<D>;
  checkKeys(store, STORE_OPTION_NAMES, "store.", STORE_OPTION_HINTS);
  return new RedisSessions<D>(store as StoreOptions);
}

/**
 * Creates the session middleware. It gives every request `req.rs` (a {@link RequestSession})
 * and touches Redis only when a route calls one of its methods, so static files and anonymous
 * pages cost nothing. The token is read from the cookie, then the header, then
 * `Authorization: Bearer`, never from the query string, and must be well-formed before it is
 * ever sent to Redis.
 *
 * @throws {TypeError} when an option is invalid; the message names it.
 * @example
 * const app = express();
 * app.use(redisSessions({ app: "webapp", store: { redis: process.env.REDIS_URL } }));
 * app.post("/login", async (req, res) => {
 *   await req.rs.upsert(user.id, { name: user.name });
 *   res.redirect("/");
 * });
 */
export function redisSessions<D = DefaultData>(
  options: MiddlewareOptions<D>,
): RedisSessionsMiddleware<D> {
  const resolved = resolveMiddlewareOptions(options);
  // Options first: a bad option must not leave a Redis connection behind.
  const store = resolveStore<D>(options.store);
  const ctx = contextOf(store, resolved);
  const { cookie, header, bearer } = resolved;

  function redisSessionsMiddleware(
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
  ): void {
    const target = req as Partial<RequestWithSession<D>>;
    // The same instance mounted twice keeps its req.rs. Another instance (another app or cookie,
    // say on a router) replaces it, so that one app's token never counts as a login for another.
    if (isRequestSession(target.rs) && owners.get(target.rs) === ctx) {
      next();
      return;
    }
    try {
      const app = resolved.app(req);
      const cookieName = app && cookie ? cookie.name(app) : null;
      const found = app
        ? readToken(req, { cookie: cookieName ?? false, header, bearer })
        : { token: null, source: null, cookiePresent: false };
      const sessionCookie =
        cookie && cookieName
          ? new SessionCookie(cookie, cookieName, req, res, ctx.lifetime, found.cookiePresent)
          : null;
      const rs = new RequestSession<D>({
        req,
        res,
        context: ctx,
        app,
        found,
        cookie: sessionCookie,
      });
      owners.set(rs, ctx);
      target.rs = rs;
    } catch (err) {
      next(err);
      return;
    }
    next();
  }

  Object.defineProperty(redisSessionsMiddleware, "store", { value: store, enumerable: true });
  return redisSessionsMiddleware as RedisSessionsMiddleware<D>;
}
