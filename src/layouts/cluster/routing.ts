import type { ClusterLayout } from "./keys.js";
import type { BucketRegistry } from "./registry.js";

/** Tokens whose session lives outside the bucket they route to, remembered for durableKill. */
const HOMES_MAX = 10_000;

/** A script's answer that the token lives in another bucket: `">bucket:ttl"`. */
export function movedTo(reply: unknown): { bucket: number; pointer: string } | undefined {
  if (typeof reply !== "string" || !reply.startsWith(">")) return undefined;
  const pointer = reply.slice(1);
  const bucket = Number.parseInt(pointer, 10);
  return Number.isSafeInteger(bucket) ? { bucket, pointer } : undefined;
}

/** A script's answer that the token is a rotation alias of another: `"=token"`. */
export function aliasTarget(reply: unknown): string | undefined {
  if (typeof reply !== "string" || !reply.startsWith("=")) return undefined;
  const token = reply.slice(1);
  return /^[0-9A-Za-z]{64}$/.test(token) ? token : undefined;
}

/** What a token-taking operation answered, and whether it went through a rotation alias. */
export interface Resolved {
  reply: unknown;
  /** The token the reply is about (the alias' target when `via`). */
  token: string;
  via: boolean;
}

/**
 * Runs per-token operations where the session is: in the bucket the token routes to, then, for
 * a migrated token, in the bucket its pointer names, and for a rotation alias, again for the
 * token it names (one level: an alias of an alias is no session).
 */
export class TokenRouter {
  private readonly homes = new Map<string, number>();

  constructor(
    private readonly layout: ClusterLayout,
    private readonly registry: BucketRegistry,
  ) {}

  /** `op` for `token`, following a pointer and then an alias; reply null when it is nowhere. */
  async resolved(
    app: string,
    token: string,
    op: (token: string, bucket: number) => Promise<unknown>,
  ): Promise<Resolved> {
    const first = await this.routed(app, token, (b) => op(token, b));
    const to = aliasTarget(first);
    if (!to) return { reply: first, token, via: false };
    const second = await this.routed(app, to, (b) => op(to, b));
    return { reply: aliasTarget(second) ? null : second, token: to, via: true };
  }

  /**
   * Runs `op` in the bucket the token routes to and, when the answer is that the session lives
   * in another bucket (a migrated token), once more there. Null when it is nowhere.
   */
  async routed(
    app: string,
    token: string,
    op: (bucket: number) => Promise<unknown>,
  ): Promise<unknown> {
    await this.registry.check(app);
    const first = await op(this.layout.tokenBucket(token));
    const to = movedTo(first);
    if (!to) return first;
    this.remember(app, token, to.bucket);
    const second = await op(to.bucket);
    return movedTo(second) ? null : second;
  }

  /** Where a migrated token lives, if this process saw it. */
  home(app: string, token: string): number | undefined {
    return this.homes.get(`${app}:${token}`);
  }

  remember(app: string, token: string, bucket: number): void {
    const key = `${app}:${token}`;
    this.homes.delete(key);
    this.homes.set(key, bucket);
    if (this.homes.size > HOMES_MAX) {
      const oldest = this.homes.keys().next().value;
      if (oldest !== undefined) this.homes.delete(oldest);
    }
  }
}

/** Tokens grouped by the bucket `bucketOf` gives. */
export function byBucket(
  tokens: readonly string[],
  bucketOf: (t: string) => number,
): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const t of tokens) {
    const b = bucketOf(t);
    const list = out.get(b);
    if (list) list.push(t);
    else out.set(b, [t]);
  }
  return out;
}
