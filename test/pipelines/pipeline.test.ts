/**
 * The default pipeline run, with fake algorithms: ordering, box rules, stage gating and failure isolation.
 */
import type {
  Classifier,
  ClassifierResult,
  DetectedBox,
  Detector,
  Region,
  RunOptions,
} from '../../src/algorithms/algorithm';
import { StubAlgorithm } from '../../src/algorithms/stub-algorithm';
import type { AlgorithmConfigResponse, BoundingBox } from '../../src/contract/types';
import type { PipelineImage } from '../../src/images/pipeline-image';
import { Pipeline, type GivenDetection } from '../../src/pipelines/pipeline';
import { clampBox, hasArea, truncateBox, uniqueBoxes } from '../../src/pipelines/boxes';

const descriptor = (key: string, labels: string[] | null): AlgorithmConfigResponse => ({
  name: key,
  key,
  description: null,
  task_type: labels ? 'classification' : 'detection',
  version: 1,
  version_name: null,
  uri: null,
  category_map: labels
    ? {
        data: labels.map((label, index) => ({ index, label })),
        labels,
        version: null,
        description: null,
        uri: null,
      }
    : null,
});

const image = (id: string, width = 100, height = 80, failDecode = false): PipelineImage => ({
  id,
  url: `http://x/${id}`,
  format: 'jpeg',
  width,
  height,
  tensor: () =>
    failDecode
      ? Promise.reject(new Error('corrupt JPEG data'))
      : Promise.reject(new Error('no pixels in this fake')),
  dispose: () => undefined,
});

class FakeDetector extends StubAlgorithm implements Detector {
  readonly kind = 'detector';
  calls: string[][] = [];
  constructor(
    private readonly boxes: Record<string, BoundingBox[]>,
    private readonly failOn = new Set<string>(),
  ) {
    super(descriptor('fake-detector', null));
  }
  run(images: PipelineImage[]): Promise<DetectedBox[][]> {
    this.calls.push(images.map((i) => i.id));
    if (images.some((i) => this.failOn.has(i.id))) return Promise.reject(new Error('detector exploded'));
    return Promise.resolve(
      images.map((i) => (this.boxes[i.id] ?? []).map((bbox) => ({ bbox, score: 0.9, inferenceTime: 0.5 }))),
    );
  }
}

/** Labels a region "big" or "small" by its box width; fails on images named in `failOn`. */
class SizeClassifier extends StubAlgorithm implements Classifier {
  readonly kind = 'classifier';
  batches: number[] = [];
  constructor(
    key: string,
    private readonly failOn = new Set<string>(),
  ) {
    super(descriptor(key, ['big', 'small']));
  }
  run(regions: Region[], options: RunOptions): Promise<ClassifierResult[]> {
    this.batches.push(Math.min(regions.length, options.batchSize));
    if (regions.some((r) => this.failOn.has(r.image.id)))
      return Promise.reject(new Error('classifier exploded'));
    return Promise.resolve(
      regions.map((r) => {
        const big = r.bbox.x2 - r.bbox.x1 >= 20;
        return {
          scores: big ? [0.8, 0.2] : [0.1, 0.9],
          logits: big ? [2, 0.6] : [0, 2.2],
          inferenceTime: null,
        };
      }),
    );
  }
}

const batches = { detectorBatchSize: 2, classifierBatchSize: 32 };
const config = (slug = 'fake') => ({ name: 'Fake', slug, version: 1, description: null });

describe('box rules', () => {
  test('clampBox keeps boxes inside the image and orders corners', () => {
    expect(clampBox({ x1: -5, y1: 90, x2: 120, y2: 10 }, 100, 80)).toEqual({
      x1: 0,
      y1: 10,
      x2: 100,
      y2: 80,
    });
  });
  test('hasArea drops zero-area and non-finite boxes', () => {
    expect(hasArea({ x1: 1, y1: 1, x2: 1, y2: 5 })).toBe(false);
    expect(hasArea({ x1: 1, y1: 1, x2: NaN, y2: 5 })).toBe(false);
    expect(hasArea({ x1: 1, y1: 1, x2: 2, y2: 5 })).toBe(true);
  });
  test('truncateBox cuts corners to whole pixels', () => {
    expect(truncateBox({ x1: 10.9, y1: 0.2, x2: 99.99, y2: 50.5 })).toEqual({
      x1: 10,
      y1: 0,
      x2: 99,
      y2: 50,
    });
  });
  test('uniqueBoxes keeps the first of identical boxes', () => {
    const b = { x1: 1, y1: 2, x2: 3, y2: 4 };
    expect(
      uniqueBoxes([
        { bbox: b, n: 1 },
        { bbox: { ...b }, n: 2 },
        { bbox: { ...b, x2: 9 }, n: 3 },
      ]).map((x) => x.n),
    ).toEqual([1, 3]);
  });
});

describe('Pipeline.run', () => {
  test('detects in batches, clamps, drops zero-area and duplicate boxes, classifies in stage order', async () => {
    const detector = new FakeDetector({
      a: [
        { x1: 10, y1: 10, x2: 50, y2: 40 },
        { x1: 10, y1: 10, x2: 50.4, y2: 40 },
        { x1: 5, y1: 5, x2: 5.7, y2: 30 },
        { x1: 90, y1: 70, x2: 130, y2: 95 },
      ],
      b: [{ x1: 0, y1: 0, x2: 10, y2: 10 }],
      c: [],
    });
    const first = new SizeClassifier('filter');
    const second = new SizeClassifier('species');
    const p = new Pipeline(
      config(),
      detector,
      [
        { algorithm: first, terminal: false },
        { algorithm: second, terminal: true, appliesTo: (earlier) => earlier[0]?.classification === 'big' },
      ],
      batches,
    );
    const out = await p.run({ images: [image('a'), image('b'), image('c')], given: new Map(), config: {} });
    expect(detector.calls).toEqual([['a', 'b'], ['c']]);
    expect(out.failures).toEqual([]);
    expect(
      out.detections.map((d) => [
        d.source_image_id,
        d.bbox,
        d.classifications.map((c) => [c.algorithm.key, c.classification, c.terminal]),
      ]),
    ).toEqual([
      [
        'a',
        { x1: 10, y1: 10, x2: 50, y2: 40 },
        [
          ['filter', 'big', false],
          ['species', 'big', true],
        ],
      ],
      ['a', { x1: 90, y1: 70, x2: 100, y2: 80 }, [['filter', 'small', false]]],
      ['b', { x1: 0, y1: 0, x2: 10, y2: 10 }, [['filter', 'small', false]]],
    ]);
    const c = out.detections[0].classifications[0];
    expect(c.labels).toEqual(['big', 'small']);
    expect(c.scores).toEqual([0.8, 0.2]);
    expect(c.logits).toEqual([2, 0.6]);
  });

  test('request boxes skip the detector for their image and come first; others are detected', async () => {
    const detector = new FakeDetector({ new: [{ x1: 1, y1: 1, x2: 30, y2: 30 }] });
    const p = new Pipeline(
      config(),
      detector,
      [{ algorithm: new SizeClassifier('cls'), terminal: true }],
      batches,
    );
    const given = new Map<string, GivenDetection[]>([
      [
        'old',
        [
          {
            bbox: { x1: 2.5, y1: 3, x2: 40, y2: 50 },
            imageId: 'old',
            algorithm: { name: 'Theirs', key: 'their-detector' },
            crop: null,
          },
        ],
      ],
    ]);
    const out = await p.run({ images: [image('new'), image('old')], given, config: {} });
    expect(detector.calls).toEqual([['new']]);
    expect(out.detections.map((d) => [d.source_image_id, d.algorithm.key, d.bbox.x1])).toEqual([
      ['old', 'their-detector', 2.5],
      ['new', 'fake-detector', 1],
    ]);
  });

  test('a detector failure is pinned to its image: the batch is retried image by image', async () => {
    const detector = new FakeDetector({ good: [{ x1: 1, y1: 1, x2: 30, y2: 30 }] }, new Set(['bad']));
    const p = new Pipeline(
      config(),
      detector,
      [{ algorithm: new SizeClassifier('cls'), terminal: true }],
      batches,
    );
    const out = await p.run({ images: [image('good'), image('bad')], given: new Map(), config: {} });
    expect(out.failures).toEqual([
      { imageId: 'bad', code: 'INFERENCE_FAILED', message: 'detector exploded' },
    ]);
    expect(out.detections.map((d) => d.source_image_id)).toEqual(['good']);
  });

  test('a classifier failure fails only its image, with no half-classified detections left', async () => {
    const detector = new FakeDetector({
      good: [{ x1: 1, y1: 1, x2: 30, y2: 30 }],
      bad: [{ x1: 1, y1: 1, x2: 30, y2: 30 }],
    });
    const p = new Pipeline(
      config(),
      detector,
      [{ algorithm: new SizeClassifier('cls', new Set(['bad'])), terminal: true }],
      batches,
    );
    const out = await p.run({ images: [image('good'), image('bad')], given: new Map(), config: {} });
    expect(out.failures.map((f) => [f.imageId, f.code])).toEqual([['bad', 'INFERENCE_FAILED']]);
    expect(out.detections).toHaveLength(1);
    expect(out.detections[0].classifications).toHaveLength(1);
  });

  test('never disposes the images or crops it is given, even a crop that fails to decode (the engine owns them)', async () => {
    class PixelDetector extends FakeDetector {
      override readonly needsPixels = true;
    }
    const disposed: string[] = [];
    const owned = (img: PipelineImage, ok: boolean): PipelineImage => ({
      ...img,
      tensor: () => (ok ? Promise.resolve({} as never) : Promise.reject(new Error('corrupt crop'))),
      dispose: () => disposed.push(img.id),
    });
    const p = new Pipeline(
      config(),
      new PixelDetector({ a: [{ x1: 1, y1: 1, x2: 30, y2: 30 }], b: [] }),
      [{ algorithm: new SizeClassifier('cls'), terminal: true }],
      { detectorBatchSize: 1, classifierBatchSize: 8 },
    );
    const crop = owned(image('b:crop', 40, 30), false);
    const given = new Map([
      [
        'b',
        [{ imageId: 'b', bbox: { x1: 0, y1: 0, x2: 40, y2: 30 }, algorithm: { name: 'x', key: 'x' }, crop }],
      ],
    ]);
    const out = await p.run({
      images: [owned(image('a'), true), owned(image('b'), true)],
      given,
      config: {},
    });
    expect(disposed).toEqual([]);
    // The broken crop is cut from the source instead (docs/antenna-protocol.md#post-process-request).
    expect(out.detections.map((d) => d.source_image_id)).toEqual(['b', 'a']);
    expect(out.failures).toEqual([]);
  });

  test('an image that fails to decode is reported when a stage needs pixels', async () => {
    class PixelDetector extends FakeDetector {
      override readonly needsPixels = true;
    }
    const p = new Pipeline(config(), new PixelDetector({}), [], batches);
    const out = await p.run({ images: [image('x', 10, 10, true)], given: new Map(), config: {} });
    expect(out.failures).toEqual([
      { imageId: 'x', code: 'IMAGE_DECODE_FAILED', message: 'corrupt JPEG data' },
    ]);
  });

  test('request config overrides batch sizes', async () => {
    const detector = new FakeDetector({});
    const cls = new SizeClassifier('cls');
    const p = new Pipeline(config(), detector, [{ algorithm: cls, terminal: true }], batches);
    await p.run({
      images: [image('1'), image('2'), image('3')],
      given: new Map(),
      config: { detector_batch_size: 3 },
    });
    expect(detector.calls).toEqual([['1', '2', '3']]);
  });

  test('describe() lists the detector, then classifiers, each key once, with stages []', () => {
    const shared = new SizeClassifier('shared');
    const p = new Pipeline(
      config('x'),
      new FakeDetector({}),
      [
        { algorithm: shared, terminal: false },
        { algorithm: shared, terminal: true },
      ],
      batches,
    );
    expect(p.describe()).toEqual({
      ...config('x'),
      algorithms: [descriptor('fake-detector', null), descriptor('shared', ['big', 'small'])],
      stages: [],
    });
  });
});
