/**
 * Several inference threads behind one `InferenceEngine` (INFERENCE_THREADS).
 *
 * Each thread is a whole engine (in the service a `WorkerEngine`): its own backend instance, its own copy of
 * the models, its own queue that merges compatible jobs into one batch. A job runs whole on one thread, so
 * the detector, the crops and the classifier of one image never cross threads (no tensor is ever shared).
 *
 * The pool hands each job to the least busy thread that has the job's pipeline warm: fewest jobs in flight,
 * then least busy time so far. Jobs that arrive while every thread is busy wait in that thread's queue and
 * are merged there into batches, as with one thread.
 *
 * Why threads and not more processes: the wasm backend computes on one core per instance in Node (its
 * multi-threaded build needs a web Worker; docs/benchmarks.md), so a 16-core host served one core's worth.
 * Threads share one HTTP server, one /readyz and one pull worker, and cost only their models and working set.
 */
import type { BackendChoice } from '../tf/backend';
import { availableCores } from '../util/available-cores';
import {
  sumStats,
  type EngineJob,
  type EngineResult,
  type EngineStats,
  type ImageDoneListener,
  type InferenceEngine,
} from './engine';
import { PipelineUnavailableError, type PipelineState } from './readiness';
import type { WorkerEngineEvent } from './worker-engine';

/** What a thread reports: its engine's events, and its crashes and restarts (WorkerEngine). */
export type ThreadEvent = WorkerEngineEvent;

/** One thread's load, for metrics and logs. */
export interface ThreadStats {
  thread: number;
  /** Jobs handed to this thread and not yet answered (running or waiting in its queue). */
  queueDepth: number;
  /** Seconds this thread has had at least one job in flight, since it started. */
  busySeconds: number;
  /** Jobs answered so far, failed ones included. */
  jobs: number;
  /** Pipelines this thread has compiled and warmed. */
  readyPipelines: number;
}

export interface EnginePoolOptions {
  /** Slugs every thread loads, in registry order. */
  slugs: readonly string[];
  /**
   * How many threads: a number, or a rule applied to the first thread's backend once it is known (thread 0
   * starts alone, the others when the rule has answered).
   */
  threads: number | ((backend: BackendChoice) => number);
  /** Creates thread `index`; `onEvent` must receive its engine events (the pool learns the backend from them). */
  spawn: (index: number, onEvent: (event: ThreadEvent) => void) => InferenceEngine;
  /** Every thread's events, with the thread's index (for logs). */
  onEvent?: (thread: number, event: ThreadEvent) => void;
}

/** Default thread cap: each thread holds its own models and working set (docs/scale-out.md). */
export const MAX_AUTO_THREADS = 8;

/**
 * INFERENCE_THREADS=auto: one thread on libtensorflow (tfjs-node, tfjs-node-gpu), which already spreads each
 * op over every core (and one thread per GPU is the rule on a GPU); otherwise one per available core, up to
 * MAX_AUTO_THREADS. With WASM_THREADS > 1 on wasm each thread already computes on that many cores, so the cores
 * are divided by it.
 */
export function autoThreads(backend: BackendChoice, cores = availableCores(), wasmThreads = 1): number {
  if (backend.backend === 'tensorflow') return 1;
  const perThread = backend.backend === 'wasm' ? wasmThreads : 1;
  return Math.max(1, Math.min(Math.floor(cores / perThread), MAX_AUTO_THREADS));
}

interface Member {
  index: number;
  engine: InferenceEngine;
  inFlight: number;
  busySince: number;
  busyMs: number;
  jobs: number;
}

export class EnginePool implements InferenceEngine {
  private readonly members: Member[] = [];
  /** Settles once the thread count is known and every thread has been created. */
  private readonly sized: Promise<void>;
  private closed = false;

  constructor(private readonly options: EnginePoolOptions) {
    const { threads } = options;
    if (typeof threads === 'number') {
      if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be ≥ 1, got ${threads}`);
      for (let i = 0; i < threads; i++) this.add(i);
      this.sized = Promise.resolve();
      return;
    }
    let sized!: () => void;
    this.sized = new Promise<void>((resolve) => (sized = resolve));
    this.add(0, (event) => {
      if (event.type !== 'backend' || this.members.length > 1 || this.closed) return;
      const n = Math.max(1, threads(event.choice));
      for (let i = 1; i < n; i++) this.add(i);
      sized();
    });
    // A backend that never initialises sends no 'backend' event: thread 0 stays alone, its states failed.
    void Promise.allSettled(options.slugs.map((s) => this.members[0].engine.whenReady(s))).then(sized);
  }

  private add(index: number, first?: (event: ThreadEvent) => void): void {
    const member: Member = { index, engine: null!, inFlight: 0, busySince: 0, busyMs: 0, jobs: 0 };
    member.engine = this.options.spawn(index, (event) => {
      first?.(event);
      this.options.onEvent?.(index, event);
    });
    this.members.push(member);
  }

  /** Threads created so far (the full count once the first thread's backend is known). */
  size(): number {
    return this.members.length;
  }

  /** Resolves once every thread the pool will run has been created. */
  whenSized(): Promise<void> {
    return this.sized;
  }

  backend(): BackendChoice | null {
    for (const m of this.members) {
      const b = m.engine.backend();
      if (b) return b;
    }
    return null;
  }

  /** Ready when one thread is ready; failed only when every thread failed (the first error is reported). */
  pipelineState(slug: string): PipelineState | undefined {
    const states = this.members.map((m) => m.engine.pipelineState(slug));
    if (states.some((s) => s === undefined)) return undefined;
    const known = states as PipelineState[];
    if (known.some((s) => s.state === 'ready')) return { state: 'ready' };
    if (known.some((s) => s.state === 'loading')) return { state: 'loading' };
    return known[0];
  }

  readySlugs(): string[] {
    return this.options.slugs.filter((slug) => this.pipelineState(slug)?.state === 'ready');
  }

  /** Resolves when any thread has `slug` warm; rejects with the first thread's error when all of them failed. */
  async whenReady(slug: string): Promise<void> {
    if (!this.options.slugs.includes(slug))
      throw new PipelineUnavailableError(`pipeline ${slug} is not enabled`);
    try {
      await Promise.any(this.members.map((m) => m.engine.whenReady(slug)));
    } catch (err) {
      throw (err as AggregateError).errors[0] as Error;
    }
  }

  async run(job: EngineJob, onImage?: ImageDoneListener): Promise<EngineResult> {
    await this.whenReady(job.pipeline);
    const member = this.pick(job.pipeline);
    const now = performance.now();
    if (member.inFlight++ === 0) member.busySince = now;
    try {
      return await member.engine.run(job, onImage);
    } finally {
      member.jobs++;
      if (--member.inFlight === 0) member.busyMs += performance.now() - member.busySince;
    }
  }

  /** The least busy thread with `slug` warm: fewest jobs in flight, then least busy time, then lowest index. */
  private pick(slug: string): Member {
    const warm = this.members.filter((m) => m.engine.pipelineState(slug)?.state === 'ready');
    // whenReady resolved, so a thread was ready a moment ago; if it has just crashed, queue on any thread
    // (a restarting WorkerEngine waits for its pipelines before it runs the job).
    const candidates = warm.length > 0 ? warm : this.members;
    const now = performance.now();
    let best = candidates[0];
    for (const m of candidates.slice(1)) {
      if (m.inFlight < best.inFlight) best = m;
      else if (m.inFlight === best.inFlight && this.busyMs(m, now) < this.busyMs(best, now)) best = m;
    }
    return best;
  }

  private busyMs(m: Member, now: number): number {
    return m.busyMs + (m.inFlight > 0 ? now - m.busySince : 0);
  }

  /** Per-thread queue depth and busy time (metrics: inference_thread_*). */
  threadStats(): ThreadStats[] {
    const now = performance.now();
    return this.members.map((m) => ({
      thread: m.index,
      queueDepth: m.inFlight,
      busySeconds: this.busyMs(m, now) / 1000,
      jobs: m.jobs,
      readyPipelines: m.engine.readySlugs().length,
    }));
  }

  /** Totals over the threads: jobs in flight, tensors and tensor bytes held (each thread's last report). */
  stats(): EngineStats {
    return sumStats(this.members.map((m) => m.engine.stats()));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.members.map((m) => m.engine.close()));
  }
}
