/**
 * Per-pipeline readiness, decided in one place for every engine (LocalEngine in its thread, WorkerEngine on the
 * main thread from the thread's events).
 *
 * A pipeline moves loading → ready | failed, and back to loading while its engine is rebuilt or its thread
 * restarts. Requests that arrive while it is loading wait rather than get a 503 (Antenna's /process has no
 * timeout: docs/antenna-protocol.md#status-codes); a failed pipeline rejects them at once.
 */

/** The load state of one pipeline. */
export type PipelineState = { state: 'loading' } | { state: 'ready' } | { state: 'failed'; error: string };

/** Thrown by `whenReady`/`run` for a pipeline that is not enabled or failed to load. */
export class PipelineUnavailableError extends Error {}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

export class Readiness {
  private readonly states = new Map<string, PipelineState>();
  private readonly waiters = new Map<string, Waiter[]>();

  /** Every slug starts loading; `ready()` lists slugs in this order. */
  constructor(readonly slugs: readonly string[]) {
    for (const slug of slugs) this.states.set(slug, { state: 'loading' });
  }

  /** Records a state; settles the waiters of a slug that is now ready or failed. Unknown slugs are ignored. */
  set(slug: string, state: PipelineState): void {
    if (!this.states.has(slug)) return;
    this.states.set(slug, state);
    if (state.state === 'loading') return;
    const waiting = this.waiters.get(slug) ?? [];
    this.waiters.delete(slug);
    for (const w of waiting) {
      if (state.state === 'ready') w.resolve();
      else w.reject(unavailable(slug, state.error));
    }
  }

  /** Sets every slug to `state`. */
  setAll(state: PipelineState): void {
    for (const slug of this.slugs) this.set(slug, state);
  }

  get(slug: string): PipelineState | undefined {
    return this.states.get(slug);
  }

  /** Slugs that are ready now, in registry order: what /readyz lists. */
  ready(): string[] {
    return this.slugs.filter((slug) => this.states.get(slug)?.state === 'ready');
  }

  /** Resolves once `slug` is ready; rejects if it is unknown or failed (now or when its load ends). */
  wait(slug: string): Promise<void> {
    const state = this.states.get(slug);
    if (!state) return Promise.reject(new PipelineUnavailableError(`pipeline ${slug} is not enabled`));
    if (state.state === 'ready') return Promise.resolve();
    if (state.state === 'failed') return Promise.reject(unavailable(slug, state.error));
    return new Promise<void>((resolve, reject) => {
      this.waiters.set(slug, [...(this.waiters.get(slug) ?? []), { resolve, reject }]);
    });
  }
}

const unavailable = (slug: string, error: string): PipelineUnavailableError =>
  new PipelineUnavailableError(`pipeline ${slug} failed to load: ${error}`);
