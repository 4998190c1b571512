import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { Redis } from "ioredis";
import type { BenchConfig } from "./config.js";
import { ratio, type Summary, summarize } from "./stats.js";
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

interface RunningServer {
  port: number;
  child: ChildProcess;
  /** Request headers of the logged-in sessions the load cycles through. */
  sessions: Record<string, string>[];
}

const serverFile = fileURLToPath(new URL("./http-server.ts", import.meta.url));

function startServer(variant: Variant, redisUrl: string): Promise<RunningServer> {
  const profileDir = process.env.BENCH_CPU_PROF;
  const flags = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const child = spawn(
    process.execPath,
    [...flags, "--import", "tsx", serverFile, variant, redisUrl],
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
      const { port } = JSON.parse(line) as { port: number };
      resolve({ port, child, sessions: [] });
    });
  });
}

function stopServer(server: RunningServer): Promise<void> {
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

/** Logs `n` users in; returns the headers (token header or cookie) each must send. */
async function login(server: RunningServer, n: number, variant: Variant): Promise<void> {
  const base = `http://127.0.0.1:${server.port}`;
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${base}/login`, { method: "POST" });
    if (!res.ok) throw new Error(`${variant}: login answered ${res.status}`);
    const body = (await res.json()) as { headers: Record<string, string> };
    const cookies = res.headers.getSetCookie().map((c) => c.split(";")[0]!);
    server.sessions.push({
      ...body.headers,
      ...(cookies.length > 0 ? { cookie: cookies.join("; ") } : {}),
    });
  }
  // The session must really be read: a variant that lost it would answer user null, fast.
  const check = await fetch(`${base}/`, { headers: server.sessions[0] });
  const { user } = (await check.json()) as { user: string | null };
  if ((variant === "express") !== (user === null)) {
    throw new Error(`${variant}: GET / answered user ${user}`);
  }
}

interface Run {
  rps: number;
  p50: number;
  p99: number;
  serverCpu: number;
  redisCpu: number;
}

/** CPU seconds redis-server has used. */
async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info("cpu");
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return field("used_cpu_user") + field("used_cpu_sys");
}

/** CPU µs the server process has used. */
async function serverCpuMicros(server: RunningServer): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${server.port}/__cpu`);
  return ((await res.json()) as { us: number }).us;
}

async function load(
  server: RunningServer,
  redis: Redis,
  seconds: number,
  connections: number,
): Promise<Run> {
  // Each request takes the next session in turn, so the connections never march in step over
  // the same session (as a fixed request list would make them): at any moment `connections`
  // different users are in flight, as on a real site.
  let next = 0;
  const redis0 = await redisCpuSeconds(redis);
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
  const redisCpu = (await redisCpuSeconds(redis)) - redis0;
  const requests = result.requests.total;
  return {
    rps: requests / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    serverCpu: serverCpu / requests,
    redisCpu: (redisCpu * 1e6) / requests,
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
