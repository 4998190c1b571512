import { createRequire } from "node:module";
import type { RequestHandler, Router } from "express";
import { clientIp } from "../client-ip.js";
import type { StoreOptions } from "../store/options.js";
import { RedisSessions } from "../store/store.js";
import type { Data } from "../types.js";
import { validNoResave } from "../validate.js";
import { mountAdmin } from "./admin.js";
import { apiKeyList, type Middleware, requireApiKey } from "./auth.js";
import { handle, notFound, sendError, sendJson, toErrorReply } from "./errors.js";
import { mountHealth } from "./health.js";
import { mountObservability } from "./observe.js";
import { checkOptions, storeOptionsOf } from "./options.js";
import { absoluteOf, page, param, query } from "./params.js";

/** The parts of the `express` module (4 or 5) that the router is built with. */
export interface ExpressLike {
  Router(options?: { caseSensitive?: boolean; strict?: boolean }): Router;
  json(options?: { limit?: number | string; strict?: boolean }): RequestHandler;
}

/** Options of {@link restSessions}: the store's options, plus the server's own. */
export interface RestSessionsOptions extends StoreOptions {
  /** A store to serve; `close()` leaves it open. Without it, one is made from the store options. */
  store?: RedisSessions<Data> | undefined;
  /**
   * API key(s) every route requires, in an `x-api-key` header or `Authorization: Bearer`.
   * Several keys allow rotation. Without a key the routes are open (rest-sessions' behaviour).
   */
  apiKey?: string | readonly string[] | undefined;
  /**
   * Largest JSON body in bytes; larger ones get a 413.
   * @default 65536
   */
  bodyLimit?: number | undefined;
  /**
   * Serve the admin dashboard at `/admin`. Needs `apiKey`: the dashboard is never open.
   * @default false
   */
  admin?: boolean | undefined;
  /**
   * Answer paths that no route serves with a JSON 404. Set false to let them fall through to
   * the next handlers of your app.
   * @default true
   */
  notFound?: boolean | undefined;
  /**
   * Require the API key for `/ping` and `/health` too. By default they are open, so that load
   * balancers can probe them; they reveal only whether Redis answers.
   * @default false
   */
  protectHealth?: boolean | undefined;
  /**
   * Serve `GET /metrics` in Prometheus' text format, behind the API key (docs/observability.md).
   * @default true
   */
  metrics?: boolean | undefined;
  /** The `express` module to build the router with. @default the one `import("express")` finds */
  express?: ExpressLike | undefined;
}

/** The router, with the store it serves and a way to close that store. */
export type RestSessionsRouter = Router & {
  /** The store the routes use. */
  readonly store: RedisSessions<Data>;
  /** Quits the store if the router created it; a `store` you passed stays open. */
  close(): Promise<void>;
};

function loadExpress(): ExpressLike {
  try {
    // express is an optional peer: loaded only when a REST router is built, so that apps using
    // only the store or the middleware don't need it.
    return createRequire(import.meta.url)("express") as ExpressLike;
  } catch (err) {
    throw new Error(
      "express-redis-sessions: restSessions() needs the package express (4 or 5): npm install express",
      { cause: err },
    );
  }
}

/**
 * An Express router with the routes of rest-sessions, so that PHP, Python, Ruby, Java or .NET
 * servers share sessions with Node ones. Replies are rest-sessions' (an unknown token is a 200
 * with `{}`, `/ping` answers `PONG`); errors are JSON `{name, message, code}` with a real status:
 * 400 bad input, 401 no valid API key, 404 unknown route, 413 body too large, 503 Redis down.
 *
 * @example
 * app.use("/sessions", restSessions({ redis: "redis://127.0.0.1:6379", apiKey: process.env.KEY }));
 * @throws {TypeError} when an option is invalid.
 */
export function restSessions(options: RestSessionsOptions = {}): RestSessionsRouter {
  const storeOptions = storeOptionsOf(options);
  const keys = apiKeyList(options.apiKey);
  const bodyLimit = checkOptions(options, keys);
  const express = options.express ?? loadExpress();
  const owned = options.store === undefined;
  const store = options.store ?? new RedisSessions<Data>(storeOptions);
  const router = express.Router();
  const json = express.json({ limit: bodyLimit, strict: true });
  const guard: Middleware[] = keys.length > 0 ? [requireApiKey(keys)] : [];
  const healthGuard = options.protectHealth ? guard : [];

  mountHealth(router, store, healthGuard);

  if (options.admin) mountAdmin(router, { store, guard });
  const admin = options.admin === true;
  const unobserve = mountObservability(router, {
    store,
    guard,
    admin,
    metrics: options.metrics !== false,
  });

  const create = handle(async (req, res) => {
    const q = query(req);
    const body: unknown = req.body;
    // As rest-sessions: a JSON body with at least one key becomes d; an empty one is no d.
    const d =
      typeof body === "object" && body !== null && Object.keys(body).length > 0 ? body : undefined;
    const reply = await store.create({
      app: param(req, "app"),
      id: param(req, "id"),
      ip: q.get("ip") ?? clientIp(req),
      ttl: q.get("ttl") || undefined,
      d: d as Data | undefined,
      no_resave: validNoResave(q.get("no_resave")),
      // The user's browser, as the calling server saw it (never this request's own agent).
      ua: q.get("ua") ?? undefined,
      absolute: absoluteOf(q.get("absolute")),
    });
    sendJson(res, 200, reply);
  });
  // PUT is rest-sessions' verb; its early versions (and their tests) used POST.
  router.put("/:app/create/:id", ...guard, json, create);
  router.post("/:app/create/:id", ...guard, json, create);

  router.get(
    "/:app/get/:token",
    ...guard,
    handle(async (req, res) => {
      const session = await store.get({ app: param(req, "app"), token: param(req, "token") });
      sendJson(res, 200, session ?? {});
    }),
  );

  router.post(
    "/:app/set/:token",
    ...guard,
    json,
    handle(async (req, res) => {
      const session = await store.set({
        app: param(req, "app"),
        token: param(req, "token"),
        d: req.body as Data,
      });
      sendJson(res, 200, session ?? {});
    }),
  );

  router.post(
    "/:app/rotate/:token",
    ...guard,
    handle(async (req, res) => {
      const reply = await store.rotate({ app: param(req, "app"), token: param(req, "token") });
      sendJson(res, 200, reply ?? {});
    }),
  );

  router.delete(
    "/:app/kill/:token",
    ...guard,
    handle(async (req, res) => {
      sendJson(res, 200, await store.kill({ app: param(req, "app"), token: param(req, "token") }));
    }),
  );

  // Kill by handle: what a device list (or the dashboard) holds instead of a token. The id must
  // own the session, so a handle of another user's session kills nothing.
  router.delete(
    "/:app/handle/:id/:handle",
    ...guard,
    handle(async (req, res) => {
      const [app, id, sessionHandle] = [param(req, "app"), param(req, "id"), param(req, "handle")];
      sendJson(res, 200, await store.kill({ app, id, handle: sessionHandle }));
    }),
  );

  router.get(
    "/:app/activity",
    ...guard,
    handle(async (req, res) => {
      const dt = query(req).get("dt") ?? undefined;
      sendJson(res, 200, await store.activity({ app: param(req, "app"), deltaTime: dt }));
    }),
  );

  router.get(
    "/:app/count",
    ...guard,
    handle(async (req, res) => {
      const dt = query(req).get("dt") ?? undefined;
      sendJson(res, 200, await store.countSessions({ app: param(req, "app"), deltaTime: dt }));
    }),
  );

  // With ?limit= (and ?cursor= from the previous page), one page: { sessions, cursor }.
  router.get(
    "/:app/soapp",
    ...guard,
    handle(async (req, res) => {
      const q = query(req);
      const app = param(req, "app");
      sendJson(
        res,
        200,
        await store.soapp({ app, deltaTime: q.get("dt") ?? undefined, ...page(q) }),
      );
    }),
  );

  router.get(
    "/:app/soid/:id",
    ...guard,
    handle(async (req, res) => {
      const [app, id] = [param(req, "app"), param(req, "id")];
      sendJson(res, 200, await store.soid({ app, id, ...page(query(req)) }));
    }),
  );

  router.delete(
    "/:app/killsoid/:id",
    ...guard,
    handle(async (req, res) => {
      sendJson(res, 200, await store.killsoid({ app: param(req, "app"), id: param(req, "id") }));
    }),
  );

  router.delete(
    "/:app/killall",
    ...guard,
    handle(async (req, res) => {
      sendJson(res, 200, await store.killall({ app: param(req, "app") }));
    }),
  );

  if (options.notFound !== false) router.use((_req, res) => sendError(res, notFound()));

  router.use(((err, _req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    sendError(res, toErrorReply(err));
  }) as import("express").ErrorRequestHandler);

  return Object.assign(router, {
    store,
    close: () => {
      unobserve();
      return owned ? store.quit() : Promise.resolve();
    },
  });
}
