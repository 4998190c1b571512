import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  cookieMaxAge,
  type LifetimeContext,
  needsRefresh,
  readMovedActivity,
  refreshWindow,
  type SessionTimes,
} from "../../src/middleware/cookie-lifetime.js";

/*
 * The rolling-cookie rule, checked against a model of Redis: for any pattern of requests (and,
 * with the store's cache, of cache hits and the cache's delayed activity refreshes), the browser
 * must never drop the cookie while Redis still keeps the session.
 */

interface Step {
  /** Seconds since the previous request (fractional). */
  gap: number;
  /** This app server's clock offset in seconds (servers are at most 1 s apart). */
  skew: number;
  /** With a cache: whether this read is served from memory. */
  hit: boolean;
  /** With a cache: how late the cache's activity refresh for this hit reaches Redis. */
  touchDelay: number;
}

interface Outcome {
  /** False if the cookie ever expired while Redis still held the session. */
  safe: boolean;
  refreshes: number;
  requests: number;
}

/**
 * Redis' view: whole seconds, alive while floor(now) - la <= ttl. With the store's
 * `touchAfter`, a read (or the cache's delayed refresh) moves `la` only when the session has
 * been idle that long, and the middleware rolls the cookie only after reads that may have
 * moved it (`readMovedActivity`), as request-session.ts does.
 */
function simulate(ttl: number, steps: Step[], ctx: LifetimeContext): Outcome {
  let t = 1_000_000.25;
  let la = Math.floor(t);
  let cookieExpires = t + cookieMaxAge({ ttl, idle: 0 }, ctx);
  let cache: { idle: number; filledAt: number } | null = null;
  let pendingTouch: number | null = null;
  let refreshes = 0;
  let requests = 0;
  const redisUntil = () => la + ttl + 1; // first instant at which Redis considers it expired
  const after = ctx.touchAfter ?? 0;
  const touch = (at: number) => {
    const idle = Math.floor(at) - la;
    if (idle <= ttl && idle >= after) la = Math.max(la, Math.floor(at));
  };
  for (const step of steps) {
    const next = t + step.gap;
    // A delayed cache refresh lands in Redis before this request if it is due by then.
    if (pendingTouch !== null && pendingTouch <= next) {
      touch(pendingTouch);
      pendingTouch = null;
    }
    if (redisUntil() > cookieExpires + 1e-9) return { safe: false, refreshes, requests };
    t = next;
    if (t >= cookieExpires) break; // the browser no longer sends the cookie (and Redis is gone)
    if (Math.floor(t) - la > ttl) break; // Redis has dropped the session: nothing more to check
    requests++;
    let idle: number;
    const cached = ctx.cachetime > 0 && step.hit && cache && t - cache.filledAt < ctx.cachetime;
    if (cached && cache) {
      idle = cache.idle; // stale: what Redis said when the entry was filled
      pendingTouch = Math.max(pendingTouch ?? 0, t + step.touchDelay);
    } else {
      idle = Math.floor(t) - la;
      touch(t);
      cache = { idle, filledAt: t };
    }
    const rolls = readMovedActivity({ ttl, idle }, ctx);
    if (rolls && needsRefresh({ ttl, idle }, t + step.skew, ctx)) {
      refreshes++;
      cookieExpires = t + cookieMaxAge({ ttl, idle }, ctx);
    }
    if (redisUntil() > cookieExpires + 1e-9) return { safe: false, refreshes, requests };
  }
  if (pendingTouch !== null) touch(pendingTouch);
  return { safe: redisUntil() <= cookieExpires + 1e-9, refreshes, requests };
}

const step = (maxGap: number, maxTouchDelay: number) =>
  fc.record({
    gap: fc.double({ min: 0, max: maxGap, noNaN: true }),
    // Extremes are where a missing allowance shows, so they are drawn often.
    skew: fc.oneof(fc.constantFrom(-0.5, 0.5), fc.double({ min: -0.5, max: 0.5, noNaN: true })),
    hit: fc.boolean(),
    touchDelay: fc.double({ min: 0, max: maxTouchDelay, noNaN: true }),
  });

describe("rolling cookie rule", () => {
  it("cuts time into windows of a tenth of the ttl, at least 1 s", () => {
    expect(refreshWindow(7200)).toBe(720);
    expect(refreshWindow(10)).toBe(1);
    expect(refreshWindow(15)).toBe(1);
    expect(refreshWindow(100)).toBe(10);
  });

  it("gives no_resave sessions exactly the seconds left, and never refreshes them", () => {
    const ctx = { cachetime: 0, timeoutMs: 1000 };
    expect(cookieMaxAge({ ttl: 300, idle: 0, no_resave: true }, ctx)).toBe(301);
    expect(cookieMaxAge({ ttl: 300, idle: 0, no_resave: true }, ctx, 10.5)).toBe(291);
    expect(needsRefresh({ ttl: 300, idle: 299, no_resave: true }, 1e9, ctx)).toBe(false);
  });

  it("never lets the cookie expire before the session (random gaps, clock skew)", () => {
    const ctx = { cachetime: 0, timeoutMs: 1000 };
    fc.assert(
      fc.property(
        fc.constantFrom(10, 20, 100, 7200),
        fc.array(fc.tuple(step(1, 0), fc.double({ min: 0, max: 1, noNaN: true })), {
          maxLength: 300,
        }),
        (ttl, pairs) => {
          // Gaps below the ttl (mostly far below), so that sessions live through long histories.
          const steps = pairs.map(([s, f]) => ({ ...s, gap: f ** 4 * ttl }));
          expect(simulate(ttl, steps, ctx).safe).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("never lets the cookie expire before the session with the store's cache", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(10, 30, 100, 7200),
        fc.constantFrom(1, 5, 30),
        fc.array(fc.tuple(step(1, 6), fc.double({ min: 0, max: 1, noNaN: true })), {
          maxLength: 300,
        }),
        (ttl, cachetime, pairs) => {
          const ctx = { cachetime, timeoutMs: 1000 };
          // Gaps below the ttl (mostly far below), so that sessions live through long histories.
          const steps = pairs.map(([s, f]) => ({ ...s, gap: f ** 4 * ttl }));
          expect(simulate(ttl, steps, ctx).safe).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("never lets the cookie expire before the session with touchAfter, cache or not", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(10, 30, 100, 7200),
        fc.constantFrom(0, 1, 5, 30),
        fc.constantFrom(1, 2, 9, 60, 1000),
        fc.array(fc.tuple(step(1, 6), fc.double({ min: 0, max: 1, noNaN: true })), {
          maxLength: 300,
        }),
        (ttl, cachetime, touchAfter, pairs) => {
          const ctx = { cachetime, timeoutMs: 1000, touchAfter };
          const steps = pairs.map(([s, f]) => ({ ...s, gap: f ** 4 * ttl }));
          expect(simulate(ttl, steps, ctx).safe).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("with touchAfter, still one Set-Cookie per window: reads that moved nothing roll nothing", () => {
    const ctx = { cachetime: 0, timeoutMs: 1000, touchAfter: 60 };
    const steps = Array.from({ length: 3600 }, () => ({
      gap: 4,
      skew: 0,
      hit: false,
      touchDelay: 0,
    }));
    const out = simulate(7200, steps, ctx);
    expect(out.safe).toBe(true);
    expect(out.requests).toBe(3600);
    // 20 windows of 720 s; a read just past a window's start moves nothing for up to 60 s.
    expect(out.refreshes).toBeGreaterThanOrEqual(20);
    expect(out.refreshes).toBeLessThanOrEqual(40);
    expect(readMovedActivity({ ttl: 7200, idle: 59 }, ctx)).toBe(false);
    expect(readMovedActivity({ ttl: 7200, idle: 60 }, ctx)).toBe(true);
    expect(readMovedActivity({ ttl: 7200, idle: 0 }, { ...ctx, cachetime: 5 })).toBe(true);
  });

  it("covers a server whose clock is ahead just after a window starts", () => {
    // Found by hand: without the 2-second allowance this history loses the cookie 6 s early.
    const ctx = { cachetime: 0, timeoutMs: 1000 };
    const steps = [
      { gap: 9.75, skew: 0, hit: false, touchDelay: 0 }, // t = 1000010.0: login was at …000.25
      { gap: 9.2, skew: 0, hit: false, touchDelay: 0 },
      { gap: 6.7, skew: 0.5, hit: false, touchDelay: 0 },
    ];
    expect(simulate(100, steps, ctx).safe).toBe(true);
  });

  it("sends one Set-Cookie per window to a user who clicks every few seconds", () => {
    const ctx = { cachetime: 0, timeoutMs: 1000 };
    const steps = Array.from({ length: 3600 }, () => ({
      gap: 4,
      skew: 0,
      hit: false,
      touchDelay: 0,
    }));
    const out = simulate(7200, steps, ctx);
    expect(out.safe).toBe(true);
    expect(out.requests).toBe(3600);
    // 4 hours of clicks = 20 windows of 720 s, plus the ones that land in a window's first 2 s.
    expect(out.refreshes).toBeGreaterThanOrEqual(20);
    expect(out.refreshes).toBeLessThanOrEqual(40);
  });

  it("would fail with the naive rule 'refresh when idle >= window'", () => {
    // The control experiment: frequent requests never reach the idle threshold, so the cookie
    // issued at login expires while the session lives on.
    const ttl = 100;
    let la = 0;
    let cookieExpires = ttl;
    let broken = false;
    for (let t = 5; t < 300; t += 5) {
      if (t - la > ttl) break;
      const idle = t - la;
      if (idle >= refreshWindow(ttl)) cookieExpires = t + ttl;
      la = t;
      if (la + ttl > cookieExpires) broken = true;
    }
    expect(broken).toBe(true);
  });
});

describe("Max-Age is always a whole number of seconds >= 0", () => {
  const ctx: LifetimeContext = { cachetime: 0, timeoutMs: 1000 };
  it.each<[SessionTimes, number]>([
    [{ ttl: 3600.5, idle: 0 }, 3600.5 + 360 + 2],
    [{ ttl: -5, idle: 0 }, 0],
    [{ ttl: Number.NaN, idle: 0 }, 0],
    [{ ttl: Number.POSITIVE_INFINITY, idle: 0 }, 0],
    [{ ttl: 10.25, idle: 3, no_resave: true }, 10.25 - 2.5 + 1],
  ])("for %j, from %d", (session, raw) => {
    const maxAge = cookieMaxAge(session, ctx, session.no_resave ? 2.5 : 0);
    expect(Number.isSafeInteger(maxAge)).toBe(true);
    expect(maxAge).toBe(Math.max(0, Math.ceil(raw)));
  });
});

describe("a session with an absolute end", () => {
  const now = 1_700_000_000;
  const ctx: LifetimeContext = { cachetime: 0, timeoutMs: 1000, now: () => now };
  it("gets a cookie that ends with it (plus the clock allowance) when that comes first", () => {
    expect(cookieMaxAge({ ttl: 7200, idle: 0, expires: now + 60 }, ctx)).toBe(62);
    expect(cookieMaxAge({ ttl: 7200, idle: 0, expires: now - 10 }, ctx)).toBe(0);
  });
  it("keeps the idle rule's Max-Age when the absolute end is later", () => {
    expect(cookieMaxAge({ ttl: 600, idle: 0, expires: now + 86_400 }, ctx)).toBe(600 + 60 + 2);
  });
  it("caps no_resave sessions too", () => {
    expect(cookieMaxAge({ ttl: 500, idle: 0, no_resave: true, expires: now + 100 }, ctx)).toBe(102);
  });
});
