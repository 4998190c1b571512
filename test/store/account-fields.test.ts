import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { legacyCreated } from "../../src/handle.js";
import { isRedisSessionsError, sessionHandle } from "../../src/index.js";
import { rawClient } from "../helpers/context.js";
import { fakeClock, storePool, T0 } from "../helpers/stores.js";

/*
 * The account fields of a session (created, auth, ua, last ip, CSRF token), handles and kill by
 * handle, on both key layouts.
 */

const app = "acct";
let raw: Redis;
const stores = storePool();

beforeAll(() => {
  raw = rawClient();
});
afterEach(() => stores.quitAll());
afterAll(() => raw.quit());

describe("sessionHandle", () => {
  it("is 22 base64url characters of SHA-256 over a fixed prefix and the token", () => {
    const token = "a".repeat(64);
    const handle = sessionHandle(token);
    expect(handle).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(handle).toBe(sessionHandle(token));
    expect(sessionHandle("b".repeat(64))).not.toBe(handle);
    // Pinned: other implementations (rest-sessions, the web branch) must compute the same.
    const digest = createHash("sha256").update(`express-redis-sessions handle:${token}`).digest();
    expect(handle).toBe(digest.toString("base64url").slice(0, 22));
  });

  it("legacy tokens (Z + base-36 ms) give their creation time; others none", () => {
    const ms = 1_765_000_000_123;
    const token = `${"A".repeat(55)}Z${ms.toString(36)}`;
    expect(token).toHaveLength(64);
    expect(legacyCreated(token)).toBe(Math.floor(ms / 1000));
    expect(legacyCreated("A".repeat(64))).toBeUndefined();
    expect(legacyCreated(`${"A".repeat(55)}Z00000001`)).toBeUndefined();
    expect(legacyCreated(`${"A".repeat(55)}ZABCDEFGH`)).toBeUndefined();
  });
});

describe.each(["compat", "cluster"] as const)("layout %s: account fields", (layout) => {
  function open(extra = {}) {
    const clock = fakeClock();
    const rs = stores.open({ clock: clock.now, layout, ...extra });
    return { rs, clock };
  }

  it("create records created, auth and ua; get and soid return them with handles", async () => {
    const { rs, clock } = open();
    const ua = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0";
    const { token } = await rs.create({ app, id: "u1", ip: "10.0.0.1", ua });
    clock.t += 7;
    const s = await rs.get({ app, token });
    expect(s).toMatchObject({ id: "u1", created: T0, auth: T0, ua, idle: 7 });
    expect(s && "expires" in s).toBe(false);
    const { sessions } = await rs.soid({ app, id: "u1" });
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ token, handle: sessionHandle(token), created: T0, ua });
    const page = await rs.soapp({ app, deltaTime: 60, limit: 10 });
    expect(page.sessions[0]?.handle).toBe(sessionHandle(token));
  });

  it("cuts a long ua at 512 code units without splitting a surrogate pair", async () => {
    const { rs } = open();
    const long = `${"x".repeat(511)}😀tail`;
    const { token } = await rs.create({ app, id: "u1", ip: "1", ua: long });
    const s = await rs.get({ app, token });
    expect(s?.ua).toBe("x".repeat(511));
    const exact = "y".repeat(600);
    const other = await rs.create({ app, id: "u1", ip: "1", ua: exact });
    expect((await rs.get({ app, token: other.token }))?.ua).toBe("y".repeat(512));
  });

  it("get with ip keeps the last ip when the read refreshes activity", async () => {
    const { rs, clock } = open({ touchAfter: 10 });
    const { token } = await rs.create({ app, id: "u1", ip: "10.0.0.1" });
    clock.t += 2;
    // Not refreshing (idle 2 < touchAfter 10): nothing written.
    expect((await rs.get({ app, token, ip: "10.0.0.2" }))?.ip).toBe("10.0.0.1");
    expect((await rs.get({ app, token }))?.ip).toBe("10.0.0.1");
    clock.t += 10;
    expect((await rs.get({ app, token, ip: "10.0.0.3" }))?.ip).toBe("10.0.0.1");
    expect((await rs.get({ app, token }))?.ip).toBe("10.0.0.3");
  });

  it("reauthenticated sets auth to now and keeps created", async () => {
    const { rs, clock } = open();
    const { token } = await rs.create({ app, id: "u1", ip: "1" });
    clock.t += 100;
    const s = await rs.reauthenticated({ app, token });
    expect(s).toMatchObject({ id: "u1", created: T0, auth: T0 + 100 });
    expect((await rs.get({ app, token }))?.auth).toBe(T0 + 100);
    expect(await rs.reauthenticated({ app, token: "0".repeat(64) })).toBeNull();
  });

  it("csrfToken returns the session's stable token, and null without a session", async () => {
    const { rs } = open();
    const { token } = await rs.create({ app, id: "u1", ip: "1" });
    const cs = await rs.csrfToken({ app, token });
    expect(cs).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await rs.csrfToken({ app, token })).toBe(cs);
    const other = await rs.create({ app, id: "u1", ip: "1" });
    expect(await rs.csrfToken({ app, token: other.token })).not.toBe(cs);
    await rs.kill({ app, token });
    expect(await rs.csrfToken({ app, token })).toBeNull();
  });

  it("kill by handle ends only that session of that id", async () => {
    const { rs } = open();
    const a = await rs.create({ app, id: "u1", ip: "1" });
    const b = await rs.create({ app, id: "u1", ip: "1" });
    const c = await rs.create({ app, id: "u2", ip: "1" });
    // Another id's handle does nothing.
    expect(await rs.kill({ app, id: "u1", handle: sessionHandle(c.token) })).toEqual({ kill: 0 });
    expect(await rs.get({ app, token: c.token })).not.toBeNull();
    expect(await rs.kill({ app, id: "u1", handle: sessionHandle(a.token) })).toEqual({ kill: 1 });
    expect(await rs.get({ app, token: a.token })).toBeNull();
    expect(await rs.get({ app, token: b.token })).not.toBeNull();
    expect(await rs.kill({ app, id: "u1", handle: sessionHandle(a.token) })).toEqual({ kill: 0 });
    expect((await rs.soid({ app, id: "u1" })).sessions.map((s) => s.token)).toEqual([b.token]);
  });

  it("kill by handle finds a session among more than one page of the id's sessions", async () => {
    const { rs } = open();
    const tokens: string[] = [];
    for (let i = 0; i < 130; i++)
      tokens.push((await rs.create({ app, id: "many", ip: "1" })).token);
    for (const t of [tokens[0], tokens[129]] as string[]) {
      expect(await rs.kill({ app, id: "many", handle: sessionHandle(t) })).toEqual({ kill: 1 });
    }
    expect((await rs.soid({ app, id: "many" })).sessions).toHaveLength(128);
  });

  it("refuses bad parameters with their codes before any Redis call", async () => {
    const { rs } = open({ redis: "redis://127.0.0.1:1", timeout: 200 });
    const token = "a".repeat(64);
    const code = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        return isRedisSessionsError(err) ? err.code : String(err);
      }
      return "resolved";
    };
    expect(await code(rs.create({ app, id: "u", ip: "1", ua: 5 as never }))).toBe("ERS_INVALID_UA");
    for (const absolute of [9, 0, 1.5, "x", 315_360_001, -10, true]) {
      expect(await code(rs.create({ app, id: "u", ip: "1", absolute: absolute as never }))).toBe(
        "ERS_INVALID_ABSOLUTE",
      );
    }
    for (const handle of ["", "short", "a".repeat(23), "!".repeat(22), 5]) {
      expect(await code(rs.kill({ app, id: "u", handle: handle as never }))).toBe(
        "ERS_INVALID_HANDLE",
      );
    }
    expect(await code(rs.kill({ app, handle: "a".repeat(22) } as never))).toBe("ERS_MISSING_ID");
    for (const grace of [-1, 3601, 1.5, "x"]) {
      expect(await code(rs.rotate({ app, token, grace: grace as never }))).toBe(
        "ERS_INVALID_GRACE",
      );
    }
    expect(await code(rs.get({ app, token, ip: "x".repeat(40) }))).toBe("ERS_INVALID_IP");
    expect(await code(rs.reauthenticated({ app, token: "bad" }))).toBe("ERS_INVALID_TOKEN");
    expect(await code(rs.csrfToken({ app: "a", token }))).toBe("ERS_INVALID_APP");
  });
});
