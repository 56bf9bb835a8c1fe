import { promises as fsp } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initTestBackend, itOffNative, itOnNative } from '../helpers/backend';
import { readManifest } from '../../src/models/manifest';
import { ObjectDetector, detectionSettings } from '../../src/algorithms/object-detector';
import { loadManifestAlgorithm } from '../../src/algorithms/load-manifest-algorithm';
import { iou } from '../../src/algorithms/geometry/iou';
import type { PipelineImage } from '../../src/images/pipeline-image';
import {
  brokenImage,
  copyModel,
  expectNoLeak,
  groundTruth,
  MODELS,
  runOptions,
  sampleImage,
  tensorImage,
} from './helpers';

const SAMPLE = 'trap-1024x768.jpg';
let detector: ObjectDetector;
let image: PipelineImage;

beforeAll(async () => {
  await initTestBackend();
  detector = new ObjectDetector(await readManifest(path.join(MODELS, 'moth-detector')));
  await detector.compile();
  image = await sampleImage(SAMPLE);
  await image.tensor();
});

afterAll(() => {
  image.dispose();
  detector.dispose();
});

describe('ObjectDetector on the shipped moth detector', () => {
  it('describes itself from the manifest with a null category map', () => {
    expect(detector.descriptor).toMatchObject({
      key: 'tfjs_synthetic_moth_detector_2026',
      task_type: 'localization',
      version: 1,
      category_map: null,
    });
  });

  it('finds every planted insect of the small sample at IoU >= 0.5', async () => {
    const [boxes] = await detector.run([image], runOptions(1));
    const truth = await groundTruth(SAMPLE);
    for (const o of truth.objects.filter((x) => x.kind === 'insect')) {
      expect(Math.max(...boxes.map((b) => iou(b.bbox, o.bbox)))).toBeGreaterThanOrEqual(0.5);
    }
  });

  it('returns boxes inside the image, with positive area, sorted by score', async () => {
    const [boxes] = await detector.run([image], runOptions(1));
    expect(boxes.length).toBeGreaterThan(0);
    for (const { bbox } of boxes) {
      expect(bbox.x1).toBeGreaterThanOrEqual(0);
      expect(bbox.y1).toBeGreaterThanOrEqual(0);
      expect(bbox.x2).toBeLessThanOrEqual(image.width);
      expect(bbox.y2).toBeLessThanOrEqual(image.height);
      expect(bbox.x2 - bbox.x1).toBeGreaterThan(0);
      expect(bbox.y2 - bbox.y1).toBeGreaterThan(0);
    }
    const scores = boxes.map((b) => b.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
  });

  it('does not leak tensors', async () => {
    await expectNoLeak(() => detector.run([image, image], runOptions(2)));
  });

  it('gives the same detections batched and unbatched', async () => {
    const small = await sampleImage('trap-1600x1200.jpg');
    try {
      const batched = await detector.run([image, small], runOptions(2));
      const single = [
        ...(await detector.run([image], runOptions(1))),
        ...(await detector.run([small], runOptions(1))),
      ];
      expect(batched.map((b) => b.length)).toEqual(single.map((b) => b.length));
      batched.forEach((list, i) =>
        list.forEach((d, j) => {
          const s = single[i][j];
          expect(Math.abs(d.score - s.score)).toBeLessThanOrEqual(1e-5);
          for (const k of ['x1', 'y1', 'x2', 'y2'] as const)
            expect(Math.abs(d.bbox[k] - s.bbox[k])).toBeLessThanOrEqual(1e-5);
        }),
      );
    } finally {
      small.dispose();
    }
  });

  it('lets config.detection_threshold and config.max_detections override the manifest', async () => {
    const [all] = await detector.run([image], runOptions(1));
    const [capped] = await detector.run([image], runOptions(1, { max_detections: 3 }));
    expect(capped.map((d) => d.score)).toEqual(all.slice(0, 3).map((d) => d.score));
    const cut = all[Math.floor(all.length / 2)].score;
    const [above] = await detector.run([image], runOptions(1, { detection_threshold: cut }));
    expect(above.every((d) => d.score >= cut)).toBe(true); // inclusive threshold
    expect(above.length).toBe(all.filter((d) => d.score >= cut).length);
  });

  it('finds nothing on a blank white image', async () => {
    const blank = tensorImage('blank', tf.fill<tf.Rank.R3>([300, 400, 3], 245, 'int32'));
    try {
      expect(await detector.run([blank], runOptions(1))).toEqual([[]]);
    } finally {
      blank.dispose();
    }
  });

  it('propagates a failing image decode without leaking', async () => {
    await expectNoLeak(async () => {
      await expect(detector.run([image, brokenImage('bad', 640, 480)], runOptions(2))).rejects.toThrow(
        'cannot be decoded',
      );
    });
  });

  it('refuses to run before compile()', async () => {
    const fresh = new ObjectDetector(await readManifest(path.join(MODELS, 'moth-detector')));
    await expect(fresh.run([image], runOptions(1))).rejects.toThrow('not compiled');
  });
});

describe('detectionSettings', () => {
  it('uses the manifest defaults without config', async () => {
    const { manifest } = await readManifest(path.join(MODELS, 'moth-detector'));
    if (manifest.kind !== 'detector') throw new Error('expected a detector manifest');
    expect(detectionSettings(manifest, {})).toEqual({
      scoreThreshold: manifest.output.score_threshold,
      strictThreshold: false,
      iouThreshold: manifest.output.iou_threshold,
      maxDetections: manifest.output.max_detections,
    });
  });

  it('lets the request override threshold and cap unless the manifest refuses, and carries strictness', async () => {
    const { manifest } = await readManifest(path.join(MODELS, 'moth-detector'));
    if (manifest.kind !== 'detector') throw new Error('expected a detector manifest');
    const config = { detection_threshold: 0.1, max_detections: 3 };
    expect(detectionSettings(manifest, config)).toMatchObject({ scoreThreshold: 0.1, maxDetections: 3 });
    const fixed = {
      ...manifest,
      output: { ...manifest.output, request_overrides: false, score_threshold_strict: true },
    };
    expect(detectionSettings(fixed, config)).toMatchObject({
      scoreThreshold: manifest.output.score_threshold,
      strictThreshold: true,
      maxDetections: manifest.output.max_detections,
    });
  });
});

describe('loading failures', () => {
  /** A copy of the shipped detector whose manifest says it is a SavedModel, which it is not. */
  async function asSavedModel(): Promise<string> {
    const dir = await copyModel('moth-detector');
    const manifest = JSON.parse(await fsp.readFile(path.join(dir, 'manifest.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    await fsp.writeFile(
      path.join(dir, 'manifest.json'),
      JSON.stringify({ ...manifest, format: 'tf-saved-model', model_path: '.' }),
    );
    return dir;
  }

  itOffNative(
    'a SavedModel on a non-native backend fails with an error naming the backend',
    'libtensorflow loads SavedModels',
    async () => {
      const dir = await asSavedModel();
      try {
        const saved = await loadManifestAlgorithm(dir);
        await expectNoLeak(async () => {
          await expect(saved.compile()).rejects.toThrow(`"${tf.getBackend()}"`);
        });
        await expect(saved.compile()).rejects.toThrow('tf-saved-model'); // a failed load can be retried
      } finally {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    },
  );

  itOnNative(
    'on libtensorflow, a directory that is no SavedModel fails naming it, and the load can be retried',
    async () => {
      const dir = await asSavedModel();
      try {
        const saved = await loadManifestAlgorithm(dir);
        // tfjs-node's own check, before libtensorflow reads anything.
        const message = `${dir}: There is no saved_model.pb file in the directory: ${dir}`;
        await expectNoLeak(async () => {
          await expect(saved.compile()).rejects.toThrow(message);
        });
        await expect(saved.compile()).rejects.toThrow(message);
      } finally {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    },
  );

  it('rejects a classifier manifest', async () => {
    await expect(
      async () => new ObjectDetector(await readManifest(path.join(MODELS, 'species-classifier'))),
    ).rejects.toThrow('expected "detector"');
  });
});
