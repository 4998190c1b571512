import { loadavg } from "node:os";
import { type Summary, summarize } from "./stats.js";

/**
 * Samples the machine's 1-minute load average every few seconds, labelled with the phase of
 * the run: on a shared machine it says how much the others were using while a figure was taken.
 */
export class LoadAverage {
  private readonly samples: { phase: string; load: number }[] = [];
  private phase = "start";
  private readonly timer: NodeJS.Timeout;

  constructor(everyMs = 5000) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  /** Labels the samples taken from now on. */
  enter(phase: string): void {
    this.phase = phase;
    this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  /** The load average per phase, and over the whole run. */
  summary(): Record<string, Summary> {
    const out: Record<string, Summary> = { all: summarize(this.samples.map((s) => s.load)) };
    for (const phase of new Set(this.samples.map((s) => s.phase))) {
      out[phase] = summarize(this.samples.filter((s) => s.phase === phase).map((s) => s.load));
    }
    return out;
  }

  private sample(): void {
    this.samples.push({ phase: this.phase, load: loadavg()[0]! });
  }
}
