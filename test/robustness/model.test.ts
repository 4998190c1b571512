import fc from "fast-check";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRedisSessionsError, RedisSessions } from "../../src/index.js";
import { readRawState, violationsOf } from "./faults/invariants.js";
import { type Outcome, type Patch, SessionModel } from "./faults/session-model.js";
import { adminClient, type RedisServer, startRedisServer } from "./faults/toolbox.js";

/*
 * Model-based test against a real Redis: random sequences of create, get, set, kill, rotate,
 * killsoid, killall, soid, soapp, activity, wipe and time passing, each compared with an
 * in-memory model (test/robustness/faults/session-model.ts), including every stored field. Some steps run
 * 2–3 operations concurrently on two connections, in an order the fast-check scheduler picks;
 * their results must match some serial order of them (linearizability), and Redis must end in
 * that order's state. After each sequence the raw keys must satisfy the layout's invariants,
 * and after a wipe no expired session may be left. Time is the store's fake `clock`.
 */

const APPS = ["app1", "app2"] as const;
const IDS = ["alice", "bob", "c:3", "ünï"] as const;
const MAX_KEYS = 4;
const START = 1_700_000_000;
const NS = "m";

interface Real {
  a: RedisSessions<Record<string, unknown>>;
  b: RedisSessions<Record<string, unknown>>;
  clock: { now: number };
  s: fc.Scheduler;
  raw: Redis;
}

type Store = Real["a"];

/** What the runs exercised, printed at the end so that a weak generator shows. */
const stats = { ops: 0, hits: 0, errors: 0, batches: 0, reordered: 0, wipes: 0, wiped: 0 };

function tally(o: Outcome): void {
  stats.ops++;
  if (!o.ok) stats.errors++;
  else if (o.value && typeof o.value === "object" && ("id" in o.value || "token" in o.value)) {
    stats.hits++;
  }
}

/** An operation that can run alone or in a concurrent batch. */
interface Op {
  label: string;
  /** Runs it on the real store. */
  exec(store: Store, m: SessionModel): Promise<unknown>;
  /** Applies it to a model, given what the real store answered; returns the expected outcome. */
  apply(m: SessionModel, observed: Outcome): Outcome;
  /** Which store runs it: a or b (two connections). */
  onB: boolean;
}

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    // Only the store's own typed errors may come out; anything else fails the test as it is.
    if (!isRedisSessionsError(err)) throw err;
    return { ok: false, code: err.code };
  }
}

/** Results compare by JSON, so key order (redis-sessions' id r w ttl idle ip …) counts too. */
function same(a: Outcome, b: Outcome): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function pick(m: SessionModel, index: number, app: string): { app: string; token: string } {
  if (m.known.length === 0 || index % 5 === 4) return { app, token: "G".repeat(64) };
  return m.known[index % m.known.length] as { app: string; token: string };
}

const app = fc.constantFrom(...APPS);
const id = fc.constantFrom(...IDS);
const onB = fc.boolean();
const value = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.boolean(),
  fc.double({ noDefaultInfinity: false }),
);
const patchKeys = fc.constantFrom("a", "b", "c", "ü", "k:1", "x y");
const patch = fc.dictionary(patchKeys, fc.option(value, { nil: null, freq: 4 }), {
  minKeys: 1,
  maxKeys: 3,
}) as fc.Arbitrary<Patch>;

const createOp = fc
  .record({
    app,
    id,
    ip: fc.constantFrom("127.0.0.1", "::1", "10.0.0.7"),
    ttl: fc.constantFrom(10, 60, 300),
    d: fc.option(patch, { nil: undefined }),
    noResave: fc.boolean(),
    onB,
  })
  .map(
    (p): Op => ({
      label: `create(${p.app},${p.id},ttl=${p.ttl}${p.noResave ? ",no_resave" : ""},d=${JSON.stringify(p.d)})`,
      onB: p.onB,
      exec: (store) =>
        store.create({
          app: p.app,
          id: p.id,
          ip: p.ip,
          ttl: p.ttl,
          d: p.d,
          no_resave: p.noResave,
        }),
      apply: (m, observed) => {
        const token = (observed.ok && (observed.value as { token?: string })?.token) || "";
        if (!/^[0-9A-Za-z]{64}$/.test(token)) return { ok: true, value: "a token" };
        return m.create(p.app, token, p);
      },
    }),
  );

function tokenOp(
  name: string,
  run: (store: Store, app: string, token: string) => Promise<unknown>,
  model: (m: SessionModel, app: string, token: string, observed: Outcome) => Outcome,
) {
  return fc.record({ index: fc.nat(), app, onB }).map((p): Op => {
    let target: { app: string; token: string } | undefined;
    return {
      label: `${name}(#${p.index})`,
      onB: p.onB,
      exec: (store, m) => {
        target = pick(m, p.index, p.app);
        return run(store, target.app, target.token);
      },
      apply: (m, observed) => {
        const t = target as { app: string; token: string };
        return model(m, t.app, t.token, observed);
      },
    };
  });
}

const getOp = tokenOp(
  "get",
  (s, app, token) => s.get({ app, token }),
  (m, app, token) => m.get(app, token),
);
const killOp = tokenOp(
  "kill",
  (s, app, token) => s.kill({ app, token }),
  (m, app, token) => m.kill(app, token),
);
const rotateOp = tokenOp(
  "rotate",
  (s, app, token) => s.rotate({ app, token }),
  (m, app, token, observed) => {
    const next = observed.ok
      ? ((observed.value as { token?: string } | null)?.token ?? null)
      : null;
    return m.rotate(app, token, next);
  },
);
const setOp = fc.tuple(fc.nat(), app, onB, patch).map(([index, a, b, d]): Op => {
  let target: { app: string; token: string } | undefined;
  return {
    label: `set(#${index},${JSON.stringify(d)})`,
    onB: b,
    exec: (store, m) => {
      target = pick(m, index, a);
      return store.set({ ...target, d });
    },
    apply: (m) => m.set(target?.app as string, target?.token as string, d),
  };
});
const killsoidOp = fc.record({ app, id, onB }).map(
  (p): Op => ({
    label: `killsoid(${p.app},${p.id})`,
    onB: p.onB,
    exec: (store) => store.killsoid({ app: p.app, id: p.id }),
    apply: (m) => m.killsoid(p.app, p.id),
  }),
);

/** Runs one operation and compares it with the model. */
class Single implements fc.AsyncCommand<SessionModel, Real> {
  constructor(readonly op: Op) {}
  check = () => true;
  async run(m: SessionModel, r: Real) {
    const observed = await outcome(this.op.exec(this.op.onB ? r.b : r.a, m));
    tally(observed);
    const expected = this.op.apply(m, observed);
    expect(observed).toEqual(expected);
    expect(same(observed, expected)).toBe(true);
  }
  toString = () => this.op.label;
}

/** A read-only query compared with the model (soid, soapp, activity). */
class Query implements fc.AsyncCommand<SessionModel, Real> {
  constructor(
    readonly label: string,
    readonly exec: (s: Store) => Promise<unknown>,
    readonly model: (m: SessionModel) => Outcome,
  ) {}
  check = () => true;
  async run(m: SessionModel, r: Real) {
    const observed = await outcome(this.exec(r.a));
    if (observed.ok && this.label.startsWith("soid")) {
      const list = (observed.value as { sessions: { token: string }[] }).sessions;
      list.sort((x, y) => (x.token < y.token ? -1 : 1));
    }
    const expected = this.model(m);
    expect(observed).toEqual(expected);
    expect(same(observed, expected)).toBe(true);
  }
  toString = () => this.label;
}

class Advance implements fc.AsyncCommand<SessionModel, Real> {
  constructor(readonly seconds: number) {}
  check = () => true;
  async run(m: SessionModel, r: Real) {
    m.now += this.seconds;
    r.clock.now = m.now;
  }
  toString = () => `advance(${this.seconds}s)`;
}

class Wipe implements fc.AsyncCommand<SessionModel, Real> {
  check = () => true;
  async run(m: SessionModel, r: Real) {
    const removed = await r.a.wipe();
    stats.wipes++;
    stats.wiped += removed;
    expect({ ok: true, value: removed }).toEqual(m.wipe());
    const violations = violationsOf(await readRawState(r.raw, NS), { wipedAt: m.now });
    expect(violations).toEqual([]);
  }
  toString = () => "wipe()";
}

function permutations<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) =>
    permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]),
  );
}

/**
 * 2–3 operations at once on two connections, issued in an order the scheduler picks. Their
 * results must be those of one serial order, and Redis must hold that order's final state.
 */
class Concurrent implements fc.AsyncCommand<SessionModel, Real> {
  constructor(readonly ops: Op[]) {}
  check = () => true;
  async run(m: SessionModel, r: Real) {
    const started = this.ops.map((op) =>
      r.s
        .schedule(Promise.resolve(op.label), op.label)
        .then(() => outcome(op.exec(op.onB ? r.b : r.a, m))),
    );
    const observed = await r.s.waitFor(Promise.all(started));
    stats.batches++;
    for (const o of observed) tally(o);
    const raw = await readRawState(r.raw, NS);
    const tried: string[] = [];
    for (const order of permutations(this.ops.map((_, i) => i))) {
      const candidate = m.clone();
      const ok = order.every((i) => {
        const expected = (this.ops[i] as Op).apply(candidate, observed[i] as Outcome);
        return same(observed[i] as Outcome, expected);
      });
      const diff = ok ? candidate.diff(raw) : ["results differ"];
      if (diff.length === 0) {
        // Adopt the serial order that explains what happened.
        if (order.some((v, i) => v !== i)) stats.reordered++;
        for (const i of order) (this.ops[i] as Op).apply(m, observed[i] as Outcome);
        return;
      }
      tried.push(`${order.join(",")}: ${diff[0]}`);
    }
    throw new Error(
      `no serial order explains ${JSON.stringify(observed)}; tried ${tried.join(" | ")}`,
    );
  }
  toString = () => `concurrent[${this.ops.map((o) => o.label).join(", ")}]`;
}

const anyOp = fc.oneof(createOp, getOp, setOp, killOp, rotateOp, killsoidOp);

const commands = [
  createOp.map((op) => new Single(op)),
  createOp.map((op) => new Single(op)),
  getOp.map((op) => new Single(op)),
  setOp.map((op) => new Single(op)),
  setOp.map((op) => new Single(op)),
  killOp.map((op) => new Single(op)),
  rotateOp.map((op) => new Single(op)),
  killsoidOp.map((op) => new Single(op)),
  fc.record({ app, onB }).map(
    (p) =>
      new Single({
        label: `killall(${p.app})`,
        onB: p.onB,
        exec: (s) => s.killall({ app: p.app }),
        apply: (m) => m.killall(p.app),
      }),
  ),
  fc.tuple(app, id).map(
    ([a, i]) =>
      new Query(
        `soid(${a},${i})`,
        (s) => s.soid({ app: a, id: i }),
        (m) => m.soid(a, i),
      ),
  ),
  fc.tuple(app, fc.constantFrom(10, 30, 100, 1000)).map(
    ([a, dt]) =>
      new Query(
        `soapp(${a},${dt})`,
        (s) => s.soapp({ app: a, deltaTime: dt }),
        (m) => m.soapp(a, dt),
      ),
  ),
  fc.tuple(app, fc.constantFrom(10, 30, 100, 1000)).map(
    ([a, dt]) =>
      new Query(
        `activity(${a},${dt})`,
        (s) => s.activity({ app: a, deltaTime: dt }),
        (m) => m.activity(a, dt),
      ),
  ),
  fc.constantFrom(1, 3, 9, 40, 400).map((s) => new Advance(s)),
  fc.constantFrom(1, 3, 9, 40, 400).map((s) => new Advance(s)),
  fc.constant(new Wipe()),
  fc.array(anyOp, { minLength: 2, maxLength: 3 }).map((ops) => new Concurrent(ops)),
  fc.array(anyOp, { minLength: 2, maxLength: 3 }).map((ops) => new Concurrent(ops)),
];

describe("model-based: the store against an in-memory model, on a real Redis", () => {
  let server: RedisServer;
  let raw: Redis;

  beforeAll(async () => {
    server = await startRedisServer();
    raw = adminClient(server.url);
  });

  afterAll(async () => {
    raw?.disconnect();
    await server?.stop();
  });

  it("random sequences (with concurrent steps) agree with the model; invariants hold", async () => {
    await modelRuns(0, 12_000);
  });

  it("the same with touchAfter: reads refresh activity only after 30 s of idleness", async () => {
    await modelRuns(30, 8_000);
  });

  async function modelRuns(touchAfter: number, ms: number): Promise<void> {
    const t0 = Date.now();
    let runs = 0;
    let steps = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.commands(commands, { maxCommands: 50, size: "max" }),
        async (s, cmds) => {
          // Out of time: the remaining runs pass without running. Not fast-check's
          // interruptAfterTimeLimit, which leaves the run it interrupts going in the background
          // (its writes landed in the next test's first run), nor skipAllAfterTimeLimit, which
          // counts skipped runs as failed preconditions and then fails the property.
          if (Date.now() - t0 > ms) return;
          runs++;
          await raw.flushdb();
          const clock = { now: START };
          const opts = {
            redis: server.url,
            namespace: NS,
            wipe: 0,
            maxDataKeys: MAX_KEYS,
            touchAfter,
            // The model checks meaning, not latency: a loaded CI machine must not turn a slow
            // call into a timeout the model does not expect.
            timeout: 10_000,
          };
          const a = new RedisSessions<Record<string, unknown>>({ ...opts, clock: () => clock.now });
          const b = new RedisSessions<Record<string, unknown>>({ ...opts, clock: () => clock.now });
          const model = new SessionModel(START, MAX_KEYS, touchAfter);
          try {
            await fc.asyncModelRun(() => ({ model, real: { a, b, clock, s, raw } }), cmds);
            steps += [...cmds].length;
            const state = await readRawState(raw, NS);
            expect(model.diff(state)).toEqual([]);
            expect(violationsOf(state)).toEqual([]);
          } finally {
            await Promise.all([a.quit(), b.quit()]);
          }
        },
      ),
      { numRuns: 400 },
    );
    console.log(
      `[bound] model (touchAfter ${touchAfter}): runs=${runs} commands=${steps} ms=${Date.now() - t0} ${JSON.stringify(stats)}`,
    );
    expect(runs).toBeGreaterThan(30);
  }
});
