/**
 * Data compatibility with the real redis-sessions 4.0.0 on one Redis: every operation is run by
 * both stores from the same data (see test/compat/upstream/differential.ts) and must leave the same
 * bytes in Redis and give the same reply; caches of either stay coherent with writes of the
 * other. The few differences we chose to have are asserted exactly and then normalised, each
 * where it occurs, never silently.
 */
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { rawClient, redisUrl, uniqueNamespace } from "../helpers/context.js";
import { readUntil } from "../helpers/wait.js";
import { Differential, type StepOutcome } from "./upstream/differential.js";
import {
  fieldOf,
  type Snapshot,
  scoreOf,
  setField,
  setScore,
  snapshot,
} from "./upstream/snapshot.js";
import { closeV4, openV4, type Reply, type SessionsApi, type V4Sessions } from "./upstream/v4.js";

const app = "interop";
const app2 = "interop_2";

let raw: Redis;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(() => {
  raw = rawClient();
});

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((close) => close()));
});

afterAll(async () => {
  await raw.quit();
});

function differential(): Differential {
  const h = new Differential(raw, redisUrl());
  cleanups.push(() => h.close());
  return h;
}

/**
 * Intended difference: v4's `kill` first runs a full `get` (its `_nouupdate` flag is misspelt),
 * so it counts a read and re-scores the id in `_users` to now before deleting; ours only deletes.
 * Everything else that read touched is deleted with the session, so the one visible trace is the
 * `_users` score of an id that keeps other sessions. Asserted here, then set to ours'.
 */
function v4KillRescoresUser(id: string) {
  return (o: StepOutcome<unknown>) => {
    const key = `NS:${app}:_users`;
    expect(scoreOf(o.v4Snap, key, id)).toBe(String(o.now));
    const unchanged = scoreOf(o.before, key, id);
    expect(unchanged).toBeDefined();
    expect(Number(unchanged)).toBeLessThan(o.now);
    expect(scoreOf(o.oursSnap, key, id)).toBe(unchanged);
    setScore(o.v4Snap, key, id, unchanged!);
  };
}

/** v4 bug (reference §4.3): `set` on a no_resave session returns `w: 0`; Redis holds the count. */
function v4SetNoResaveReturnsW0(token: string) {
  return (o: StepOutcome<Reply | null>) => {
    expect(o.v4?.no_resave).toBe(true);
    expect(o.v4?.w).toBe(0);
    const stored = fieldOf(o.oursSnap, `NS:${app}:${token}`, "w");
    expect(o.ours?.w).toBe(Number(stored));
    o.v4 = { ...o.v4, w: o.ours?.w };
  };
}

describe("interop with redis-sessions 4.0.0, operation by operation", () => {
  it("gives the same replies and the same bytes in Redis whichever store created or acts", async () => {
    const h = differential();
    const token = (r: { token: string }) => r.token;
    // Sessions created by either store (d with a null, odd characters, a big integer).
    const s1 = token(
      await h.step("v4 creates s1", "v4", (rs) =>
        rs.create({
          app,
          id: "u1",
          ip: "10.0.0.1",
          ttl: 60,
          d: { a: 1, s: "x", t: true, n: null, q: 'q"\\ü€😀\n' },
        }),
      ),
    );
    const s2 = token(
      await h.step("ours creates s2", "ours", (rs) =>
        rs.create({ app, id: "u1", ip: "10.0.0.2", ttl: 60 }),
      ),
    );
    const s3 = token(
      await h.step("ours creates s3 (no_resave)", "ours", (rs) =>
        rs.create({
          app,
          id: "ü 2",
          ip: "::1",
          ttl: 100,
          d: { "k:ey ü": 2.5, big: 2 ** 53 + 2, f: -0.1 },
          no_resave: true,
        }),
      ),
    );
    const s4 = token(
      await h.step("v4 creates s4 in another app", "v4", (rs) =>
        rs.create({ app: app2, id: "u1", ip: "10.0.0.4", ttl: 30 }),
      ),
    );

    // Reads. The clock moves by 0 or >= 2 s: at idle 1 v4 leaves `la` alone (tested below).
    h.clock.advance(5);
    const g1 = await h.step("ours reads s1 (v4's)", "ours", (rs) => rs.get({ app, token: s1 }));
    expect(g1).toMatchObject({ id: "u1", r: 1, w: 1, idle: 5, d: { a: 1, s: "x", t: true } });
    await h.step("v4 reads s2 (ours)", "v4", (rs) => rs.get({ app, token: s2 }));
    const g3 = await h.step("ours reads s3 (no_resave)", "ours", (rs) =>
      rs.get({ app, token: s3 }),
    );
    expect(g3).toMatchObject({ ttl: 95, no_resave: true });
    await h.step("ours reads s4 (v4's)", "ours", (rs) => rs.get({ app: app2, token: s4 }));

    // Writes: merge, delete, first d, d emptied (HDEL), d added after no_resave.
    h.clock.advance(3);
    const w1 = await h.step("ours writes s1 (v4's)", "ours", (rs) =>
      rs.set({ app, token: s1, d: { s: null, z: "new", a: 2 } }),
    );
    expect(w1).toMatchObject({ r: 2, w: 2, d: { a: 2, t: true, q: 'q"\\ü€😀\n', z: "new" } });
    await h.step("v4 writes s2 (ours)", "v4", (rs) => rs.set({ app, token: s2, d: { k: 1 } }));
    await h.step(
      "v4 empties d of s3 (ours, no_resave)",
      "v4",
      (rs) => rs.set({ app, token: s3, d: { "k:ey ü": null, big: null, f: null } }),
      { fix: v4SetNoResaveReturnsW0(s3) },
    );
    await h.step(
      "ours sets d of s3 again",
      "ours",
      (rs) => rs.set({ app, token: s3, d: { m: false } }),
      { fix: v4SetNoResaveReturnsW0(s3) },
    );
    await h.step("v4 reads s1 at idle 0", "v4", (rs) => rs.get({ app, token: s1 }));

    // Lists.
    expect(
      await h.step("ours counts activity", "ours", (rs) => rs.activity({ app, deltaTime: 60 })),
    ).toEqual({ activity: 2 });
    const so = await h.step("v4 lists u1", "v4", (rs) => rs.soid({ app, id: "u1" }), {
      unordered: true,
    });
    expect(so.sessions).toHaveLength(2);
    await h.step("ours lists ü 2", "ours", (rs) => rs.soid({ app, id: "ü 2" }), {
      unordered: true,
    });
    h.clock.advance(2);
    await h.step("ours touches s2", "ours", (rs) => rs.get({ app, token: s2 }));
    const sa = await h.step("ours lists the app", "ours", (rs) => rs.soapp({ app, deltaTime: 60 }));
    // s2 was touched last; s1 and s3 tie on score (their order is the same in both stores).
    const listed = sa.sessions.map((s) => s.token);
    expect(listed[0]).toBe(s2);
    expect([...listed].sort()).toEqual([s1, s2, s3].sort());

    // Kills: by token (u1 keeps s2), then every session of an id (with a colon, which v4's
    // killall and wiper would truncate, so it goes first), then whole apps.
    h.clock.advance(4);
    expect(
      await h.step("ours kills s1 (v4's)", "ours", (rs) => rs.kill({ app, token: s1 }), {
        fix: v4KillRescoresUser("u1"),
      }),
    ).toEqual({ kill: 1 });
    expect(await h.step("v4 reads killed s1", "v4", (rs) => rs.get({ app, token: s1 }))).toBe(null);
    await h.step("ours writes killed s1", "ours", (rs) => rs.set({ app, token: s1, d: { x: 1 } }));
    await h.step("v4 kills killed s1", "v4", (rs) => rs.kill({ app, token: s1 }));
    const s5 = token(
      await h.step("v4 creates s5", "v4", (rs) => rs.create({ app, id: "org:3", ip: "10.0.0.5" })),
    );
    await h.step("ours creates s6", "ours", (rs) =>
      rs.create({ app, id: "org:3", ip: "10.0.0.6" }),
    );
    h.clock.advance(2);
    await h.step("ours reads s5 (v4's)", "ours", (rs) => rs.get({ app, token: s5 }));
    expect(
      await h.step("ours kills every session of org:3", "ours", (rs) =>
        rs.killsoid({ app, id: "org:3" }),
      ),
    ).toEqual({ kill: 2 });
    await h.step("v4 kills every session of org:3 again", "v4", (rs) =>
      rs.killsoid({ app, id: "org:3" }),
    );
    await h.step("v4 counts activity", "v4", (rs) => rs.activity({ app, deltaTime: 60 }));
    await h.step("v4 lists the app", "v4", (rs) => rs.soapp({ app, deltaTime: 60 }));
    expect(await h.step("v4 kills the app", "v4", (rs) => rs.killall({ app }))).toEqual({
      kill: 2,
    });
    const left = await snapshot(raw, h.ns.v4);
    expect(Object.keys(left).sort()).toEqual(
      [
        "NS:SESSIONS",
        `NS:${app2}:${s4}`,
        `NS:${app2}:_sessions`,
        `NS:${app2}:_users`,
        `NS:${app2}:us:u1`,
      ].sort(),
    );
    expect(await h.step("ours kills app 2", "ours", (rs) => rs.killall({ app: app2 }))).toEqual({
      kill: 1,
    });
    expect(await snapshot(raw, h.ns.ours)).toEqual({});
  });

  // KNOWN BUG in src/layouts/compat/scripts.ts (setScript; reported): v4 merges `d` as a JS object, so keys that
  // look like array indexes ("2", "10") are stored first, in numeric order, as JSON.stringify
  // orders them; ours appends new keys as text. The parsed `d` is the same, the bytes are not:
  // v4 stores {"2":true,"10":1,"b":1,"a":1}, ours {"10":1,"b":1,"2":true,"a":1}.
  // Remove `.fails` once the merge orders index-like keys as JavaScript does.
  it("merges index-like keys of d in JavaScript's key order", async () => {
    const h = differential();
    const { token } = await h.step("v4 creates", "v4", (rs) =>
      rs.create({ app, id: "u1", ip: "10.0.0.1", d: { b: 1, "10": 1 } }),
    );
    await h.step("ours writes index-like keys", "ours", (rs) =>
      rs.set({ app, token, d: { "2": true, a: 1 } }),
    );
  });

  it("differs from v4 at idle 1 only in `la`, which v4 leaves behind (intended)", async () => {
    const h = differential();
    const { token: plain } = await h.step("v4 creates", "v4", (rs) =>
      rs.create({ app, id: "u1", ip: "10.0.0.1", ttl: 60 }),
    );
    const { token: fixed } = await h.step("ours creates no_resave", "ours", (rs) =>
      rs.create({ app, id: "u2", ip: "10.0.0.2", ttl: 60, no_resave: true }),
    );
    h.clock.advance(1);
    // v4 refreshes `la` only when idle > 1, so a session read every second has an `la` that lags;
    // with no_resave it even loses a second of ttl per read (reference §4.4). Ours always moves
    // `la` to now, and with no_resave writes the remaining ttl with it, keeping la + ttl fixed.
    const laLagsInV4 = (token: string, noResave: boolean) => (o: StepOutcome<Reply | null>) => {
      const key = `NS:${app}:${token}`;
      const la = fieldOf(o.before, key, "la")!;
      const ttl = fieldOf(o.before, key, "ttl")!;
      expect(fieldOf(o.v4Snap, key, "la")).toBe(la);
      expect(fieldOf(o.oursSnap, key, "la")).toBe(String(o.now));
      // Both wrote the same ttl (the remaining one for no_resave) and the same scores.
      expect(fieldOf(o.v4Snap, key, "ttl")).toBe(fieldOf(o.oursSnap, key, "ttl"));
      if (noResave) {
        const end = (s: Snapshot) => Number(fieldOf(s, key, "la")) + Number(fieldOf(s, key, "ttl"));
        // Ours keeps the absolute end la + ttl; v4's session now ends a second early.
        expect(end(o.oursSnap)).toBe(Number(la) + Number(ttl));
        expect(end(o.v4Snap)).toBe(Number(la) + Number(ttl) - 1);
      }
      setField(o.v4Snap, key, "la", String(o.now));
    };
    for (const [token, noResave] of [
      [plain, false],
      [fixed, true],
    ] as const) {
      await h.step("ours reads at idle 1", "ours", (rs) => rs.get({ app, token }), {
        fix: laLagsInV4(token, noResave),
      });
    }
  });

  it("kills an expired, unwiped session as v4's kill and then its wiper would", async () => {
    const h = differential();
    const { token } = await h.step("v4 creates", "v4", (rs) =>
      rs.create({ app, id: "u1", ip: "10.0.0.1", ttl: 10 }),
    );
    await h.step("ours creates", "ours", (rs) =>
      rs.create({ app, id: "u1", ip: "10.0.0.1", ttl: 60 }),
    );
    h.clock.advance(11);
    const before = await h.align();
    // Both answer {kill: 0}: the session is expired.
    expect(await h.v4.kill({ app, token })).toEqual({ kill: 0 });
    expect(await h.ours.kill({ app, token })).toEqual({ kill: 0 });
    const { v4Snap, oursSnap } = await h.snapshots();
    // Intended difference: v4 leaves the dead session's keys for its wiper; ours removes them now.
    expect(v4Snap).toEqual(before);
    expect(oursSnap).not.toEqual(before);
    await h.v4._wipe();
    const wiped = await h.snapshots();
    expect(wiped.oursSnap).toEqual(wiped.v4Snap);
    expect(Object.keys(wiped.oursSnap).some((k) => k.includes(token))).toBe(false);
  });

  it("wipes expired sessions as v4's wiper does, but keeps one at idle == ttl", async () => {
    const h = differential();
    const ttls = [10, 12, 60];
    const tokens: string[] = [];
    for (const ttl of ttls) {
      const { token } = await h.step(`v4 creates ttl ${ttl}`, "v4", (rs) =>
        rs.create({ app, id: `u${ttl}`, ip: "10.0.0.1", ttl }),
      );
      tokens.push(token);
    }
    h.clock.advance(12);
    const before = await h.align();
    await h.v4._wipe();
    expect(await h.ours.wipe()).toBe(1);
    const { v4Snap, oursSnap } = await h.snapshots();
    const has = (snap: Snapshot, token: string) => Object.keys(snap).some((k) => k.endsWith(token));
    // Both remove the expired session (idle 12 > ttl 10) and keep the one with ttl 60.
    for (const snap of [v4Snap, oursSnap]) {
      expect(has(snap, tokens[0]!)).toBe(false);
      expect(has(snap, tokens[2]!)).toBe(true);
    }
    // Intended difference (reference §2, steps 114-115): at idle == ttl the session is alive
    // (get returns it) but its expiry score equals now, and v4's wiper (score <= now) removes it.
    // Ours removes only what get would refuse. Redo v4's removal on ours' copy to compare the rest.
    expect(has(v4Snap, tokens[1]!)).toBe(false);
    expect(has(oursSnap, tokens[1]!)).toBe(true);
    expect(await h.ours.get({ app, token: tokens[1]! })).toMatchObject({ idle: 12, ttl: 12 });
    await h.ours.kill({ app, token: tokens[1]! });
    const after = await h.snapshots();
    expect(after.oursSnap).toEqual(after.v4Snap);
    expect(Object.keys(before).length).toBeGreaterThan(Object.keys(after.oursSnap).length);
  });

  it("counts only live sessions in killsoid/killall, where v4 counts expired ones too", async () => {
    const h = differential();
    for (const [id, ttl] of [
      ["u1", 10],
      ["u1", 60],
      ["u2", 10],
    ] as const) {
      await h.step(`ours creates ${id}`, "ours", (rs) =>
        rs.create({ app, id, ip: "10.0.0.1", ttl }),
      );
    }
    h.clock.advance(11);
    // Intended difference: the data left is the same; the count is of sessions that were alive.
    const countsLiveOnly =
      (v4Count: number, oursCount: number) => (o: StepOutcome<{ kill: number }>) => {
        expect(o.v4).toEqual({ kill: v4Count });
        expect(o.ours).toEqual({ kill: oursCount });
        o.v4 = o.ours;
      };
    await h.step("ours kills u1", "ours", (rs) => rs.killsoid({ app, id: "u1" }), {
      fix: countsLiveOnly(2, 1),
    });
    await h.step("ours kills the app", "ours", (rs) => rs.killall({ app }), {
      fix: countsLiveOnly(1, 0),
    });
    expect(await snapshot(raw, h.ns.ours)).toEqual({});
  });
});

describe("interop: the deltaTime window of activity and soapp", () => {
  async function boundary(h: Differential, rs: SessionsApi, offset: number) {
    const { token } = await h.ours.create({ app, id: "u1", ip: "10.0.0.1" });
    h.clock.advance(60 + offset);
    const activity = await rs.activity({ app, deltaTime: 60 });
    const soapp = await rs.soapp({ app, deltaTime: 60 });
    await h.ours.kill({ app, token });
    h.clock.advance(-60 - offset);
    return { activity: activity.activity, soapp: soapp.sessions.length };
  }

  it("includes a session active exactly deltaTime ago, as v4 does, and not a second more", async () => {
    const h = differential();
    // Here both stores share one namespace: v4 reads the sessions ours writes.
    const v4 = openV4(redisUrl(), h.ns.ours, { clock: () => h.clock.now });
    cleanups.push(() => closeV4(v4));
    const ours = h.ours as unknown as SessionsApi;
    for (const [rs, name] of [
      [v4, "v4"],
      [ours, "ours"],
    ] as const) {
      expect(await boundary(h, rs, -1), `${name}: 1 s inside`).toEqual({ activity: 1, soapp: 1 });
      expect(await boundary(h, rs, 0), `${name}: at the bound`).toEqual({ activity: 1, soapp: 1 });
      expect(await boundary(h, rs, 1), `${name}: 1 s outside`).toEqual({ activity: 0, soapp: 0 });
    }
  });
});

describe("interop: caches stay coherent across both stores", () => {
  /** Interop through the caches is asynchronous (pub/sub): wait for it, 3 s at most. */
  const until = <T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean) =>
    readUntil(read, ok, { ms: 3000, what });

  async function subscribed(channel: string, count: number) {
    await until(
      `${count} subscriber(s) on ${channel}`,
      async () => (await raw.pubsub("NUMSUB", channel)) as [string, number],
      (reply) => Number(reply[1]) >= count,
    );
  }

  function v4Cached(ns: string): V4Sessions {
    const v4 = openV4(redisUrl(), ns, { cachetime: 60 });
    cleanups.push(() => closeV4(v4));
    return v4;
  }

  function ours(ns: string, cachetime = 0): RedisSessions {
    const rs = new RedisSessions({ redis: redisUrl(), namespace: ns, wipe: 0, cachetime });
    cleanups.push(() => rs.quit());
    return rs;
  }

  /** Reads twice through v4's cache and proves the second read was a hit (same object). */
  async function cacheInV4(v4: V4Sessions, token: string) {
    const first = await v4.get({ app, token });
    expect(first).not.toBeNull();
    expect(await v4.get({ app, token })).toBe(first);
    return first!;
  }

  it("a v4 cache drops what our set, kill, killsoid and killall change", async () => {
    const ns = uniqueNamespace("ic");
    const v4 = v4Cached(ns);
    const rs = ours(ns);
    await subscribed(`${ns}:cache`, 1);

    const { token } = await rs.create({ app, id: "u1", ip: "10.0.0.1", d: { v: 1 } });
    expect((await cacheInV4(v4, token)).d).toEqual({ v: 1 });
    await rs.set({ app, token, d: { v: 2 } });
    await until(
      "v4 sees our set",
      () => v4.get({ app, token }),
      (s) => s?.d !== undefined && (s.d as Reply).v === 2,
    );

    await cacheInV4(v4, token);
    await rs.kill({ app, token });
    await until(
      "v4 sees our kill",
      () => v4.get({ app, token }),
      (s) => s === null,
    );

    const a = (await rs.create({ app, id: "u2", ip: "10.0.0.1" })).token;
    const b = (await rs.create({ app, id: "u2", ip: "10.0.0.1" })).token;
    await cacheInV4(v4, a);
    await cacheInV4(v4, b);
    expect(await rs.killsoid({ app, id: "u2" })).toEqual({ kill: 2 });
    for (const t of [a, b]) {
      await until(
        "v4 sees our killsoid",
        () => v4.get({ app, token: t }),
        (s) => s === null,
      );
    }

    const c = (await rs.create({ app, id: "u3", ip: "10.0.0.1" })).token;
    await cacheInV4(v4, c);
    expect(await rs.killall({ app })).toEqual({ kill: 1 });
    await until(
      "v4 sees our killall",
      () => v4.get({ app, token: c }),
      (s) => s === null,
    );
  });

  it("our cache drops what a (cache-enabled, so publishing) v4 sets and kills", async () => {
    const ns = uniqueNamespace("ic");
    const v4 = v4Cached(ns);
    const rs = ours(ns, 60);
    await subscribed(`${ns}:cache`, 2);
    await until(
      "our cache is active",
      async () => rs.cacheStats().active,
      (x) => x,
    );

    const { token } = await v4.create({ app, id: "u1", ip: "10.0.0.1", d: { v: 1 } });
    expect((await rs.get({ app, token }))?.d).toEqual({ v: 1 });
    const hits = rs.cacheStats().hits;
    expect((await rs.get({ app, token }))?.d).toEqual({ v: 1 });
    expect(rs.cacheStats().hits).toBe(hits + 1);

    await v4.set({ app, token, d: { v: 2 } });
    await until(
      "ours sees v4's set",
      () => rs.get({ app, token }),
      (s) => (s?.d as Reply | undefined)?.v === 2,
    );
    await v4.kill({ app, token });
    await until(
      "ours sees v4's kill",
      () => rs.get({ app, token }),
      (s) => s === null,
    );
  });
});
