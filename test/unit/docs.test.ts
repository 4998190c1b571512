import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/*
 * The documentation holds together: the README stays short, no page repeats a heading, and every
 * link (absolute GitHub links too, which the npm page shows) points at a file and an anchor that
 * exist in this repository.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BLOB = "https://github.com/express-redis-sessions/express-redis-sessions/blob/main/";
const RAW = "https://raw.githubusercontent.com/express-redis-sessions/express-redis-sessions/main/";

const pages = [
  "README.md",
  "CONTRIBUTING.md",
  "CHANGELOG.md",
  "bench/README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** GitHub's anchor for a heading. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]+>/g, "")
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
}

function headings(page: string): string[] {
  const text = readFileSync(join(ROOT, page), "utf8").replace(/```[\s\S]*?```/g, "");
  return [...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1] as string);
}

describe("the documentation", () => {
  it("keeps the README at most 350 lines", () => {
    expect(readFileSync(join(ROOT, "README.md"), "utf8").split("\n").length).toBeLessThanOrEqual(
      351,
    );
  });

  it.each(pages)("%s has no heading twice", (page) => {
    const all = headings(page);
    expect(all.filter((h, i) => all.indexOf(h) !== i)).toEqual([]);
  });

  it.each(pages)("%s links only to files and anchors that exist", (page) => {
    const text = readFileSync(join(ROOT, page), "utf8");
    const broken: string[] = [];
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const url = m[1] as string;
      let target: string;
      if (url.startsWith(BLOB)) target = url.slice(BLOB.length);
      else if (url.startsWith(RAW)) target = url.slice(RAW.length);
      else if (url.startsWith("#")) target = `${page}${url}`;
      else if (/^[a-z]+:/.test(url)) continue;
      else target = relative(ROOT, normalize(join(ROOT, dirname(page), url)));
      const [path = "", anchor] = target.split("#");
      if (!existsSync(join(ROOT, path))) broken.push(`${url} (no ${path})`);
      else if (anchor && path.endsWith(".md") && !headings(path).map(slug).includes(anchor)) {
        broken.push(`${url} (no heading for #${anchor})`);
      }
    }
    expect(broken).toEqual([]);
  });
});
