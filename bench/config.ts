import { fileURLToPath } from "node:url";

/** Sizes of one bench run. */
export interface BenchConfig {
  /** `--quick` / `BENCH_SIZE=tiny`: tiny sizes for the smoke test; figures mean nothing. */
  quick: boolean;
  store: {
    /** Sessions each operation works on. */
    sessions: number;
    /** Interleaved repetitions (short, so many of them). */
    reps: number;
    /** Passes of get, set, soid and activity over the sessions in each repetition. */
    passes: number;
    /** Calls pending at once in the concurrent modes. */
    inFlight: number;
    /** Calls per operation traced with MONITOR to count commands and round trips. */
    traceCalls: number;
  };
  http: {
    /** Interleaved repetitions of every variant. */
    reps: number;
    /** Seconds per autocannon run. */
    seconds: number;
    /** Seconds of warm-up per server before the first measured run. */
    warmupSeconds: number;
    connections: number;
    /** Logged-in sessions the requests cycle through. */
    sessions: number;
  };
  /** redis-benchmark: interleaved repetitions, requests per run and parallel clients. */
  ceiling: { reps: number; requests: number; clients: number };
  /** Where results.json, results.svg and results.md go; undefined: only print the tables. */
  outDir: string | undefined;
}

const here = fileURLToPath(new URL(".", import.meta.url));

/** `--quick` or BENCH_SIZE=tiny: tiny sizes whose figures mean nothing, for the smoke test. */
export function isQuick(argv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  return argv.includes("--quick") || env.BENCH_SIZE === "tiny";
}

/** Results are written only when asked: `--save` (into bench/), `--out <dir>` or BENCH_OUT. */
export function outputDir(argv: readonly string[], env: NodeJS.ProcessEnv): string | undefined {
  const at = argv.indexOf("--out");
  return (
    (at >= 0 ? argv[at + 1] : undefined) ??
    env.BENCH_OUT ??
    (argv.includes("--save") ? here : undefined)
  );
}

/** Reads `--quick`, `--out <dir>`, `BENCH_SIZE=tiny` and `BENCH_OUT`. */
export function readConfig(argv: readonly string[], env: NodeJS.ProcessEnv): BenchConfig {
  const quick = isQuick(argv, env);
  const outDir = outputDir(argv, env);
  if (quick) {
    return {
      quick,
      store: { sessions: 20, reps: 3, passes: 1, inFlight: 10, traceCalls: 2 },
      http: { reps: 3, seconds: 0.2, warmupSeconds: 0.1, connections: 5, sessions: 5 },
      ceiling: { reps: 3, requests: 500, clients: 5 },
      outDir,
    };
  }
  // About 100 s in all on 2 cores: the store part scales with the machine, HTTP is fixed time.
  return {
    quick,
    store: { sessions: 1000, reps: 11, passes: 3, inFlight: 100, traceCalls: 10 },
    http: { reps: 7, seconds: 1.5, warmupSeconds: 1, connections: 50, sessions: 100 },
    ceiling: { reps: 3, requests: 50_000, clients: 50 },
    outDir,
  };
}
