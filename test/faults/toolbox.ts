import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { Redis } from "ioredis";
import { isStoreError } from "../../src/index.js";
import { type RedisServer, startRedisServer } from "../helpers/redis-server.js";

/*
 * The fault toolbox of the fault-injection suites: a private redis-server per scenario (start,
 * SIGKILL, SIGSTOP/SIGCONT via test/helpers/redis-server.ts), a TCP proxy that can delay, hold or
 * cut traffic, Redis' own fault commands, and the bookkeeping every scenario needs (latency
 * samples, first success after recovery, unhandled errors). Nothing here fakes Redis.
 */

export { type RedisServer, startRedisServer };

/** What the proxy does with the bytes of a connection. */
export type ProxyMode =
  /** Forward both ways at once. */
  | { kind: "pass" }
  /** Forward after `up` ms (client→server) and `down` ms (server→client), order kept. */
  | { kind: "delay"; up?: number; down?: number }
  /**
   * Forward nothing and send nothing back, without closing anything: a partition or a dead
   * link. Bytes are held, not lost, and flow again when the mode changes, just as TCP
   * retransmits after a partition heals (a stream that silently lost bytes would not be TCP).
   */
  | { kind: "blackhole" }
  /**
   * Forward requests; swallow the next chunk of replies, then reset both sockets: the server
   * applied a command whose reply never arrived. The connection's mode is `pass` afterwards.
   */
  | { kind: "dropNextReplyThenReset" };

interface Queued {
  chunk: Buffer;
  due: number;
}

/** One client connection through the proxy and its upstream socket. */
export class ProxyConnection {
  mode: ProxyMode;
  /** The local port of the upstream socket: the `addr` Redis shows in `CLIENT LIST`. */
  upstreamPort = 0;
  private readonly up: Queued[] = [];
  private readonly down: Queued[] = [];
  private upTimer: NodeJS.Timeout | undefined;
  private downTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly client: Socket,
    readonly server: Socket,
    mode: ProxyMode,
    private readonly onClose: (c: ProxyConnection) => void,
    private readonly count: (direction: "up" | "down", bytes: number) => void,
  ) {
    this.mode = mode;
    client.on("data", (chunk) => this.push("up", chunk));
    server.on("data", (chunk) => this.push("down", chunk));
    server.on("connect", () => {
      this.upstreamPort = server.localPort ?? 0;
      this.pump("up");
    });
    const end = () => this.destroy(false);
    for (const s of [client, server]) {
      s.on("error", end);
      s.on("close", end);
    }
  }

  /** Changes the mode; held bytes flow again unless the new mode is a black hole too. */
  setMode(mode: ProxyMode): void {
    this.mode = mode;
    this.pump("up");
    this.pump("down");
  }

  /** Closes both sockets; `reset` sends an RST to the client instead of a FIN. */
  destroy(reset = true): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.upTimer);
    clearTimeout(this.downTimer);
    if (reset && typeof this.client.resetAndDestroy === "function") this.client.resetAndDestroy();
    else this.client.destroy();
    this.server.destroy();
    this.onClose(this);
  }

  private delayOf(direction: "up" | "down"): number {
    const m = this.mode;
    if (m.kind !== "delay") return 0;
    return (direction === "up" ? m.up : m.down) ?? 0;
  }

  private push(direction: "up" | "down", chunk: Buffer): void {
    if (this.closed) return;
    const m = this.mode;
    if (direction === "down" && m.kind === "dropNextReplyThenReset") {
      // The reply is gone; the server has applied the command. Cut the connection.
      this.mode = { kind: "pass" };
      this.destroy(true);
      return;
    }
    this.count(direction, chunk.length);
    const queue = direction === "up" ? this.up : this.down;
    const last = queue.at(-1)?.due ?? 0;
    queue.push({ chunk, due: Math.max(Date.now() + this.delayOf(direction), last) });
    this.pump(direction);
  }

  private pump(direction: "up" | "down"): void {
    if (this.closed || this.mode.kind === "blackhole") return;
    const queue = direction === "up" ? this.up : this.down;
    const target = direction === "up" ? this.server : this.client;
    if (direction === "up" && this.server.connecting) return;
    const now = Date.now();
    while (queue.length && (queue[0] as Queued).due <= now) {
      target.write((queue.shift() as Queued).chunk);
    }
    const timer = direction === "up" ? this.upTimer : this.downTimer;
    clearTimeout(timer);
    if (!queue.length) return;
    const next = setTimeout(() => this.pump(direction), (queue[0] as Queued).due - now);
    if (direction === "up") this.upTimer = next;
    else this.downTimer = next;
  }
}

/**
 * A TCP proxy in front of a Redis server for fault injection. `setMode` applies to every open
 * connection and to new ones; `ProxyConnection.setMode` to one connection only.
 */
export class FaultProxy {
  readonly connections = new Set<ProxyConnection>();
  /** Bytes and connections seen so far. */
  readonly stats = { accepted: 0, bytesUp: 0, bytesDown: 0 };
  private mode: ProxyMode = { kind: "pass" };

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  /** Listens on a free loopback port and forwards to `target`. */
  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    const server = createServer((client) => proxy?.accept(client));
    const port = await new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : 0);
      });
    });
    proxy = new FaultProxy(server, port, target);
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Sets the mode of every open connection and of connections accepted later. */
  setMode(mode: ProxyMode): void {
    this.mode = mode;
    for (const c of this.connections) c.setMode(mode);
  }

  /** Resets every open connection (RST to the client). */
  resetAll(): void {
    for (const c of [...this.connections]) c.destroy(true);
  }

  /** The connection whose upstream socket Redis sees as `127.0.0.1:{port}`. */
  byUpstreamPort(port: number): ProxyConnection | undefined {
    for (const c of this.connections) if (c.upstreamPort === port) return c;
    return undefined;
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.resetAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.stats.accepted++;
    client.setNoDelay(true);
    const server = tcpConnect({ host: this.target.host, port: this.target.port });
    server.setNoDelay(true);
    const conn = new ProxyConnection(
      client,
      server,
      this.mode.kind === "dropNextReplyThenReset" ? { kind: "pass" } : this.mode,
      (c) => this.connections.delete(c),
      (direction, bytes) => {
        if (direction === "up") this.stats.bytesUp += bytes;
        else this.stats.bytesDown += bytes;
      },
    );
    this.connections.add(conn);
  }
}

/** A plain control client for fault commands (short timeouts, no retries, no resend). */
export function adminClient(url: string): Redis {
  const client = new Redis(url, {
    maxRetriesPerRequest: 1,
    commandTimeout: 5000,
    autoResendUnfulfilledCommands: false,
    retryStrategy: () => 50,
  });
  client.on("error", () => {});
  return client;
}

/** `CLIENT PAUSE ms WRITE|ALL`: Redis holds (WRITE: writing) commands for `ms`. */
export async function clientPause(
  admin: Redis,
  ms: number,
  mode: "WRITE" | "ALL" = "WRITE",
): Promise<void> {
  await admin.call("CLIENT", "PAUSE", String(ms), mode);
}

/** `CLIENT KILL TYPE normal|pubsub`: drops every connection of that type; resolves to the count. */
export async function clientKillType(admin: Redis, type: "normal" | "pubsub"): Promise<number> {
  return Number(await admin.call("CLIENT", "KILL", "TYPE", type, "SKIPME", "yes"));
}

/**
 * `DEBUG SLEEP s` on a connection of its own (the command blocks the whole server, and the
 * connection that sends it until it returns). Resolves when Redis is awake again.
 */
export async function debugSleep(url: string, seconds: number): Promise<void> {
  const c = new Redis(url, { maxRetriesPerRequest: 0, commandTimeout: seconds * 1000 + 5000 });
  c.on("error", () => {});
  try {
    await c.call("DEBUG", "SLEEP", String(seconds));
  } finally {
    c.disconnect();
  }
}

/** `CONFIG SET maxmemory` with `noeviction`: writes fail with OOM once memory is over `bytes`. */
export async function setMaxmemory(admin: Redis, bytes: number): Promise<void> {
  await admin.call("CONFIG", "SET", "maxmemory-policy", "noeviction");
  await admin.call("CONFIG", "SET", "maxmemory", String(bytes));
}

/** The `addr` ports of clients in `CLIENT LIST` matching `pred` (e.g. `sub=1`). */
export async function clientPorts(
  admin: Redis,
  pred: (fields: Record<string, string>) => boolean,
): Promise<number[]> {
  const list = String(await admin.call("CLIENT", "LIST"));
  const ports: number[] = [];
  for (const line of list.split("\n")) {
    if (!line.trim()) continue;
    const fields: Record<string, string> = {};
    for (const part of line.trim().split(" ")) {
      const eq = part.indexOf("=");
      if (eq > 0) fields[part.slice(0, eq)] = part.slice(eq + 1);
    }
    if (pred(fields)) ports.push(Number(fields.addr?.split(":").at(-1)));
  }
  return ports;
}

/** Polls `cond` every 10 ms until it is truthy; throws after `deadlineMs`. */
export async function until<T>(
  cond: () => T | Promise<T>,
  deadlineMs: number,
  what = "condition",
): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await cond();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves after `ms`. Only for pacing load and holding a fault, never to await a condition. */
export function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** One timed call. */
export interface Sample {
  /** ms since the epoch when the call was made and when it settled. */
  start: number;
  end: number;
  ms: number;
  ok: boolean;
  /** The error's `code` (or message) when it failed. */
  code?: string;
  error?: unknown;
  value?: unknown;
}

/** Runs `fn` and records when it started and settled and how. Never throws. */
export async function timed<T>(fn: () => Promise<T>): Promise<Sample & { value?: T }> {
  const start = Date.now();
  try {
    const value = await fn();
    const end = Date.now();
    return { start, end, ms: end - start, ok: true, value };
  } catch (error) {
    const end = Date.now();
    const code =
      (error as { code?: string }).code ?? (error instanceof Error ? error.message : String(error));
    return { start, end, ms: end - start, ok: false, code, error };
  }
}

/**
 * Steady load: `workers` loops each call `op` back to back, pausing `gapMs` after each call,
 * until `stop()`. Every settled call is kept as a {@link Sample}.
 */
export class Load {
  readonly samples: Sample[] = [];
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(op: (worker: number, i: number) => Promise<unknown>, workers = 2, gapMs = 10) {
    this.loops = Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; this.running; i++) {
        this.samples.push(await timed(() => op(w, i)));
        if (gapMs) await pause(gapMs);
      }
    });
  }

  /** Stops the loops and waits for the calls in flight. */
  async stop(): Promise<Sample[]> {
    this.running = false;
    await Promise.all(this.loops);
    return this.samples;
  }
}

/** Summary of samples: worst latency, error codes, first success after `after` (ms epoch). */
export function summarize(samples: readonly Sample[], after?: number) {
  const codes: Record<string, number> = {};
  let maxMs = 0;
  let firstOkAfter: number | undefined;
  for (const s of samples) {
    maxMs = Math.max(maxMs, s.ms);
    if (!s.ok) codes[s.code ?? "?"] = (codes[s.code ?? "?"] ?? 0) + 1;
    if (after !== undefined && s.ok && s.start >= after) {
      if (firstOkAfter === undefined || s.end < firstOkAfter) firstOkAfter = s.end;
    }
  }
  return {
    calls: samples.length,
    ok: samples.filter((s) => s.ok).length,
    maxMs,
    codes,
    /** ms from `after` until the first call started after it succeeded. */
    recoveryMs:
      firstOkAfter === undefined || after === undefined ? undefined : firstOkAfter - after,
  };
}

/**
 * Counts unhandled rejections and uncaught exceptions while a scenario runs (vitest would fail
 * the run on them too, but only at the end and without saying which scenario).
 */
export function watchUnhandled(): { readonly errors: unknown[]; stop(): void } {
  const errors: unknown[] = [];
  const onError = (err: unknown) => errors.push(err);
  process.on("unhandledRejection", onError);
  process.on("uncaughtException", onError);
  return {
    errors,
    stop() {
      process.off("unhandledRejection", onError);
      process.off("uncaughtException", onError);
    },
  };
}

/** Prints one measured bound in a greppable form: `[bound] scenario: key=value …`. */
export function report(scenario: string, figures: Record<string, unknown>): void {
  const parts = Object.entries(figures).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  console.log(`[bound] ${scenario}: ${parts.join(" ")}`);
}

/**
 * The pass criteria every scenario shares, as a list of violations (empty when all hold): each
 * call settled within `limitMs`, and each failure is a typed store error (`storeUnavailable`
 * with an `ERS_STORE_*` code), never a raw ioredis error or a crash.
 */
export function badSamples(samples: readonly Sample[], limitMs: number): string[] {
  const out: string[] = [];
  for (const s of samples) {
    if (s.ms > limitMs) out.push(`a call took ${s.ms} ms (> ${limitMs})`);
    if (!s.ok && !isStoreError(s.error)) out.push(`untyped failure: ${String(s.error)}`);
  }
  return out;
}
