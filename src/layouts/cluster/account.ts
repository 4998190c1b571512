import { errorOf } from "../../errors.js";
import { accountArguments, type NewSession } from "../engine-types.js";
import type { SessionReply } from "../reply.js";
import type { Runner } from "../script.js";
import * as account from "./account-scripts.js";
import type { ClusterLayout } from "./keys.js";
import type { TokenRouter } from "./routing.js";
import * as scripts from "./scripts.js";

/** Create attempts under a per-user cap before giving up (each lost one means another won). */
const CREATE_ATTEMPTS = 100;

/**
 * The cluster layout's account-security operations: create under a per-user cap, step-up and
 * CSRF. A capped create declares the id's sessions as keys: it reads the id's tokens first, and
 * the script refuses (asks for a retry) when a concurrent create added one meanwhile.
 */
export class ClusterAccount {
  constructor(
    private readonly runner: Runner,
    private readonly layout: ClusterLayout,
    private readonly channel: string,
    private readonly clock: () => string,
    private readonly router: TokenRouter,
  ) {}

  /** Creates a session; resolves to the tokens the cap evicted. */
  async create(
    app: string,
    token: string,
    s: NewSession,
    tokensOf: (bucket: number, id: string) => Promise<string[]>,
  ): Promise<string[]> {
    const b = this.layout.tokenBucket(token);
    const keys = [...this.layout.indexes(app, b), this.layout.session(app, b, token)];
    const base = [token, s.id, s.ip, s.ttl, s.d, s.noResave ? "1" : "", ...accountArguments(s)];
    for (let attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
      const known = s.cap > 0 ? await tokensOf(b, s.id) : [];
      const reply = await this.runner.run(
        scripts.createScript,
        [...keys, ...known.map((t) => this.layout.session(app, b, t))],
        [this.clock(), ...base, this.channel, app, ...known],
      );
      if (reply === "!retry") continue;
      const [, ...evicted] = reply as [number, ...string[]];
      return evicted.map(String);
    }
    throw errorOf("ERS_STORE_BUSY", "create: sessions of this id keep changing; try again");
  }

  async reauthenticated(app: string, token: string): Promise<SessionReply | null> {
    const { reply } = await this.router.resolved(app, token, (t, b) =>
      this.runner.run(account.reauthenticatedScript, this.tokenKeys(app, b, t), [
        this.clock(),
        this.channel,
        app,
        t,
      ]),
    );
    return Array.isArray(reply) ? (reply as SessionReply) : null;
  }

  async csrfToken(app: string, token: string, candidate: string): Promise<string | null> {
    const { reply } = await this.router.resolved(app, token, (t, b) =>
      this.runner.run(account.csrfTokenScript, this.tokenKeys(app, b, t), [
        this.clock(),
        t,
        candidate,
      ]),
    );
    return typeof reply === "string" ? reply : null;
  }

  private tokenKeys(app: string, b: number, token: string): string[] {
    return [
      ...this.layout.indexes(app, b),
      this.layout.session(app, b, token),
      this.layout.pointer(app, b, token),
    ];
  }
}
