import type { IncomingMessage, ServerResponse } from "node:http";
import { errorOf } from "../errors.js";
import type { NextFunction } from "./index.js";
import { isRequestSession, type RequestSession } from "./request-session.js";

/** A Connect/Express handler. */
export type Handler = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;

function sessionOf(req: IncomingMessage): RequestSession<unknown> {
  const rs = (req as { rs?: unknown }).rs;
  if (!isRequestSession(rs)) {
    throw new Error(
      "express-redis-sessions: req.rs is missing; mount redisSessions() before this handler",
    );
  }
  return rs;
}

function guard(name: string, required: boolean): Handler {
  const handlers: Record<string, Handler> = {
    // Named functions, so that stack traces and Express's debug output show them.
    [name](req, _res, next) {
      let rs: RequestSession<unknown>;
      try {
        rs = sessionOf(req);
      } catch (err) {
        next(err);
        return;
      }
      rs.get().then((session) => {
        if (session || !required) next();
        else {
          next(errorOf("ERS_NO_SESSION", "No session: log in"));
        }
      }, next);
    },
  };
  return handlers[name] as Handler;
}

/**
 * A handler that reads the session before the route runs, so that a Redis failure reaches
 * `next(err)` (a 503) instead of an async route. Useful with Express 4 and Connect, which do
 * not catch rejected promises; the route then reads `await req.rs.get()` from memory.
 */
export function loadSession(): Handler {
  return guard("loadSession", false);
}

/** Like {@link loadSession}, and passes a 401 `RedisSessionsError` to `next` when there is no session. */
export function requireSession(): Handler {
  return guard("requireSession", true);
}
