import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/*
 * The typing promises of the README, compiled for real: `req.rs` exists on Express's Request,
 * and an app declares the shape of `d` once by augmenting `SessionData`. The code lives in
 * memory (not in a file of the project), because an augmentation is global to a program: it
 * would change `d` for every other file of the project's own type check.
 */

const here = dirname(fileURLToPath(import.meta.url));
const virtual = join(here, "__augmented_app__.ts");

const APP = `
import express from "express";
import connect from "connect";
import { createServer } from "node:http";
import { redisSessions, type RequestWithSession } from "../../src/index.js";

declare module "../../src/index.js" {
  interface SessionData {
    name: string;
    plan: "free" | "pro";
    visits?: number;
  }
}

const mw = redisSessions({ app: "web", cookie: { name: "sid" } });
const app = express();
app.use(mw);
app.get("/", async (req, res) => {
  const session = await req.rs.get();
  const name: string | undefined = session?.d?.name;
  const plan: "free" | "pro" | undefined = session?.d?.plan;
  await req.rs.set({ visits: 1, plan: "pro" });
  await req.rs.set({ visits: null });
  await req.rs.upsert("u1", { name: "Ann", plan: "free" }, { ttl: 600 });
  const token: string | null = req.rs.token;
  res.json({ name, plan, token, id: req.rs.id });
});
connect().use(mw);
createServer((req, res) => mw(req, res, () => {
  const typed = req as RequestWithSession;
  void typed.rs.get().then((s) => res.end(s?.d?.name ?? ""));
}));
`;

const wrong = join(here, "__misfit_app__.ts");
/** Misuses the same augmented types: each line must be an error. */
const WRONG = `
import express from "express";
const app = express();
app.get("/", async (req) => {
  await req.rs.set({ plan: "gold" });
  const s = await req.rs.get();
  return s?.d?.nickname;
});
`;

/** Compiles both files in one program (an augmentation is global to it); errors by file. */
function compile(): Record<string, string[]> {
  const files: Record<string, string> = { [virtual]: APP, [wrong]: WRONG };
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2023,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ["node"],
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (f) => files[f] ?? readFile(f);
  host.fileExists = (f) => f in files || fileExists(f);
  host.getSourceFile = (f, lang, ...rest) => {
    const code = files[f];
    return code === undefined
      ? getSourceFile(f, lang, ...rest)
      : ts.createSourceFile(f, code, lang, true);
  };
  const program = ts.createProgram(Object.keys(files), options, host);
  const out: Record<string, string[]> = { [virtual]: [], [wrong]: [], other: [] };
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const key = d.file && d.file.fileName in files ? d.file.fileName : "other";
    out[key]?.push(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  }
  return out;
}

describe("TypeScript", () => {
  it("types req.rs on Express, Connect and node:http, and d from SessionData", () => {
    const errors = compile();
    expect(errors[virtual]).toEqual([]);
    expect(errors.other).toEqual([]);
    const misfit = errors[wrong]?.join("\n") ?? "";
    expect(misfit).toMatch(/"gold"/);
    expect(misfit).toMatch(/nickname/);
    expect(errors[wrong]).toHaveLength(2);
  }, 30_000);
});
