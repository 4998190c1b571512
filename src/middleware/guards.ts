import type { IncomingMessage, ServerResponse } from "node:http";
import { errorOf } from "../errors.js";
import { checkKeys, integerIn } from "../option-checks.js";
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

/**
 * A handler named `name` (stack traces and Express's debug output show it) that finds `req.rs`
 * and passes to `next` what `decide` resolves to: an error, or nothing to go on to the route.
 */
function sessionGuard(
  name: string,
  decide: (rs: RequestSession<unknown>, req: IncomingMessage) => Promise<Error | undefined>,
): Handler {
  const handlers: Record<string, Handler> = {
    [name](req, _res, next) {
      let rs: RequestSession<unknown>;
      try {
        rs = sessionOf(req);
      } catch (err) {
        next(err);
        return;
      }
      decide(rs, req).then((err) => (err ? next(err) : next()), next);
    },
  };
  return handlers[name] as Handler;
}

const noSession = () => errorOf("ERS_NO_SESSION", "No session: log in");

/**
 * A handler that reads the session before the route runs, so that a Redis failure reaches
 * `next(err)` (a 503) instead of an async route. Useful with Express 4 and Connect, which do
 * not catch rejected promises; the route then reads `await req.rs.get()` from memory.
 */
export function loadSession(): Handler {
  return sessionGuard("loadSession", async (rs) => {
    await rs.get();
    return undefined;
  });
}

/** Like {@link loadSession}, and passes a 401 `RedisSessionsError` to `next` when there is no session. */
export function requireSession(): Handler {
  return sessionGuard("requireSession", async (rs) => ((await rs.get()) ? undefined : noSession()));
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
  return sessionGuard("requireFresh", async (rs) => {
    const session = await rs.get();
    if (!session) return noSession();
    if (session.auth === undefined || rs.clock() - session.auth > maxAge) {
      return errorOf("ERS_REAUTHENTICATE", `Log in again: the last login is over ${maxAge} s old`);
    }
    return undefined;
  });
}

const CSRF_OPTION_NAMES: ReadonlySet<string> = new Set(["bodyLimit"]);

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
  checkKeys(options, CSRF_OPTION_NAMES, "verifyCsrf.");
  const limit =
    options.bodyLimit === undefined
      ? DEFAULT_CSRF_BODY_LIMIT
      : integerIn(options.bodyLimit, "bodyLimit", 1, 16_777_216);
  const check = sessionGuard("verifyCsrf", async (rs, req) => {
    const sent = await sentToken(req, limit);
    // Without a session there is no token to match: refused, and nothing is written.
    const ok = sent !== "" && (await rs.get()) !== null && sameToken(sent, await rs.csrfToken());
    return ok ? undefined : errorOf("ERS_CSRF", "Forbidden: missing or wrong CSRF token");
  });
  return function verifyCsrf(req, res, next) {
    if (needsCsrf(req.method)) check(req, res, next);
    else next();
  };
}
