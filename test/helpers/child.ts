import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** How a child process ended. */
export interface ChildResult {
  /** The exit code; `null` when a signal ended it. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** From the spawn until its output closed. */
  ms: number;
  /** Killed (SIGKILL) for running longer than `limitMs`. */
  timedOut: boolean;
}

export interface RunOptions {
  cwd?: string;
  /** The environment; the test process' own by default. */
  env?: NodeJS.ProcessEnv;
  /** Killed with SIGKILL after this many ms. @default 60000 */
  limitMs?: number;
}

/**
 * Runs `cmd args` to completion and collects its output. Resolves however the process ends
 * (the caller asserts on `code`); rejects only when it cannot be started.
 */
export function runProcess(
  cmd: string,
  args: string[],
  { cwd, env, limitMs = 60_000 }: RunOptions = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, limitMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started, timedOut });
    });
  });
}

/**
 * Runs a small ESM script, with `RedisSessions` imported from src/, in a child process (tsx)
 * from the repository root, with `env` added to the environment. Rejects unless it exits by
 * itself with code 0 within 15 s.
 */
export async function runStoreScript(
  body: string,
  env: Record<string, string> = {},
): Promise<ChildResult> {
  const dir = mkdtempSync(join(tmpdir(), "ers-child-"));
  try {
    const file = join(dir, "child.mts");
    const index = pathToFileURL(join(ROOT, "src", "index.ts")).href;
    writeFileSync(file, `import { RedisSessions } from ${JSON.stringify(index)};\n${body}\n`);
    const result = await runProcess(process.execPath, ["--import", "tsx", file], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      limitMs: 15_000,
    });
    if (result.timedOut) {
      throw new Error(
        `child did not exit within 15 s; stdout: ${result.stdout}; stderr: ${result.stderr}`,
      );
    }
    if (result.code !== 0) throw new Error(`child exited with ${result.code}: ${result.stderr}`);
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
