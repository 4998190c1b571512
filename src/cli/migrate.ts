import { Command, InvalidArgumentError, Option } from "commander";
import { Redis } from "ioredis";
import { DEFAULT_BUCKETS, MAX_BUCKETS } from "../layouts/cluster/keys.js";
import { ClusterSide } from "../migrate/cluster-side.js";
import { CompatSide } from "../migrate/compat-side.js";
import { type AppReport, type MigrationProgress, migrate } from "../migrate/migrate.js";
import type { Side } from "../migrate/side.js";
import type { RedisClient } from "../redis-client.js";
import { createCluster, type NodeAddress } from "../store/cluster-connection.js";
import { boundedDefaults, close } from "../store/connection.js";
import { integer } from "./flags.js";

/**
 * `express-redis-sessions migrate`: moves live sessions between the compat and the cluster
 * layout (either way), keeping tokens so that nobody is logged out. docs/scaling.md describes
 * the cut-over procedure.
 */

interface MigrateFlags {
  from: string;
  to: string;
  redis?: string;
  cluster?: NodeAddress[];
  toRedis?: string;
  toCluster?: NodeAddress[];
  namespace: string;
  toNamespace?: string;
  buckets: number;
  app?: string[];
  dryRun?: boolean;
  restart?: boolean;
  prune?: boolean;
  batch: number;
  timeout: number;
}

const LAYOUTS = ["compat", "cluster"];

function nodes(value: string): NodeAddress[] {
  const list = value.split(",").map((part) => {
    const m = /^\s*\[?([^\]]+?)\]?:(\d{1,5})\s*$/.exec(part);
    if (!m) throw new InvalidArgumentError(`Expected host:port[,host:port…], got "${part}".`);
    return { host: m[1] as string, port: Number(m[2]) };
  });
  return list;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function connectTo(url: string | undefined, cluster: NodeAddress[] | undefined, timeout: number) {
  if (cluster) return createCluster(cluster, timeout, false);
  const redis = new Redis(url ?? "redis://127.0.0.1:6379", boundedDefaults(timeout));
  redis.on("error", () => {});
  return redis;
}

function sideOf(layout: string, client: RedisClient, namespace: string, buckets: number): Side {
  return layout === "compat"
    ? new CompatSide(client, namespace)
    : new ClusterSide(client, namespace, buckets);
}

/** A one-line progress bar on a terminal, a line per app (and per 10 %) otherwise. */
function progressPrinter(write: (s: string) => void, tty: boolean) {
  let last = 0;
  let lastTenth = -1;
  return {
    update(p: MigrationProgress) {
      const pct = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
      const label = `${p.app} (${p.appIndex}/${p.apps})${p.phase === "prune" ? " pruning" : ""}`;
      if (tty) {
        const now = Date.now();
        if (now - last < 100 && p.done < p.total) return;
        last = now;
        const width = 30;
        const filled = Math.round(pct * width);
        const bar = `${"#".repeat(filled)}${".".repeat(width - filled)}`;
        write(
          `\r[${bar}] ${String(Math.round(pct * 100)).padStart(3)}% ${p.done}/${p.total} ${label}\x1b[K`,
        );
        return;
      }
      const tenth = Math.floor(pct * 10);
      if (tenth !== lastTenth || p.phase === "prune") {
        lastTenth = tenth;
        write(`progress: ${Math.round(pct * 100)}% ${p.done}/${p.total} ${label}\n`);
      }
    },
    end() {
      if (tty) write("\n");
    },
  };
}

function summary(reports: AppReport[], dryRun: boolean): string {
  const lines = reports.map((r) => {
    const parts = [
      `${r.copied} ${dryRun ? "to copy" : "copied"}`,
      `${r.unchanged} unchanged`,
      `${r.expired} expired (skipped)`,
    ];
    if (r.pruned) parts.push(`${r.pruned} pruned`);
    if (r.resumedFrom) parts.push(`resumed at cursor ${r.resumedFrom}`);
    return `  ${r.app}: ${parts.join(", ")}\n`;
  });
  const head = dryRun ? "dry run, nothing written:\n" : "done:\n";
  return reports.length === 0 ? "no apps found\n" : head + lines.join("");
}

async function run(flags: MigrateFlags, write: (s: string) => void): Promise<number> {
  if (!LAYOUTS.includes(flags.from) || !LAYOUTS.includes(flags.to) || flags.from === flags.to) {
    write('migrate: error: --from and --to must be "compat" and "cluster" (either way round)\n');
    return 2;
  }
  const sourceClient = connectTo(flags.redis, flags.cluster, flags.timeout);
  const separate = flags.toRedis !== undefined || flags.toCluster !== undefined;
  const targetClient = separate
    ? connectTo(flags.toRedis, flags.toCluster, flags.timeout)
    : sourceClient;
  const targetNamespace = flags.toNamespace ?? flags.namespace;
  const source = sideOf(flags.from, sourceClient, flags.namespace, flags.buckets);
  const target = sideOf(flags.to, targetClient, targetNamespace, flags.buckets);
  const printer = progressPrinter(write, process.stderr.isTTY === true);
  try {
    const reports = await migrate({
      source,
      target,
      ...(flags.app ? { apps: flags.app } : {}),
      dryRun: flags.dryRun === true,
      restart: flags.restart === true,
      prune: flags.prune === true,
      batch: flags.batch,
      state: { client: targetClient, namespace: targetNamespace },
      onProgress: (p) => printer.update(p),
    });
    printer.end();
    write(summary(reports, flags.dryRun === true));
    return 0;
  } catch (err) {
    printer.end();
    write(`migrate: failed: ${(err as Error).message}\nrun the same command again to resume\n`);
    return 1;
  } finally {
    await Promise.all([source.close(), target.close()]);
    await close(sourceClient);
    if (separate) await close(targetClient);
  }
}

/** The `migrate` subcommand; `write` takes progress and report lines (stderr). */
export function migrateCommand(write: (s: string) => void = (s) => process.stderr.write(s)) {
  return new Command("migrate")
    .description(
      "copy live sessions between the compat and the cluster key layout, keeping tokens " +
        "(resumable; run again to catch up)",
    )
    .addOption(
      new Option("--from <layout>", "layout to read: compat or cluster").makeOptionMandatory(),
    )
    .addOption(
      new Option("--to <layout>", "layout to write: cluster or compat").makeOptionMandatory(),
    )
    .addOption(new Option("--redis <url>", "source Redis URL").env("RS_REDISURL"))
    .addOption(
      new Option("--cluster <nodes>", "source Redis Cluster seed nodes: host:port,…").argParser(
        nodes,
      ),
    )
    .addOption(new Option("--to-redis <url>", "target Redis URL (default: the source)"))
    .addOption(
      new Option("--to-cluster <nodes>", "target Redis Cluster seed nodes").argParser(nodes),
    )
    .addOption(
      new Option("-n, --namespace <ns>", "key prefix of the source")
        .env("RS_NAMESPACE")
        .default("rs"),
    )
    .addOption(new Option("--to-namespace <ns>", "key prefix of the target (default: --namespace)"))
    .addOption(
      new Option("--buckets <n>", "buckets per app of the cluster layout")
        .default(DEFAULT_BUCKETS)
        .argParser(integer(1, MAX_BUCKETS)),
    )
    .addOption(
      new Option("--app <name>", "an app to migrate (repeat; default: every app found)").argParser(
        collect,
      ),
    )
    .addOption(new Option("--dry-run", "read and count only; write nothing"))
    .addOption(new Option("--restart", "ignore the progress an interrupted run saved"))
    .addOption(
      new Option(
        "--prune",
        "then end copied sessions that no longer live in the source (after the old app stopped)",
      ),
    )
    .addOption(
      new Option("--batch <n>", "sessions per read").default(500).argParser(integer(1, 100_000)),
    )
    .addOption(
      new Option("--timeout <ms>", "longest wait for one Redis command")
        .default(5000)
        .argParser(integer(1, 600_000)),
    )
    .action(async (flags: MigrateFlags) => {
      process.exitCode = await run(flags, write);
    });
}
