import { describe, expect, it } from "vitest";
import { ClusterLayout, MAX_BUCKETS } from "../../src/layouts/cluster/keys.js";
import * as scripts from "../../src/layouts/cluster/scripts.js";
import { crc16, keySlot } from "../../src/layouts/cluster/slots.js";
import { Script } from "../../src/layouts/script.js";
import { createToken } from "../../src/token.js";

describe("cluster layout: keys and tokens", () => {
  it("hashes keys as Redis Cluster does (CRC16-XMODEM, hash tags)", () => {
    // The check value of CRC16-XMODEM, and the slots Redis documents for these keys.
    expect(crc16(Buffer.from("123456789"))).toBe(0x31c3);
    expect(keySlot("foo")).toBe(12182);
    expect(keySlot("{user1000}.following")).toBe(keySlot("{user1000}.followers"));
    expect(keySlot("foo{}{bar}")).toBe(crc16(Buffer.from("foo{}{bar}")) & 16383);
    expect(keySlot("foo{{bar}}zap")).toBe(keySlot("{bar"));
  });

  it("puts bucket b of every app in the b-th of `buckets` equal slot ranges", () => {
    for (const buckets of [1, 3, 60, 257, 1024]) {
      const layout = new ClusterLayout("rs", buckets);
      for (const app of ["webapp", "a-b_c", "x".repeat(20)]) {
        for (let b = 0; b < buckets; b++) {
          const slot = keySlot(layout.indexes(app, b)[0]);
          const low = Math.floor((b * 16384) / buckets);
          const high = Math.floor(((b + 1) * 16384) / buckets);
          expect(slot).toBeGreaterThanOrEqual(low);
          expect(slot).toBeLessThan(high);
          // All keys of a bucket share its slot.
          for (const key of [
            ...layout.indexes(app, b),
            layout.session(app, b, createToken()),
            layout.pointer(app, b, createToken()),
          ]) {
            expect(keySlot(key)).toBe(slot);
          }
        }
      }
    }
  });

  it("encodes the bucket in a token's first two characters, 64 of [0-9A-Za-z] in all", () => {
    const layout = new ClusterLayout("rs", MAX_BUCKETS);
    for (const b of [0, 1, 61, 62, 1000, MAX_BUCKETS - 1]) {
      const token = layout.newToken(b);
      expect(token).toMatch(/^[0-9A-Za-z]{64}$/);
      expect(layout.tokenBucket(token)).toBe(b);
      expect(layout.tokenBucket(layout.successor(token))).toBe(b);
      expect(layout.successor(token)).not.toBe(token);
    }
    // Any well-formed token routes somewhere (compat tokens name no bucket: modulo).
    const small = new ClusterLayout("rs", 7);
    expect(small.tokenBucket(`zz${"0".repeat(62)}`)).toBe((61 * 62 + 61) % 7);
    expect(small.tokenBucket(`10${"0".repeat(62)}`)).toBe(62 % 7);
  });

  it("maps every id to one stable bucket, spread evenly", () => {
    const layout = new ClusterLayout("rs", 60);
    const counts = new Array(60).fill(0);
    for (let i = 0; i < 60_000; i++) {
      const b = layout.userBucket(`user-${i}`);
      expect(layout.userBucket(`user-${i}`)).toBe(b);
      counts[b]++;
    }
    expect(Math.min(...counts)).toBeGreaterThan(800);
    expect(Math.max(...counts)).toBeLessThan(1200);
    expect(layout.userBucket("ünïcödé \u0000 id")).toBe(layout.userBucket("ünïcödé \u0000 id"));
  });

  it("every script declares each key it touches (KEYS only, flags on the shebang)", () => {
    // Tables of keys (`hashes`, `keys`) are filled only from KEYS entries (checked below).
    const allowed = new Set(["S", "U", "X", "index", "key", "nextKey", "pointer"]);
    const tables = new Set(["unpack(hashes", "unpack(keys"]);
    const all = Object.entries(scripts).filter(([, s]) => s instanceof Script) as [
      string,
      Script,
    ][];
    expect(all.length).toBeGreaterThan(10);
    let calls = 0;
    for (const [name, script] of all) {
      expect(script.lua.startsWith("#!lua"), name).toBe(true);
      for (const m of script.lua.matchAll(/redis\.p?call\('(\w+)'(?:, ([^,)]+))?/g)) {
        const [, command, first] = m;
        calls++;
        if (command === "TIME" || command === "PUBLISH") continue;
        expect(
          first === undefined ||
            allowed.has(first) ||
            tables.has(first) ||
            /^KEYS\[/.test(first ?? ""),
          `${name}: ${m[0]}`,
        ).toBe(true);
      }
      // What goes into the key tables: a `key` (bound to KEYS) or a gone session's first field.
      for (const m of script.lua.matchAll(/(hashes|keys)\[#\1 \+ 1\] = ([\w[\]]+)/g)) {
        expect(["key", "g[1]"], `${name}: ${m[0]}`).toContain(m[2]);
      }
      for (const m of script.lua.matchAll(/gone\[#gone \+ 1\] = \{ ([^,]+),/g)) {
        expect(m[1], `${name}: ${m[0]}`).toBe("key");
      }
      // The variables that name keys are only ever bound to KEYS.
      for (const m of script.lua.matchAll(
        /local (key|nextKey|pointer|index)\b[^=\n]*= ([^\n]+)/g,
      )) {
        expect(m[2]?.startsWith("KEYS["), `${name}: ${m[0]}`).toBe(true);
      }
    }
    // Each script carries the shared helpers, so this inspected hundreds of calls.
    expect(calls).toBeGreaterThan(200);
  });
});
