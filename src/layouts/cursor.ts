import { errorOf } from "../errors.js";

/*
 * The opaque cursors of paged listings (soapp and soid with `limit`). They are plain ASCII,
 * safe in a URL query, and checked here before any Redis command:
 *
 * - `s<score>_<hex>` / `m<score>_<hex>`: a position in a `_sessions` index (score in seconds, or
 *   in milliseconds as the Elixir port writes them; the first bytes of the member, in hex);
 * - `c<digits>[_<hex>]`: an SSCAN cursor over a user's set of tokens, and where in that step the
 *   page ended (compat layout);
 * - `t<hex>`: the first bytes of the last token listed of a user (cluster layout).
 */

/** Most sessions one page may ask for. */
export const MAX_PAGE = 1000;

/** A position in a score-ordered index: range flag, score text, member prefix in hex. */
export interface Position {
  range: "s" | "m";
  score: string;
  hex: string;
}

const POSITION =
  /^([sm])(-?(?:inf|\d{1,20}(?:\.\d{1,20})?(?:e-?\d{1,3})?))_((?:[0-9a-f]{2}){1,16})$/;
const SCAN = /^c(\d{1,20})(?:_((?:[0-9a-f]{2}){1,16}))?$/;
const AFTER = /^t((?:[0-9a-f]{2}){1,16})$/;

function invalid(): never {
  throw errorOf("ERS_INVALID_CURSOR", "Invalid cursor");
}

/** The page size: an integer from 1 to {@link MAX_PAGE}. */
export function validLimit(value: unknown): number {
  const n = typeof value === "string" && /^\d{1,5}$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_PAGE) {
    throw errorOf("ERS_INVALID_LIMIT", `limit must be an integer from 1 to ${MAX_PAGE}`);
  }
  return n;
}

/** A cursor from a caller: null (or absent, or "") for the first page, else its text. */
export function validCursor(value: unknown): string | null {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value !== "string" || !/^[a-z][0-9A-Za-z._-]{1,80}$/.test(value)) invalid();
  return value;
}

/** Reads a position cursor (soapp); null for the first page. */
export function readPosition(cursor: string | null): Position | null {
  if (cursor === null) return null;
  const m = POSITION.exec(cursor);
  if (!m) invalid();
  return { range: m[1] as "s" | "m", score: m[2] as string, hex: m[3] as string };
}

/** The cursor of a position a script returned as {range, score text, member prefix in hex}. */
export function writePosition(reply: unknown): string | null {
  if (!Array.isArray(reply) || reply.length < 3) return null;
  const [range, score, hex] = reply.map(String) as [string, string, string];
  // Redis prints large scores as 1.7e+16: "+" is a space in a query string.
  return `${range}${score.replace("e+", "e")}_${hex}`;
}

/** Reads an SSCAN cursor: the step ("0" for the first page) and where in it ("" for its start). */
export function readScan(cursor: string | null): { scan: string; after: string } {
  if (cursor === null) return { scan: "0", after: "" };
  const m = SCAN.exec(cursor);
  if (!m) invalid();
  return { scan: m[1] as string, after: m[2] ?? "" };
}

/** The cursor after an SSCAN page, or null when the scan is complete. */
export function writeScan(scan: string, after: string | null): string | null {
  if (after) return `c${scan}_${after}`;
  return scan === "0" ? null : `c${scan}`;
}

/** Reads a token-prefix cursor (hex, "" for the first page). */
export function readAfter(cursor: string | null): string {
  if (cursor === null) return "";
  const m = AFTER.exec(cursor);
  if (!m) invalid();
  return m[1] as string;
}

/** The cursor after a token-prefix page, or null when it was the last. */
export function writeAfter(hex: string | null | undefined): string | null {
  return hex ? `t${hex}` : null;
}
