import { promises as fsp } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initTestBackend } from '../helpers/backend';
import { readManifest } from '../../src/models/manifest';
import { CropClassifier } from '../../src/algorithms/crop-classifier';
import { softmax } from '../../src/algorithms/softmax';
import { cropBoxToNormalized } from '../../src/algorithms/geometry/crop-box';
import type { Region } from '../../src/algorithms/algorithm';
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
let filter: CropClassifier;
let species: CropClassifier;
let image: PipelineImage;
let regions: Region[];
let truth: Awaited<ReturnType<typeof groundTruth>>;

beforeAll(async () => {
  await initTestBackend();
  filter = new CropClassifier(await readManifest(path.join(MODELS, 'moth-nonmoth-classifier')));
  species = new CropClassifier(await readManifest(path.join(MODELS, 'species-classifier')));
  await Promise.all([filter.compile(), species.compile()]);
  image = await sampleImage(SAMPLE);
  await image.tensor();
  truth = await groundTruth(SAMPLE);
  regions = truth.objects.map((o) => ({ image, bbox: o.bbox }));
});

afterAll(() => {
  image.dispose();
  filter.dispose();
  species.dispose();
});

const argmax = (v: number[]): number => v.reduce((b, x, i) => (x > v[b] ? i : b), 0);

describe('CropClassifier on the shipped classifiers', () => {
  it('describes itself with the Antenna category map', () => {
    expect(filter.descriptor.key).toBe('tfjs_synthetic_moth_nonmoth_classifier_2026');
    expect(filter.descriptor.category_map?.labels).toEqual(['moth', 'nonmoth']);
    expect(filter.descriptor.category_map?.data.map((d) => d.taxon_rank)).toEqual([
      'SUPERFAMILY',
      'SUPERFAMILY',
    ]);
    expect(species.descriptor.category_map?.data.every((d) => d.taxon_rank === 'SPECIES')).toBe(true);
  });

  it('returns full score vectors that are the softmax of the logits', async () => {
    const results = await filter.run(regions, runOptions(32));
    expect(results).toHaveLength(regions.length);
    for (const r of results) {
      expect(r.scores).toHaveLength(2);
      expect(r.logits).toHaveLength(2);
      expect(r.scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      softmax(r.logits).forEach((p, i) => expect(p).toBeCloseTo(r.scores[i], 9));
    }
  });

  it('labels the planted objects of the small sample: moth vs nonmoth, and the species of insects', async () => {
    const binary = await filter.run(regions, runOptions(32));
    truth.objects.forEach((o, i) =>
      expect(filter.labels[argmax(binary[i].scores)]).toBe(o.kind === 'insect' ? 'moth' : 'nonmoth'),
    );
    const insects = truth.objects.filter((o) => o.kind === 'insect');
    const named = await species.run(
      insects.map((o) => ({ image, bbox: o.bbox })),
      runOptions(32),
    );
    insects.forEach((o, i) => expect(species.labels[argmax(named[i].scores)]).toBe(o.label));
  });

  it('gives the same scores batched and unbatched, in input order', async () => {
    const all = await species.run(regions, runOptions(32));
    const ones = await species.run(regions, runOptions(1));
    const reversed = (await species.run([...regions].reverse(), runOptions(3))).reverse();
    for (const other of [ones, reversed]) {
      other.forEach((r, i) =>
        r.scores.forEach((s, j) => expect(Math.abs(s - all[i].scores[j])).toBeLessThanOrEqual(1e-5)),
      );
    }
  });

  it('groups regions from several images and keeps their order', async () => {
    const blank = tensorImage('blank', tf.fill<tf.Rank.R3>([100, 100, 3], 240, 'int32'));
    try {
      const mixed = [regions[0], { image: blank, bbox: { x1: 10, y1: 10, x2: 60, y2: 60 } }, regions[1]];
      const together = await filter.run(mixed, runOptions(2));
      const apart = [
        ...(await filter.run([regions[0]], runOptions(1))),
        ...(await filter.run([mixed[1]], runOptions(1))),
        ...(await filter.run([regions[1]], runOptions(1))),
      ];
      together.forEach((r, i) =>
        r.scores.forEach((s, j) => expect(Math.abs(s - apart[i].scores[j])).toBeLessThanOrEqual(1e-5)),
      );
    } finally {
      blank.dispose();
    }
  });

  it('returns [] for no regions', async () => {
    expect(await filter.run([], runOptions(8))).toEqual([]);
  });

  it('does not leak tensors', async () => {
    await expectNoLeak(() => species.run(regions, runOptions(4)));
  });

  it('propagates a failing image decode without leaking', async () => {
    await expectNoLeak(async () => {
      const bad = brokenImage('bad', 640, 480);
      await expect(
        filter.run([regions[0], { image: bad, bbox: { x1: 0, y1: 0, x2: 10, y2: 10 } }], runOptions(8)),
      ).rejects.toThrow('cannot be decoded');
    });
  });
});

describe('cropping', () => {
  it('a whole-image crop equals a half-pixel-centre bilinear resize', async () => {
    await expectNoLeak(async () => {
      const pixels = tf.tidy(
        () => tf.cast(tf.mul(tf.randomUniform([40, 60, 3], 0, 1, 'float32', 3), 255), 'int32') as tf.Tensor3D,
      );
      try {
        const diff = tf.tidy(() => {
          const box = cropBoxToNormalized({ x1: 0, y1: 0, x2: 60, y2: 40 }, 60, 40, 15, 10);
          const crop = tf.image.cropAndResize(
            tf.expandDims<tf.Tensor4D>(pixels, 0),
            tf.tensor2d([box]),
            tf.tensor1d([0], 'int32'),
            [10, 15],
          );
          const resized = tf.image.resizeBilinear(tf.cast(pixels, 'float32'), [10, 15], false, true);
          return tf.max(tf.abs(tf.sub(tf.squeeze(crop, [0]), resized)));
        });
        expect((await diff.data())[0]).toBeLessThanOrEqual(0.01); // 0..255 scale; float32 coordinate rounding
        diff.dispose();
      } finally {
        pixels.dispose();
      }
    });
  });
});

describe('category map checks', () => {
  it('fails compile() when the output width differs from the category map, without leaking', async () => {
    const dir = await copyModel('moth-nonmoth-classifier');
    try {
      const map = JSON.parse(await fsp.readFile(path.join(dir, 'category_map.json'), 'utf8')) as {
        data: { index: number; label: string }[];
        labels: string[];
      };
      map.data.push({ index: 2, label: 'extra' });
      map.labels.push('extra');
      await fsp.writeFile(path.join(dir, 'category_map.json'), JSON.stringify(map));
      const wrong = new CropClassifier(await readManifest(dir));
      await expectNoLeak(async () => {
        await expect(wrong.compile()).rejects.toThrow('category map has 3 labels');
      });
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
