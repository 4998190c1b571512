import type { RequestSession } from "./request-session.js";

/*
 * Types `req.rs` on Express's Request wherever this package is imported. Data types come from
 * the augmentable `SessionData` (see types.ts), as with @types/express-session.
 */
declare global {
  namespace Express {
    interface Request {
      /** The session of this request (set by the `redisSessions()` middleware). */
      rs: RequestSession;
    }
  }
}
