import { describe, expect, it, vi } from "vitest";
import { createToken } from "../../src/token.js";

describe("createToken", () => {
  it("makes 64 characters of [0-9A-Za-z]", () => {
    for (let i = 0; i < 1000; i++) expect(createToken()).toMatch(/^[0-9A-Za-z]{64}$/);
  });

  it("never repeats in 100 000 tokens", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) seen.add(createToken());
    expect(seen.size).toBe(100_000);
  });

  it("uses every character about equally often (chi-square, 61 degrees of freedom)", () => {
    const counts = new Map<string, number>();
    const n = 20_000;
    for (let i = 0; i < n; i++)
      for (const c of createToken()) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
    const expected = (n * 64) / 62;
    let chi2 = 0;
    for (const c of counts.values()) chi2 += (c - expected) ** 2 / expected;
    // p = 0.0001 for 61 degrees of freedom is about 110; a biased modulo would exceed it by far.
    expect(chi2).toBeLessThan(110);
  });

  it("embeds no timestamp: tokens made at the same instant share no suffix", () => {
    // redis-sessions' tokens end in "Z" + Date.now() in base 36: with the clock frozen, every
    // one of them would end the same. Ours must not (checked for suffixes of 4 to 12 characters).
    vi.useFakeTimers({ now: new Date("2030-01-01T00:00:00Z"), toFake: ["Date"] });
    try {
      const tokens = Array.from({ length: 1000 }, () => createToken());
      const legacy = () => `${"a".repeat(55)}Z${Date.now().toString(36)}`;
      expect(legacy().slice(-8)).toBe(legacy().slice(-8));
      for (let n = 4; n <= 12; n++) {
        expect(new Set(tokens.map((t) => t.slice(-n))).size, `suffix of ${n}`).toBeGreaterThan(990);
      }
    } finally {
      vi.useRealTimers();
    }
  });
});
