import { Redis } from "ioredis";
import {
  load,
  login,
  type Run,
  type RunningServer,
  startServer,
  stopServer,
} from "./http-bench.js";
import type { ScaleConfig } from "./scale-config.js";
import { type Summary, summarize } from "./stats.js";
import { scaleVariants, type Variant } from "./variants.js";

/** What one HTTP request reading a session costs Redis, per variant. */
export interface ScaleHttpRow {
  variant: Variant;
  label: string;
  /** The `touchAfter` the store applied; null when it has none (or does not know the option). */
  touchAfter: number | null;
  /** Whether the variant asked for `touchAfter`. */
  askedTouchAfter: boolean;
  rps: Summary;
  /** redis-server CPU µs per request (INFO cpu: used_cpu_user + used_cpu_sys). */
  redisCpu: Summary;
  /** Commands Redis ran per request, inside scripts included (INFO stats). */
  redisCommands: Summary;
  serverCpu: Summary;
  p99: Summary;
}

/**
 * `GET /` reading the session, under autocannon, with `sessions` users logged in: the Redis
 * CPU per request of this middleware with and without `touchAfter`, and of express-session +
 * connect-redis. Each variant runs in its own process; the order rotates every repetition.
 */
export async function scaleHttp(
  cfg: ScaleConfig,
  redisUrl: string,
  log: (line: string) => void,
): Promise<ScaleHttpRow[]> {
  const { sessions, seconds, warmupSeconds, connections, touchAfter, reps } = cfg.http;
  const variants = scaleVariants(touchAfter);
  const servers = new Map<Variant, RunningServer>();
  const runs = new Map<Variant, Run[]>();
  const redis = new Redis(redisUrl);
  try {
    for (const { variant } of variants) {
      servers.set(variant, await startServer(variant, redisUrl, [String(touchAfter)]));
      runs.set(variant, []);
    }
    for (const [variant, server] of servers) {
      await login(server, sessions, variant, Math.min(50, sessions));
      await load(server, redis, warmupSeconds, connections);
      log(`scale http: ${variant} logged ${sessions} users in and warmed up`);
    }
    for (let rep = 0; rep < reps; rep++) {
      for (let v = 0; v < variants.length; v++) {
        const { variant } = variants[(v + rep) % variants.length]!;
        runs.get(variant)!.push(await load(servers.get(variant)!, redis, seconds, connections));
      }
      log(`scale http: rep ${rep + 1}/${reps} done`);
    }
  } finally {
    redis.disconnect();
    await Promise.all([...servers.values()].map(stopServer));
  }
  return variants.map(({ variant, label }) => {
    const list = runs.get(variant)!;
    const applied = servers.get(variant)!.info.touchAfter;
    const of = (pick: (r: Run) => number) => summarize(list.map(pick));
    return {
      variant,
      label,
      touchAfter: typeof applied === "number" ? applied : null,
      askedTouchAfter: variant.endsWith("-touch"),
      rps: of((r) => r.rps),
      redisCpu: of((r) => r.redisCpu),
      redisCommands: of((r) => r.redisCommands),
      serverCpu: of((r) => r.serverCpu),
      p99: of((r) => r.p99),
    };
  });
}
