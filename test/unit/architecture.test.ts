import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/*
 * The layering CONTRIBUTING.md describes, checked on the sources: base files < layouts/ <
 * store/ and observability/ < middleware/, rest/, migrate/ < cli/ (and index.ts, the public API,
 * on top).
 */

const SRC = fileURLToPath(new URL("../../src", import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

const RANKS: Record<string, number> = {
  layouts: 1,
  store: 2,
  // Beside the store: the store instruments its engines with it, and it reads the store's stats.
  observability: 2,
  middleware: 3,
  rest: 3,
  migrate: 3,
  cli: 4,
};

function rank(file: string): number {
  const rel = relative(SRC, file);
  if (rel === "index.ts") return 5;
  const top = rel.includes("/") ? (rel.split("/")[0] as string) : "";
  return top === "" ? 0 : (RANKS[top] ?? -1);
}

const sources = files(SRC);

describe("the source tree", () => {
  it("puts every file in a known layer", () => {
    expect(sources.filter((f) => rank(f) < 0).map((f) => relative(SRC, f))).toEqual([]);
  });

  it("never imports from a higher layer", () => {
    const upward: string[] = [];
    for (const file of sources) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/from "(\.{1,2}\/[^"]+)\.js"/g)) {
        const target = resolve(dirname(file), `${m[1]}.ts`);
        if (rank(target) > rank(file)) {
          upward.push(`${relative(SRC, file)} → ${relative(SRC, target)}`);
        }
      }
    }
    expect(upward).toEqual([]);
  });

  it("keeps every file under 300 lines, the Lua script files too", () => {
    const long = sources
      .map((f) => [relative(SRC, f), readFileSync(f, "utf8").split("\n").length - 1] as const)
      .filter(([, lines]) => lines > 300);
    expect(long).toEqual([]);
  });
});
