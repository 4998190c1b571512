import { listApps } from "../layouts/apps.js";
import { ClusterLayout } from "../layouts/cluster/keys.js";
import { importScript } from "../layouts/cluster/scripts.js";
import type { RedisClient } from "../redis-client.js";
import { RedisSessions } from "../store/store.js";
import { alive, type Batch, fieldArgs, redisNow, type Side, type StoredSession } from "./side.js";

/** The cluster layout (one Redis or a Redis Cluster). */
export class ClusterSide implements Side {
  readonly layout = "cluster" as const;
  private readonly keys: ClusterLayout;
  private readonly checked = new Set<string>();
  private store: RedisSessions | undefined;

  constructor(
    private readonly client: RedisClient,
    private readonly namespace: string,
    buckets: number,
  ) {
    this.keys = new ClusterLayout(namespace, buckets);
  }

  async apps(): Promise<string[]> {
    return (await listApps(this.client, this.keys.view())).apps;
  }

  async count(app: string): Promise<number> {
    const counts = await Promise.all(
      this.buckets().map((b) => this.client.zcard(this.keys.indexes(app, b)[0])),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** The cursor is `bucket:zscan-cursor`. */
  async read(app: string, cursor: string, batch: number): Promise<Batch> {
    let [b = 0, c = "0"] =
      cursor === "0" ? [0, "0"] : [Number(cursor.split(":")[0]), cursor.split(":")[1]];
    const sessions: StoredSession[] = [];
    while (b < this.keys.buckets && sessions.length < batch) {
      const [next, flat] = await this.client.zscan(this.keys.indexes(app, b)[0], c, "COUNT", batch);
      const tokens = flat.filter((_, i) => i % 2 === 0).map((m) => m.slice(0, 64));
      const bucket = b;
      const hashes = await Promise.all(
        tokens.map((t) => this.client.hgetall(this.keys.session(app, bucket, t))),
      );
      tokens.forEach((token, i) => {
        sessions.push({ token, fields: hashes[i] ?? {} });
      });
      if (next === "0") {
        b++;
        c = "0";
      } else {
        c = next;
      }
    }
    return { cursor: b >= this.keys.buckets ? "0" : `${b}:${c}`, sessions };
  }

  async write(app: string, s: StoredSession, remaining: number): Promise<boolean> {
    await this.checkBuckets(app);
    const id = s.fields.id ?? "";
    const home = this.keys.userBucket(id);
    const written = await importScript.run(
      this.client,
      [...this.keys.indexes(app, home), this.keys.session(app, home, s.token)],
      [s.token, ...fieldArgs(s.fields), "", remaining],
    );
    const routed = this.keys.tokenBucket(s.token);
    if (routed !== home) {
      // The token names no bucket (it was issued by the compat layout): a pointer where it
      // routes tells where it lives. It lives as long as the session, refreshed on each use.
      const ttl = Number(s.fields.ttl) || remaining;
      await this.client.set(
        this.keys.pointer(app, routed, s.token),
        `${home}:${ttl}`,
        "EX",
        Math.max(1, remaining) + 5,
      );
    }
    return Number(written) === 1;
  }

  async isLive(app: string, token: string, now: number): Promise<boolean> {
    const routed = this.keys.tokenBucket(token);
    let f = await this.client.hmget(this.keys.session(app, routed, token), "id", "la", "ttl");
    if (f[0] === null) {
      const to = await this.client.get(this.keys.pointer(app, routed, token));
      if (!to) return false;
      const home = Number.parseInt(to, 10);
      f = await this.client.hmget(this.keys.session(app, home, token), "id", "la", "ttl");
    }
    return alive(f, now);
  }

  async *copied(app: string): AsyncIterable<string> {
    for (const b of this.buckets()) {
      let cursor = "0";
      do {
        const [next, flat] = await this.client.zscan(
          this.keys.indexes(app, b)[0],
          cursor,
          "COUNT",
          500,
        );
        cursor = next;
        const tokens = flat.filter((_, i) => i % 2 === 0).map((m) => m.slice(0, 64));
        const marks = await Promise.all(
          tokens.map((t) => this.client.hget(this.keys.session(app, b, t), "mig")),
        );
        yield* tokens.filter((_, i) => marks[i] === "1");
      } while (cursor !== "0");
    }
  }

  async kill(app: string, token: string): Promise<void> {
    this.store ??= new RedisSessions({
      client: this.client,
      namespace: this.namespace,
      layout: "cluster",
      buckets: this.keys.buckets,
      wipe: 0,
    });
    await this.store.kill({ app, token });
  }

  now(): Promise<number> {
    return redisNow(this.client);
  }

  async close(): Promise<void> {
    await this.store?.quit();
  }

  private async checkBuckets(app: string): Promise<void> {
    if (this.checked.has(app)) return;
    const n = String(this.keys.buckets);
    const stored = await this.client.set(this.keys.registry(app), n, "NX", "GET");
    if (stored !== null && stored !== n) {
      throw new Error(
        `app "${app}" has ${stored} buckets in the target, not ${n}: pass --buckets ${stored}`,
      );
    }
    this.checked.add(app);
  }

  private buckets(): number[] {
    return Array.from({ length: this.keys.buckets }, (_, b) => b);
  }
}
