import type { IncomingMessage, ServerResponse } from "node:http";
import { errorOf } from "../errors.js";
import { integerIn } from "../option-checks.js";
import { DEFAULT_CSRF_BODY_LIMIT, needsCsrf, sameToken, sentToken } from "./csrf.js";
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

/**
 * Like {@link requireSession}, and passes a 401 `ERS_REAUTHENTICATE` error to `next` when the
 * session's last authentication (`auth`: login, or `req.rs.reauthenticated()`) is more than
 * `seconds` ago, or unknown (a session made by another client). Put it before sensitive routes
 * ("sudo mode"); the app answers the error with a password prompt.
 *
 * @throws {TypeError} when `seconds` is not an integer from 1 to 315360000.
 */
export function requireFresh(seconds: number): Handler {
  const maxAge = integerIn(seconds, "requireFresh(seconds)", 1, 315_360_000);
  return function requireFresh(req, _res, next) {
    let rs: RequestSession<unknown>;
    try {
      rs = sessionOf(req);
    } catch (err) {
      next(err);
      return;
    }
    rs.get().then((session) => {
      if (!session) next(errorOf("ERS_NO_SESSION", "No session: log in"));
      else if (session.auth === undefined || rs.clock() - session.auth > maxAge) {
        next(errorOf("ERS_REAUTHENTICATE", `Log in again: the last login is over ${maxAge} s old`));
      } else next();
    }, next);
  };
}

/** Options of {@link verifyCsrf}. */
export interface VerifyCsrfOptions {
  /**
   * Largest urlencoded body, in bytes, that the guard reads itself when no body parser ran
   * before it (a larger one fails the check).
   * @default 65536
   */
  bodyLimit?: number | undefined;
}

/**
 * Checks the session's CSRF token (`req.rs.csrfToken()`) on POST, PUT, PATCH, DELETE (every
 * method but GET, HEAD, OPTIONS and TRACE): the request must send it in the `x-csrf-token`
 * header or the form field `_csrf` (of a body parsed by express.urlencoded or express.json, or
 * of a urlencoded body the guard reads itself). The comparison takes constant time. A missing
 * or wrong token, or no session at all, passes a 403 `ERS_CSRF` error to `next`.
 */
export function verifyCsrf(options: VerifyCsrfOptions = {}): Handler {
  const limit =
    options.bodyLimit === undefined
      ? DEFAULT_CSRF_BODY_LIMIT
      : integerIn(options.bodyLimit, "bodyLimit", 1, 16_777_216);
  return function verifyCsrf(req, _res, next) {
    if (!needsCsrf(req.method)) {
      next();
      return;
    }
    let rs: RequestSession<unknown>;
    try {
      rs = sessionOf(req);
    } catch (err) {
      next(err);
      return;
    }
    const check = async () => {
      const sent = await sentToken(req, limit);
      if (sent === "") return false;
      // Without a session there is no token to match: refused, and nothing is written.
      if (!(await rs.get())) return false;
      return sameToken(sent, await rs.csrfToken());
    };
    check().then((ok) => {
      if (ok) next();
      else next(errorOf("ERS_CSRF", "Forbidden: missing or wrong CSRF token"));
    }, next);
  };
}
