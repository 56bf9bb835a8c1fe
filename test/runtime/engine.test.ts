/**
 * LocalEngine: readiness, queueing and cross-request batching, with a fake detector that needs pixels.
 */
import * as tf from '@tensorflow/tfjs';
import type { DetectedBox, Detector } from '../../src/algorithms/algorithm';
import { StubAlgorithm } from '../../src/algorithms/stub-algorithm';
import { ConstantClassifier } from '../../src/algorithms/constant-classifier';
import type { PipelineImage } from '../../src/images/pipeline-image';
import { readImageHeader } from '../../src/images/sniff';
import { definePipeline } from '../../src/pipelines/definition';
import { Pipeline } from '../../src/pipelines/pipeline';
import { LocalEngine, type EngineJob, type ImageDone } from '../../src/runtime/engine';
import { testBackend } from '../helpers/backend';
import { jpeg } from '../helpers/images';
import { testDetectorDescriptor } from '../helpers/stub-detector';

/** Finds one box covering the darkest quarter of each image; records the batches it saw. */
class RecordingDetector extends StubAlgorithm implements Detector {
  readonly kind = 'detector';
  override readonly needsPixels = true;
  readonly batches: string[][] = [];
  constructor() {
    super(testDetectorDescriptor('rec'));
  }
  async run(images: PipelineImage[]): Promise<DetectedBox[][]> {
    this.batches.push(images.map((i) => i.id));
    // Give queued jobs time to pile up behind the first run.
    await new Promise((r) => setTimeout(r, 100));
    return Promise.all(
      images.map(async (img) => {
        const t = await img.tensor();
        expect(t.shape).toEqual([img.height, img.width, 3]);
        return [
          { bbox: { x1: 0, y1: 0, x2: img.width / 2, y2: img.height / 2 }, score: 1, inferenceTime: null },
        ];
      }),
    );
  }
}

describe('LocalEngine', () => {
  const detector = new RecordingDetector();
  const engine = new LocalEngine({
    definitions: [
      definePipeline('rec', (ctx) =>
        Promise.resolve(
          new Pipeline(
            { name: 'rec', slug: 'rec', version: 1, description: null },
            detector,
            [{ algorithm: new ConstantClassifier(), terminal: true }],
            ctx.batches,
          ),
        ),
      ),
    ],
    context: { modelsDir: 'models', batches: { detectorBatchSize: 4, classifierBatchSize: 8 } },
    backend: testBackend(),
    decoder: 'sharp',
  });
  const job = async (ids: string[], config = {}): Promise<EngineJob> => ({
    pipeline: 'rec',
    images: await Promise.all(
      ids.map(async (id, i) => {
        const bytes = new Uint8Array(await jpeg(64 + i * 16, 48));
        return { id, url: `http://x/${id}`, bytes, header: readImageHeader(bytes) };
      }),
    ),
    given: [],
    config,
  });

  beforeAll(() => engine.start());
  afterAll(() => engine.close());

  test('queued requests for the same pipeline share detector batches, and each gets only its own images', async () => {
    detector.batches.length = 0;
    const before = tf.memory().numTensors;
    const jobs = await Promise.all([
      job(['101']),
      job(['101']),
      job(['7', '8']),
      job(['9'], { max_detections: 3 }),
    ]);
    const results = await Promise.all(jobs.map((j) => engine.run(j)));
    // The first job runs alone; the next two (same config, 3 images ≤ 4) merge; a different config waits.
    expect(detector.batches.map((b) => b.length)).toEqual([1, 3, 1]);
    expect(results.map((r) => r.detections.map((d) => d.source_image_id))).toEqual([
      ['101'],
      ['101'],
      ['7', '8'],
      ['9'],
    ]);
    expect(results.map((r) => r.batchImages)).toEqual([1, 3, 3, 1]);
    expect(results[2].detections[1].bbox).toEqual({ x1: 0, y1: 0, x2: 40, y2: 24 });
    expect(tf.memory().numTensors).toBe(before);
  });

  test('each job hears of its own images as they are done, under its own ids, when jobs share a batch', async () => {
    detector.batches.length = 0;
    const jobs = await Promise.all([job(['1']), job(['1', '2']), job(['1', '3'])]);
    const heard: ImageDone[][] = [[], [], []];
    const results = await Promise.all(jobs.map((j, k) => engine.run(j, (d) => heard[k].push(d))));
    // The second and third jobs merged into one run (both send an image "1").
    expect(detector.batches.map((b) => b.length)).toEqual([1, 4]);
    expect(heard.map((h) => h.map((d) => d.imageId))).toEqual([['1'], ['1', '2'], ['1', '3']]);
    heard.forEach((h, k) => {
      for (const d of h) {
        expect(d.failure).toBeNull();
        expect(d.detections.map((det) => det.source_image_id)).toEqual([d.imageId]);
      }
      // Everything heard is what the run returns, and was heard before it returned.
      expect(h.flatMap((d) => d.detections)).toEqual(results[k].detections);
    });
  });

  test('queue depth returns to 0 and waiting time is reported', async () => {
    const [a, b] = await Promise.all([job(['a']), job(['b'])]);
    const [ra, rb] = await Promise.all([engine.run(a), engine.run(b)]);
    expect(ra.timings.queue).toBeGreaterThanOrEqual(0);
    expect(rb.timings.queue).toBeGreaterThan(0.05);
    expect(engine.stats().queueDepth).toBe(0);
  });
});
