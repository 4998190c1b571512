import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { Redis } from "ioredis";
import type { BenchConfig } from "./config.js";
import { pool, ratio, type Summary, summarize } from "./stats.js";
import { VARIANTS, type Variant } from "./variants.js";

/** Requests per second of one variant, and how it compares with bare Express. */
export interface HttpRow {
  variant: Variant;
  label: string;
  /** Requests per second. */
  rps: Summary;
  /** Median latency in ms. */
  p50: Summary;
  /** 99th percentile latency in ms. */
  p99: Summary;
  /** CPU time of the server process per request, in µs (steadier than rps on a busy machine). */
  serverCpu: Summary;
  /** CPU time of redis-server per request, in µs. */
  redisCpu: Summary;
  /** rps / bare Express rps, per repetition. */
  vsExpress: Summary;
}

/** A variant's server process, and the sessions logged in to it. */
export interface RunningServer {
  port: number;
  child: ChildProcess;
  /** Request headers of the logged-in sessions the load cycles through. */
  sessions: Record<string, string>[];
  /** What the server said about itself once listening (e.g. the `touchAfter` it applied). */
  info: Record<string, unknown>;
}

const serverFile = fileURLToPath(new URL("./http-server.ts", import.meta.url));

/** Starts one variant's server in a process of its own; `args` go after the Redis URL. */
export function startServer(
  variant: Variant,
  redisUrl: string,
  args: readonly string[] = [],
): Promise<RunningServer> {
  const profileDir = process.env.BENCH_CPU_PROF;
  const flags = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const child = spawn(
    process.execPath,
    [...flags, "--import", "tsx", serverFile, variant, redisUrl, ...args],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`server ${variant} did not start`));
    }, 30_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server ${variant} exited with ${code}`));
    });
    const lines = createInterface({ input: child.stdout! });
    lines.once("line", (line) => {
      clearTimeout(timer);
      child.removeAllListeners("exit");
      const { port, ...info } = JSON.parse(line) as { port: number } & Record<string, unknown>;
      resolve({ port, child, sessions: [], info });
    });
  });
}

export function stopServer(server: RunningServer): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/**
 * Logs `n` users in, `concurrency` at a time; keeps the headers (token header or cookie) each
 * must send.
 */
export async function login(
  server: RunningServer,
  n: number,
  variant: Variant,
  concurrency = 1,
): Promise<void> {
  const base = `http://127.0.0.1:${server.port}`;
  await pool(n, concurrency, async () => {
    const res = await fetch(`${base}/login`, { method: "POST" });
    if (!res.ok) throw new Error(`${variant}: login answered ${res.status}`);
    const body = (await res.json()) as { headers: Record<string, string> };
    const cookies = res.headers.getSetCookie().map((c) => c.split(";")[0]!);
    server.sessions.push({
      ...body.headers,
      ...(cookies.length > 0 ? { cookie: cookies.join("; ") } : {}),
    });
  });
  // The session must really be read: a variant that lost it would answer user null, fast.
  const check = await fetch(`${base}/`, { headers: server.sessions[0] });
  const { user } = (await check.json()) as { user: string | null };
  if ((variant === "express") !== (user === null)) {
    throw new Error(`${variant}: GET / answered user ${user}`);
  }
}

/** One autocannon run against one server. */
export interface Run {
  rps: number;
  p50: number;
  p99: number;
  /** Server process CPU µs per request. */
  serverCpu: number;
  /** redis-server CPU µs per request (used_cpu_user + used_cpu_sys). */
  redisCpu: number;
  /** Commands Redis ran per request, those inside scripts included. */
  redisCommands: number;
}

/** CPU seconds redis-server has used, and the commands it has run. */
async function redisCounters(redis: Redis): Promise<{ cpu: number; commands: number }> {
  const info = await redis.info();
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return {
    cpu: field("used_cpu_user") + field("used_cpu_sys"),
    commands: field("total_commands_processed"),
  };
}

/** CPU µs the server process has used. */
async function serverCpuMicros(server: RunningServer): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${server.port}/__cpu`);
  return ((await res.json()) as { us: number }).us;
}

/** Drives `server` with autocannon for `seconds`: requests/s, latency and CPU per request. */
export async function load(
  server: RunningServer,
  redis: Redis,
  seconds: number,
  connections: number,
): Promise<Run> {
  // Each request takes the next session in turn, so the connections never march in step over
  // the same session (as a fixed request list would make them): at any moment `connections`
  // different users are in flight, as on a real site.
  let next = 0;
  const redis0 = await redisCounters(redis);
  const server0 = await serverCpuMicros(server);
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}`,
    connections,
    duration: seconds,
    // autocannon stops at a sample tick: short runs need short ticks to end on time.
    sampleInt: Math.min(1000, Math.max(50, Math.round((seconds * 1000) / 3))),
    requests: [
      {
        method: "GET",
        path: "/",
        setupRequest: (req) => ({
          ...req,
          headers: server.sessions[next++ % server.sessions.length]!,
        }),
      },
    ],
  });
  if (result.errors || result.timeouts || result.non2xx) {
    throw new Error(
      `autocannon: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`,
    );
  }
  const serverCpu = (await serverCpuMicros(server)) - server0;
  const redis1 = await redisCounters(redis);
  const requests = result.requests.total;
  return {
    rps: requests / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    serverCpu: serverCpu / requests,
    redisCpu: ((redis1.cpu - redis0.cpu) * 1e6) / requests,
    // The INFO that reads the counters is one command itself.
    redisCommands: (redis1.commands - redis0.commands - 1) / requests,
  };
}

/**
 * Every variant in its own process, all started up front; autocannon drives them one at a
 * time, in an order that rotates with each repetition. `vsExpress` compares with the first.
 */
export async function httpBench(
  cfg: BenchConfig,
  redisUrl: string,
  log: (line: string) => void,
  variants: readonly { variant: Variant; label: string }[] = VARIANTS,
): Promise<HttpRow[]> {
  const { seconds, warmupSeconds, connections, sessions } = cfg.http;
  const servers = new Map<Variant, RunningServer>();
  const runs = new Map<Variant, Run[]>();
  const redis = new Redis(redisUrl);
  try {
    const started = await Promise.all(
      variants.map(async ({ variant }) => [variant, await startServer(variant, redisUrl)] as const),
    );
    log("http: servers started");
    for (const [variant, server] of started) {
      servers.set(variant, server);
      runs.set(variant, []);
      await login(server, sessions, variant);
      await load(server, redis, warmupSeconds, connections);
      log(`http: ${variant} warmed up`);
    }
    for (let rep = 0; rep < cfg.http.reps; rep++) {
      for (let v = 0; v < variants.length; v++) {
        const { variant } = variants[(v + rep) % variants.length]!;
        runs.get(variant)!.push(await load(servers.get(variant)!, redis, seconds, connections));
      }
      log(`http: rep ${rep + 1}/${cfg.http.reps} done`);
    }
  } finally {
    redis.disconnect();
    await Promise.all([...servers.values()].map(stopServer));
  }
  const baseline = runs.get(variants[0]!.variant)!.map((r) => r.rps);
  return variants.map(({ variant, label }) => {
    const list = runs.get(variant)!;
    const rps = list.map((r) => r.rps);
    return {
      variant,
      label,
      rps: summarize(rps),
      p50: summarize(list.map((r) => r.p50)),
      p99: summarize(list.map((r) => r.p99)),
      serverCpu: summarize(list.map((r) => r.serverCpu)),
      redisCpu: summarize(list.map((r) => r.redisCpu)),
      vsExpress: ratio(rps, baseline),
    };
  });
}
