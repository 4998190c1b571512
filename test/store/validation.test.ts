import { performance } from "node:perf_hooks";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions, RedisSessionsError } from "../../src/index.js";
import { dumpNamespace, rawClient } from "../helpers/context.js";
import { freePort, type RedisServer, startRedisServer } from "../helpers/redis-server.js";
import { storePool, T0 } from "../helpers/stores.js";

type Call = (rs: RedisSessions) => Promise<unknown>;
// Tests pass wrong types on purpose, as JavaScript callers can.
// biome-ignore lint/suspicious/noExplicitAny: the point is to bypass the parameter types
type Loose = any;

const TOKEN = "a".repeat(64);
const ok = { app: "test", id: "user1", ip: "127.0.0.1" };
const TTL_MSG = "ttl must be a positive integer >= 10";
const DT_MSG = "deltaTime must be a positive integer >= 10";
const FORBIDDEN = "has a forbidden type. Only strings, numbers, boolean and null are allowed.";

const create =
  (p: Loose): Call =>
  (rs) =>
    rs.create({ ...ok, ...p });
const get =
  (p: Loose): Call =>
  (rs) =>
    rs.get({ app: "test", token: TOKEN, ...p });
const set =
  (p: Loose): Call =>
  (rs) =>
    rs.set({ app: "test", token: TOKEN, d: { a: 1 }, ...p });
const kill =
  (p: Loose): Call =>
  (rs) =>
    rs.kill({ app: "test", token: TOKEN, ...p });
const rotate =
  (p: Loose): Call =>
  (rs) =>
    rs.rotate({ app: "test", token: TOKEN, ...p });
const activity =
  (p: Loose): Call =>
  (rs) =>
    rs.activity({ app: "test", deltaTime: 60, ...p });
const soapp =
  (p: Loose): Call =>
  (rs) =>
    rs.soapp({ app: "test", deltaTime: 60, ...p });
const soid =
  (p: Loose): Call =>
  (rs) =>
    rs.soid({ app: "test", id: "user1", ...p });
const killsoid =
  (p: Loose): Call =>
  (rs) =>
    rs.killsoid({ app: "test", id: "user1", ...p });
const killall =
  (p: Loose): Call =>
  (rs) =>
    rs.killall({ app: "test", ...p });

/** [what, call, name, message, code]: redis-sessions 4.0.0's name and message, plus our code. */
const RULES: [string, Call, string, string, string][] = [];
function rule(what: string, call: Call, name: string, message: string, code: string) {
  RULES.push([what, call, name, message, code]);
}

for (const [label, method] of [
  ["create", create],
  ["get", get],
  ["set", set],
  ["kill", kill],
  ["rotate", rotate],
  ["activity", activity],
  ["soapp", soapp],
  ["soid", soid],
  ["killsoid", killsoid],
  ["killall", killall],
] as const) {
  for (const app of [undefined, null, "", 0, false]) {
    rule(
      `${label}: app ${String(app)}`,
      method({ app }),
      "missingParameter",
      "No app supplied",
      "ERS_MISSING_APP",
    );
  }
  for (const app of ["a", "ab", "a".repeat(21), "ab!", "ab c", "ab:c", "äbc", "{ab}", "ab*"]) {
    rule(
      `${label}: app ${JSON.stringify(app)}`,
      method({ app }),
      "invalidFormat",
      "Invalid app format",
      "ERS_INVALID_APP",
    );
  }
}

for (const [label, method] of [
  ["create", create],
  ["soid", soid],
  ["killsoid", killsoid],
] as const) {
  for (const id of [undefined, null, "", 0, false, Number.NaN]) {
    rule(
      `${label}: id ${String(id)}`,
      method({ id }),
      "missingParameter",
      "No id supplied",
      "ERS_MISSING_ID",
    );
  }
  for (const id of [
    "a\nb",
    "a\rb",
    "a\u2028b",
    "a\u2029b",
    "x".repeat(129),
    {},
    ["x"],
    Number.POSITIVE_INFINITY,
  ]) {
    rule(
      `${label}: id ${JSON.stringify(id)?.slice(0, 20)}`,
      method({ id }),
      "invalidFormat",
      "Invalid id format",
      "ERS_INVALID_ID",
    );
  }
}

for (const ip of [undefined, null, "", 0, false]) {
  rule(
    `create: ip ${String(ip)}`,
    create({ ip }),
    "missingParameter",
    "No ip supplied",
    "ERS_MISSING_IP",
  );
}
for (const ip of ["1".repeat(40), "1.2.3.4\n", "1.2.3.4\u2028", 1234]) {
  rule(
    `create: ip ${JSON.stringify(ip)}`,
    create({ ip }),
    "invalidFormat",
    "Invalid ip format",
    "ERS_INVALID_IP",
  );
}

for (const ttl of [
  4,
  9,
  -1,
  0,
  -0,
  10.5,
  3600.7,
  "abc",
  "9.99",
  "10abc",
  "",
  " 60",
  true,
  false,
  "-60",
  1e20,
  Number.NaN,
  Number.POSITIVE_INFINITY,
]) {
  rule(
    `create: ttl ${JSON.stringify(ttl)}`,
    create({ ttl }),
    "invalidValue",
    TTL_MSG,
    "ERS_INVALID_TTL",
  );
}

for (const [label, method] of [
  ["activity", activity],
  ["soapp", soapp],
] as const) {
  for (const deltaTime of [undefined, null, 9, 0, -60, "abc", "", "600abc", 9.99, true]) {
    rule(
      `${label}: deltaTime ${JSON.stringify(deltaTime)}`,
      method({ deltaTime }),
      "invalidValue",
      DT_MSG,
      "ERS_INVALID_DELTATIME",
    );
  }
}

for (const [label, method] of [
  ["get", get],
  ["set", set],
  ["kill", kill],
  ["rotate", rotate],
] as const) {
  for (const token of [undefined, null, "", 0, false]) {
    rule(
      `${label}: token ${String(token)}`,
      method({ token }),
      "missingParameter",
      "No token supplied",
      "ERS_MISSING_TOKEN",
    );
  }
  for (const token of [
    "a".repeat(17),
    "a".repeat(63),
    "a".repeat(65),
    "a".repeat(70),
    `${"a".repeat(63)}!`,
    `${"a".repeat(63)}_`,
    `${"a".repeat(63)}ä`,
    12345,
  ]) {
    rule(
      `${label}: token ${JSON.stringify(token).slice(0, 12)}…`,
      method({ token }),
      "invalidFormat",
      "Invalid token format",
      "ERS_INVALID_TOKEN",
    );
  }
}

for (const d of [undefined, null, "", 0, false]) {
  rule(`set: d ${String(d)}`, set({ d }), "missingParameter", "No d supplied", "ERS_MISSING_D");
}
for (const [label, method] of [
  ["create", create],
  ["set", set],
] as const) {
  for (const d of ["string", 42, true, [], [1, 2]]) {
    rule(
      `${label}: d ${JSON.stringify(d)}`,
      method({ d }),
      "invalidValue",
      "d must be an object",
      "ERS_INVALID_D",
    );
  }
  for (const d of [{}, new Date(), () => 1]) {
    rule(
      `${label}: d ${typeof d === "function" ? "function" : JSON.stringify(d)}`,
      method({ d }),
      "invalidValue",
      "d must containt at least one key.",
      "ERS_EMPTY_D",
    );
  }
  for (const [key, value] of [
    ["arr", []],
    ["obj", {}],
    ["u", undefined],
    ["date", new Date()],
    ["fn", () => 1],
    ["big", 1n],
    ["sym", Symbol("s")],
  ] as const) {
    rule(
      `${label}: d.${key}`,
      method({ d: { ok: 1, [key]: value } }),
      "invalidValue",
      `d.${key} ${FORBIDDEN}`,
      "ERS_INVALID_D_VALUE",
    );
  }
}

// The first failing parameter is reported, in redis-sessions' order.
rule(
  "create checks app first",
  create({ app: "a", id: "", ip: "", ttl: 1, d: [] }),
  "invalidFormat",
  "Invalid app format",
  "ERS_INVALID_APP",
);
rule(
  "create checks id before ip",
  create({ id: "", ip: "", ttl: 1 }),
  "missingParameter",
  "No id supplied",
  "ERS_MISSING_ID",
);
rule(
  "create checks ip before ttl",
  create({ ip: "", ttl: 1, d: [] }),
  "missingParameter",
  "No ip supplied",
  "ERS_MISSING_IP",
);
rule(
  "create checks ttl before d",
  create({ ttl: 1, d: [] }),
  "invalidValue",
  TTL_MSG,
  "ERS_INVALID_TTL",
);
rule(
  "set checks token before d",
  set({ token: "x", d: [] }),
  "invalidFormat",
  "Invalid token format",
  "ERS_INVALID_TOKEN",
);
rule(
  "activity checks app before deltaTime",
  activity({ app: "", deltaTime: 1 }),
  "missingParameter",
  "No app supplied",
  "ERS_MISSING_APP",
);

const stores = storePool();
const open = stores.open;
let raw: Redis;
let rs: RedisSessions;

beforeAll(() => {
  raw = rawClient();
  rs = open();
});
afterAll(async () => {
  await stores.quitAll();
  await raw.quit();
});

async function rejection(promise: Promise<unknown>): Promise<RedisSessionsError> {
  try {
    await promise;
  } catch (err) {
    return err as RedisSessionsError;
  }
  throw new Error("expected a rejection");
}

function expectError(err: RedisSessionsError, name: string, message: string, code: string) {
  expect(err).toBeInstanceOf(Error);
  expect(err).toBeInstanceOf(RedisSessionsError);
  expect({ name: err.name, message: err.message, code: err.code }).toEqual({ name, message, code });
}

describe("validation rules (redis-sessions 4.0.0's name and message, plus a code)", () => {
  it.each(RULES)("%s", async (_what, call, name, message, code) => {
    const err = await rejection(call(rs));
    expectError(err, name, message, code);
    expect(err.status).toBe(400);
    expect(err.expose).toBe(true);
  });

  it("rejected calls wrote nothing", async () => {
    for (const [, call] of RULES) await call(rs).catch(() => {});
    expect(await dumpNamespace(raw, rs.options.namespace)).toEqual({});
  });
});

describe("validation runs before any Redis command", () => {
  let server: RedisServer;
  let monitored: RedisSessions;
  let unreachable: RedisSessions;

  beforeAll(async () => {
    server = await startRedisServer();
    monitored = stores.track(new RedisSessions({ redis: server.url, wipe: 0 }));
    expect(await monitored.ping()).toBe("PONG");
    unreachable = open({ redis: `redis://127.0.0.1:${await freePort()}`, timeout: 2000 });
  });
  afterAll(async () => {
    await monitored.quit();
    await server.stop();
  });

  it("invalid calls send no command at all (INFO commandstats before and after)", async () => {
    const admin = new Redis(server.url);
    try {
      await admin.config("RESETSTAT");
      for (const [, call] of RULES) await rejection(call(monitored));
      const stats = await admin.info("commandstats");
      const used = [...stats.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].map((m) => m[1]);
      // Only this admin connection's own CONFIG and INFO may appear.
      expect(used.filter((c) => c !== "config" && c !== "info")).toEqual([]);
      // A valid call does show up, so the counter works.
      await monitored.get({ app: "test", token: TOKEN });
      expect(await admin.info("commandstats")).toMatch(/cmdstat_evalsha:calls=1\b/);
    } finally {
      await admin.quit();
    }
  });

  it("a store whose Redis is unreachable still throws each validation error at once", async () => {
    for (const [what, call, name, message, code] of RULES) {
      const started = performance.now();
      const err = await rejection(call(unreachable));
      const ms = performance.now() - started;
      expect({ what, name: err.name, message: err.message, code: err.code }).toEqual({
        what,
        name,
        message,
        code,
      });
      // At once: nothing waits on the connection (the error identity above is the real proof).
      expect(ms).toBeLessThan(100);
    }
    // The valid control call does reach for Redis and fails as a store error.
    const err = await rejection(unreachable.get({ app: "test", token: TOKEN }));
    expect(err.name).toBe("storeUnavailable");
  });
});

describe("inputs are checked in linear time (no ReDoS)", () => {
  const big = "a".repeat(100_000);
  it.each<[string, Call, string]>([
    ["app", create({ app: big }), "ERS_INVALID_APP"],
    ["id", create({ id: big }), "ERS_INVALID_ID"],
    ["id ending in a newline", create({ id: `${big}\n` }), "ERS_INVALID_ID"],
    [
      "id: redis-sessions' exponential case",
      create({ id: `${"a".repeat(40)}\n` }),
      "ERS_INVALID_ID",
    ],
    ["ip", create({ ip: big }), "ERS_INVALID_IP"],
    ["token", get({ token: big }), "ERS_INVALID_TOKEN"],
    ["token of 100 kB that ends in !", get({ token: `${big}!` }), "ERS_INVALID_TOKEN"],
    ["soid id", soid({ id: `${big}\n` }), "ERS_INVALID_ID"],
  ])("a 100 kB %s is rejected in < 50 ms", async (_what, call, code) => {
    const started = performance.now();
    const err = await rejection(call(rs));
    const ms = performance.now() - started;
    expect(err.code).toBe(code);
    expect(ms).toBeLessThan(50);
  });
});

describe("coercion", () => {
  it("numeric ids are turned into strings everywhere", async () => {
    const store = open();
    const { token } = await store.create({ ...ok, id: 12345 });
    expect((await store.get({ app: "test", token }))?.id).toBe("12345");
    expect(await raw.hget(`${store.options.namespace}:test:${token}`, "id")).toBe("12345");
    expect((await store.soid({ app: "test", id: 12345 })).sessions.map((s) => s.token)).toEqual([
      token,
    ]);
    expect(await store.killsoid({ app: "test", id: 12345 })).toEqual({ kill: 1 });
    expect(await dumpNamespace(raw, store.options.namespace)).toEqual({});
  });

  it("string ttls are numbers in the score and digits in the hash", async () => {
    const store = open({ clock: () => T0 });
    const ns = store.options.namespace;
    const { token } = await store.create({ ...ok, ttl: "3600" });
    expect(await raw.hget(`${ns}:test:${token}`, "ttl")).toBe("3600");
    // redis-sessions 4.0.0 wrote the string concatenation "<now>3600" here.
    expect(await raw.zscore(`${ns}:SESSIONS`, `test:${token}:user1`)).toBe(String(T0 + 3600));
    expect((await store.get({ app: "test", token }))?.ttl).toBe(3600);
  });

  it("an absent ttl means 7200", async () => {
    const store = open();
    for (const ttl of [undefined, null]) {
      const { token } = await store.create({ ...ok, ttl: ttl as Loose });
      expect((await store.get({ app: "test", token }))?.ttl).toBe(7200);
    }
  });

  it("deltaTime accepts digit strings and, as redis-sessions' parseInt, floats >= 10", async () => {
    const store = open();
    await store.create(ok);
    for (const deltaTime of [10, "60", 60.5, 10.9]) {
      expect(await store.activity({ app: "test", deltaTime })).toEqual({ activity: 1 });
    }
  });
});

describe("limits on d", () => {
  const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
  // {"v":"…"} is the string's length + 8 bytes.
  const sized = (bytes: number) => ({ v: "x".repeat(bytes - 8) });

  it("defaults: 256 keys and 64 KiB pass, one more of either fails with a 413", async () => {
    const store = open();
    expect(store.options.maxDataKeys).toBe(256);
    expect(store.options.maxDataBytes).toBe(65_536);
    expect(JSON.stringify(sized(65_536)).length).toBe(65_536);
    const a = await store.create({ ...ok, d: keys(256) });
    expect(Object.keys((await store.get({ app: "test", token: a.token }))?.d ?? {})).toHaveLength(
      256,
    );
    await store.create({ ...ok, d: sized(65_536) });
    const before = await dumpNamespace(raw, store.options.namespace);

    const many = await rejection(store.create({ ...ok, d: keys(257) }));
    expectError(many, "limitExceeded", "d must not have more than 256 keys", "ERS_D_TOO_MANY_KEYS");
    expect(many.status).toBe(413);
    const large = await rejection(store.create({ ...ok, d: sized(65_537) }));
    expectError(
      large,
      "limitExceeded",
      "d must not be larger than 65536 bytes when serialized",
      "ERS_D_TOO_LARGE",
    );
    expect(large.status).toBe(413);
    await rejection(store.set({ app: "test", token: a.token, d: keys(257) }));
    expect(await dumpNamespace(raw, store.options.namespace)).toEqual(before);
  });

  it("limits are configurable and count UTF-8 bytes", async () => {
    const store = open({ maxDataBytes: 60, maxDataKeys: 3 });
    await store.create({ ...ok, d: keys(3) });
    await store.create({ ...ok, d: sized(60) });
    expect((await rejection(store.create({ ...ok, d: keys(4) }))).code).toBe("ERS_D_TOO_MANY_KEYS");
    expect((await rejection(store.create({ ...ok, d: sized(61) }))).code).toBe("ERS_D_TOO_LARGE");
    // 30 characters, 60 bytes of UTF-8: 68 bytes serialized.
    expect((await rejection(store.create({ ...ok, d: { v: "é".repeat(30) } }))).code).toBe(
      "ERS_D_TOO_LARGE",
    );
  });

  it("null entries (deletions) count toward neither limit", async () => {
    const store = open({ maxDataBytes: 60, maxDataKeys: 3 });
    const { token } = await store.create({ ...ok, d: { ...keys(3), gone: null, alsoGone: null } });
    expect((await store.get({ app: "test", token }))?.d).toEqual(keys(3));
    const patch = { k0: null, k1: null, k2: null, x: null, [`y${"z".repeat(80)}`]: null };
    const s = await store.set({ app: "test", token, d: patch });
    expect(s && "d" in s).toBe(false);
  });

  it("limits hold after a set merge, and a refused set writes nothing", async () => {
    const store = open({ maxDataBytes: 100, maxDataKeys: 3, clock: () => T0 });
    const ns = store.options.namespace;
    const { token } = await store.create({ ...ok, d: { a: 1, b: 2, c: "x".repeat(60) } });
    const before = await dumpNamespace(raw, ns);
    const many = await rejection(store.set({ app: "test", token, d: { d: 4 } }));
    expectError(many, "limitExceeded", "d must not have more than 3 keys", "ERS_D_TOO_MANY_KEYS");
    const large = await rejection(store.set({ app: "test", token, d: { c: "x".repeat(90) } }));
    expectError(
      large,
      "limitExceeded",
      "d must not be larger than 100 bytes when serialized",
      "ERS_D_TOO_LARGE",
    );
    expect(await dumpNamespace(raw, ns)).toEqual(before);
    // Replacing and deleting within the limits still works.
    const s = await store.set({ app: "test", token, d: { a: null, d: 4 } });
    expect(s?.d).toEqual({ b: 2, c: "x".repeat(60), d: 4 });
  });
});
