import { ClusterEngine } from "./cluster-engine.js";
import { CompatEngine } from "./compat-engine.js";
import { type Connection, close } from "./connection.js";
import { confirmWrites, type DurableKill } from "./durable.js";
import type { SessionEngine } from "./engine.js";
import type { KeyLayout } from "./keys.js";
import type { ResolvedStoreOptions } from "./options.js";
import type { RedisClient } from "./script.js";

/** What a kill wrote: one token's session, one id's sessions, or a whole app. */
export type KillTarget = { token: string } | { id: string } | "all";

/**
 * `durableKill`: kills run on a connection of their own (WAIT blocks the connection it is sent
 * on, which must be the one that wrote) and are confirmed on the replicas afterwards.
 */
export class DurableKills {
  constructor(
    /** The engine kills run through, on {@link client}. */
    readonly engine: SessionEngine,
    private readonly client: RedisClient,
    private readonly config: DurableKill,
  ) {}

  /** True when the replicas confirmed every write of this connection up to now. */
  confirm(app: string, target: KillTarget): Promise<boolean> {
    const keys = this.engine instanceof ClusterEngine ? this.engine.writtenKeys(app, target) : [];
    return confirmWrites(this.client, keys, this.config);
  }

  close(): Promise<void> {
    return close(this.client);
  }
}

/** The engine of the configured layout, its key names, and the durable-kill path if on. */
export interface Engines {
  engine: SessionEngine;
  keys: KeyLayout;
  durable: DurableKills | undefined;
}

function engineOn(
  client: RedisClient,
  options: ResolvedStoreOptions,
): CompatEngine | ClusterEngine {
  if (options.layout === "compat")
    return new CompatEngine(client, options.namespace, options.timeout);
  // On a Cluster a command can wait in ioredis' offline queue, where commandTimeout does not
  // apply yet: each call then gets its own deadline.
  const isCluster = "nodes" in client && typeof client.nodes === "function";
  return new ClusterEngine(
    client,
    options.namespace,
    options.buckets,
    options.timeout,
    isCluster ? options.timeout + 100 : undefined,
  );
}

/** Builds the engines of a store. */
export function createEngines(connection: Connection, options: ResolvedStoreOptions): Engines {
  const engine = engineOn(connection.client, options);
  let durable: DurableKills | undefined;
  if (options.durableKill) {
    const client = connection.another();
    durable = new DurableKills(engineOn(client, options), client, options.durableKill);
  }
  return { engine, keys: engine.keys, durable };
}
