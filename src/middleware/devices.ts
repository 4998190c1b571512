import type { Seconds } from "../types.js";

/**
 * One of a user's sessions as a "your devices" page shows it: never its token, only its handle,
 * which revokes it through `req.rs.revoke(handle)` and grants nothing else
 * (docs/account-security.md).
 */
export interface Device {
  /** The session's handle (22 characters of base64url, derived one-way from its token). */
  handle: string;
  /** True for the session of this request. */
  current: boolean;
  /** When it was created (unix seconds), or null when unknown (an old session of another client). */
  created: number | null;
  /** When it was last active (unix seconds). */
  lastActive: number;
  /** Its last ip (the one of its last read that refreshed its activity). */
  ip: string;
  /** The user agent it logged in with (at most 512 characters), or null when unknown. */
  ua: string | null;
}

/** What a listing entry carries that a device needs (fields of other clients' sessions may lack). */
export interface DeviceEntry {
  handle: string;
  idle: Seconds;
  ip: string;
  created?: number | undefined;
  ua?: string | undefined;
}

/** The devices of a listing, most recently active first; `current` is this request's handle. */
export function toDevices(entries: DeviceEntry[], current: string | null, now: Seconds): Device[] {
  const at = Math.floor(now);
  return entries
    .map((e) => ({
      handle: e.handle,
      current: e.handle === current,
      created: typeof e.created === "number" ? e.created : null,
      lastActive: at - e.idle,
      ip: e.ip,
      ua: typeof e.ua === "string" ? e.ua : null,
    }))
    .sort((a, b) => b.lastActive - a.lastActive || Number(b.current) - Number(a.current));
}
