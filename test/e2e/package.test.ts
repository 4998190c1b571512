/**
 * Packaging: `npm pack` (whose `prepack` builds dist/ with tsc) gives a tarball that installs,
 * from the npm cache alone, into a fresh consumer project, where `import` from an .mjs file and
 * `require` from a .cjs file (require(esm), Node >= 20.19) both work against Redis without a
 * warning, the CLI runs, and the declarations type-check a TypeScript consumer under nodenext.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runProcess } from "../helpers/child.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const require = createRequire(import.meta.url);
const TSC = require.resolve("typescript/bin/tsc");
const TYPE_ROOTS = join(ROOT, "node_modules", "@types");
const NAME = "express-redis-sessions";

/** Runs a command to completion (killed after 60 s) without the test runner's NODE_OPTIONS. */
const run = (cmd: string, args: string[], cwd: string) =>
  runProcess(cmd, args, { cwd, env: { ...process.env, NODE_OPTIONS: "" } });

/** Every relative path a package.json field points at (main, types, exports, bin). */
function targets(pkg: Record<string, unknown>): string[] {
  const out: string[] = [];
  const walk = (value: unknown) => {
    if (typeof value === "string") out.push(value.replace(/^\.\//, ""));
    else if (value && typeof value === "object") {
      for (const v of Object.values(value)) walk(v);
    }
  };
  walk([pkg.main, pkg.types, pkg.exports, pkg.bin]);
  return out;
}

/** A consumer script: create, read and kill one session, print the results as JSON. */
function consumerScript(kind: "esm" | "cjs"): string {
  const load =
    kind === "esm"
      ? `import { RedisSessions } from "${NAME}";\nconst pkg = null;`
      : `const { RedisSessions } = require("${NAME}");\nconst pkg = require("${NAME}/package.json");`;
  return `${load}
const main = async () => {
  const rs = new RedisSessions({ redis: process.argv[2], namespace: process.argv[3], wipe: 0 });
  try {
    const { token } = await rs.create({ app: "pkgtest", id: "${kind}", ip: "127.0.0.1", d: { via: "${kind}" } });
    const session = await rs.get({ app: "pkgtest", token });
    const kill = await rs.kill({ app: "pkgtest", token });
    console.log(JSON.stringify({ token, session, kill, version: pkg && pkg.version }));
  } finally {
    await rs.quit();
  }
};
${kind === "esm" ? "await main();" : "main().catch((err) => { console.error(err); process.exitCode = 1; });"}
`;
}

const ESM_TYPES = `import { RedisSessions, type Session, isStoreError } from "${NAME}";
const rs = new RedisSessions({ redis: "redis://127.0.0.1:1", wipe: 0, timeout: 100 });
export async function read(token: string): Promise<Session | null> {
  try {
    return await rs.get({ app: "pkgtest", token });
  } catch (err) {
    if (isStoreError(err)) return null;
    throw err;
  }
}
// @ts-expect-error app must be a string: the declarations are real types, not any
void rs.create({ app: 1, id: "u", ip: "127.0.0.1" });
`;

const CJS_TYPES = `import ers = require("${NAME}");
const rs = new ers.RedisSessions({ redis: "redis://127.0.0.1:1", wipe: 0 });
// @ts-expect-error token is required
void rs.get({ app: "pkgtest" });
export = rs;
`;

describe("the npm package", () => {
  let dir: string;
  let consumer: string;
  let files: string[] = [];
  let installed: Record<string, unknown>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ers-pack-"));
    const pack = await run("npm", ["pack", "--json", "--pack-destination", dir], ROOT);
    expect(pack.code, `npm pack failed:\n${pack.stderr}`).toBe(0);
    const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    files = info!.files.map((f) => f.path);

    consumer = join(dir, "consumer");
    mkdirSync(consumer);
    writeFileSync(
      join(consumer, "package.json"),
      JSON.stringify({ name: "consumer", version: "1.0.0", private: true }),
    );
    // Only what the npm cache holds: the test needs no network.
    const install = await run(
      "npm",
      [
        "install",
        "--offline",
        "--no-audit",
        "--no-fund",
        "--no-package-lock",
        join(dir, info!.filename),
      ],
      consumer,
    );
    expect(install.code, `npm install failed:\n${install.stderr}`).toBe(0);
    installed = JSON.parse(
      readFileSync(join(consumer, "node_modules", NAME, "package.json"), "utf8"),
    ) as Record<string, unknown>;
  }, 90_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("ships the build and every file package.json points at, and no sources or tests", () => {
    expect(files).toEqual(
      expect.arrayContaining([
        "package.json",
        "README.md",
        "LICENSE",
        "CHANGELOG.md",
        "dist/index.js",
        "dist/index.d.ts",
      ]),
    );
    const pointed = targets(installed);
    expect(pointed).toEqual(expect.arrayContaining(["dist/index.js", "dist/index.d.ts"]));
    for (const target of pointed)
      expect(files, `${target} is not in the tarball`).toContain(target);
    const stray = files.filter((f) => /^(src|test|bench|examples|\.tmp|node_modules)\//.test(f));
    expect(stray).toEqual([]);
    // Source maps carry their sources inline: none points at a src/ file the tarball lacks.
    expect(files.filter((f) => f.endsWith(".d.ts.map"))).toEqual([]);
    expect(installed.type).toBe("module");
  });

  it("works with import from an .mjs file", async () => {
    writeFileSync(join(consumer, "esm.mjs"), consumerScript("esm"));
    const r = await run("node", ["esm.mjs", redisUrl(), uniqueNamespace("pk")], consumer);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    const out = JSON.parse(r.stdout) as { token: string; session: unknown; kill: unknown };
    expect(out.token).toMatch(/^[0-9A-Za-z]{64}$/);
    expect(out.session).toMatchObject({
      id: "esm",
      r: 1,
      w: 1,
      ip: "127.0.0.1",
      d: { via: "esm" },
    });
    expect(out.kill).toEqual({ kill: 1 });
  });

  it("works with require from a .cjs file, without an ExperimentalWarning", async () => {
    writeFileSync(join(consumer, "cjs.cjs"), consumerScript("cjs"));
    const r = await run("node", ["cjs.cjs", redisUrl(), uniqueNamespace("pk")], consumer);
    expect(r.code, r.stderr).toBe(0);
    // Node >= 20.19 loads ES modules with require() and warns only under --trace-require-module.
    expect(r.stderr).not.toContain("ExperimentalWarning");
    expect(r.stderr).toBe("");
    const out = JSON.parse(r.stdout) as { session: unknown; kill: unknown; version: unknown };
    expect(out.session).toMatchObject({ id: "cjs", r: 1, d: { via: "cjs" } });
    expect(out.kill).toEqual({ kill: 1 });
    expect(out.version).toBe(installed.version);
  });

  it("installs a working command line", async () => {
    const r = await run(join(consumer, "node_modules", ".bin", NAME), ["--help"], consumer);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("Usage:");
  });

  it("type-checks ESM and CommonJS TypeScript consumers under nodenext", async () => {
    writeFileSync(join(consumer, "esm.mts"), ESM_TYPES);
    writeFileSync(join(consumer, "cjs.cts"), CJS_TYPES);
    writeFileSync(
      join(consumer, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          strict: true,
          noEmit: true,
          // Check our declarations too, as a consumer without our devDependencies sees them.
          skipLibCheck: false,
          types: ["node"],
          typeRoots: [TYPE_ROOTS],
        },
        files: ["esm.mts", "cjs.cts"],
      }),
    );
    const r = await run("node", [TSC, "-p", "tsconfig.json"], consumer);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  }, 60_000);
});
