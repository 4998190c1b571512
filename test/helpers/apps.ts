import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type ServerResponse,
} from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import connect from "connect";
import { parseSetCookie, type SetCookie } from "cookie";
import express from "express";
import {
  type MiddlewareOptions,
  type NextFunction,
  RedisSessions,
  type RedisSessionsMiddleware,
  type RequestWithSession,
  redisSessions,
  type StoreOptions,
} from "../../src/index.js";

// Express 4 is installed under the alias "express4" and has no types of its own; its API is the
// part of Express 5's that these apps use.
const express4 = createRequire(import.meta.url)("express4") as typeof express;

/** The four hosts the same scenarios run under. */
export const HOSTS = ["express5", "express4", "connect", "http"] as const;
export type HostName = (typeof HOSTS)[number];

/** Counts store calls by method, so tests can prove that a request made none (or one). */
export class CountingStore extends RedisSessions {
  readonly calls: string[] = [];

  constructor(options: StoreOptions) {
    super(options);
    for (const name of ["get", "set", "create", "kill", "rotate", "soid", "killsoid"] as const) {
      const original = this[name].bind(this) as (...args: unknown[]) => unknown;
      Object.defineProperty(this, name, {
        value: (...args: unknown[]) => {
          this.calls.push(name);
          return original(...args);
        },
      });
    }
  }

  /** Forgets the calls so far. */
  reset(): void {
    this.calls.length = 0;
  }
}

/** A fake clock in unix seconds for stores and the middleware; tests move it. */
export class FakeClock {
  /** Starts 100 s into a refresh window of the default ttl (7200 s → windows of 720 s). */
  now = 720 * 2_400_000 + 100;
  readonly read = (): number => this.now;
  advance(seconds: number): void {
    this.now += seconds;
  }
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const parsed = (req as { body?: unknown }).body;
  if (parsed && typeof parsed === "object") return parsed as Record<string, unknown>;
  let text = "";
  for await (const chunk of req) text += chunk;
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

function send(res: ServerResponse, status: number, value: unknown): void {
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json");
  res.end(JSON.stringify(value));
}

type Route = (req: RequestWithSession, res: ServerResponse, url: URL) => Promise<unknown>;

/** The scenario routes: one per `req.rs` method, plus a few for the edge cases. */
const routes: Record<string, Route> = {
  "GET /get": async (req) => {
    const session = await req.rs.get();
    return { session, token: req.rs.token, id: req.rs.id, source: req.rs.source };
  },
  "GET /get-twice": async (req) => {
    const [a, b] = await Promise.all([req.rs.get(), req.rs.get()]);
    const c = await req.rs.get();
    return { same: a === b && b === c, session: c };
  },
  "GET /noop": async (req) => ({ token: req.rs.token, source: req.rs.source, app: req.rs.app }),
  "POST /upsert": async (req, _res, url) => {
    const b = await body(req);
    const options: { ttl?: number; no_resave?: boolean } = {};
    if (b.ttl !== undefined) options.ttl = b.ttl as number;
    if (b.no_resave !== undefined) options.no_resave = b.no_resave as boolean;
    if (url.searchParams.has("preset")) {
      // What other middleware (or res.cookie) may have set already: it must survive.
      _res.setHeader("Set-Cookie", ["other=1; Path=/", "more=2; Path=/"]);
      _res.setHeader("Cache-Control", "public, max-age=600");
    }
    const session = await req.rs.upsert(
      b.id as string,
      b.d as Record<string, string> | undefined,
      options,
    );
    if (url.searchParams.has("rotate")) await req.rs.rotate();
    return { session, token: req.rs.token, id: req.rs.id };
  },
  "POST /set": async (req) => {
    const b = await body(req);
    const session = await req.rs.set(b.d as Record<string, string>);
    return { session, token: req.rs.token };
  },
  "POST /kill": async (req) => ({ ...(await req.rs.kill()), token: req.rs.token }),
  "POST /rotate": async (req) => ({ token: await req.rs.rotate() }),
  "GET /soid": async (req) => await req.rs.soid(),
  "POST /killsoid": async (req) => ({ ...(await req.rs.killsoid()), token: req.rs.token }),
  "GET /activity": async (req, _res, url) =>
    await req.rs.activity(Number(url.searchParams.get("dt") ?? 600)),
  "GET /soapp": async (req, _res, url) =>
    await req.rs.soapp(Number(url.searchParams.get("dt") ?? 600)),
  "POST /upsert-late": async (req, res) => {
    // Headers already out: upsert must refuse before it creates anything.
    res.writeHead(200, { "Content-Type": "application/json" });
    res.write("");
    try {
      await req.rs.upsert("late");
      res.end(JSON.stringify({ ok: true }));
    } catch (err) {
      res.end(JSON.stringify({ error: (err as Error).message }));
    }
    return undefined;
  },
};

/** The scenario as a Connect handler: errors go to `next(err)`, as in a real app. */
export function scenario(req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
  const url = new URL(req.url ?? "/", "http://localhost");
  const route = routes[`${req.method} ${url.pathname}`];
  if (!route) {
    next();
    return;
  }
  route(req as RequestWithSession, res, url).then((value) => {
    if (value !== undefined && !res.writableEnded) send(res, 200, value);
  }, next);
}

/** The error handler every host uses: the status and code of the error, as JSON. */
export function errorHandler(
  err: unknown,
  _req: IncomingMessage,
  res: ServerResponse,
  _next?: NextFunction,
): void {
  const e = err as { status?: number; code?: string; name?: string; message?: string };
  if (res.headersSent) {
    res.end();
    return;
  }
  send(res, e.status ?? 500, { code: e.code ?? null, name: e.name, message: e.message });
}

function notFound(_req: IncomingMessage, res: ServerResponse): void {
  send(res, 404, { code: "not_found" });
}

/** Extras for {@link buildApp}. */
export interface BuildOptions {
  /** Express's "trust proxy" (Express hosts only). */
  trustProxy?: boolean;
  /** Handlers mounted between the session middleware and the scenario routes. */
  before?: ((req: IncomingMessage, res: ServerResponse, next: NextFunction) => void)[];
}

/** The scenario app under one host, with the session middleware mounted first. */
export function buildApp(
  host: HostName,
  mw: RedisSessionsMiddleware,
  extra: BuildOptions = {},
): RequestListener {
  const handlers = [mw, ...(extra.before ?? []), scenario];
  if (host === "express5" || host === "express4") {
    const app = (host === "express5" ? express : express4)();
    app.set("trust proxy", extra.trustProxy ?? false);
    for (const h of handlers) app.use(h);
    app.use(errorHandler);
    return app;
  }
  if (host === "connect") {
    const app = connect();
    for (const h of handlers) app.use(h);
    app.use(errorHandler);
    app.use(notFound);
    return app;
  }
  // Bare node:http: the handlers chained by hand, as an app without a framework would.
  return (req, res) => {
    let i = 0;
    const step: NextFunction = (err) => {
      if (err) return errorHandler(err, req, res);
      const handler = handlers[i++];
      if (!handler) return notFound(req, res);
      try {
        handler(req, res, step);
      } catch (e) {
        errorHandler(e, req, res);
      }
    };
    step();
  };
}

/** Creates the middleware over `store` and the scenario app under `host`. */
export function scenarioApp(
  host: HostName,
  options: MiddlewareOptions,
  extra: BuildOptions = {},
): { app: RequestListener; mw: RedisSessionsMiddleware } {
  const mw = redisSessions(options);
  return { app: buildApp(host, mw, extra), mw };
}

/** The response's Set-Cookie lines for cookie `name`, parsed. */
export function cookiesNamed(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): SetCookie[] {
  const raw = headers["set-cookie"];
  const lines = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return lines.map((l) => parseSetCookie(l)).filter((c) => c.name === name);
}

/** The raw Set-Cookie lines of a response. */
export function setCookieLines(headers: Record<string, string | string[] | undefined>): string[] {
  const raw = headers["set-cookie"];
  return raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
}

/** Starts a listener on 127.0.0.1 and returns its base URL and a close function. */
export async function listen(
  handler: RequestListener,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
