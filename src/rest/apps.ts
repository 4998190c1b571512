import type { Redis } from "ioredis";
import type { KeyLayout } from "../keys.js";
import type { RedisClient } from "../script.js";

const APP = /^[\w-]{3,20}$/;
/** SCAN calls per node before giving up: keeps one dashboard request bounded on a huge keyspace. */
const MAX_SCANS = 200;
const SCAN_COUNT = 1000;

/** The apps found by {@link listApps}; `partial` when the scan stopped before the end. */
export interface AppList {
  apps: string[];
  partial: boolean;
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

async function scanNode(
  node: Redis,
  pattern: string,
  head: string,
  tail: string,
  found: Set<string>,
): Promise<boolean> {
  let cursor = "0";
  for (let i = 0; i < MAX_SCANS; i++) {
    const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", SCAN_COUNT);
    for (const key of keys) {
      const app = key.slice(head.length, key.length - tail.length);
      // A user id may itself end in ":_sessions" (`rs:app:us:x:_sessions`); app names can't.
      if (APP.test(app)) found.add(app);
    }
    cursor = next;
    if (cursor === "0") return false;
  }
  return true;
}

/**
 * The apps that have a sessions index in Redis, found with SCAN (never KEYS), on every master of
 * a cluster. Bounded: after {@link MAX_SCANS} calls per node the list is returned as `partial`.
 */
export async function listApps(client: RedisClient, keys: KeyLayout): Promise<AppList> {
  // Derive the key shape from the layout rather than repeating it here.
  const marker = "\u0000";
  const [head = "", tail = ""] = keys.sessions(marker).split(marker);
  const pattern = `${globEscape(head)}*${globEscape(tail)}`;
  const nodes: Redis[] =
    "nodes" in client && typeof client.nodes === "function"
      ? client.nodes("master")
      : [client as Redis];
  const found = new Set<string>();
  let partial = false;
  for (const node of nodes) {
    if (await scanNode(node, pattern, head, tail, found)) partial = true;
  }
  return { apps: [...found].sort(), partial };
}
