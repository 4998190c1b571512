import { listApps } from "../layouts/apps.js";
import { compatLayout, type KeyLayout } from "../layouts/compat/keys.js";
import { importScript } from "../layouts/compat/scripts.js";
import type { RedisClient } from "../redis-client.js";
import { RedisSessions } from "../store/store.js";
import { alive, type Batch, fieldArgs, redisNow, type Side, type StoredSession } from "./side.js";

/** How long the compat layout's set of copied tokens is kept for a later prune. */
const COPIED_TTL = 7 * 86_400;

/** The redis-sessions layout (one Redis). */
export class CompatSide implements Side {
  readonly layout = "compat" as const;
  private readonly keys: KeyLayout;
  private store: RedisSessions | undefined;

  constructor(
    private readonly client: RedisClient,
    private readonly namespace: string,
  ) {
    this.keys = compatLayout(namespace);
  }

  async apps(): Promise<string[]> {
    return (await listApps(this.client, this.keys)).apps;
  }

  count(app: string): Promise<number> {
    return this.client.zcard(this.keys.sessions(app));
  }

  async read(app: string, cursor: string, batch: number): Promise<Batch> {
    const [next, flat] = await this.client.zscan(this.keys.sessions(app), cursor, "COUNT", batch);
    const tokens = flat.filter((_, i) => i % 2 === 0).map((m) => m.slice(0, 64));
    const hashes = await Promise.all(
      tokens.map((t) => this.client.hgetall(this.keys.session(app, t))),
    );
    const sessions = tokens.map((token, i) => ({ token, fields: hashes[i] ?? {} }));
    return { cursor: next, sessions };
  }

  async write(app: string, s: StoredSession, remaining: number): Promise<boolean> {
    const args = [this.namespace, app, s.token, ...fieldArgs(s.fields), "", COPIED_TTL];
    void remaining; // the compat layout expires through its wiper, from la + ttl
    return Number(await importScript.run(this.client, [], args)) === 1;
  }

  async isLive(app: string, token: string, now: number): Promise<boolean> {
    const f = await this.client.hmget(this.keys.session(app, token), "id", "la", "ttl");
    return alive(f, now);
  }

  async *copied(app: string): AsyncIterable<string> {
    const key = `${this.keys.appPrefix(app)}_migrated`;
    let cursor = "0";
    do {
      const [next, tokens] = await this.client.sscan(key, cursor, "COUNT", 500);
      cursor = next;
      yield* tokens;
    } while (cursor !== "0");
  }

  async kill(app: string, token: string): Promise<void> {
    this.store ??= new RedisSessions({ client: this.client, namespace: this.namespace, wipe: 0 });
    await this.store.kill({ app, token });
    await this.client.srem(`${this.keys.appPrefix(app)}_migrated`, token);
  }

  now(): Promise<number> {
    return redisNow(this.client);
  }

  async close(): Promise<void> {
    await this.store?.quit();
  }
}
