import { RedisSessions } from "../src/index.js";
import { ensureRedis } from "./lib/ensure-redis.js";

/** Creates, reads, updates, lists and kills one session: the store in ten lines. */
export async function main(url: string): Promise<void> {
  const rs = new RedisSessions({ redis: url, namespace: "rs" });
  const { token } = await rs.create({
    app: "quickstart",
    id: "user1",
    ip: "127.0.0.1",
    d: { plan: "pro" },
  });
  console.log("created", token);
  console.log("get    ", await rs.get({ app: "quickstart", token }));
  console.log("set    ", await rs.set({ app: "quickstart", token, d: { visits: 1 } }));
  console.log(
    "soid   ",
    (await rs.soid({ app: "quickstart", id: "user1" })).sessions.length,
    "session(s)",
  );
  console.log("kill   ", await rs.kill({ app: "quickstart", token }));
  console.log("get    ", await rs.get({ app: "quickstart", token }));
  await rs.quit();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main(await ensureRedis());
}
