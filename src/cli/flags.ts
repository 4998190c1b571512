import { InvalidArgumentError } from "commander";

/** A configuration the CLI refuses: printed, then exit code 2. */
export class UsageError extends Error {}

/** Writes a line to stderr, where the CLI's messages and logs go. */
export function write(line: string): void {
  process.stderr.write(line);
}

/** A commander argument parser for an integer from `min` to `max`. */
export function integer(min: number, max: number) {
  return (value: string): number => {
    const text = value.trim();
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) {
      throw new InvalidArgumentError(`Expected an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

/** True when an environment variable holds a yes (1, true, yes, on). */
export function envFlag(name: string): boolean {
  return /^(1|true|yes|on)$/i.test(process.env[name] ?? "");
}
