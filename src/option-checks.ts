/** Shared checks for option validation: every failure is a TypeError that names the option. */

/** RFC 7230 token characters: what a cookie name and a header name may contain. */
export const TOKEN_CHARS = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;

/** A received value, as error messages show it. */
export function shown(value: unknown): string {
  if (typeof value === "function") return "a function";
  if (typeof value === "string") return JSON.stringify(value);
  try {
    return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
  } catch {
    return typeof value;
  }
}

/** Throws the TypeError for option `name`. */
export function fail(name: string, expected: string, received: unknown): never {
  throw new TypeError(
    `express-redis-sessions: option "${name}" must be ${expected} (received ${shown(received)})`,
  );
}

/** Reads a boolean option. */
export function bool(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") fail(name, "true or false", value);
  return value;
}

/** Reads a finite number option of at least `min`; `undefined` or `null` gives `fallback`. */
export function numberAtLeast(
  value: unknown,
  name: string,
  fallback: number,
  min: number,
  expected: string,
): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    fail(name, expected, value);
  }
  return value;
}

/** Reads an integer option from `min` to `max`. */
export function integerIn(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    fail(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

/** Edit distance with transpositions ("prot" is 1 from "port"), case-insensitive. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let before: number[] = [];
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) {
        d = Math.min(d, (before[j - 2] ?? 0) + 1);
      }
      row.push(d);
    }
    before = prev;
    prev = row;
  }
  return prev[y.length] ?? 0;
}

/** The known name `key` is probably a typo of, if any (at most 1 edit, 2 for long names). */
function nearMiss(key: string, known: ReadonlySet<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const name of known) {
    const d = distance(key, name);
    if (d <= (name.length > 5 ? 2 : 1) && d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Rejects keys that are not options (a typo would otherwise be ignored silently). `hints` maps a
 * likely mistake to advice (`url` → use `redis`); otherwise a near miss is suggested (`prot` →
 * `port`), or the known names are listed.
 */
export function checkKeys(
  obj: object,
  known: ReadonlySet<string>,
  prefix: string,
  hints: Readonly<Record<string, string>> = {},
): void {
  for (const key of Object.keys(obj)) {
    if (known.has(key)) continue;
    const advice = Object.entries(hints).find(([k]) => k.toLowerCase() === key.toLowerCase());
    const near = advice ? undefined : nearMiss(key, known);
    const hint = advice
      ? `; ${advice[1]}`
      : near
        ? `; did you mean "${prefix}${near}"?`
        : `; known options: ${[...known].join(", ")}`;
    throw new TypeError(`express-redis-sessions: unknown option "${prefix}${key}"${hint}`);
  }
}
