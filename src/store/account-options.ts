import { fail, integerIn } from "../option-checks.js";

/** Store options for account security (part of {@link StoreOptions}). */
export interface AccountStoreOptions {
  /**
   * Most live sessions one id may have in an app (`number`, an integer from 0 to 10000); `0`
   * means no cap. Checked atomically inside create, so concurrent logins never exceed it;
   * sessions created by other clients (redis-sessions v4) count too.
   * @default 0
   */
  maxSessionsPerUser?: number | undefined;
  /**
   * What a create does when the id already has `maxSessionsPerUser` live sessions
   * (`"evict" | "refuse"`): `"evict"` ends the least recently active ones (each leaves every
   * process' cache and is reported as an `evicted` event); `"refuse"` fails the create with
   * ERS_SESSION_LIMIT (409).
   * @default "evict"
   */
  onSessionLimit?: "evict" | "refuse" | undefined;
}

/** Account options with their defaults applied. */
export interface ResolvedAccountOptions {
  maxSessionsPerUser: number;
  onSessionLimit: "evict" | "refuse";
}

/** The account options' names (the store refuses unknown ones). */
export const ACCOUNT_OPTIONS: Record<keyof AccountStoreOptions, true> = {
  maxSessionsPerUser: true,
  onSessionLimit: true,
};

/** Applies defaults to the account options; throws a `TypeError` naming a bad one. */
export function resolveAccountOptions(options: AccountStoreOptions): ResolvedAccountOptions {
  const max = integerIn(options.maxSessionsPerUser ?? 0, "maxSessionsPerUser", 0, 10_000);
  const mode = options.onSessionLimit ?? "evict";
  if (mode !== "evict" && mode !== "refuse") fail("onSessionLimit", '"evict" or "refuse"', mode);
  return { maxSessionsPerUser: max, onSessionLimit: mode };
}
