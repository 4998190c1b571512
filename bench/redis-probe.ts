import { readFileSync } from "node:fs";
import { Redis } from "ioredis";

/** The probe's connection name: its own commands are left out of every figure. */
const PROBE_NAME = "bench-probe";

/** The slowest command in a window. */
export interface Slowest {
  /** Its duration in µs, as Redis measured it (a script or EXEC includes what it ran). */
  micros: number;
  /** Its name, e.g. `EVALSHA`, `EXEC`, `ZRANGE`. */
  command: string;
  /**
   * True when `micros` is an upper bound: the slowest of several MULTI/EXEC transactions,
   * known only to the bucket of Redis' latency histogram (a factor of 2).
   */
  bound: boolean;
  /** True when the log was full, so older entries were dropped and `micros` may be too low. */
  overflowed: boolean;
  /**
   * The 99.9th percentile (µs) of this command's calls in the window (INFO latencystats), to
   * set beside the maximum: on a shared machine one call now and then waits for a CPU mid-way,
   * and the maximum shows that wait.
   */
  p999?: number;
}

/** Commands Redis ran in a window, by name (from INFO commandstats; scripts' own calls too). */
export type CommandMix = Record<string, number>;

/** Calls and µs of one command in a window (INFO commandstats after CONFIG RESETSTAT). */
export interface CommandStat {
  calls: number;
  usec: number;
}

/** Per-second CPU and command counters of redis-server, for per-request figures. */
export interface RedisCounters {
  cpuSeconds: number;
  commands: number;
}

const field = (info: string, name: string) =>
  Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? Number.NaN);

/**
 * A connection of the bench to its private redis-server: memory, SLOWLOG, command counts and
 * CPU. Never pointed at a shared Redis: it flushes.
 */
export class RedisProbe {
  private readonly redis: Redis;
  private maxLen = 0;

  /** `pid`: redis-server's process id, for its CPU time and run-queue wait (Linux). */
  constructor(
    host: string,
    port: number,
    private readonly pid?: number,
  ) {
    this.redis = new Redis({ host, port, connectionName: PROBE_NAME, maxRetriesPerRequest: null });
  }

  /**
   * redis-server's CPU time and time spent runnable but waiting for a CPU, in ms, from
   * /proc/<pid>/schedstat; undefined where that file does not exist.
   */
  schedule(): { cpuMs: number; waitMs: number } | undefined {
    if (this.pid === undefined) return undefined;
    try {
      const [cpu, wait] = readFileSync(`/proc/${this.pid}/schedstat`, "utf8")
        .split(" ")
        .map(Number);
      return { cpuMs: cpu! / 1e6, waitMs: wait! / 1e6 };
    } catch {
      return undefined;
    }
  }

  /** Sets SLOWLOG's length once; the threshold is set per measurement. */
  async setup(slowlogMaxLen: number): Promise<void> {
    this.maxLen = slowlogMaxLen;
    await this.send("CONFIG", "SET", "slowlog-max-len", String(slowlogMaxLen));
    await this.logFrom(-1);
  }

  /** `slowlog-log-slower-than` in µs; -1 turns the log off. */
  async logFrom(micros: number): Promise<void> {
    await this.send("CONFIG", "SET", "slowlog-log-slower-than", String(micros));
  }

  async resetSlowlog(): Promise<void> {
    await this.send("SLOWLOG", "RESET");
  }

  /**
   * The slowest command since the last resets of SLOWLOG and of the stats, leaving out the
   * probe's own. Commands run inside a script are logged (Redis 7) before the EVALSHA that ran
   * them, which includes their time. EXEC is never logged (its commands are, one by one), yet a
   * transaction blocks Redis for all of them: its time comes from INFO commandstats (exact for
   * one EXEC) or, for several, from the latency histogram (an upper bound).
   */
  async slowest(stats: Record<string, CommandStat>): Promise<Slowest | undefined> {
    const logged = await this.slowestLogged();
    const exec = stats.exec;
    let slowest = logged;
    if (exec && exec.calls > 0) {
      const micros = exec.calls === 1 ? exec.usec : await this.histogramTop("exec");
      if (!logged || micros > logged.micros) {
        const overflowed = logged?.overflowed ?? false;
        slowest = { micros, command: "EXEC", bound: exec.calls > 1, overflowed };
      }
    }
    if (!slowest) return undefined;
    const p999 = (await this.percentiles())[slowest.command.toLowerCase()]?.p999;
    return p999 === undefined ? slowest : { ...slowest, p999 };
  }

  /** p50, p99 and p99.9 in µs per command since the last {@link resetStats}. */
  async percentiles(): Promise<Record<string, { p50: number; p99: number; p999: number }>> {
    const info = await this.info("latencystats");
    const out: Record<string, { p50: number; p99: number; p999: number }> = {};
    const line = /^latency_percentiles_usec_([^:]+):p50=([\d.]+),p99=([\d.]+),p99\.9=([\d.]+)/gm;
    for (const m of info.matchAll(line)) {
      out[m[1]!] = { p50: Number(m[2]), p99: Number(m[3]), p999: Number(m[4]) };
    }
    return out;
  }

  /** The upper bound (µs) of the highest non-empty bucket of a command's latency histogram. */
  private async histogramTop(command: string): Promise<number> {
    const reply = (await this.send("LATENCY", "HISTOGRAM", command)) as [
      string,
      [string, number, string, number[]],
    ];
    const buckets = reply[1]?.[3] ?? [];
    return buckets.length >= 2 ? buckets[buckets.length - 2]! : 0;
  }

  private async slowestLogged(): Promise<Slowest | undefined> {
    const entries = (await this.send("SLOWLOG", "GET", "-1")) as [
      number,
      number,
      number,
      string[],
      string,
      string,
    ][];
    let best: Slowest | undefined;
    for (const [, , micros, args, , name] of entries) {
      if (name === PROBE_NAME) continue;
      if (!best || micros > best.micros) {
        best = { micros, command: (args[0] ?? "?").toUpperCase(), bound: false, overflowed: false };
      }
    }
    if (best) best.overflowed = entries.length >= this.maxLen;
    return best;
  }

  /** Starts a window: zeroes INFO commandstats and the latency histograms (CONFIG RESETSTAT). */
  async resetStats(): Promise<void> {
    await this.send("CONFIG", "RESETSTAT");
  }

  /** Calls and µs per command since the last {@link resetStats}, the probe's own left out. */
  async commandStats(): Promise<Record<string, CommandStat>> {
    const info = await this.info("commandstats");
    const out: Record<string, CommandStat> = {};
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
      if (/^(info|slowlog|config|ping|client|flushall|latency)/.test(m[1]!)) continue;
      out[m[1]!] = { calls: Number(m[2]), usec: Number(m[3]) };
    }
    return out;
  }

  /** Bytes of Redis' Lua heap (INFO memory used_memory_lua). */
  async luaMemory(): Promise<number> {
    return field(await this.info("memory"), "used_memory_lua");
  }

  /** Bytes Redis has allocated (INFO memory used_memory). */
  async usedMemory(): Promise<number> {
    return field(await this.info("memory"), "used_memory");
  }

  /** CPU seconds (user + system) and commands processed so far. */
  async counters(): Promise<RedisCounters> {
    const info = await this.info("default");
    return {
      cpuSeconds: field(info, "used_cpu_user") + field(info, "used_cpu_sys"),
      commands: field(info, "total_commands_processed"),
    };
  }

  /** Deletes every key, synchronously, so that the memory is back before the next measurement. */
  async flush(): Promise<void> {
    await this.send("FLUSHALL", "SYNC");
  }

  /** Saves the data set to `file` in the server's directory (blocking, as SAVE is). */
  async snapshot(file: string): Promise<void> {
    await this.send("CONFIG", "SET", "dbfilename", file);
    await this.send("SAVE");
  }

  /** Replaces the data set with the one saved to `file` (DEBUG RELOAD NOSAVE). */
  async restore(file: string): Promise<void> {
    await this.send("CONFIG", "SET", "dbfilename", file);
    await this.send("DEBUG", "RELOAD", "NOSAVE");
  }

  /**
   * Resolves once Redis answers again: a script that outlived its caller's timeout keeps Redis
   * busy (and answers BUSY after 5 s) until it ends.
   */
  async idle(): Promise<void> {
    await this.send("PING");
  }

  /**
   * Sends one command; while Redis answers BUSY (a script has run for more than 5 s), waits
   * and sends it again.
   */
  private async send(command: string, ...args: string[]): Promise<unknown> {
    for (;;) {
      try {
        return await this.redis.call(command, ...args);
      } catch (err) {
        if (!String((err as Error).message).startsWith("BUSY")) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private async info(section: string): Promise<string> {
    return String(await this.send("INFO", section));
  }

  quit(): void {
    this.redis.disconnect();
  }
}
