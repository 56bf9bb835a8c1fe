/**
 * A crashed inference thread fails only its own work (docs/memory.md#when-the-inference-thread-dies).
 *
 * The WorkerEngine is real; the threads are small fakes that speak the real protocol (worker-protocol.ts), so
 * a crash can be placed exactly: while one job runs and another is queued. One test uses the real inference
 * thread dying at start-up.
 */
import pino from 'pino';
import { Worker } from 'worker_threads';
import { drainThenExit, logEngineEvent } from '../../src/bootstrap';
import { readImageHeader } from '../../src/images/sniff';
import type { BackendChoice } from '../../src/tf/backend';
import { constantPipeline } from '../../src/pipelines/constant';
import { defaultRecovery, type RecoveryPolicy } from '../../src/runtime/crash-recovery';
import { LocalEngine, PipelineUnavailableError, type EngineJob } from '../../src/runtime/engine';
import { EngineRouter } from '../../src/runtime/engine-router';
import { WorkerEngine, type ThreadCrashEvent } from '../../src/runtime/worker-engine';
import type { WorkerInit } from '../../src/runtime/worker-protocol';
import { itOffNative, itOnNative } from '../helpers/backend';
import { jpeg } from '../helpers/images';

interface FakeThread {
  backend: 'wasm' | 'tensorflow';
  /** Hold the first job as running, then exit with this code when the next job arrives. */
  crashOnSecondJob?: number;
  /** Throw at start-up, before reporting anything. */
  dieAtStart?: string;
}

/**
 * A thread that reports `backend` and every slug ready, then answers each job with one detection per image
 * whose id is `<image id>:<bytes received>` (so a re-sent job can be seen to carry its bytes).
 */
const FAKE_THREAD = `
const { parentPort, workerData } = require('worker_threads');
const { fake, slugs } = workerData;
if (fake.dieAtStart) throw new Error(fake.dieAtStart);
const pkg = fake.backend === 'tensorflow' ? '@tensorflow/tfjs-node' : '@tensorflow/tfjs-backend-wasm';
parentPort.postMessage({ type: 'event', event: { type: 'backend', decoder: 'sharp',
  choice: { backend: fake.backend, package: pkg, gpu: false, reasons: [] } } });
for (const slug of slugs) parentPort.postMessage({ type: 'event', event: { type: 'state', slug, state: { state: 'ready' } } });
let jobs = 0;
parentPort.on('message', (m) => {
  if (m.type !== 'run') return;
  jobs++;
  if (fake.crashOnSecondJob !== undefined && jobs === 2) process.exit(fake.crashOnSecondJob);
  parentPort.postMessage({ type: 'started', ids: [m.id] });
  if (fake.crashOnSecondJob !== undefined) return;
  const detections = m.job.images.map((img) => ({ source_image_id: img.id + ':' + img.bytes.byteLength }));
  parentPort.postMessage({ type: 'result', id: m.id, stats: { queueDepth: 0, numTensors: 0, numBytes: 0 },
    result: { detections, failures: [], batchImages: m.job.images.length, timings: {} } });
});
`;

/** A spawn function that starts `threads[i]` for the i-th thread (the last one repeats), and counts. */
function fakes(...threads: FakeThread[]): { spawn: (init: WorkerInit) => Worker; count: () => number } {
  let n = 0;
  return {
    spawn: (init) => {
      const fake = threads[Math.min(n++, threads.length - 1)];
      return new Worker(FAKE_THREAD, { eval: true, workerData: { fake, slugs: init.slugs } });
    },
    count: () => n,
  };
}

const init = (slugs: string[], backend: WorkerInit['backend'] = 'auto'): WorkerInit => ({
  slugs,
  context: { modelsDir: 'models', batches: { detectorBatchSize: 4, classifierBatchSize: 8 } },
  backend,
  decoder: 'auto',
});

let jpegBytes: Uint8Array;
beforeAll(async () => {
  jpegBytes = new Uint8Array(await jpeg(320, 240));
});
const job = (pipeline: string, id: string): EngineJob => ({
  pipeline,
  images: [{ id, url: `http://x/${id}.jpg`, bytes: jpegBytes, header: readImageHeader(jpegBytes) }],
  given: [],
  config: {},
});

const fast: RecoveryPolicy = defaultRecovery({ baseMs: 20, capMs: 80 });

/**
 * The service's layout: `worker` serves model pipeline `m`, and `constant` runs on this thread without
 * TensorFlow (a LocalEngine), behind one router.
 */
async function besideConstant(worker: WorkerEngine): Promise<EngineRouter> {
  const main = new LocalEngine({
    definitions: [constantPipeline],
    context: init([]).context,
    backend: null,
    decoder: 'auto',
  });
  await main.start();
  return new EngineRouter(
    [
      { engine: main, slugs: ['constant'] },
      { engine: worker, slugs: ['m'] },
    ],
    ['constant', 'm'],
  );
}

describe('recovery policy', () => {
  test('wasm and cpu restart the thread after a doubling, capped delay; native TF exits the process', () => {
    const wasm: BackendChoice = {
      backend: 'wasm',
      package: '@tensorflow/tfjs-backend-wasm',
      gpu: false,
      tensorflow: null,
      reasons: [],
    };
    const native: BackendChoice = { ...wasm, backend: 'tensorflow', package: '@tensorflow/tfjs-node' };
    const policy = defaultRecovery({ baseMs: 500, capMs: 30_000 });
    const delays = [1, 2, 3, 4, 7, 8, 20].map((n) =>
      policy({ backend: wasm, preference: 'auto', consecutive: n }),
    );
    expect(delays.map((a) => (a.kind === 'restart-thread' ? a.delayMs : null))).toEqual([
      500, 1000, 2000, 4000, 30_000, 30_000, 30_000,
    ]);
    expect(policy({ backend: native, preference: 'auto', consecutive: 1 })).toEqual({
      kind: 'exit-process',
      code: 1,
    });
    // A thread that died before choosing: what TFJS_BACKEND asked for decides.
    expect(policy({ backend: null, preference: 'tensorflow', consecutive: 1 }).kind).toBe('exit-process');
    expect(policy({ backend: null, preference: 'auto', consecutive: 1 }).kind).toBe('restart-thread');
  });
});

describe('inference thread crash (wasm)', () => {
  test('the running job fails naming the crash, the queued one runs on the new thread, constant never notices', async () => {
    const threads = fakes({ backend: 'wasm', crashOnSecondJob: 7 }, { backend: 'wasm' });
    const events: ThreadCrashEvent[] = [];
    const exits: number[] = [];
    const worker = new WorkerEngine(init(['m']), {
      spawn: threads.spawn,
      recovery: fast,
      exitProcess: (code) => exits.push(code),
      onEvent: (e) => {
        if (e.type === 'thread-crash') events.push(e);
      },
    });
    const engine = await besideConstant(worker);
    try {
      await engine.whenReady('m');
      const running = engine.run(job('m', 'first'));
      await new Promise((r) => setTimeout(r, 50));
      const queued = engine.run(job('m', 'second'));
      const [r1, r2] = await Promise.allSettled([running, queued]);

      expect(r1).toEqual({
        status: 'rejected',
        reason: new Error('the inference thread crashed while running this job: exited with code 7'),
      });
      expect(r2.status).toBe('fulfilled');
      const second = (r2 as PromiseFulfilledResult<Awaited<typeof queued>>).value;
      expect(second.detections.map((d) => d.source_image_id)).toEqual([`second:${jpegBytes.byteLength}`]);
      expect(events).toEqual([
        {
          type: 'thread-crash',
          reason: 'exited with code 7',
          failed: 1,
          requeued: 1,
          action: { kind: 'restart-thread', delayMs: 20 },
        },
      ]);
      expect(threads.count()).toBe(2);
      expect(exits).toEqual([]);
      // The model-free pipeline ran on this thread without TensorFlow.
      const c = await engine.run(job('constant', 'c'));
      expect(c.detections.map((d) => d.source_image_id)).toEqual(['c']);
      expect(engine.readySlugs()).toEqual(['constant', 'm']);
    } finally {
      await engine.close();
    }
  });

  test('while the thread is down its pipelines leave readiness; constant stays ready and answers', async () => {
    const threads = fakes({ backend: 'wasm', dieAtStart: 'pipelines.json: Unexpected token' });
    const worker = new WorkerEngine(init(['m']), { spawn: threads.spawn, recovery: fast });
    const engine = await besideConstant(worker);
    try {
      await expect(engine.whenReady('m')).rejects.toThrow(PipelineUnavailableError);
      expect(engine.readySlugs()).toEqual(['constant']);
      const c = await engine.run(job('constant', 'c'));
      expect(c.detections).toHaveLength(1);
    } finally {
      await engine.close();
    }
  });
});

describe('inference thread crash (native TF)', () => {
  test('leads to a process exit, not a thread restart', async () => {
    const threads = fakes({ backend: 'tensorflow', crashOnSecondJob: 1 }, { backend: 'tensorflow' });
    const exits: [number, string][] = [];
    const worker = new WorkerEngine(init(['m'], 'tensorflow'), {
      spawn: threads.spawn,
      recovery: fast,
      exitProcess: (code, reason) => exits.push([code, reason]),
    });
    try {
      await worker.whenReady('m');
      const running = worker.run(job('m', 'first'));
      await new Promise((r) => setTimeout(r, 50));
      const queued = worker.run(job('m', 'second'));
      await expect(running).rejects.toThrow('crashed while running this job: exited with code 1');
      // Nothing will run the queued job in this process: it is answered at once, as unavailable.
      await expect(queued).rejects.toThrow(PipelineUnavailableError);
      expect(exits).toEqual([[1, 'exited with code 1']]);
      await new Promise((r) => setTimeout(r, 200)); // well past the restart delay: no second thread
      expect(threads.count()).toBe(1);
      expect(worker.readySlugs()).toEqual([]);
    } finally {
      await worker.close();
    }
  });
});

describe('real inference thread dying at start-up', () => {
  itOffNative(
    'is restarted with a doubling delay, and its pipeline is unavailable rather than waited for',
    'native TF exits the process instead (the test below)',
    async () => {
      const crashes: ThreadCrashEvent[] = [];
      let resolveTwo: () => void;
      const two = new Promise<void>((r) => (resolveTwo = r));
      // An unknown slug makes the real thread throw while it starts, like a broken pipelines.json.
      const engine = new WorkerEngine(init(['no-such-pipeline'], 'wasm'), {
        recovery: defaultRecovery({ baseMs: 100, capMs: 1000 }),
        onEvent: (e) => {
          if (e.type !== 'thread-crash') return;
          crashes.push(e);
          if (crashes.length === 2) resolveTwo();
        },
      });
      try {
        await expect(engine.whenReady('no-such-pipeline')).rejects.toThrow(
          'pipeline no-such-pipeline failed to load: the inference thread died at start-up ' +
            '(unknown pipeline no-such-pipeline); next try in 0.1 s',
        );
        await two;
        expect(crashes.map((e) => e.action)).toEqual([
          { kind: 'restart-thread', delayMs: 100 },
          { kind: 'restart-thread', delayMs: 200 },
        ]);
        expect(crashes[0].reason).toBe('unknown pipeline no-such-pipeline');
      } finally {
        await engine.close();
      }
    },
    60_000,
  );

  itOnNative(
    'on native TF (TFJS_BACKEND=tensorflow) the process is told to exit, and the pipeline is unavailable',
    async () => {
      const crashes: ThreadCrashEvent[] = [];
      const exits: [number, string][] = [];
      let exited: () => void;
      const exit = new Promise<void>((r) => (exited = r));
      const engine = new WorkerEngine(init(['no-such-pipeline'], 'tensorflow'), {
        recovery: defaultRecovery({ baseMs: 100, capMs: 1000 }),
        exitProcess: (code, reason) => {
          exits.push([code, reason]);
          exited();
        },
        onEvent: (e) => {
          if (e.type === 'thread-crash') crashes.push(e);
        },
      });
      try {
        await exit;
        await expect(engine.whenReady('no-such-pipeline')).rejects.toThrow(
          'pipeline no-such-pipeline failed to load: the inference thread crashed ' +
            '(unknown pipeline no-such-pipeline); the process restarts',
        );
        expect(exits).toEqual([[1, 'unknown pipeline no-such-pipeline']]);
        // It died before choosing a backend: TFJS_BACKEND=tensorflow decided, and no second thread starts.
        await new Promise((r) => setTimeout(r, 300));
        expect(crashes.map((e) => e.action)).toEqual([{ kind: 'exit-process', code: 1 }]);
      } finally {
        await engine.close();
      }
    },
    60_000,
  );
});

describe('logs', () => {
  test('a thread crash and a backend rebuild are logged at error with the cause and what happens next', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) },
    );
    logEngineEvent(logger, {
      type: 'thread-crash',
      reason: 'exited with code 134',
      failed: 1,
      requeued: 2,
      action: { kind: 'restart-thread', delayMs: 1000 },
    });
    logEngineEvent(logger, {
      type: 'thread-crash',
      reason: 'exited with code 1',
      failed: 1,
      requeued: 0,
      action: { kind: 'exit-process', code: 1 },
    });
    logEngineEvent(logger, { type: 'rebuild', cause: 'memory access out of bounds', slugs: ['m'] });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [
        50,
        'inference thread died (exited with code 134); 1 running job(s) failed, 2 queued job(s) kept; starting a new thread in 1000 ms',
      ],
      [
        50,
        'inference thread died (exited with code 1); 1 running job(s) failed, 0 queued job(s) kept; exiting the process so that it is restarted (native TF cannot reload in a new thread)',
      ],
      [
        50,
        'the TensorFlow backend became unusable; rebuilding it and reloading the models (out of /readyz until warm)',
      ],
    ]);
    expect(lines[2]).toMatchObject({ cause: 'memory access out of bounds', pipelines: ['m'] });
  });
});

describe('drainThenExit (the default exit on native TF)', () => {
  test('turns /readyz off at once, waits for in-flight requests, then exits with the code', async () => {
    const lifecycle = { shuttingDown: false, inFlight: 1 };
    const exits: number[] = [];
    drainThenExit(lifecycle, 5000, pino({ level: 'silent' }), (code) => exits.push(code))(
      1,
      'exited with code 1',
    );
    expect(lifecycle.shuttingDown).toBe(true);
    await new Promise((r) => setTimeout(r, 150));
    expect(exits).toEqual([]);
    lifecycle.inFlight = 0;
    await new Promise((r) => setTimeout(r, 150));
    expect(exits).toEqual([1]);
  });

  test('exits when the grace period ends even if a request is still running', async () => {
    const lifecycle = { shuttingDown: false, inFlight: 3 };
    const exits: number[] = [];
    drainThenExit(lifecycle, 100, pino({ level: 'silent' }), (code) => exits.push(code))(1, 'crash');
    await new Promise((r) => setTimeout(r, 300));
    expect(exits).toEqual([1]);
  });
});
