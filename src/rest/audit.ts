import type { RedisSessions } from "../store/store.js";
import type { Data } from "../types.js";
import type { EventEntry, ServerLog } from "./server-log.js";

/** The store's lifecycle events that the audit log writes. */
export const AUDIT_EVENTS = ["created", "rotated", "killed", "evicted", "expired"] as const;

/** The fields of an event that go into its line: names and numbers only, never an object. */
function entryOf(event: string, payload: unknown): EventEntry {
  const entry: EventEntry = { event };
  if (typeof payload !== "object" || payload === null) return entry;
  for (const [key, value] of Object.entries(payload)) {
    // A token is never part of an event; this keeps one out even if a payload grew a field.
    if (key === "token") continue;
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      entry[key] = value;
    }
  }
  return entry;
}

/**
 * Writes one log line per session event of `store` (created, rotated, killed, evicted by the
 * per-user cap, expired as found by this process' wipe): app, user id, handles, never a token.
 * Returns the function that stops it.
 */
export function auditEvents(store: RedisSessions<Data>, log: ServerLog): () => void {
  const listeners = AUDIT_EVENTS.map((event) => {
    const listener = (payload: unknown) => log.event(entryOf(event, payload));
    (store as unknown as NodeJS.EventEmitter).on(event, listener);
    return () => (store as unknown as NodeJS.EventEmitter).off(event, listener);
  });
  return () => {
    for (const off of listeners) off();
  };
}
