/**
 * One line of progress with an ETA for long scripts (bench, build-models, converter CLI). On a terminal the
 * line is rewritten in place; in a log (no TTY) a new line is written at most every `everyMs`, so CI logs
 * show that a long step is alive without thousands of lines.
 *
 *   const p = new Progress('sequential requests', 1000);
 *   for (...) { ...; p.tick(); }
 *   p.done();   // "sequential requests: 1000/1000 in 4m 12s"
 */

/** `75s` → `1m 15s`; `4000s` → `1h 6m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export interface ProgressOptions {
  /** Where to write; default stderr, so stdout stays the script's result. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Least time between two lines when not on a terminal. Default 10 s. */
  everyMs?: number;
  /** Clock in ms, for tests. */
  now?: () => number;
}

/** Progress of `total` steps of one task, with rate and ETA from the steps done so far. */
export class Progress {
  private doneSteps = 0;
  private readonly start: number;
  private lastWrite = -Infinity;
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly everyMs: number;
  private readonly now: () => number;

  constructor(
    readonly label: string,
    readonly total: number,
    options: ProgressOptions = {},
  ) {
    this.stream = options.stream ?? process.stderr;
    this.everyMs = options.everyMs ?? 10_000;
    this.now = options.now ?? (() => performance.now());
    this.start = this.now();
  }

  /** Seconds left at the rate so far; NaN before the first step. */
  eta(): number {
    if (this.doneSteps === 0) return NaN;
    const elapsed = (this.now() - this.start) / 1000;
    return (elapsed / this.doneSteps) * (this.total - this.doneSteps);
  }

  /** The current line, without a line ending. */
  line(): string {
    const pct = this.total > 0 ? Math.floor((100 * this.doneSteps) / this.total) : 100;
    const elapsed = (this.now() - this.start) / 1000;
    const rate = elapsed > 0 ? this.doneSteps / elapsed : 0;
    const eta = this.eta();
    return (
      `${this.label}: ${this.doneSteps}/${this.total} (${pct}%), ${rate.toFixed(rate < 10 ? 2 : 0)}/s, ` +
      `elapsed ${formatDuration(elapsed)}, ETA ${Number.isNaN(eta) ? '?' : formatDuration(eta)}`
    );
  }

  /** Records `n` more steps done and writes the line when due (always on a terminal). */
  tick(n = 1): void {
    this.doneSteps = Math.min(this.total, this.doneSteps + n);
    const t = this.now();
    if (this.stream.isTTY) {
      this.stream.write(`\r${this.line()}\x1b[K`);
    } else if (t - this.lastWrite >= this.everyMs) {
      this.lastWrite = t;
      this.stream.write(`${this.line()}\n`);
    }
  }

  /** Writes the final line: steps and total time. Returns the seconds taken. */
  done(): number {
    const seconds = (this.now() - this.start) / 1000;
    const end = `${this.label}: ${this.doneSteps}/${this.total} in ${formatDuration(seconds)}`;
    this.stream.write(this.stream.isTTY ? `\r${end}\x1b[K\n` : `${end}\n`);
    return seconds;
  }
}
