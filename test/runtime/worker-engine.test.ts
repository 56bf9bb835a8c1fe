/**
 * The inference worker thread: the engine the service uses by default.
 */
import { defaultRecovery } from '../../src/runtime/crash-recovery';
import type { ImageDone } from '../../src/runtime/engine';
import { WorkerEngine } from '../../src/runtime/worker-engine';
import { itOffNative, testBackend } from '../helpers/backend';
import { jpeg } from '../helpers/images';
import { readImageHeader } from '../../src/images/sniff';

describe('WorkerEngine', () => {
  let engine: WorkerEngine;
  const events: string[] = [];
  beforeAll(() => {
    engine = new WorkerEngine(
      {
        slugs: ['constant', 'random-detection-random-species'],
        context: { modelsDir: 'models', batches: { detectorBatchSize: 2, classifierBatchSize: 8 } },
        backend: testBackend(),
        decoder: 'auto',
      },
      { onEvent: (e) => events.push(e.type === 'state' ? `${e.slug}:${e.state.state}` : e.type) },
    );
  });
  afterAll(() => engine.close());

  test('loads the pipelines in the worker and reports the backend and readiness', async () => {
    await engine.whenReady('constant');
    await engine.whenReady('random-detection-random-species');
    expect(engine.readySlugs()).toEqual(['constant', 'random-detection-random-species']);
    expect(engine.backend()).toMatchObject({ backend: testBackend() });
    expect(events).toEqual(['backend', 'constant:ready', 'random-detection-random-species:ready']);
  });

  test('runs a job on a copy of the image bytes, kept here until the job ends, and returns detections', async () => {
    const bytes = new Uint8Array(await jpeg(1600, 1200));
    const result = await engine.run({
      pipeline: 'constant',
      images: [{ id: '1', url: 'http://x/1.jpg', bytes, header: readImageHeader(bytes) }],
      given: [],
      config: {},
    });
    expect(result.detections.map((d) => d.bbox)).toEqual([{ x1: 200, y1: 150, x2: 600, y2: 450 }]);
    // A copy went to the thread; the original stays usable (a crashed thread's queued jobs are sent again).
    expect(bytes.byteLength).toBeGreaterThan(0);
    expect(engine.stats().queueDepth).toBe(0);
  });

  test("the thread sends each finished image to the job's listener before the result", async () => {
    const heard: ImageDone[] = [];
    const images = await Promise.all(
      ['a', 'b', 'c'].map(async (id) => {
        const bytes = new Uint8Array(await jpeg(800, 600));
        return { id, url: 'x', bytes, header: readImageHeader(bytes) };
      }),
    );
    const result = await engine.run(
      { pipeline: 'random-detection-random-species', images, given: [], config: { seed: 3 } },
      (d) => heard.push(d),
    );
    expect(heard.map((d) => d.imageId)).toEqual(['a', 'b', 'c']);
    expect(heard.flatMap((d) => d.detections)).toEqual(result.detections);
  });

  test('concurrent jobs all complete', async () => {
    const jobs = await Promise.all(
      Array.from({ length: 5 }, async (_, i) => {
        const bytes = new Uint8Array(await jpeg(800, 600));
        return engine.run({
          pipeline: 'random-detection-random-species',
          images: [{ id: String(i), url: 'x', bytes, header: readImageHeader(bytes) }],
          given: [],
          config: { seed: i },
        });
      }),
    );
    expect(jobs.map((j) => j.detections[0].source_image_id)).toEqual(['0', '1', '2', '3', '4']);
  });

  test('an unknown pipeline is refused', async () => {
    await expect(engine.run({ pipeline: 'nope', images: [], given: [], config: {} })).rejects.toThrow(
      /not enabled/,
    );
  });
});

describe('WorkerEngine with the real thread crashing mid-job', () => {
  itOffNative(
    'the running job fails naming the crash; the queued one runs on the restarted thread',
    'native TF exits the process instead of restarting the thread (test/runtime/native-thread-crash.test.ts)',
    async () => {
      const crashes: string[] = [];
      const engine = new WorkerEngine(
        {
          slugs: ['tfjs_synthetic_moths_2026'],
          context: { modelsDir: 'models', batches: { detectorBatchSize: 4, classifierBatchSize: 16 } },
          backend: 'wasm',
          decoder: 'sharp',
        },
        {
          recovery: defaultRecovery({ baseMs: 10, capMs: 100 }),
          onEvent: (e) => {
            if (e.type === 'thread-crash')
              crashes.push(`${e.reason}; failed ${e.failed}, requeued ${e.requeued}`);
          },
        },
      );
      try {
        await engine.whenReady('tfjs_synthetic_moths_2026');
        const image = async (id: string, w: number, h: number) => {
          const bytes = new Uint8Array(await jpeg(w, h));
          return { id, url: `http://x/${id}.jpg`, bytes, header: readImageHeader(bytes) };
        };
        const big = await Promise.all(['a', 'b', 'c', 'd'].map((id) => image(id, 3000, 2000)));
        const running = engine.run({
          pipeline: 'tfjs_synthetic_moths_2026',
          images: big,
          given: [],
          config: {},
        });
        const queued = engine.run({
          pipeline: 'tfjs_synthetic_moths_2026',
          images: [await image('small', 320, 240)],
          given: [],
          config: { max_detections: 5 }, // a different config: never merged into the running batch
        });
        // The thread tells us when the first job leaves its queue; kill the thread then, as a native crash would.
        const pending = engine['pending'];
        for (let i = 0; i < 400 && ![...pending.values()].some((p) => p.started); i++)
          await new Promise((r) => setTimeout(r, 25));
        await engine['worker']?.terminate();

        await expect(running).rejects.toThrow(
          'the inference thread crashed while running this job: exited with code 1',
        );
        const second = await queued;
        expect(second.failures).toEqual([]);
        expect(crashes).toEqual(['exited with code 1; failed 1, requeued 1']);
        expect(engine.readySlugs()).toEqual(['tfjs_synthetic_moths_2026']);
      } finally {
        await engine.close();
      }
    },
    120_000,
  );
});
