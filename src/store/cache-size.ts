import type { Session } from "../types.js";

/*
 * What an entry holds in the V8 heap, as an upper bound (measured on Node 20): the entry
 * and session objects, the token key and lru-cache's bookkeeping; per `d` property a slot and a
 * heap number; per string a header and one byte a character, or two when any character lies
 * beyond Latin-1. Strings that sessions share (common keys) are counted for each session.
 */
const ENTRY_BYTES = 512;
const PROPERTY_BYTES = 24;
const STRING_BYTES = 24;
const TWO_BYTE = /[\u0100-\uffff]/;

function stringBytes(s: string): number {
  return STRING_BYTES + s.length * (TWO_BYTE.test(s) ? 2 : 1);
}

/** The bytes an entry is charged against `cachemaxBytes`. */
export function sizeOf(s: Session<unknown>): number {
  let bytes = ENTRY_BYTES + stringBytes(s.id) + stringBytes(s.ip);
  for (const [key, value] of Object.entries(s.d ?? {})) {
    bytes += PROPERTY_BYTES + stringBytes(key);
    if (typeof value === "string") {
      bytes += stringBytes(value);
    } else if (typeof value === "object" && value !== null) {
      // d written by another client may nest objects: twice their JSON covers their overhead.
      bytes += 2 * stringBytes(JSON.stringify(value));
    }
  }
  return bytes;
}
