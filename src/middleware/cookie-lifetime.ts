import { MAX_TOUCH_INTERVAL } from "../store/cache.js";
import type { Seconds } from "../types.js";

/*
 * How long the session cookie lives, and when a response must refresh it ("rolling").
 *
 * Goal: the browser never drops the cookie while Redis keeps the session, without a Set-Cookie
 * on every response. Redis keeps an idle session until `ttl` seconds after its last activity
 * (every `get` and `set` moves that activity to "now"), but the browser tells us nothing about
 * when it got its cookie. So time is cut into windows of W = max(1, floor(ttl / 10)) seconds,
 * and a read refreshes the cookie when the session's previous activity lies in an earlier
 * window than now. Then every window in which the session was active holds a refresh at or
 * before that activity, and a cookie issued at the start of a window with Max-Age = ttl + W
 * outlives every activity of that window by `ttl`: the cookie never expires first, and an active
 * user gets one Set-Cookie per window (12 minutes with the default ttl of two hours).
 *
 * The previous activity is `now - idle`, from the session that Redis returns. Allowances:
 * - 2 s for Redis' whole-second clock and for clocks of different app servers (which decide
 *   about the same session) being up to 1 s apart: the estimate is moved 2 s back, and the
 *   Max-Age gets 2 s more;
 * - with the store's cache (`cachetime`), a read can be served from memory with a stale `idle`,
 *   and the cache refreshes activity in Redis later, in batches: the estimate is moved back by
 *   `cachetime` plus that delay, and the Max-Age grows by the delay.
 * A cookie may thus outlive its session by up to W + a few seconds; the next request with it
 * then finds no session and clears it.
 *
 * Sessions with `no_resave` expire at a fixed time: their cookie gets exactly the seconds left
 * (+1 for the whole-second clock) and is never refreshed. A session with an absolute end
 * (`expires`) never gets a cookie that outlives that end by more than the clock allowance.
 *
 * With the store's `touchAfter`, a read moves activity only when the session has been idle that
 * long; Redis then keeps the session until `ttl` after the last read that moved it, earlier than
 * after the last read, and the argument above holds unchanged for the reads that move it. A read
 * that moved nothing needs no refresh: the cookie that covers the unchanged activity still
 * covers it (`readMovedActivity`). With the cache, whose hits move activity later, every read is
 * treated as one that may have moved it.
 */

/** Allowance for Redis' whole-second clock plus 1 s of clock difference between app servers. */
const CLOCK_ALLOWANCE = 2;
/** Longest delay of the cache's batched activity refresh (its interval is at most 5 s). */
const CACHE_TOUCH_INTERVAL = MAX_TOUCH_INTERVAL;

/** What the rule needs to know about the store. */
export interface LifetimeContext {
  /** The store's `cachetime` (0 without cache). */
  cachetime: Seconds;
  /** The store's command timeout in milliseconds (a cache refresh may land that late). */
  timeoutMs: number;
  /** The store's `touchAfter` (0: every read moves activity). */
  touchAfter?: Seconds;
  /** Unix seconds now, on the store's clock (for sessions with an absolute end). */
  now?: () => Seconds;
}

/** The part of a session the rule reads. */
export interface SessionTimes {
  ttl: Seconds;
  idle: Seconds;
  no_resave?: true;
  /** The absolute end, unix seconds. */
  expires?: number;
}

/** The refresh window of a session with idle timeout `ttl`. */
export function refreshWindow(ttl: Seconds): Seconds {
  return Math.max(1, Math.floor(ttl / 10));
}

function cacheDelay(ctx: LifetimeContext): Seconds {
  return ctx.cachetime > 0 ? CACHE_TOUCH_INTERVAL + Math.ceil(ctx.timeoutMs / 1000) : 0;
}

/**
 * Max-Age in seconds for a cookie issued now. For `no_resave` sessions `ttl` is what is left
 * (as the store reports it); pass `elapsed` seconds since the session was read.
 */
export function cookieMaxAge(session: SessionTimes, ctx: LifetimeContext, elapsed = 0): Seconds {
  const idle = session.no_resave
    ? session.ttl - elapsed + 1
    : session.ttl + refreshWindow(session.ttl) + CLOCK_ALLOWANCE + cacheDelay(ctx);
  const now = ctx.now?.();
  if (session.expires === undefined || now === undefined) return wholeSeconds(idle);
  return wholeSeconds(Math.min(idle, session.expires - now + CLOCK_ALLOWANCE));
}

/**
 * A Max-Age the cookie library and browsers accept: a whole number of seconds >= 0, rounded up
 * so the cookie never ends before the session. The store decodes ttls that way already; this
 * keeps a request from failing on a value it did not foresee.
 */
function wholeSeconds(seconds: number): Seconds {
  return Number.isFinite(seconds) ? Math.max(0, Math.ceil(seconds)) : 0;
}

/** True when a response carrying this freshly read session must refresh its cookie. */
export function needsRefresh(session: SessionTimes, now: Seconds, ctx: LifetimeContext): boolean {
  if (session.no_resave) return false;
  const window = refreshWindow(session.ttl);
  const slack = CLOCK_ALLOWANCE + (ctx.cachetime > 0 ? ctx.cachetime + cacheDelay(ctx) : 0);
  const previous = now - session.idle - slack;
  return Math.floor(previous / window) < Math.floor(now / window);
}

/**
 * False when a read of this session cannot have moved its activity in Redis: the store's
 * `touchAfter` skips reads of sessions idle less than that (and there is no cache, whose hits
 * move activity later). Such a read needs no cookie refresh.
 */
export function readMovedActivity(session: SessionTimes, ctx: LifetimeContext): boolean {
  const after = ctx.touchAfter ?? 0;
  return after === 0 || ctx.cachetime > 0 || session.idle >= after;
}
