/**
 * Soak run (`npm run soak`, not part of `npm test`): the session middleware under Express 5,
 * driven by autocannon for a few minutes while Redis is killed and restarted (and frozen) in
 * between. Passes when no request hangs (autocannon timeouts = 0, worst latency bounded) and the
 * heap stays flat (after a forced GC, before vs after the soak).
 *
 * Environment: SOAK_SECONDS (default 180), SOAK_CONNECTIONS (default 20), SOAK_FAULT_EVERY
 * seconds between faults (default 20), SOAK_MAX_HEAP_GROWTH_MB (default 16).
 */
import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import express from "express";
import { type RequestWithSession, redisSessions } from "../src/index.js";
import { startRedisServer } from "../test/helpers/redis-server.js";

interface AutocannonResult {
  requests: { total: number; average: number };
  latency: { p50: number; p99: number; p99_9: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  "2xx": number;
}
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (req: AutocannonRequest) => AutocannonRequest;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  timeout: number;
  requests: AutocannonRequest[];
}) => Promise<AutocannonResult>;

const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

const SECONDS = Number(process.env.SOAK_SECONDS ?? 180);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 20);
const FAULT_EVERY = Number(process.env.SOAK_FAULT_EVERY ?? 20);
const MAX_GROWTH_MB = Number(process.env.SOAK_MAX_HEAP_GROWTH_MB ?? 16);
const WARMUP_SECONDS = Math.min(15, Math.max(5, Math.floor(SECONDS / 10)));
/** autocannon gives up on a request after this long: such a request counts as hung. */
const HANG_SECONDS = 5;
const SESSIONS = 500;

// A forced GC makes the two heap readings comparable; no command-line flag needed.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function heapMb(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  // AOF, so that sessions survive the kills and the load keeps hitting real sessions.
  const redis = await startRedisServer({ args: ["--appendonly", "yes"] });
  const mw = redisSessions({ app: "soak", store: { redis: redis.url, wipe: 0 } });
  const app = express();
  app.use(mw);
  app.get("/me", async (req, res) => {
    const session = await (req as unknown as RequestWithSession).rs.get();
    res.json({ id: session?.id ?? null });
  });
  app.post("/touch", async (req, res) => {
    const session = await (req as unknown as RequestWithSession).rs.set({ at: Date.now() });
    res.json({ ok: session !== null });
  });
  app.use(
    (err: { status?: number }, _req: express.Request, res: express.Response, _n: () => void) => {
      res.status(err.status ?? 500).json({ error: true });
    },
  );
  const server: Server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const tokens: string[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const { token } = await mw.store.create({ app: "soak", id: `u${i % 100}`, ip: "10.0.0.1" });
    tokens.push(token);
  }
  let n = 0;
  const withCookie = (req: AutocannonRequest): AutocannonRequest => ({
    ...req,
    headers: { ...req.headers, cookie: `rs.sid=${tokens[n++ % tokens.length]}` },
  });
  const requests: AutocannonRequest[] = [
    { method: "GET", path: "/me", setupRequest: withCookie },
    { method: "GET", path: "/me", setupRequest: withCookie },
    { method: "GET", path: "/me", setupRequest: withCookie },
    { method: "POST", path: "/touch", setupRequest: withCookie },
  ];
  const load = (duration: number) =>
    autocannon({ url, connections: CONNECTIONS, duration, timeout: HANG_SECONDS, requests });

  console.log(`soak: warm-up ${WARMUP_SECONDS} s, ${CONNECTIONS} connections`);
  await load(WARMUP_SECONDS);
  const heapBefore = heapMb();

  const faults: string[] = [];
  let soaking = true;
  const nemesis = (async () => {
    for (let i = 0; soaking; i++) {
      await sleep(FAULT_EVERY * 1000);
      if (!soaking) break;
      if (i % 2 === 0) {
        await redis.crash();
        await sleep(1000);
        await redis.restart();
        faults.push("SIGKILL + restart after 1 s");
      } else {
        redis.freeze();
        await sleep(1000);
        redis.thaw();
        faults.push("SIGSTOP 1 s");
      }
      console.log(`soak: fault ${faults.length}: ${faults.at(-1)}`);
    }
  })();
  const duration = Math.max(10, SECONDS - WARMUP_SECONDS);
  console.log(`soak: ${duration} s with a fault every ${FAULT_EVERY} s`);
  const result = await load(duration);
  soaking = false;
  await nemesis;
  const heapAfter = heapMb();

  const growth = heapAfter - heapBefore;
  const report = {
    seconds: duration,
    requests: result.requests.total,
    rps: Math.round(result.requests.average),
    ok2xx: result["2xx"],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyMs: {
      p50: result.latency.p50,
      p99: result.latency.p99,
      p99_9: result.latency.p99_9,
      max: result.latency.max,
    },
    faults: faults.length,
    heapBeforeMb: Number(heapBefore.toFixed(1)),
    heapAfterMb: Number(heapAfter.toFixed(1)),
    heapGrowthMb: Number(growth.toFixed(1)),
  };
  console.log(JSON.stringify(report, null, 2));
  const failures: string[] = [];
  if (result.timeouts > 0) failures.push(`${result.timeouts} requests hung > ${HANG_SECONDS} s`);
  if (result.errors > result.timeouts) failures.push(`${result.errors} connection errors`);
  if (growth > MAX_GROWTH_MB) failures.push(`heap grew ${growth.toFixed(1)} MB`);
  if (faults.length === 0) failures.push("no fault was injected (run longer)");
  if (result["2xx"] === 0) failures.push("no request succeeded");

  await new Promise((r) => server.close(r));
  await mw.store.quit();
  await redis.stop();
  if (failures.length) {
    console.error(`soak: FAIL: ${failures.join("; ")}`);
    process.exitCode = 1;
  } else console.log("soak: PASS");
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
