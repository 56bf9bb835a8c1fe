/**
 * ObjectDetector on tiny graph models shaped like real detectors (./detector-models.ts). Expected boxes are
 * worked out by hand in source pixels from the planted input-pixel boxes and the resize arithmetic written in
 * each comment, not by calling the service's geometry code.
 */
import { promises as fsp } from 'fs';
import * as tf from '@tensorflow/tfjs';
import { ObjectDetector } from '../../src/algorithms/object-detector';
import type { DetectedBox } from '../../src/algorithms/algorithm';
import { readManifest } from '../../src/models/manifest';
import { initTestBackend } from '../helpers/backend';
import type { PipelineImage } from '../../src/images/pipeline-image';
import { expectNoLeak, runOptions, tensorImage } from './helpers';
import {
  algorithmOf,
  type ManifestJson,
  PIXELS_01,
  tempModelDir,
  torchvisionManifest,
  ultralyticsManifest,
  writeCenterNet,
  writeManifest,
  writeNanoDet,
  writeTorchvision,
  writeUltralytics,
} from './detector-models';

type Box = [number, number, number, number];
const dirs: string[] = [];

/** A `w×h` image of one colour. */
const solid = (id: string, w: number, h: number, rgb: [number, number, number]): PipelineImage =>
  tensorImage(
    id,
    tf.tidy(() => tf.mul<tf.Tensor3D>(tf.ones([h, w, 3], 'int32'), tf.tensor1d(rgb, 'int32'))),
  );

const corners = (d: DetectedBox): Box => [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2];

function expectBoxes(found: DetectedBox[], expected: { box: Box; score: number }[]): void {
  expect(found).toHaveLength(expected.length);
  expected.forEach((e, i) => {
    expect(found[i].score).toBeCloseTo(e.score, 4);
    corners(found[i]).forEach((v, q) => expect(v).toBeCloseTo(e.box[q], 3));
  });
}

async function detector(dir: string): Promise<ObjectDetector> {
  const d = new ObjectDetector(await readManifest(dir));
  await d.compile();
  return d;
}

async function withImages<T>(images: PipelineImage[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    for (const image of images) image.dispose();
  }
}

beforeAll(async () => {
  await initTestBackend();
});

afterAll(async () => {
  await Promise.all(dirs.map((d) => fsp.rm(d, { recursive: true, force: true })));
});

describe('ultralytics layout: NCHW [1,3,64,64], output [1, 4+nc, N], letterbox-center with grey 114', () => {
  // 128×64 source into 64×64: r = 0.5, content 64×32, 32 rows of padding split 16 above (round(16 − 0.1)), 16 below.
  // Input box = source·0.5 + (0, 16).
  const rows = [
    { cxcywh: [15, 36, 20, 20] as Box, scores: [0.1, 0.9, 0] }, // A: source (10,20)-(50,60), "other"
    { cxcywh: [16, 37, 20, 20] as Box, scores: [0.8, 0, 0] }, // B: source (12,22)-(52,62), "insect"; IoU(A) 0.82
    { cxcywh: [37.5, 28.5, 15, 15] as Box, scores: [0.1, 0.1, 0.2] }, // C: under the 0.25 threshold
    { cxcywh: [57, 32, 14, 32] as Box, scores: [0, 0, 0.7] }, // D: source (100,0)-(128,64), "dust"
    { cxcywh: [32, 32, 8, 8] as Box, scores: [0, 0, 0] }, // P: source (56,24)-(72,40); insect score = pixel (0,0)
  ];
  const labels = ['insect', 'other', 'dust'];
  const manifest = (classLabels?: Record<string, unknown>): ManifestJson =>
    ultralyticsManifest(64, { classLabels });
  let dir: string;

  beforeAll(async () => {
    dir = await tempModelDir('yolo');
    dirs.push(dir);
    await writeUltralytics(dir, 64, rows, { row: 4, cls: 0 });
  });

  it('maps planted boxes back through the centred letterbox; the padding is 114/255 grey; NMS drops B', async () => {
    await writeManifest(dir, manifest(), labels);
    const d = await detector(dir);
    const image = solid('wide', 128, 64, [0, 0, 0]);
    await withImages([image], async () => {
      const [found] = await d.run([image], runOptions(1));
      expectBoxes(found, [
        { box: [10, 20, 50, 60], score: 0.9 },
        { box: [100, 0, 128, 64], score: 0.7 },
        { box: [56, 24, 72, 40], score: 114 / 255 },
      ]);
      expect(found.every((b) => b.label === undefined)).toBe(true); // no class_labels: classes ignored (ADC)
    });
    d.dispose();
  });

  it('with class_labels.report each box carries the full class-score vector', async () => {
    await writeManifest(dir, manifest({ report: true }), labels);
    const d = await detector(dir);
    expect(d.labels).toMatchObject({ key: 'tiny_yolo_classes', task_type: 'classification' });
    expect(d.labels?.category_map?.labels).toEqual(labels);
    expect(d.descriptor.category_map).toBeNull();
    const image = solid('wide', 128, 64, [0, 0, 0]);
    await withImages([image], async () => {
      const [found] = await d.run([image], runOptions(1));
      expect(found.map((b) => b.label?.scores.map((s) => Number(s.toFixed(4))))).toEqual([
        [0.1, 0.9, 0],
        [0, 0, 0.7],
        [Number((114 / 255).toFixed(4)), 0, 0],
      ]);
    });
    d.dispose();
  });

  it('class_labels.keep drops other classes before NMS, so B (insect) survives without A (other)', async () => {
    await writeManifest(dir, manifest({ report: false, keep: ['insect'] }), labels);
    const d = await detector(dir);
    expect(d.labels).toBeNull();
    const image = solid('wide', 128, 64, [0, 0, 0]);
    await withImages([image], async () => {
      const [found] = await d.run([image], runOptions(1));
      expectBoxes(found, [
        { box: [12, 22, 52, 62], score: 0.8 },
        { box: [56, 24, 72, 40], score: 114 / 255 },
      ]);
    });
    d.dispose();
  });

  it('per-class NMS (output.nms_per_class) keeps B: it overlaps A, but A is another class', async () => {
    const m = manifest();
    m.output.nms_per_class = true;
    await writeManifest(dir, m, labels);
    const d = await detector(dir);
    const image = solid('wide', 128, 64, [0, 0, 0]);
    await withImages([image], async () => {
      const [found] = await expectNoLeak(() => d.run([image], runOptions(1)));
      expectBoxes(found, [
        { box: [10, 20, 50, 60], score: 0.9 },
        { box: [12, 22, 52, 62], score: 0.8 },
        { box: [100, 0, 128, 64], score: 0.7 },
        { box: [56, 24, 72, 40], score: 114 / 255 },
      ]);
      expect(found.every((b) => b.label === undefined)).toBe(true); // classes used for NMS only
    });
    d.dispose();
  });

  it('a per-pipeline class filter replaces the manifest keep, and must name known labels', async () => {
    await writeManifest(dir, manifest({ report: true }), labels);
    const loaded = await readManifest(dir);
    expect(() => new ObjectDetector(loaded, { keepClasses: ['bee'] })).toThrow(
      'the class filter names "bee", which the detector\'s category map does not have (it has insect, other, dust)',
    );
    const d = new ObjectDetector(loaded, { keepClasses: ['dust'] });
    await d.compile();
    const image = solid('wide', 128, 64, [0, 0, 0]);
    await withImages([image], async () => {
      const [found] = await d.run([image], runOptions(1));
      expectBoxes(found, [{ box: [100, 0, 128, 64], score: 0.7 }]);
    });
    d.dispose();
  });

  it('runs one image per call when the graph fixes the batch at 1: no error, no retry', async () => {
    await writeManifest(dir, manifest(), labels);
    const d = await detector(dir);
    const images = [0, 1, 2].map((i) => solid(`img${i}`, 128, 64, [0, 0, 0]));
    const execute = jest.spyOn(tf.GraphModel.prototype, 'execute');
    try {
      await withImages(images, async () => {
        const found = await expectNoLeak(() => d.run(images, runOptions(3)));
        expect(found.map((f) => f.length)).toEqual([3, 3, 3]);
      });
      expect(execute).toHaveBeenCalledTimes(3);
      for (const [feed] of execute.mock.calls)
        expect((feed as tf.NamedTensorMap).images.shape).toEqual([1, 3, 64, 64]);
    } finally {
      execute.mockRestore();
      d.dispose();
    }
  });
});

describe('CenterNet layout: NHWC dynamic batch, packed [B, 100, 6], stretch', () => {
  // 64×48 source stretched to 32×32: x·0.5, y·(2/3). Source = input / scale.
  let d: ObjectDetector;
  beforeAll(async () => {
    const dir = await tempModelDir('centernet');
    dirs.push(dir);
    await writeCenterNet(
      dir,
      32,
      [
        [4, 4, 12, 12, 0.9, 1], // source (8,6)-(24,18)
        [16, 16, 28, 30, 0.6, 2], // source (32,24)-(56,45)
        [20, 2, 30, 10, 0, 0], // bright row: source (40,3)-(60,15), score = image mean
      ],
      2,
    );
    await writeManifest(dir, {
      kind: 'detector',
      format: 'tfjs-graph-model',
      model_path: 'model.json',
      algorithm: algorithmOf('tiny_centernet'),
      input: { width: 32, height: 32, resize: 'stretch', ...PIXELS_01 },
      output: {
        packed: { tensor: 'detections', box: 0, score: 4, class: 5 },
        box_format: 'xyxy',
        coordinates: 'pixels',
        score_threshold: 0.3,
        iou_threshold: 0.5,
        max_detections: 100,
      },
    });
    d = await detector(dir);
  });
  afterAll(() => d.dispose());

  it('reads each image of one batch from its own rows', async () => {
    const images = [solid('dark', 64, 48, [0, 0, 0]), solid('bright', 64, 48, [255, 255, 255])];
    const execute = jest.spyOn(tf.GraphModel.prototype, 'execute');
    try {
      await withImages(images, async () => {
        const [dark, bright] = await expectNoLeak(() => d.run(images, runOptions(2)));
        expect(execute).toHaveBeenCalledTimes(1); // one call for both images
        const r0 = { box: [8, 6, 24, 18] as Box, score: 0.9 };
        const r1 = { box: [32, 24, 56, 45] as Box, score: 0.6 };
        expectBoxes(dark, [r0, r1]);
        expectBoxes(bright, [{ box: [40, 3, 60, 15], score: 1 }, r0, r1]);
      });
    } finally {
      execute.mockRestore();
    }
  });
});

describe('a manifest that does not fit the model', () => {
  it('fails at compile, naming the manifest field and the real shape, without leaking', async () => {
    const dir = await tempModelDir('misfit');
    dirs.push(dir);
    await writeCenterNet(dir, 32, [[4, 4, 12, 12, 0.9, 1]], 0);
    await writeManifest(dir, {
      kind: 'detector',
      format: 'tfjs-graph-model',
      model_path: 'model.json',
      algorithm: algorithmOf('misfit'),
      input: { width: 32, height: 32, resize: 'stretch', ...PIXELS_01 },
      output: {
        packed: { tensor: 'detections', box: 3, score: 7 },
        box_format: 'xyxy',
        coordinates: 'pixels',
        score_threshold: 0.3,
        iou_threshold: 0.5,
        max_detections: 100,
      },
    });
    const d = new ObjectDetector(await readManifest(dir));
    await expectNoLeak(async () => {
      await expect(d.compile()).rejects.toThrow(
        'detector misfit: expected output.packed.tensor "detections" [1, K, D] with D ≥ 8 columns; got [1, 100, 6]',
      );
    });
  });
});

describe('NanoDet layout: NCHW dynamic batch, boxes [B,K,4] normalised + per-class scores [B,K,C], letterbox', () => {
  // 64×32 source into 32×32 top-left letterbox: r = 0.5, content 32×16, padding below. Source = normalised·32/0.5.
  let d: ObjectDetector;
  beforeAll(async () => {
    const dir = await tempModelDir('nanodet');
    dirs.push(dir);
    await writeNanoDet(
      dir,
      32,
      [
        [0.1, 0.1, 0.3, 0.3], // source (6.4,6.4)-(19.2,19.2); class 0 score = mean of the green channel
        [0.5, 0.2, 0.9, 0.4], // source (32,12.8)-(57.6,25.6)
      ],
      [
        [0, 0.2],
        [0.1, 0.8],
      ],
    );
    await writeManifest(dir, {
      kind: 'detector',
      format: 'tfjs-graph-model',
      model_path: 'model.json',
      algorithm: algorithmOf('tiny_nanodet'),
      input: { width: 32, height: 32, resize: 'letterbox', layout: 'NCHW', ...PIXELS_01 },
      output: {
        boxes: 'boxes',
        scores: 'scores',
        box_format: 'xyxy',
        coordinates: 'normalized',
        score_threshold: 0.3,
        iou_threshold: 0.5,
        max_detections: 10,
      },
    });
    d = await detector(dir);
  });
  afterAll(() => d.dispose());

  it('feeds channels first: the green image lights the green probe; the best class score is the score', async () => {
    // Green content covers half of the input (16 of 32 rows), padding is 0: mean green 0.5.
    const images = [solid('green', 64, 32, [0, 255, 0]), solid('red', 64, 32, [255, 0, 0])];
    await withImages(images, async () => {
      const [green, red] = await expectNoLeak(() => d.run(images, runOptions(2)));
      expectBoxes(green, [
        { box: [32, 12.8, 57.6, 25.6], score: 0.8 },
        { box: [6.4, 6.4, 19.2, 19.2], score: 0.5 },
      ]);
      expectBoxes(red, [{ box: [32, 12.8, 57.6, 25.6], score: 0.8 }]);
    });
  });
});

describe('torchvision layout: [3, H, W] at native size, in-graph NMS, boxes/labels/scores', () => {
  // Boxes are planted as fractions of the image and scaled in the graph by its real size; scores = planted·mean.
  let d: ObjectDetector;
  beforeAll(async () => {
    const dir = await tempModelDir('frcnn');
    dirs.push(dir);
    await writeTorchvision(
      dir,
      [
        [0.1, 0.1, 0.4, 0.5],
        [0.12, 0.1, 0.42, 0.5], // suppressed by the graph's NMS (IoU with the first ≈ 0.88)
        [0.6, 0.6, 0.9, 0.9],
      ],
      [1, 0.9, 0.5],
      [1, 1, 1],
    );
    await writeManifest(dir, torchvisionManifest(0.3, { classLabels: { report: true } }), [
      'background',
      'moth',
    ]);
    d = await detector(dir);
  });
  afterAll(() => d.dispose());

  const grey = (id: string, w: number, h: number, v: number): PipelineImage => solid(id, w, h, [v, v, v]);

  it('zero boxes on a black image, without leaking', async () => {
    const image = grey('black', 80, 60, 0);
    await withImages([image], async () => {
      expect(await expectNoLeak(() => d.run([image], runOptions(4)))).toEqual([[]]);
    });
  });

  it('one box on a mid-grey image, in source pixels, classified by the detector', async () => {
    const image = grey('grey', 80, 60, 128); // mean 128/255: 0.502 passes 0.3, 0.251 does not
    await withImages([image], async () => {
      const [found] = await expectNoLeak(() => d.run([image], runOptions(4)));
      expectBoxes(found, [{ box: [8, 6, 32, 30], score: 128 / 255 }]);
      expect(found[0].label?.scores).toEqual([0, found[0].score]);
    });
  });

  it('many boxes on white images of different sizes, one graph call per image', async () => {
    const images = [grey('a', 80, 60, 255), grey('b', 50, 40, 255)];
    const executeAsync = jest.spyOn(tf.GraphModel.prototype, 'executeAsync');
    try {
      await withImages(images, async () => {
        const [a, b] = await expectNoLeak(() => d.run(images, runOptions(4)));
        expectBoxes(a, [
          { box: [8, 6, 32, 30], score: 1 },
          { box: [48, 36, 72, 54], score: 0.5 },
        ]);
        expectBoxes(b, [
          { box: [5, 4, 20, 20], score: 1 },
          { box: [30, 24, 45, 36], score: 0.5 },
        ]);
      });
      expect(executeAsync).toHaveBeenCalledTimes(2);
      expect(executeAsync.mock.calls.map(([feed]) => (feed as tf.NamedTensorMap).images.shape)).toEqual([
        [3, 60, 80],
        [3, 40, 50],
      ]);
    } finally {
      executeAsync.mockRestore();
    }
  });
});
