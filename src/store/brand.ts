/** Marks a store, so that one from another copy of this package is recognised too. */
export const STORE_BRAND = Symbol.for("express-redis-sessions.store");

/** True for a value carrying the store's brand. */
export function isBranded(value: unknown): boolean {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<symbol, unknown>)[STORE_BRAND] === true
  );
}
