import { validCursor, validLimit } from "../layouts/cursor.js";
import type { SessionEngine } from "../layouts/engine.js";
import type { ListPage } from "../layouts/listing.js";
import { toSessionList } from "../layouts/reply.js";
import type { DeltaParams, IdParams, PageParams, SessionEntry, SessionPage } from "../types.js";
import { validApp, validDeltaTime, validId } from "../validate.js";

/** Parameters of a listing that may be paged. */
type Maybe<P> = P & Partial<PageParams>;

/** A whole listing (redis-sessions' shape) or one page of it. */
export type Listing<D> = { sessions: SessionEntry<D>[] } | SessionPage<D>;

/**
 * The store's listings, whole (redis-sessions' shape) or paged (`limit`, `cursor`); every
 * parameter is checked before any Redis command. `call` runs an engine call as the store does.
 */
export class Listings<D> {
  constructor(
    private readonly engine: SessionEngine,
    private readonly call: <T>(op: () => Promise<T>) => Promise<T>,
  ) {}

  async soapp(params: Maybe<DeltaParams>): Promise<Listing<D>> {
    const app = validApp(params?.app);
    const dt = validDeltaTime(params?.deltaTime ?? params?.dt);
    const paged = this.paging(params);
    if (!paged)
      return { sessions: toSessionList<D>(await this.call(() => this.engine.soapp(app, dt))) };
    return this.page(() => this.engine.soappPage(app, dt, paged.limit, paged.cursor));
  }

  async soid(params: Maybe<IdParams>): Promise<Listing<D>> {
    const app = validApp(params?.app);
    const id = validId(params?.id);
    const paged = this.paging(params);
    if (!paged)
      return { sessions: toSessionList<D>(await this.call(() => this.engine.soid(app, id))) };
    return this.page(() => this.engine.soidPage(app, id, paged.limit, paged.cursor));
  }

  async activity(params: DeltaParams): Promise<{ activity: number }> {
    const app = validApp(params?.app);
    const dt = validDeltaTime(params?.deltaTime ?? params?.dt);
    return { activity: await this.call(() => this.engine.activity(app, dt)) };
  }

  async countSessions(params: DeltaParams): Promise<{ count: number }> {
    const app = validApp(params?.app);
    const dt = validDeltaTime(params?.deltaTime ?? params?.dt);
    return { count: await this.call(() => this.engine.countSessions(app, dt)) };
  }

  /** The page parameters, or null for the whole listing (no `limit`). */
  private paging(params: Partial<PageParams> | undefined) {
    if (params?.limit === undefined || params.limit === null) {
      // A cursor without a limit is a mistake (the whole listing would ignore it).
      if (validCursor(params?.cursor) !== null) validLimit(undefined);
      return null;
    }
    return { limit: validLimit(params.limit), cursor: validCursor(params.cursor) };
  }

  private async page(op: () => Promise<ListPage>): Promise<SessionPage<D>> {
    const { list, cursor } = await this.call(op);
    return { sessions: toSessionList<D>(list), cursor };
  }
}
