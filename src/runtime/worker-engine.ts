/**
 * The main-thread side of the inference worker thread.
 *
 * Image bytes travel to the thread as copies and the originals are kept until the job ends, so that when the
 * thread dies the jobs it had only queued can be sent again to the next thread. The job it was running fails
 * with an error that names the crash. What happens next is the recovery policy's choice (crash-recovery.ts):
 * a new thread after a capped exponential back-off, or, on native TF, a process exit.
 */
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { DetectionResponse } from '../contract/types';
import type { BackendChoice } from '../tf/backend';
import { defaultRecovery, type RecoveryAction, type RecoveryPolicy } from './crash-recovery';
import type {
  EngineEvent,
  EngineJob,
  EngineResult,
  EngineStats,
  ImageDoneListener,
  InferenceEngine,
} from './engine';
import { PipelineUnavailableError, Readiness, type PipelineState } from './readiness';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol';

/** What WorkerEngine reports besides the thread's own engine events. */
export type ThreadCrashEvent = {
  type: 'thread-crash';
  /** The thread's error, or its exit code. */
  reason: string;
  /** Jobs that were running and failed. */
  failed: number;
  /** Jobs that were queued and go to the next thread (0 when the process exits). */
  requeued: number;
  action: RecoveryAction;
};

/** Everything a WorkerEngine reports: its thread's engine events and its own crash reports. */
export type WorkerEngineEvent = EngineEvent | ThreadCrashEvent;

export interface WorkerEngineOptions {
  onEvent?: (event: WorkerEngineEvent) => void;
  /** Default: exit on native TF, else restart with a back-off from 500 ms doubling to 30 s. */
  recovery?: RecoveryPolicy;
  /** Carries out an `exit-process` decision (bootstrap drains in-flight requests first). */
  exitProcess?: (code: number, reason: string) => void;
  /** Starts a thread; tests pass a fake thread that speaks the protocol. */
  spawn?: (init: WorkerInit) => Worker;
  /** A thread that has run this long before dying starts the back-off again from its base. */
  stableAfterMs?: number;
}

interface Pending {
  id: number;
  job: EngineJob;
  onImage?: ImageDoneListener;
  /** Detections heard per image id, to rebuild a result sent without them (`fromImages`). */
  heard: Map<string, DetectionResponse[]>;
  started: boolean;
  resolve: (r: EngineResult) => void;
  reject: (e: Error) => void;
}

/** Starts the worker from compiled JS, or from TypeScript through ts-node when running from sources (tests). */
function spawnInferenceThread(init: WorkerInit): Worker {
  const ext = path.extname(__filename);
  const entry = path.join(__dirname, `inference-worker${ext}`);
  if (ext === '.ts') {
    const boot = `require('ts-node').register({ transpileOnly: true }); require(${JSON.stringify(entry)});`;
    return new Worker(boot, { eval: true, workerData: init });
  }
  return new Worker(entry, { workerData: init });
}

/** A copy of `view` in a buffer of its own, to transfer to the thread while the original stays here. */
function copyForTransfer(view: Uint8Array): { view: Uint8Array; buffer: ArrayBuffer } {
  const copy = new Uint8Array(view);
  return { view: copy, buffer: copy.buffer };
}

export class WorkerEngine implements InferenceEngine {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private readonly readiness: Readiness;
  private nextId = 1;
  private choice: BackendChoice | null = null;
  private lastStats: EngineStats = { queueDepth: 0, numTensors: 0, numBytes: 0 };
  private closing = false;
  private crashes = 0;
  private spawnedAt = 0;
  private threadError: string | null = null;
  /** Whether the current thread got some pipeline ready (a crash before that is a start-up death). */
  private threadReady = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly emit: (event: WorkerEngineEvent) => void;

  constructor(
    private readonly init: WorkerInit,
    private readonly options: WorkerEngineOptions = {},
  ) {
    this.readiness = new Readiness(init.slugs);
    this.emit = options.onEvent ?? (() => undefined);
    this.startThread();
  }

  private startThread(): void {
    this.restartTimer = null;
    const worker = (this.options.spawn ?? spawnInferenceThread)(this.init);
    this.worker = worker;
    this.spawnedAt = Date.now();
    this.threadError = null;
    this.threadReady = false;
    worker.on('message', (msg: FromWorker) => {
      if (worker === this.worker) this.onMessage(msg);
    });
    worker.on('error', (err) => {
      if (worker === this.worker) this.threadError = err.message;
    });
    worker.on('exit', (code) => {
      if (worker === this.worker && !this.closing) this.onCrash(code);
    });
    // Jobs the last thread had only queued: the new one queues them in their original order.
    for (const p of this.pending.values()) this.post(p);
  }

  private post(p: Pending): void {
    const transfer: ArrayBuffer[] = [];
    const own = <T extends { bytes: Uint8Array }>(img: T): T => {
      const { view, buffer } = copyForTransfer(img.bytes);
      transfer.push(buffer);
      return { ...img, bytes: view };
    };
    const message: ToWorker = {
      type: 'run',
      id: p.id,
      perImage: p.onImage !== undefined,
      job: {
        ...p.job,
        images: p.job.images.map(own),
        given: p.job.given.map((g) => ({ ...g, crop: g.crop ? own(g.crop) : null })),
      },
    };
    this.worker?.postMessage(message, transfer);
  }

  private onCrash(code: number): void {
    this.worker = null;
    const reason = this.threadError ?? `exited with code ${code}`;
    if (Date.now() - this.spawnedAt > (this.options.stableAfterMs ?? 60_000)) this.crashes = 0;
    this.crashes++;
    const recovery = this.options.recovery ?? defaultRecovery();
    const action = recovery({
      backend: this.choice,
      preference: this.init.backend,
      consecutive: this.crashes,
    });

    const running = [...this.pending.values()].filter((p) => p.started);
    for (const p of running) {
      this.pending.delete(p.id);
      p.reject(new Error(`the inference thread crashed while running this job: ${reason}`));
    }
    const startupDeath = !this.threadReady;
    let state: PipelineState;
    if (action.kind === 'exit-process') {
      state = { state: 'failed', error: `the inference thread crashed (${reason}); the process restarts` };
    } else if (startupDeath) {
      const next = (action.delayMs / 1000).toFixed(1);
      state = {
        state: 'failed',
        error: `the inference thread died at start-up (${reason}); next try in ${next} s`,
      };
    } else {
      state = { state: 'loading' };
    }
    // Queued jobs wait for the next thread, unless there is none to wait for.
    const requeue = action.kind === 'restart-thread' && !startupDeath;
    if (!requeue) {
      for (const p of this.pending.values())
        p.reject(
          new PipelineUnavailableError(
            `pipeline ${p.job.pipeline} is unavailable: ${state.state === 'failed' ? state.error : reason}`,
          ),
        );
      this.pending.clear();
    }
    this.readiness.setAll(state);
    this.emit({ type: 'thread-crash', reason, failed: running.length, requeued: this.pending.size, action });
    if (action.kind === 'exit-process') {
      this.options.exitProcess?.(action.code, reason);
      return;
    }
    this.restartTimer = setTimeout(() => this.startThread(), action.delayMs);
  }

  private onMessage(msg: FromWorker): void {
    switch (msg.type) {
      case 'event':
        this.onEngineEvent(msg.event);
        return;
      case 'started':
        for (const id of msg.ids) {
          const p = this.pending.get(id);
          if (p) p.started = true;
        }
        return;
      case 'image':
        // A job only reports images once it runs, and a running job is never re-posted after a crash, so
        // each image reaches the listener once.
        {
          const p = this.pending.get(msg.id);
          p?.heard.set(msg.done.imageId, msg.done.detections);
          try {
            p?.onImage?.(msg.done);
          } catch {
            // A listener's own failure is its business (as in LocalEngine); the job goes on.
          }
        }
        return;
      case 'result':
      case 'error': {
        this.lastStats = msg.stats;
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (!p) return;
        if (msg.type === 'result' && msg.fromImages) {
          const detections = msg.fromImages.flatMap((imageId) => p.heard.get(imageId) ?? []);
          p.resolve({ ...msg.result, detections });
        } else if (msg.type === 'result') p.resolve(msg.result);
        else p.reject(msg.unavailable ? new PipelineUnavailableError(msg.message) : new Error(msg.message));
        return;
      }
      case 'closed':
        return;
    }
  }

  private onEngineEvent(event: EngineEvent): void {
    if (event.type === 'backend') this.choice = event.choice;
    if (event.type === 'state') {
      this.readiness.set(event.slug, event.state);
      if (event.state.state === 'ready') this.threadReady = true;
    }
    this.emit(event);
  }

  backend(): BackendChoice | null {
    return this.choice;
  }

  pipelineState(slug: string): PipelineState | undefined {
    return this.readiness.get(slug);
  }

  readySlugs(): string[] {
    return this.readiness.ready();
  }

  whenReady(slug: string): Promise<void> {
    return this.readiness.wait(slug);
  }

  async run(job: EngineJob, onImage?: ImageDoneListener): Promise<EngineResult> {
    await this.whenReady(job.pipeline);
    return new Promise<EngineResult>((resolve, reject) => {
      const p: Pending = {
        id: this.nextId++,
        job,
        onImage,
        heard: new Map(),
        started: false,
        resolve,
        reject,
      };
      this.pending.set(p.id, p);
      // With no thread (between a crash and the restart) the job waits here for the next one.
      this.post(p);
    });
  }

  stats(): EngineStats {
    return { ...this.lastStats, queueDepth: this.pending.size };
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    for (const p of this.pending.values()) p.reject(new Error('inference engine closed'));
    this.pending.clear();
    await this.worker?.terminate();
  }
}
