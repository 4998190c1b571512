import { masters, type RedisClient } from "../redis-client.js";
import { isAppName } from "../validate.js";
import type { KeyLayout } from "./compat/keys.js";

/** Keys asked for per SCAN call. */
const SCAN_COUNT = 1000;

/** The apps found by {@link listApps}; `partial` when the scan stopped before the end. */
export interface AppList {
  apps: string[];
  partial: boolean;
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

/**
 * The apps that have a sessions index in Redis (for the cluster layout: a bucket registry),
 * found with SCAN, never KEYS, on every master of a cluster. Each SCAN call is bounded work;
 * after `maxScans` calls per node the list is returned as `partial`.
 */
export async function listApps(
  client: RedisClient,
  keys: KeyLayout,
  maxScans = Number.POSITIVE_INFINITY,
): Promise<AppList> {
  // The key shape comes from the layout rather than being repeated here.
  const marker = "\u0000";
  const [head = "", tail = ""] = keys.sessions(marker).split(marker);
  const pattern = `${globEscape(head)}*${globEscape(tail)}`;
  const found = new Set<string>();
  let partial = false;
  for (const node of masters(client)) {
    let cursor = "0";
    let scans = 0;
    do {
      if (scans++ >= maxScans) {
        partial = true;
        break;
      }
      const [next, batch] = await node.scan(cursor, "MATCH", pattern, "COUNT", SCAN_COUNT);
      cursor = next;
      for (const key of batch) {
        const app = key.slice(head.length, key.length - tail.length);
        // A user id may itself end in ":_sessions" (`rs:app:us:x:_sessions`); app names can't.
        if (isAppName(app)) found.add(app);
      }
    } while (cursor !== "0");
  }
  return { apps: [...found].sort(), partial };
}
