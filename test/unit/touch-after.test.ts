import { describe, expect, it } from "vitest";
import { validCursor, validLimit } from "../../src/layouts/cursor.js";
import { resolveStoreOptions } from "../../src/store/options.js";

describe("touchAfter, limit and cursor checks", () => {
  it("touchAfter: 0 by default, else whole seconds", () => {
    expect(resolveStoreOptions({}).touchAfter).toBe(0);
    expect(resolveStoreOptions({ touchAfter: 60 }).touchAfter).toBe(60);
    for (const bad of [-1, 1.5, "60", Number.NaN, 1e12]) {
      expect(() => resolveStoreOptions({ touchAfter: bad as number })).toThrow(
        /"touchAfter" must be an integer from 0 to 31536000/,
      );
    }
  });

  it("limit: an integer from 1 to 1000 (digits from a query string too)", () => {
    expect(validLimit(1)).toBe(1);
    expect(validLimit("1000")).toBe(1000);
    for (const bad of [0, 1001, 2.5, "", "1e3", "-1", " 5", null, undefined, Number.NaN]) {
      expect(() => validLimit(bad), String(bad)).toThrow(
        expect.objectContaining({ code: "ERS_INVALID_LIMIT", status: 400 }),
      );
    }
  });

  it("cursor: absent, or short URL-safe text", () => {
    expect(validCursor(undefined)).toBeNull();
    expect(validCursor("")).toBeNull();
    expect(validCursor("s1800000000_4142")).toBe("s1800000000_4142");
    for (const bad of ["S1_00", "s1 _00", "x".repeat(90), 5, {}, "s1\n_00"]) {
      expect(() => validCursor(bad), String(bad)).toThrow(
        expect.objectContaining({ code: "ERS_INVALID_CURSOR" }),
      );
    }
  });
});
