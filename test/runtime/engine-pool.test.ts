/**
 * INFERENCE_THREADS: the pool of inference threads. The scheduling rules are checked with engines whose
 * readiness and job completion the test controls; real worker threads then show the wiring end to end
 * (two wasm backends, jobs split between them, per-thread metrics, /readyz).
 */
import request from 'supertest';
import type { BackendChoice } from '../../src/tf/backend';
import {
  PipelineUnavailableError,
  type EngineJob,
  type EngineResult,
  type EngineStats,
  type InferenceEngine,
  type PipelineState,
} from '../../src/runtime/engine';
import { EnginePool, MAX_AUTO_THREADS, autoThreads, type ThreadEvent } from '../../src/runtime/engine-pool';
import { WorkerEngine } from '../../src/runtime/worker-engine';
import { readImageHeader } from '../../src/images/sniff';
import { jpeg } from '../helpers/images';
import { itOffNative, testBackend } from '../helpers/backend';
import { testService } from '../helpers/service';

const wasm: BackendChoice = {
  backend: 'wasm',
  package: '@tensorflow/tfjs-backend-wasm',
  gpu: false,
  tensorflow: null,
  reasons: [],
};
const native: BackendChoice = {
  backend: 'tensorflow',
  package: '@tensorflow/tfjs-node',
  gpu: false,
  tensorflow: '2.21.0',
  reasons: [],
};

/** A thread whose pipeline states and job completions the test sets by hand. */
class ManualEngine implements InferenceEngine {
  readonly states = new Map<string, PipelineState>();
  readonly jobs: { job: EngineJob; finish: () => void }[] = [];
  private readonly waiters: { slug: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  constructor(
    readonly index: number,
    slugs: string[],
    private readonly onEvent: (e: ThreadEvent) => void,
  ) {
    for (const s of slugs) this.states.set(s, { state: 'loading' });
  }
  announce(choice: BackendChoice): void {
    this.onEvent({ type: 'backend', choice, decoder: 'jimp' });
  }
  set(slug: string, state: PipelineState): void {
    this.states.set(slug, state);
    for (const w of this.waiters.filter((x) => x.slug === slug)) {
      if (state.state === 'ready') w.resolve();
      if (state.state === 'failed') w.reject(new PipelineUnavailableError(`${slug}: ${state.error}`));
    }
  }
  backend(): BackendChoice | null {
    return null;
  }
  pipelineState(slug: string): PipelineState | undefined {
    return this.states.get(slug);
  }
  readySlugs(): string[] {
    return [...this.states].filter(([, s]) => s.state === 'ready').map(([k]) => k);
  }
  whenReady(slug: string): Promise<void> {
    const s = this.states.get(slug);
    if (s?.state === 'ready') return Promise.resolve();
    if (s?.state === 'failed') return Promise.reject(new PipelineUnavailableError(`${slug}: ${s.error}`));
    return new Promise((resolve, reject) => this.waiters.push({ slug, resolve, reject }));
  }
  run(job: EngineJob): Promise<EngineResult> {
    return new Promise((resolve) =>
      this.jobs.push({
        job,
        finish: () => resolve({ detections: [], failures: [], batchImages: 1, timings: {} }),
      }),
    );
  }
  stats(): EngineStats {
    return { queueDepth: this.jobs.length, numTensors: 0, numBytes: 0 };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function manualPool(threads: number | ((b: BackendChoice) => number), slugs = ['a', 'b']) {
  const engines: ManualEngine[] = [];
  const pool = new EnginePool({
    slugs,
    threads,
    spawn: (index, onEvent) => {
      const e = new ManualEngine(index, slugs, onEvent);
      engines.push(e);
      return e;
    },
  });
  return { pool, engines };
}

const job = (pipeline: string, id: string): EngineJob => ({
  pipeline,
  images: [{ id, url: 'x', bytes: new Uint8Array(0), header: null }] as unknown as EngineJob['images'],
  given: [],
  config: {},
});
/** Lets the pool's awaits (whenReady, then the hand-off) run. */
const settle = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('EnginePool scheduling', () => {
  test('hands each job to the least busy thread: fewest in flight, then least busy time', async () => {
    const { pool, engines } = manualPool(2, ['a']);
    for (const e of engines) e.set('a', { state: 'ready' });
    const ids = () => engines.map((e) => e.jobs.map((j) => j.job.images[0].id));
    const runs = [pool.run(job('a', '1'))];
    await sleep(40);
    runs.push(pool.run(job('a', '2')));
    await settle();
    expect(ids()).toEqual([['1'], ['2']]); // both idle at first: the lower index; then the idle one
    // One job in flight on each; thread 0 has been busy 40 ms longer.
    runs.push(pool.run(job('a', '3')));
    await settle();
    expect(ids()).toEqual([['1'], ['2', '3']]);
    expect(pool.threadStats().map((t) => [t.thread, t.queueDepth, t.jobs])).toEqual([
      [0, 1, 0],
      [1, 2, 0],
    ]);
    // Thread 0 finishes: it has nothing in flight, so it takes the next job.
    engines[0].jobs[0].finish();
    await runs[0];
    runs.push(pool.run(job('a', '4')));
    await settle();
    expect(ids()).toEqual([
      ['1', '4'],
      ['2', '3'],
    ]);
    expect(pool.stats().queueDepth).toBe(4); // each thread's own count, summed (ManualEngine keeps finished jobs)
    for (const e of engines) for (const j of e.jobs) j.finish();
    await Promise.all(runs);
    const threads = pool.threadStats();
    expect(threads.map((t) => [t.queueDepth, t.jobs])).toEqual([
      [0, 2],
      [0, 2],
    ]);
    // setTimeout(40) may fire a fraction of a millisecond before 40 ms of monotonic time have passed.
    expect(threads[0].busySeconds).toBeGreaterThanOrEqual(0.035);
  });

  test('a pipeline is ready once one thread has it warm, and jobs go only to warm threads', async () => {
    const { pool, engines } = manualPool(2);
    expect(pool.readySlugs()).toEqual([]);
    expect(pool.pipelineState('a')).toEqual({ state: 'loading' });
    const waiting = pool.run(job('a', '1'));
    engines[1].set('a', { state: 'ready' });
    expect(pool.readySlugs()).toEqual(['a']);
    expect(pool.pipelineState('a')).toEqual({ state: 'ready' });
    await settle();
    // Thread 0 is idle but still loading `a`: the job waits for nothing and runs on thread 1.
    expect(engines[0].jobs).toHaveLength(0);
    expect(engines[1].jobs).toHaveLength(1);
    engines[1].jobs[0].finish();
    await waiting;
  });

  test('a pipeline fails only when it failed on every thread', async () => {
    const { pool, engines } = manualPool(2);
    engines[0].set('b', { state: 'failed', error: 'out of memory' });
    expect(pool.pipelineState('b')).toEqual({ state: 'loading' });
    engines[1].set('b', { state: 'ready' });
    await expect(pool.whenReady('b')).resolves.toBeUndefined();

    engines[0].set('a', { state: 'failed', error: 'bad weights' });
    engines[1].set('a', { state: 'failed', error: 'bad weights' });
    expect(pool.pipelineState('a')).toEqual({ state: 'failed', error: 'bad weights' });
    expect(pool.readySlugs()).toEqual(['b']);
    await expect(pool.run(job('a', '1'))).rejects.toThrow(PipelineUnavailableError);
    await expect(pool.whenReady('nope')).rejects.toThrow(/nope is not enabled/);
  });

  test('auto: thread 0 starts alone and the rest follow once its backend is known', async () => {
    const { pool, engines } = manualPool((b) => autoThreads(b, 4));
    expect(pool.size()).toBe(1);
    engines[0].announce(wasm);
    await pool.whenSized();
    expect(pool.size()).toBe(4);
    expect(engines.map((e) => e.index)).toEqual([0, 1, 2, 3]);

    const single = manualPool((b) => autoThreads(b, 16));
    single.engines[0].announce(native);
    await single.pool.whenSized();
    expect(single.pool.size()).toBe(1);
  });

  test('auto: one per core on wasm, capped; one on libtensorflow', () => {
    expect(autoThreads(wasm, 2)).toBe(2);
    expect(autoThreads(wasm, 64)).toBe(MAX_AUTO_THREADS);
    expect(autoThreads(native, 64)).toBe(1);
  });

  test('auto with WASM_THREADS: the cores are divided by the threads each wasm instance uses', () => {
    expect(autoThreads(wasm, 8, 2)).toBe(4);
    expect(autoThreads(wasm, 2, 2)).toBe(1);
    expect(autoThreads(wasm, 3, 4)).toBe(1);
    const cpu: BackendChoice = { ...wasm, backend: 'cpu', package: '@tensorflow/tfjs' };
    expect(autoThreads(cpu, 4, 2)).toBe(4); // WASM_THREADS means nothing to the cpu backend
  });
});

describe('EnginePool with real inference threads', () => {
  let pool: EnginePool;
  const threads: WorkerEngine[] = [];
  beforeAll(() => {
    const init = {
      slugs: ['constant', 'random-detection-random-species'],
      context: { modelsDir: 'models', batches: { detectorBatchSize: 2, classifierBatchSize: 8 } },
      backend: testBackend(),
      decoder: 'auto' as const,
    };
    pool = new EnginePool({
      slugs: init.slugs,
      threads: 2,
      spawn: (_i, onEvent) => {
        const thread = new WorkerEngine(init, { onEvent });
        threads.push(thread);
        return thread;
      },
    });
  });
  afterAll(() => pool.close());

  test('two threads each load the pipelines and share the jobs', async () => {
    // The pool serves as soon as one thread is warm; wait for both so that the split is deterministic.
    await Promise.all(threads.map((t) => t.whenReady('random-detection-random-species')));
    const bytes = await Promise.all(Array.from({ length: 6 }, () => jpeg(800, 600)));
    // Seeded jobs are never merged, so each is one pipeline run; the pool spreads them over both threads.
    const results = await Promise.all(
      bytes.map((b, i) => {
        const view = new Uint8Array(b);
        return pool.run({
          pipeline: 'random-detection-random-species',
          images: [{ id: String(i), url: 'x', bytes: view, header: readImageHeader(view) }],
          given: [],
          config: { seed: i },
        });
      }),
    );
    expect(results.map((r) => r.detections[0].source_image_id)).toEqual(['0', '1', '2', '3', '4', '5']);
    const stats = pool.threadStats();
    expect(stats.map((t) => t.jobs)).toEqual([3, 3]);
    expect(stats.map((t) => t.queueDepth)).toEqual([0, 0]);
    expect(pool.backend()).toMatchObject({ backend: testBackend() });
    expect(pool.readySlugs()).toEqual(['constant', 'random-detection-random-species']);
  });

  itOffNative(
    'when one thread dies the others keep serving, and it comes back',
    'native TF exits the process instead of restarting a thread (test/runtime/native-thread-crash.test.ts)',
    async () => {
      const slug = 'random-detection-random-species';
      await Promise.all(threads.map((t) => t.whenReady(slug)));
      await threads[0]['worker']?.terminate();
      expect(threads[0].pipelineState(slug)).toEqual({ state: 'loading' }); // restarting after a back-off
      expect(pool.readySlugs()).toContain(slug); // thread 1 still has it warm
      const before = pool.threadStats().map((t) => t.jobs);
      const view = new Uint8Array(await jpeg(640, 480));
      const result = await pool.run({
        pipeline: slug,
        images: [{ id: 'x', url: 'x', bytes: view, header: readImageHeader(view) }],
        given: [],
        config: { seed: 1 },
      });
      expect(result.detections[0].source_image_id).toBe('x');
      expect(pool.threadStats().map((t, i) => t.jobs - before[i])).toEqual([0, 1]);
      await threads[0].whenReady(slug);
    },
  );
});

test('the service runs INFERENCE_THREADS threads and reports each in /metrics', async () => {
  const svc = await testService({
    inferenceThread: 'worker',
    inferenceThreads: 2,
    // A model pipeline: model-free ones (constant) run on the main thread and start no inference thread.
    enabledPipelines: ['tfjs_synthetic_moths_2026'],
  });
  try {
    const pool = svc.inferenceThreads!;
    expect(pool).toBeInstanceOf(EnginePool);
    expect(pool.size()).toBe(2);
    const ready = await request(svc.app.callback()).get('/readyz');
    expect(ready.status).toBe(200);
    // /readyz answered once one thread was warm; the other may still be compiling.
    while (pool.threadStats().some((t) => t.readyPipelines < 1)) await sleep(50);
    const metrics = await request(svc.app.callback()).get('/metrics');
    for (const thread of ['0', '1']) {
      expect(metrics.text).toContain(`inference_thread_queue_depth{thread="${thread}"} 0`);
      expect(metrics.text).toContain(`inference_thread_pipelines_ready{thread="${thread}"} 1`);
      expect(metrics.text).toMatch(
        new RegExp(`inference_thread_busy_seconds_total\\{thread="${thread}"\\} `),
      );
    }
  } finally {
    await svc.close();
  }
});
