/**
 * Retry delays and interruptible sleeps for the pull worker. Delays grow exponentially up to a cap, with
 * jitter, so that many workers that lost Antenna at the same moment do not come back in lockstep.
 */

export interface BackoffOptions {
  /** First delay (ms). */
  baseMs: number;
  /** Largest delay (ms). */
  capMs: number;
}

/** Exponential backoff with "equal jitter": each delay is uniform in [d/2, d], d = min(cap, base·2^n). */
export class Backoff {
  private attempt = 0;

  constructor(private readonly options: BackoffOptions) {}

  /** The delay before the next retry; each call counts one more failure. */
  next(): number {
    const d = Math.min(this.options.capMs, this.options.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return d / 2 + Math.random() * (d / 2);
  }

  /** Failures since the last success. */
  get failures(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Resolves after `ms`, or early (without error) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
