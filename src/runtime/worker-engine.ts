/**
 * The main-thread side of the inference worker. Image bytes are transferred, not copied. If the worker dies
 * (a native crash, out of memory), in-flight jobs fail with an error and a new worker is started.
 */
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { BackendChoice } from '../tf/backend';
import {
  PipelineUnavailableError,
  type EngineEvent,
  type EngineJob,
  type EngineResult,
  type EngineStats,
  type InferenceEngine,
  type PipelineState,
} from './engine';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol';

interface Pending {
  resolve: (r: EngineResult) => void;
  reject: (e: Error) => void;
}

/** Starts the worker from compiled JS, or from TypeScript through ts-node when running from sources (tests). */
function spawn(init: WorkerInit): Worker {
  const ext = path.extname(__filename);
  const entry = path.join(__dirname, `inference-worker${ext}`);
  if (ext === '.ts') {
    const boot = `require('ts-node').register({ transpileOnly: true }); require(${JSON.stringify(entry)});`;
    return new Worker(boot, { eval: true, workerData: init });
  }
  return new Worker(entry, { workerData: init });
}

/** The ArrayBuffer to transfer for a view; copies when the view shares a pooled buffer. */
function ownBuffer(view: Uint8Array): { view: Uint8Array; buffer: ArrayBuffer } {
  if (
    view.byteOffset === 0 &&
    view.byteLength === view.buffer.byteLength &&
    view.buffer instanceof ArrayBuffer
  ) {
    return { view, buffer: view.buffer };
  }
  const copy = new Uint8Array(view);
  return { view: copy, buffer: copy.buffer };
}

export class WorkerEngine implements InferenceEngine {
  private worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private choice: BackendChoice | null = null;
  private readonly states = new Map<string, PipelineState>();
  private waiters = new Map<string, { resolve: () => void; reject: (e: Error) => void }[]>();
  private lastStats: EngineStats = { queueDepth: 0, numTensors: 0, numBytes: 0 };
  private closing = false;

  constructor(
    private readonly init: WorkerInit,
    private readonly onEvent: (event: EngineEvent | { type: 'worker-exit'; code: number }) => void = () =>
      undefined,
  ) {
    for (const slug of init.slugs) this.states.set(slug, { state: 'loading' });
    this.worker = this.start();
  }

  private start(): Worker {
    const worker = spawn(this.init);
    worker.on('message', (msg: FromWorker) => this.onMessage(msg));
    worker.on('error', (err) => this.failAll(new Error(`inference worker crashed: ${err.message}`)));
    worker.on('exit', (code) => {
      if (this.closing) return;
      this.onEvent({ type: 'worker-exit', code });
      this.failAll(new Error(`inference worker exited with code ${code}`));
      for (const slug of this.init.slugs) this.states.set(slug, { state: 'loading' });
      this.worker = this.start();
    });
    return worker;
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private onMessage(msg: FromWorker): void {
    switch (msg.type) {
      case 'event':
        this.onEngineEvent(msg.event);
        return;
      case 'result':
      case 'error': {
        this.lastStats = msg.stats;
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (!p) return;
        if (msg.type === 'result') p.resolve(msg.result);
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
      this.states.set(event.slug, event.state);
      if (event.state.state !== 'loading') {
        const failed = event.state.state === 'failed' ? event.state.error : null;
        for (const w of this.waiters.get(event.slug) ?? []) {
          if (failed)
            w.reject(new PipelineUnavailableError(`pipeline ${event.slug} failed to load: ${failed}`));
          else w.resolve();
        }
        this.waiters.delete(event.slug);
      }
    }
    this.onEvent(event);
  }

  backend(): BackendChoice | null {
    return this.choice;
  }

  pipelineState(slug: string): PipelineState | undefined {
    return this.states.get(slug);
  }

  readySlugs(): string[] {
    return this.init.slugs.filter((slug) => this.states.get(slug)?.state === 'ready');
  }

  whenReady(slug: string): Promise<void> {
    const state = this.states.get(slug);
    if (!state) return Promise.reject(new PipelineUnavailableError(`pipeline ${slug} is not enabled`));
    if (state.state === 'ready') return Promise.resolve();
    if (state.state === 'failed') {
      return Promise.reject(new PipelineUnavailableError(`pipeline ${slug} failed to load: ${state.error}`));
    }
    return new Promise((resolve, reject) => {
      this.waiters.set(slug, [...(this.waiters.get(slug) ?? []), { resolve, reject }]);
    });
  }

  async run(job: EngineJob): Promise<EngineResult> {
    await this.whenReady(job.pipeline);
    const transfer: ArrayBuffer[] = [];
    const own = <T extends { bytes: Uint8Array }>(img: T): T => {
      const { view, buffer } = ownBuffer(img.bytes);
      transfer.push(buffer);
      return { ...img, bytes: view };
    };
    const message: ToWorker = {
      type: 'run',
      id: this.nextId++,
      job: {
        ...job,
        images: job.images.map(own),
        given: job.given.map((g) => ({ ...g, crop: g.crop ? own(g.crop) : null })),
      },
    };
    return new Promise<EngineResult>((resolve, reject) => {
      this.pending.set(message.id, { resolve, reject });
      this.worker.postMessage(message, transfer);
    });
  }

  stats(): EngineStats {
    return { ...this.lastStats, queueDepth: this.pending.size };
  }

  async close(): Promise<void> {
    this.closing = true;
    this.failAll(new Error('inference engine closed'));
    await this.worker.terminate();
  }
}
