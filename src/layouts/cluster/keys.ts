import { createHash } from "node:crypto";
import { TOKEN_ALPHABET as ALPHABET, randomAlnum } from "../../token.js";
import type { KeyLayout } from "../compat/keys.js";
import { bucketTag } from "./slots.js";

/**
 * The Redis Cluster layout (`layout: "cluster"`). One app is spread over `buckets` hash tags;
 * every key of one bucket shares one slot, so each operation is one single-slot script.
 *
 * | key                                 | type   | content                                      |
 * |-------------------------------------|--------|----------------------------------------------|
 * | `{ns}:{<tag>}:{token}`              | hash   | id r w ip la ttl [d] [no_resave]; native TTL |
 * | `{ns}:{<tag>}:_sessions`            | zset   | `{token}:{id}` scored by last activity       |
 * | `{ns}:{<tag>}:_users`               | zset   | `{id}` scored by last activity               |
 * | `{ns}:{<tag>}:_ut`                  | zset   | `{id}\0{token}`, score 0: tokens of an id    |
 * | `{ns}:{<tag>}:_lt:{token}`          | string | `{bucket}:{ttl}`: where a migrated token is  |
 * | `{ns}:{<app>}:_buckets`             | string | the app's bucket count (guards a change)     |
 *
 * `<tag>` is `{app}:{bucket}:{salt}`: the 3-character salt is chosen so that bucket b hashes into
 * the b-th of `buckets` equal slot ranges (at an offset that depends on the app, so that apps
 * use different slots). Buckets are therefore spread evenly over the 16384 slots, and a cluster
 * whose masters own contiguous, equal slot ranges (what `redis-cli --cluster create` makes) gets
 * an equal share of every app, where plain `{app:b}` tags land on random slots (64 of them gave
 * 19/19/26 on 3 masters).
 *
 * All sessions of one id live in the bucket `sha256(id) mod buckets`; a token's first two
 * characters name its bucket in base 62 (`[0-9A-Za-z]`), so a token is routed without a lookup.
 * The user index is a lexicographic zset rather than a set per id, so that `kill`, which learns
 * the id only from the session hash, can update it without touching an undeclared key. There
 * is no expiry index: hashes expire by themselves, and the wipe finds the index entries they
 * leave behind by walking `_sessions` from its least recent end (a session's activity is its
 * score), which saves an index entry (about 180 bytes) per session.
 */

/** Apps whose bucket tags are kept once computed. */
const TAGS_KEPT = 1000;

/** Most buckets: two base-62 characters. */
export const MAX_BUCKETS = 62 * 62;
/**
 * The default bucket count: 60 spreads an app exactly evenly over 2, 3, 4, 5 or 6 masters with
 * equal slot ranges (and within 7 % for 7–10), at the price of 60 calls for app-wide operations.
 */
export const DEFAULT_BUCKETS = 60;

function digit(c: string): number {
  const code = c.charCodeAt(0);
  if (code <= 57) return code - 48; // 0-9
  if (code <= 90) return code - 55; // A-Z
  return code - 61; // a-z
}

/** Key names and token routing of the cluster layout for one namespace and bucket count. */
export class ClusterLayout {
  /** The namespace prefix with its colon (`rs:`). */
  readonly prefix: string;
  private readonly tags = new Map<string, string[]>();

  constructor(
    namespace: string,
    readonly buckets: number,
  ) {
    this.prefix = `${namespace}:`;
  }

  /** The bucket every session of `id` lives in. */
  userBucket(id: string): number {
    return createHash("sha256").update(id, "utf8").digest().readUInt32BE(0) % this.buckets;
  }

  /**
   * The bucket a token routes to: its first two characters in base 62, modulo the bucket count,
   * so that every well-formed token routes somewhere (tokens migrated from the compat layout
   * name no bucket; a pointer in the bucket they route to tells where they live).
   */
  tokenBucket(token: string): number {
    return (digit(token[0] as string) * 62 + digit(token[1] as string)) % this.buckets;
  }

  /** A new token routed to `bucket`: two characters of bucket, 62 random ones (≈ 369 bits). */
  newToken(bucket: number): string {
    return (
      (ALPHABET[Math.floor(bucket / 62)] as string) +
      (ALPHABET[bucket % 62] as string) +
      randomAlnum(62)
    );
  }

  /** A new token that routes where `token` routes (for rotate). */
  successor(token: string): string {
    return token.slice(0, 2) + randomAlnum(62);
  }

  /** The hash tag of one bucket of an app, without braces. */
  tag(app: string, bucket: number): string {
    const list = this.tags.get(app);
    if (!list) return bucketTag(app, bucket, this.buckets);
    let tag = list[bucket];
    if (tag === undefined) {
      tag = bucketTag(app, bucket, this.buckets);
      list[bucket] = tag;
    }
    return tag;
  }

  /**
   * Keeps the tags of an app that has sessions (the registry confirmed it) once computed, for at
   * most {@link TAGS_KEPT} apps; other apps' tags are computed on each use (about a
   * microsecond), so requests naming random apps cost no memory.
   */
  keepTags(app: string): void {
    if (this.tags.has(app)) return;
    if (this.tags.size >= TAGS_KEPT) {
      const oldest = this.tags.keys().next().value;
      if (oldest !== undefined) this.tags.delete(oldest);
    }
    this.tags.set(app, []);
  }

  /** The prefix of every key of one bucket: `rs:{app:b:salt}:`. */
  bucketPrefix(app: string, bucket: number): string {
    return `${this.prefix}{${this.tag(app, bucket)}}:`;
  }

  session(app: string, bucket: number, token: string): string {
    return this.bucketPrefix(app, bucket) + token;
  }

  pointer(app: string, bucket: number, token: string): string {
    return `${this.bucketPrefix(app, bucket)}_lt:${token}`;
  }

  /** The index keys of a bucket, in the order scripts take them: sessions, users, ut. */
  indexes(app: string, bucket: number): [string, string, string] {
    const p = this.bucketPrefix(app, bucket);
    return [`${p}_sessions`, `${p}_users`, `${p}_ut`];
  }

  /** The app's registry key: its bucket count, also what tools SCAN for to list apps. */
  registry(app: string): string {
    return `${this.prefix}{${app}}:_buckets`;
  }

  cacheChannel(): string {
    return `${this.prefix}cache`;
  }

  wipeLease(): string {
    return `${this.prefix}_wipelock`;
  }

  /**
   * A {@link KeyLayout}-shaped view for tools written against the compat layout (the admin's app
   * list derives its SCAN pattern from `sessions(app)`). Per-app names answer with the app's
   * registry key, per-session and per-user names with the bucket they route to; there is no
   * global expiry index, so `expiries()` names the wipe lease's namespace instead and is unused.
   */
  view(): KeyLayout {
    return {
      prefix: this.prefix,
      appPrefix: (app) => `${this.prefix}{${app}}:`,
      session: (app, token) => this.session(app, this.tokenBucket(token), token),
      sessions: (app) => this.registry(app),
      users: (app) => this.registry(app),
      user: (app, id) => this.indexes(app, this.userBucket(id))[2],
      expiries: () => `${this.prefix}_exp`,
      cacheChannel: () => this.cacheChannel(),
      wipeLease: () => this.wipeLease(),
    };
  }
}
