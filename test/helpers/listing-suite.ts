import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import {
  RedisSessions,
  type SessionPage,
  type SessionWithToken,
  type StoreOptions,
} from "../../src/index.js";
import { uniqueNamespace } from "./context.js";

/** A fake clock in unix seconds that the tests move. */
class Clock {
  now = 1_800_000_000;
  readonly read = () => this.now;
}

const APP = "listing";

/** Keys under a namespace on every master of the store's client (SCAN, never KEYS). */
async function keyCount(store: RedisSessions, ns: string): Promise<number> {
  const client = store.redis as unknown as { nodes?: (role: string) => Redis[] } & Redis;
  const nodes = typeof client.nodes === "function" ? client.nodes("master") : [client];
  let count = 0;
  for (const node of nodes) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", `${ns}:*`, "COUNT", 1000);
      cursor = next;
      count += keys.length;
    } while (cursor !== "0");
  }
  return count;
}

/** Entries in the Maps and Sets an object holds, two levels down (an engine's memory). */
function heldEntries(value: unknown, depth = 2): number {
  if (value instanceof Map || value instanceof Set) return value.size;
  if (depth === 0 || typeof value !== "object" || value === null) return 0;
  return Object.values(value).reduce<number>((sum, v) => sum + heldEntries(v, depth - 1), 0);
}

/** Byte order, as Redis orders members. */
function bytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Paged listings and bounded per-user work, the same in every layout: pages of soapp and soid
 * add up to the whole listing, in its order, whatever happens between pages; bad limits and
 * cursors are refused before any Redis command; killsoid ends more sessions than one batch.
 */
export function listingSuite(options: () => StoreOptions): void {
  const stores: RedisSessions[] = [];
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.quit()));
  });

  function open() {
    const clock = new Clock();
    const store = new RedisSessions({
      ...options(),
      namespace: uniqueNamespace("pg"),
      wipe: 0,
      clock: clock.read,
    });
    stores.push(store);
    return { store, clock };
  }

  /** Creates `count` sessions of distinct users at the clock's current second. */
  async function burst(store: RedisSessions, count: number, tag: string) {
    const made = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        store.create({ app: APP, id: `${tag}${i}`, ip: "1" }),
      ),
    );
    return made.map((m) => m.token);
  }

  async function allPages(
    read: (cursor: string | null) => Promise<SessionPage>,
    limit: number,
  ): Promise<SessionWithToken[][]> {
    const pages: SessionWithToken[][] = [];
    let cursor: string | null = null;
    do {
      const page: SessionPage = await read(cursor);
      expect(page.sessions.length).toBeLessThanOrEqual(limit);
      pages.push(page.sessions);
      cursor = page.cursor;
      expect(pages.length).toBeLessThan(1000);
    } while (cursor !== null);
    return pages;
  }

  describe("paged listings", () => {
    it("soapp pages add up to the whole listing: most recent first, ties in reverse byte order", async () => {
      const { store, clock } = open();
      // Three seconds with 130 sessions each (more than one script batch), and a few apart.
      const at = new Map<string, number>();
      for (const n of [130, 3, 130, 1, 130]) {
        for (const t of await burst(store, n, `s${clock.now}-`)) at.set(t, clock.now);
        clock.now += 10;
      }
      clock.now -= 10;
      const whole = (await store.soapp({ app: APP, deltaTime: 600 })).sessions;
      expect(whole).toHaveLength(394);
      // Redis' own order: by activity, then member bytes, both reversed.
      const member = (s: SessionWithToken) => `${s.token}:${s.id}`;
      const expected = [...whole].sort(
        (a, b) => (at.get(b.token) ?? 0) - (at.get(a.token) ?? 0) || bytes(member(b), member(a)),
      );
      expect(whole.map((s) => s.token)).toEqual(expected.map((s) => s.token));
      for (const limit of [7, 130, 1000]) {
        const pages = await allPages(
          (cursor) => store.soapp({ app: APP, deltaTime: 600, limit, cursor }),
          limit,
        );
        expect(pages.flat().map((s) => s.token)).toEqual(whole.map((s) => s.token));
        expect(pages.flat()).toEqual(whole);
      }
      // The window holds: 10 s back reaches the last two seconds only.
      const recent = await store.soapp({ app: APP, deltaTime: 10, limit: 1000 });
      expect(recent.sessions).toHaveLength(131);
      expect(recent.cursor).toBeNull();
      expect(await store.countSessions({ app: APP, deltaTime: 10 })).toEqual({ count: 131 });
      expect(await store.countSessions({ app: APP, deltaTime: 600 })).toEqual({ count: 394 });
    });

    it("a page starts where the last one ended, though sessions are killed or used meanwhile", async () => {
      const { store, clock } = open();
      const tokens = await burst(store, 60, "u");
      clock.now += 5;
      const first = await store.soapp({ app: APP, deltaTime: 600, limit: 20 });
      const listed = first.sessions.map((s) => s.token);
      // The last session listed is killed, one not yet listed is killed, one is used (it moves
      // to the front, past the walk) and one is created.
      const unlisted = tokens.filter((t) => !listed.includes(t));
      await store.kill({ app: APP, token: listed[19] as string });
      await store.kill({ app: APP, token: unlisted[0] as string });
      await store.get({ app: APP, token: unlisted[1] as string });
      await burst(store, 1, "late");
      const rest = await allPages(
        (cursor) =>
          store.soapp({ app: APP, deltaTime: 600, limit: 20, cursor: cursor ?? first.cursor }),
        20,
      );
      // Every session that stayed as it was is listed once, in order, and nothing twice.
      const after = rest.flat().map((s) => s.token);
      expect(after).toEqual(unlisted.slice(2).sort((a, b) => bytes(b, a)));
      expect(new Set([...listed, ...after]).size).toBe(listed.length + after.length);
    });

    it("soid pages list each of a user's sessions once", async () => {
      const { store, clock } = open();
      const mine = [];
      for (let i = 0; i < 3; i++) {
        const batch = await Promise.all(
          Array.from({ length: 80 }, () => store.create({ app: APP, id: "many", ip: "1" })),
        );
        mine.push(...batch.map((b) => b.token));
        clock.now += 1;
      }
      await store.create({ app: APP, id: "other", ip: "1" });
      const whole = (await store.soid({ app: APP, id: "many" })).sessions;
      expect(whole.map((s) => s.token).sort()).toEqual([...mine].sort());
      for (const limit of [1, 7, 100]) {
        const pages = await allPages(
          (cursor) => store.soid({ app: APP, id: "many", limit, cursor }),
          limit,
        );
        const listed = pages.flat();
        expect(listed.map((s) => s.token).sort()).toEqual([...mine].sort());
        expect(listed.every((s) => s.id === "many")).toBe(true);
      }
    });

    it("refuses a bad limit or cursor before any Redis command", async () => {
      // Nothing listens on port 1: a call that reached Redis would fail as unavailable.
      const dead = new RedisSessions({
        ...options(),
        redis: "redis://127.0.0.1:1",
        cluster: undefined,
        client: undefined,
        wipe: 0,
      });
      stores.push(dead);
      const app = APP;
      const cases: [Promise<unknown>, string][] = [
        [dead.soapp({ app, deltaTime: 60, limit: 0 }), "ERS_INVALID_LIMIT"],
        [dead.soapp({ app, deltaTime: 60, limit: 1001 }), "ERS_INVALID_LIMIT"],
        [dead.soapp({ app, deltaTime: 60, limit: 2.5 }), "ERS_INVALID_LIMIT"],
        [dead.soapp({ app, deltaTime: 60, limit: "ten" }), "ERS_INVALID_LIMIT"],
        [dead.soid({ app, id: "u", limit: -1 }), "ERS_INVALID_LIMIT"],
        [dead.soapp({ app, deltaTime: 60, cursor: "s1_00" } as never), "ERS_INVALID_LIMIT"],
        [dead.soapp({ app, deltaTime: 60, limit: 5, cursor: "x" }), "ERS_INVALID_CURSOR"],
        [dead.soapp({ app, deltaTime: 60, limit: 5, cursor: "s1_0" }), "ERS_INVALID_CURSOR"],
        [dead.soapp({ app, deltaTime: 60, limit: 5, cursor: "s1%_00" }), "ERS_INVALID_CURSOR"],
        [dead.soapp({ app, deltaTime: 60, limit: 5, cursor: 7 as never }), "ERS_INVALID_CURSOR"],
        [dead.soid({ app, id: "u", limit: 5, cursor: "s1_00" }), "ERS_INVALID_CURSOR"],
        [dead.soapp({ app: "a", deltaTime: 60, limit: 5 }), "ERS_INVALID_APP"],
      ];
      for (const [call, code] of cases)
        await expect(call).rejects.toMatchObject({ code, status: 400 });
      expect(await dead.soapp({ app, deltaTime: 60, limit: "5" }).catch((e) => e.code)).toBe(
        "ERS_STORE_UNAVAILABLE",
      );
    });
  });

  describe("touchAfter", () => {
    it("counts every read but refreshes activity only after touchAfter seconds idle", async () => {
      const clock = new Clock();
      const store = new RedisSessions({
        ...options(),
        namespace: uniqueNamespace("ta"),
        wipe: 0,
        clock: clock.read,
        touchAfter: 30,
      });
      stores.push(store);
      const { token } = await store.create({ app: APP, id: "reader", ip: "1", ttl: 100 });
      clock.now += 10;
      expect(await store.get({ app: APP, token })).toMatchObject({ r: 1, idle: 10 });
      clock.now += 15;
      // The read 15 s ago moved nothing: idle counts from create, activity and soapp miss it.
      expect(await store.get({ app: APP, token })).toMatchObject({ r: 2, idle: 25 });
      expect(await store.activity({ app: APP, deltaTime: 20 })).toEqual({ activity: 0 });
      expect((await store.soapp({ app: APP, deltaTime: 20 })).sessions).toEqual([]);
      clock.now += 5;
      // Idle 30: this read refreshes.
      expect(await store.get({ app: APP, token })).toMatchObject({ r: 3, idle: 30 });
      clock.now += 1;
      expect(await store.get({ app: APP, token })).toMatchObject({ r: 4, idle: 1 });
      expect(await store.activity({ app: APP, deltaTime: 10 })).toEqual({ activity: 1 });
      // A write always refreshes.
      clock.now += 2;
      expect(await store.set({ app: APP, token, d: { a: 1 } })).toMatchObject({ idle: 3 });
      clock.now += 1;
      expect(await store.get({ app: APP, token })).toMatchObject({ r: 5, idle: 1 });
      // An idle session expires ttl after the last access that refreshed it (the set), not
      // after the last read (1 s later, which refreshed nothing).
      clock.now += 100;
      expect(await store.get({ app: APP, token })).toBeNull();
    });
  });

  describe("requests that name nothing real", () => {
    it("write no key and grow no memory, whatever app and token they name", async () => {
      const { store } = open();
      await store.create({ app: APP, id: "someone", ip: "1" });
      const ns = store.options.namespace;
      const engine = (store as unknown as { engine: unknown }).engine;
      const keys = await keyCount(store, ns);
      const held = heldEntries(engine);
      const random = () => ({
        app: `a${randomBytes(6).toString("hex")}`,
        token: randomBytes(48)
          .toString("base64")
          .replace(/[^0-9A-Za-z]/g, "x")
          .slice(0, 64),
      });
      for (let i = 0; i < 1000; i += 100) {
        await Promise.all(
          Array.from({ length: 100 }, () => store.get(random()).then((s) => expect(s).toBeNull())),
        );
      }
      // The other calls an unauthenticated request can reach (through the REST server).
      for (let i = 0; i < 20; i++) {
        const { app, token } = random();
        expect(await store.set({ app, token, d: { a: 1 } })).toBeNull();
        expect(await store.kill({ app, token })).toEqual({ kill: 0 });
        expect(await store.soid({ app, id: "x" })).toEqual({ sessions: [] });
        expect(await store.soapp({ app, deltaTime: 60, limit: 10 })).toEqual({
          sessions: [],
          cursor: null,
        });
        expect(await store.activity({ app, deltaTime: 60 })).toEqual({ activity: 0 });
      }
      expect(await keyCount(store, ns)).toBe(keys);
      expect(heldEntries(engine)).toBe(held);
    });
  });

  describe("per user, beyond one batch", () => {
    it("the cache's activity refresh of many sessions goes in bounded calls and touches each", async () => {
      const { store, clock } = open();
      const tokens = await burst(store, 250, "t");
      clock.now += 30;
      const engine = (
        store as unknown as { engine: { touch(a: string, t: string[]): Promise<string[]> } }
      ).engine;
      // It answers with the tokens that have no live session: here only the unknown one.
      const unknown = "0".repeat(64);
      expect(await engine.touch(APP, [...tokens, unknown])).toEqual([unknown]);
      expect(await store.activity({ app: APP, deltaTime: 10 })).toEqual({ activity: 250 });
    });

    it("killsoid ends every session of a user, also those created while it runs", async () => {
      const { store } = open();
      const made = await Promise.all(
        Array.from({ length: 450 }, () => store.create({ app: APP, id: "bulk", ip: "1" })),
      );
      const other = await store.create({ app: APP, id: "bystander", ip: "1" });
      // 50 more are created while the kill runs: sent on the store's connection right after the
      // kill's first command, they reach Redis while it goes on, and must be ended too.
      const killing = store.killsoid({ app: APP, id: "bulk" });
      const late = Array.from({ length: 50 }, () =>
        store.create({ app: APP, id: "bulk", ip: "1" }),
      );
      const result = await killing;
      const lateTokens = (await Promise.all(late)).map((l) => l.token);
      expect(result).toEqual({ kill: 500 });
      expect(await store.soid({ app: APP, id: "bulk" })).toEqual({ sessions: [] });
      for (const token of [...made.map((m) => m.token), ...lateTokens]) {
        expect(await store.get({ app: APP, token })).toBeNull();
      }
      expect(await store.get({ app: APP, token: other.token })).toMatchObject({ id: "bystander" });
    });
  });
}
