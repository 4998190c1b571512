/**
 * Packaging: `npm pack` (whose `prepack` builds dist/ with tsc) gives a tarball that works in a
 * fresh consumer project: `import` from an .mjs file and `require` from a .cjs file (require(esm),
 * Node >= 20.19) both work against Redis without a warning, the CLI runs (also through `npx`,
 * which it must not outlive), and the declarations type-check a strict TypeScript consumer.
 *
 * No registry and no npm cache: the tarball is unpacked into the consumer's node_modules as npm
 * would, and its dependencies (and the express peer) are symlinks to the project's own packages,
 * the versions package-lock.json gives a user today. Node and tsc follow a symlink to its real
 * path, so those packages find their own dependencies there.
 */
import { spawn } from "node:child_process";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runProcess } from "../helpers/child.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";
import { until } from "../helpers/wait.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const require = createRequire(import.meta.url);
const TSC = require.resolve("typescript/bin/tsc");
const NAME = "express-redis-sessions";

/** Runs a command to completion (killed after 60 s) without the test runner's NODE_OPTIONS. */
const run = (cmd: string, args: string[], cwd: string) =>
  runProcess(cmd, args, { cwd, env: consumerEnv() });

/** A consumer's environment: no RS_* variable of the machine, no NODE_OPTIONS of the runner. */
function consumerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { NODE_OPTIONS: "" };
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("RS_") && k !== "NODE_OPTIONS") env[k] = v;
  }
  return env;
}

/**
 * Installs a packed tarball into `consumer` as npm would, without a registry: unpacked into
 * node_modules, each dependency and peer linked to the project's own copy, the bins linked into
 * node_modules/.bin and made executable. Resolves to the installed package.json.
 */
async function installTarball(tarball: string, consumer: string): Promise<Record<string, unknown>> {
  const modules = join(consumer, "node_modules");
  const target = join(modules, NAME);
  mkdirSync(target, { recursive: true });
  const untar = await run("tar", ["-xzf", tarball, "-C", target, "--strip-components=1"], consumer);
  expect(untar.code, `tar failed:\n${untar.stderr}`).toBe(0);
  const pkg = JSON.parse(readFileSync(join(target, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
    bin?: Record<string, string>;
  };
  const deps = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})];
  for (const dep of deps) {
    const link = join(modules, dep);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(ROOT, "node_modules", dep), link, "junction");
  }
  const bin = join(modules, ".bin");
  mkdirSync(bin);
  for (const [name, file] of Object.entries(pkg.bin ?? {})) {
    chmodSync(join(target, file), 0o755);
    symlinkSync(relative(bin, join(target, file)), join(bin, name));
  }
  return pkg as Record<string, unknown>;
}

/** The pids of every process below `pid` (children, grandchildren…), from `ps`. */
async function descendants(pid: number): Promise<number[]> {
  const ps = await runProcess("ps", ["-A", "-o", "pid=,ppid="]);
  const children = new Map<number, number[]>();
  for (const line of ps.stdout.trim().split("\n")) {
    const [child, parent] = line.trim().split(/\s+/).map(Number);
    if (child === undefined || parent === undefined) continue;
    children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** True while `pid` runs (a zombie, exited but not yet reaped, counts as gone). */
async function running(pid: number): Promise<boolean> {
  const ps = await runProcess("ps", ["-o", "stat=", "-p", String(pid)]);
  const stat = ps.stdout.trim();
  return stat !== "" && !stat.startsWith("Z");
}

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

const ESM_TYPES = `import { Redis } from "ioredis";
import { RedisSessions, type Session, isStoreError } from "${NAME}";
const rs = new RedisSessions({ redis: "redis://127.0.0.1:1", wipe: 0, timeout: 100 });
// A client of the ioredis version the user has is accepted as \`client\`.
export const own = new RedisSessions({ client: new Redis({ lazyConnect: true, commandTimeout: 100 }) });
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
    installed = await installTarball(join(dir, info!.filename), consumer);
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
        "dist/cli/index.js",
        // The dashboard's static files, copied by the build (tsc compiles only .ts).
        "dist/rest/admin/index.html",
        "dist/rest/admin/admin.js",
        "dist/rest/admin/admin.css",
        // Declarations for ioredis' untyped import, referenced by dist/index.d.ts.
        "types/redis-errors.d.ts",
      ]),
    );
    expect(installed.bin).toEqual({ [NAME]: "./dist/cli/index.js" });
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

  it("serves through npx, and SIGTERM to npx leaves no server running", async () => {
    // npx runs the bin under `sh -c`; on SIGTERM npm signals the shell, which dies without
    // passing the signal on: the server itself must notice that it was orphaned.
    const npx = spawn(
      "npx",
      ["--no-install", NAME, "serve", "--port", "0", "--redis", redisUrl(), "--wipe", "0"],
      { cwd: consumer, env: consumerEnv(), stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    npx.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const npxExit = new Promise<unknown>((resolve) => npx.once("exit", resolve));
    let tree: number[] = [];
    try {
      const url = await until(() => /listening on (http:\/\/\S+)/.exec(stderr)?.[1], {
        ms: 30_000,
        what: `the server's startup line; stderr: ${stderr}`,
      });
      expect(await (await fetch(`${url}/ping`)).text()).toBe("PONG");
      tree = await descendants(npx.pid ?? -1);
      expect(tree.length).toBeGreaterThan(0);
      npx.kill("SIGTERM");
      await npxExit;
      await until(async () => !(await Promise.all(tree.map(running))).some(Boolean), {
        ms: 15_000,
        what: "every process npx started to exit",
      });
      await expect(fetch(`${url}/ping`)).rejects.toThrow();
      expect(stderr).toContain("stopped: server closed, Redis connection quit");
    } finally {
      npx.kill("SIGKILL");
      // Only processes this test started: the ones below its npx.
      for (const pid of tree) if (await running(pid)) process.kill(pid, "SIGKILL");
    }
  }, 60_000);

  it("type-checks strict ESM and CommonJS TypeScript consumers under nodenext", async () => {
    // The type packages an Express app in TypeScript installs next to ours.
    for (const types of ["@types/node", "@types/express"]) {
      const link = join(consumer, "node_modules", types);
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(join(ROOT, "node_modules", types), link, "junction");
    }
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
          // Check every declaration the consumer loads, ours and ioredis' (the version a user
          // installs today), as a strict project without skipLibCheck does.
          skipLibCheck: false,
          types: ["node"],
        },
        files: ["esm.mts", "cjs.cts"],
      }),
    );
    const r = await run("node", [TSC, "-p", "tsconfig.json"], consumer);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  }, 60_000);
});
