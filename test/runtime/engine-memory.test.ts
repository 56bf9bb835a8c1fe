/**
 * LocalEngine on the real backend (wasm; libtensorflow in the native tier) with real JPEG decoding: admission
 * by the memory budget, images too large for it, and the rebuild of a backend that a bad image left unusable
 * (docs/memory.md).
 */
import * as tf from '@tensorflow/tfjs';
import { readImageHeader } from '../../src/images/sniff';
import { LocalEngine, type EngineEvent, type EngineJob, type ImageDone } from '../../src/runtime/engine';
import { testBackend } from '../helpers/backend';
import { jpeg } from '../helpers/images';
import { BROKEN, PoisonableDetector, poisonablePipeline as definition } from '../helpers/poisonable-pipeline';

const sizes = new Map<string, [number, number]>();
async function job(images: [string, number, number][], config = {}): Promise<EngineJob> {
  return {
    pipeline: 'rec',
    images: await Promise.all(
      images.map(async ([id, w, h]) => {
        sizes.set(id, [w, h]);
        const bytes = new Uint8Array(await jpeg(w, h));
        return { id, url: `http://x/${id}.jpg`, bytes, header: readImageHeader(bytes) };
      }),
    ),
    given: [],
    config,
  };
}

const ids = (r: { detections: { source_image_id: string }[] }): string[] =>
  r.detections.map((d) => d.source_image_id);

describe('LocalEngine memory budget', () => {
  // 4 MiB: a 400×300 image costs 2.9 MB alone (24 B/px), so at most one of them per run; 1000×1000 costs 24 MB.
  const engine = new LocalEngine({
    definitions: [definition],
    context: { modelsDir: 'models', batches: { detectorBatchSize: 4, classifierBatchSize: 8 } },
    backend: testBackend(),
    decoder: 'sharp',
    memoryBudgetMb: 4,
  });
  beforeAll(() => engine.start());
  afterAll(() => engine.close());

  test('big images fail alone with IMAGE_TOO_LARGE_FOR_BACKEND, undecoded; normal ones after them succeed', async () => {
    PoisonableDetector.seen = [];
    PoisonableDetector.decodedBytes = [];
    const before = tf.memory().numTensors;
    const big = await job([
      ['big-1', 1000, 1000],
      ['big-2', 1000, 1000],
    ]);
    const normal = await job([
      ['n1', 400, 300],
      ['n2', 400, 300],
      ['n3', 64, 48],
    ]);
    const [rb, rn] = await Promise.all([engine.run(big), engine.run(normal)]);
    expect(rb.detections).toEqual([]);
    expect(rb.failures.map((f) => [f.imageId, f.code])).toEqual([
      ['big-1', 'IMAGE_TOO_LARGE_FOR_BACKEND'],
      ['big-2', 'IMAGE_TOO_LARGE_FOR_BACKEND'],
    ]);
    expect(rb.failures[0].message).toBe(
      `1000x1000 pixels need 22.9 MiB to decode and process, more than the ${testBackend()} backend` +
        "'s inference memory budget of 4.0 MiB (INFERENCE_MEMORY_BUDGET_MB)",
    );
    expect(ids(rn)).toEqual(['n1', 'n2', 'n3']);
    expect(rn.failures).toEqual([]);
    // Never decoded; the normal images went in runs that fit: n1 alone, then n2 with the small n3.
    expect(PoisonableDetector.seen).toEqual([['n1'], ['n2', 'n3']]);
    // Each run's images were released before the next run decoded: decoded bytes stay within the budget.
    for (const bytes of PoisonableDetector.decodedBytes) expect(bytes).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('LocalEngine backend rebuild', () => {
  const events: EngineEvent[] = [];
  const engine = new LocalEngine({
    definitions: [definition],
    context: { modelsDir: 'models', batches: { detectorBatchSize: 4, classifierBatchSize: 8 } },
    backend: testBackend(),
    decoder: 'sharp',
    onEvent: (e) => events.push(e),
  });
  beforeAll(() => engine.start());
  afterAll(() => engine.close());

  test('an image that breaks the backend fails alone; the backend is rebuilt and the others are retried', async () => {
    const original = tf.backend();
    const before = tf.memory().numTensors;
    events.length = 0;
    const [a, b] = await Promise.all([
      job([
        ['poison-1', 64, 48],
        ['good-1', 80, 60],
      ]),
      job([['good-2', 96, 72]]),
    ]);
    const [ra, rb] = await Promise.all([engine.run(a), engine.run(b)]);

    expect(ids(ra)).toEqual(['good-1']);
    expect(ra.failures).toEqual([
      {
        imageId: 'poison-1',
        code: 'INFERENCE_FAILED',
        message: `the ${testBackend()} backend broke on this image and was rebuilt: ${BROKEN}`,
      },
    ]);
    expect(ids(rb)).toEqual(['good-2']);
    expect(rb.detections[0].bbox).toEqual({ x1: 0, y1: 0, x2: 48, y2: 36 });

    // Rebuilt after the shared run, then again after the culprit alone; out of readiness while loading.
    expect(events.filter((e) => e.type === 'rebuild').map((e) => e.cause)).toEqual([BROKEN, BROKEN]);
    expect(
      events.filter((e) => e.type === 'state').map((e) => (e.type === 'state' ? e.state.state : '')),
    ).toEqual(['loading', 'ready', 'loading', 'ready']);
    expect(tf.backend()).not.toBe(original);
    expect(tf.getBackend()).toBe(testBackend());
    expect(engine.readySlugs()).toEqual(['rec']);

    // The fresh backend keeps serving, and nothing leaked across the rebuilds.
    const after = await engine.run(await job([['good-3', 64, 48]]));
    expect(ids(after)).toEqual(['good-3']);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('each image is reported once as it is done; images done before the backend broke are not run again', async () => {
    PoisonableDetector.seen = [];
    const heard: ImageDone[] = [];
    const j = await job([
      ['good-a', 64, 48],
      ['good-b', 64, 48],
      ['poison-c', 64, 48],
      ['good-d', 64, 48],
    ]);
    // Two runs of 2 images: the first is reported before the second breaks the backend.
    const result = await engine.run({ ...j, config: { detector_batch_size: 2 } }, (d) => heard.push(d));
    expect(heard.map((d) => [d.imageId, d.failure?.code ?? 'ok', d.detections.length])).toEqual([
      ['good-a', 'ok', 1],
      ['good-b', 'ok', 1],
      ['poison-c', 'INFERENCE_FAILED', 0],
      ['good-d', 'ok', 1],
    ]);
    // a and b ran once; c and d ran together (broke), then alone each on fresh backends.
    expect(PoisonableDetector.seen).toEqual([
      ['good-a', 'good-b'],
      ['poison-c', 'good-d'],
      ['poison-c'],
      ['good-d'],
    ]);
    // What was heard is what the run returns.
    expect(heard.flatMap((d) => d.detections)).toEqual(expect.arrayContaining(result.detections));
    expect(heard.flatMap((d) => d.detections)).toHaveLength(result.detections.length);
    expect(heard.filter((d) => d.failure).map((d) => d.failure)).toEqual(result.failures);
  });
});
