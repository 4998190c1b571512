import { randomBytes } from "node:crypto";
import { sessionHandle } from "../handle.js";
import { toSession } from "../layouts/reply.js";
import type {
  CreateParams,
  DataPatch,
  DefaultData,
  DeltaParams,
  IdParams,
  PageParams,
  Seconds,
  Session,
  SessionEntry,
  SessionPage,
  TokenParams,
} from "../types.js";
import {
  serializeData,
  validApp,
  validData,
  validId,
  validIp,
  validNoResave,
  validToken,
  validTtl,
} from "../validate.js";
import {
  validAbsolute,
  validGrace,
  validHandle,
  validLastIp,
  validUa,
} from "../validate-account.js";
import { isBranded, STORE_BRAND } from "./brand.js";
import type { Listing } from "./listing.js";
import type { StoreOptions } from "./options.js";
import { StoreCore } from "./store-core.js";

/** True for a {@link RedisSessions}, even one from another copy of this package. */
export const isRedisSessions = isBranded as (value: unknown) => value is RedisSessions<never>;

/** `{app, id, handle}`: one session of an id, named by its handle (see `sessionHandle`). */
export interface HandleParams {
  app: string;
  id: string | number;
  handle: string;
}

/** A new CSRF synchronizer token: 32 random bytes, base64url. */
function newCsrfToken(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * A session store with the API of redis-sessions 4.0.0 and its Redis data, byte for byte, so
 * that sessions are shared with redis-sessions v1–v4, its Elixir port and rest-sessions. Every
 * operation is one atomic Lua script (one round trip); tokens come from `node:crypto`; input is
 * validated before any Redis command; every call settles within `timeout` even when Redis is gone.
 * It is an EventEmitter of lifecycle events (`created`, `rotated`, `killed`, `evicted`,
 * `expired`; see {@link StoreEvents}), which carry handles, never tokens.
 *
 * @example
 * const rs = new RedisSessions({ redis: "redis://127.0.0.1:6379" });
 * const { token } = await rs.create({ app: "webapp", id: "user1", ip: "127.0.0.1" });
 * const session = await rs.get({ app: "webapp", token });
 */
export class RedisSessions<D = DefaultData> extends StoreCore<D> {
  /** @throws {TypeError} when an option is invalid. */
  constructor(options: StoreOptions = {}) {
    super(options);
    Object.defineProperty(this, STORE_BRAND, { value: true });
  }

  /**
   * Creates a session for `id` and returns its new token. With `maxSessionsPerUser`, the id's
   * least recently active sessions are evicted first, or the create is refused (ERS_SESSION_LIMIT).
   */
  async create(params: CreateParams<D>): Promise<{ token: string }> {
    const app = validApp(params?.app);
    const id = validId(params?.id);
    const ip = validIp(params.ip);
    const ttl = validTtl(params.ttl);
    const d = params.d ? serializeData(validData(params.d, this.limits())) : "";
    const noResave = validNoResave(params.no_resave);
    const ua = validUa(params.ua) ?? "";
    const absolute = validAbsolute(params.absolute) ?? 0;
    const token = this.engine.token(app, id);
    const { maxSessionsPerUser: cap, onSessionLimit: onLimit } = this.options;
    const session = { id, ip, ttl, d, noResave, ua, absolute, cs: newCsrfToken(), cap, onLimit };
    const evicted = await this.call(() => this.engine.create(app, token, session));
    for (const gone of evicted) {
      this.cache?.invalidate(gone);
      this.announce("evicted", () => ({ app, id, handle: sessionHandle(gone) }));
    }
    this.announce("created", () => ({ app, id, handle: sessionHandle(token) }));
    return { token };
  }

  /**
   * The session of `token`, or null if it is unknown or expired. Counts a read (`r`). With `ip`
   * (the request's), a read that refreshes activity also keeps it as the session's last ip.
   */
  async get(params: TokenParams & { ip?: string | undefined }): Promise<Session<D> | null> {
    const app = validApp(params?.app);
    const token = validToken(params?.token);
    const ip = validLastIp(params?.ip);
    const read = async () => {
      const reply = await this.call(() => this.engine.get(app, token, ip));
      if (!reply) return null;
      // Through a rotation alias: never cached, so the old token dies with its grace everywhere.
      if (reply[12] === 1) this.cache?.invalidate(token);
      return toSession<D>(reply, token);
    };
    return this.cache ? this.cache.load(app, token, read) : read();
  }

  /**
   * Merges `d` into the session's data atomically: `null` deletes a key, other keys are kept.
   * Returns the session with the merged `d`, or null if it is unknown or expired.
   */
  async set(params: TokenParams & { d: DataPatch<D> }): Promise<Session<D> | null> {
    const app = validApp(params?.app);
    const token = validToken(params?.token);
    const limits = this.limits();
    const entries = validData(params.d, limits);
    try {
      const reply = await this.call(() => this.engine.set(app, token, entries, limits));
      return reply ? toSession<D>(reply, token) : null;
    } finally {
      this.cache?.invalidate(token);
    }
  }

  /**
   * Ends one session, named by its token or, with `{ app, id, handle }`, by its handle (only a
   * session of that id). `{kill: 1}` if it was alive, `{kill: 0}` otherwise; with `durableKill`,
   * also `durable`: whether the replicas confirmed it.
   */
  async kill(params: TokenParams | HandleParams): Promise<{ kill: number; durable?: boolean }> {
    const app = validApp(params?.app);
    if (params && !("token" in params) && "handle" in params) return this.killHandle(params);
    const token = validToken((params as TokenParams)?.token);
    try {
      const done = await this.killing(app, { token }, (engine) => engine.kill(app, token));
      if (done.kill > 0)
        this.announce("killed", () => ({ app, handle: sessionHandle(token), via: "kill" }));
      return done;
    } finally {
      this.cache?.invalidate(token);
    }
  }

  /**
   * Replaces a session's token with a new one (same id, data, counters and fields). Without a
   * `grace` the old token is dead at once; with one (seconds, an integer from 0 to 3600), it
   * keeps working as an alias of the new one that long, then is gone everywhere. Resolves to the
   * new token, or null if the session is unknown or expired.
   */
  async rotate(params: TokenParams & { grace?: Seconds }): Promise<{ token: string } | null> {
    const app = validApp(params?.app);
    const token = validToken(params?.token);
    const grace = validGrace(params?.grace);
    try {
      const next = this.engine.successor(app, token);
      const moved = await this.call(() => this.engine.rotate(app, token, next, grace));
      if (!moved) return null;
      this.cache?.invalidate(moved.from);
      this.announce("rotated", () => ({
        app,
        id: moved.id,
        handle: sessionHandle(next),
        previous: sessionHandle(moved.from),
        grace,
      }));
      return { token: next };
    } finally {
      this.cache?.invalidate(token);
    }
  }

  /** Records a fresh authentication (`auth` = now); the session, or null without one. */
  async reauthenticated(params: TokenParams): Promise<Session<D> | null> {
    const app = validApp(params?.app);
    const token = validToken(params?.token);
    try {
      const reply = await this.call(() => this.engine.reauthenticated(app, token));
      return reply ? toSession<D>(reply, token) : null;
    } finally {
      this.cache?.invalidate(token);
    }
  }

  /**
   * The session's CSRF synchronizer token (32 random bytes, base64url), created for a session
   * that has none (one another client created); null without a live session.
   */
  async csrfToken(params: TokenParams): Promise<string | null> {
    const app = validApp(params?.app);
    const token = validToken(params?.token);
    return this.call(() => this.engine.csrfToken(app, token, newCsrfToken()));
  }

  /** The number of distinct ids active within the last `deltaTime` seconds. */
  activity(params: DeltaParams): Promise<{ activity: number }> {
    return this.listings.activity(params);
  }

  /** Live sessions active within `deltaTime`, most recent first; with `limit`, one page. */
  soapp(params: DeltaParams & { limit?: undefined }): Promise<{ sessions: SessionEntry<D>[] }>;
  soapp(params: DeltaParams & PageParams): Promise<SessionPage<D>>;
  soapp(params: DeltaParams & Partial<PageParams>): Promise<Listing<D>>;
  soapp(params: DeltaParams & Partial<PageParams>) {
    return this.listings.soapp(params);
  }

  /** The live sessions of one id; with `limit`, one page. */
  soid(params: IdParams & { limit?: undefined }): Promise<{ sessions: SessionEntry<D>[] }>;
  soid(params: IdParams & PageParams): Promise<SessionPage<D>>;
  soid(params: IdParams & Partial<PageParams>): Promise<Listing<D>>;
  soid(params: IdParams & Partial<PageParams>) {
    return this.listings.soid(params);
  }

  /** Sessions active within `deltaTime` (as soapp lists them, expired ones not yet wiped too). */
  countSessions(params: DeltaParams): Promise<{ count: number }> {
    return this.listings.countSessions(params);
  }

  /**
   * Ends every session of one id ("log out everywhere"), sessions created meanwhile included,
   * in bounded batches (not one atomic step; see the engines); counts the live ones.
   */
  async killsoid(params: IdParams): Promise<{ kill: number; durable?: boolean }> {
    const app = validApp(params?.app);
    const id = validId(params?.id);
    try {
      const done = await this.killing(app, { id }, async (engine) => {
        const { kill, tokens } = await engine.killsoid(app, id);
        for (const token of tokens) this.cache?.invalidate(token);
        return kill;
      });
      if (done.kill > 0)
        this.announce("killed", () => ({ app, id, count: done.kill, via: "killsoid" }));
      return done;
    } catch (err) {
      this.cache?.invalidateApp(app);
      throw err;
    }
  }

  /** Ends every session of an app, in bounded batches; counts the live ones. */
  async killall(params: { app: string }): Promise<{ kill: number; durable?: boolean }> {
    const app = validApp(params?.app);
    try {
      const done = await this.killing(app, "all", (engine) => engine.killall(app));
      if (done.kill > 0) this.announce("killed", () => ({ app, count: done.kill, via: "killall" }));
      return done;
    } finally {
      this.cache?.invalidateApp(app);
    }
  }

  /** Kill by handle: finds the id's session whose handle it is (page by page), then kills it. */
  private async killHandle(params: HandleParams): Promise<{ kill: number; durable?: boolean }> {
    const app = validApp(params.app);
    const id = validId(params.id);
    const handle = validHandle(params.handle);
    let cursor: string | null = null;
    do {
      const page = (await this.listings.soid({ app, id, limit: 100, cursor })) as SessionPage<D>;
      const found = page.sessions.find((s) => s.handle === handle);
      if (found) {
        const token = found.token;
        try {
          const done = await this.killing(app, { token }, (e) => e.kill(app, token, id));
          if (done.kill > 0) this.announce("killed", () => ({ app, id, handle, via: "handle" }));
          return done;
        } finally {
          this.cache?.invalidate(token);
        }
      }
      cursor = page.cursor;
    } while (cursor !== null);
    return { kill: 0 };
  }
}
