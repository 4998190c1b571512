import { isQuick, outputDir } from "./config.js";

/** Sizes of one `npm run bench -- --scale` run. */
export interface ScaleConfig {
  /** `--quick`: tiny sizes for the smoke test; figures mean nothing. */
  quick: boolean;
  /** Sessions in the one app, per size measured (`--sizes 10000,100000`, BENCH_SCALE_SIZES). */
  sizes: number[];
  /** Interleaved repetitions of every measurement at each size. */
  reps: number;
  /** Sessions of the one user with many, as a share of the size (0.1: 100,000 at 1,000,000). */
  heavyShare: number;
  /** Creates pending at once while populating. */
  populateInFlight: number;
  /** Calls per quick operation (create, get, set, kill, soid, activity) for operations/s. */
  opsCalls: number;
  /** Calls of activity for operations/s (in the cluster layout, each is a script per bucket). */
  activityCalls: number;
  /** Calls per quick operation, one at a time, while SLOWLOG logs every command. */
  slowlogCalls: number;
  /** Calls pending at once for the quick operations' operations/s. */
  inFlight: number;
  /**
   * SLOWLOG threshold (µs) for the operations over many sessions. At 0 Redis logs every
   * command, those inside scripts and transactions too, which slowed a script of many calls by
   * 30–60 %: it would inflate exactly the figure measured. Quick operations log from 0.
   */
  bulkSlowlogMicros: number;
  slowlogMaxLen: number;
  http: {
    /** Logged-in sessions the requests cycle through: enough that activity moves on most reads. */
    sessions: number;
    reps: number;
    seconds: number;
    warmupSeconds: number;
    connections: number;
    /** `touchAfter` of the variants that use it, in seconds. */
    touchAfter: number;
  };
  outDir: string | undefined;
}

const FULL_SIZES = [10_000, 100_000, 1_000_000];

function sizesFrom(argv: readonly string[], env: NodeJS.ProcessEnv): number[] | undefined {
  const at = argv.indexOf("--sizes");
  const raw = (at >= 0 ? argv[at + 1] : undefined) ?? env.BENCH_SCALE_SIZES;
  if (raw === undefined) return undefined;
  const sizes = raw.split(",").map((s) => Number(s.trim().replace(/_/g, "")));
  if (sizes.length === 0 || !sizes.every((n) => Number.isInteger(n) && n >= 20)) {
    throw new Error(`--sizes: expected sizes of at least 20, separated by commas, got "${raw}"`);
  }
  return [...sizes].sort((a, b) => a - b);
}

/** Reads `--quick`, `--sizes a,b,c`, `--out <dir>`, `--save` and their environment variables. */
export function readScaleConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ScaleConfig {
  const quick = isQuick(argv, env);
  const outDir = outputDir(argv, env);
  const sizes = sizesFrom(argv, env);
  if (quick) {
    return {
      quick,
      sizes: sizes ?? [100, 300],
      reps: 3,
      heavyShare: 0.1,
      populateInFlight: 20,
      opsCalls: 30,
      activityCalls: 10,
      slowlogCalls: 20,
      inFlight: 5,
      bulkSlowlogMicros: 100,
      slowlogMaxLen: 100_000,
      http: {
        sessions: 20,
        reps: 3,
        seconds: 0.2,
        warmupSeconds: 0.1,
        connections: 5,
        touchAfter: 60,
      },
      outDir,
    };
  }
  return {
    quick,
    sizes: sizes ?? FULL_SIZES,
    reps: 3,
    heavyShare: 0.1,
    populateInFlight: 100,
    opsCalls: 4000,
    activityCalls: 400,
    slowlogCalls: 1000,
    inFlight: 50,
    bulkSlowlogMicros: 100,
    slowlogMaxLen: 1_000_000,
    http: {
      sessions: 10_000,
      reps: 5,
      seconds: 3,
      warmupSeconds: 2,
      connections: 50,
      touchAfter: 60,
    },
    outDir,
  };
}
