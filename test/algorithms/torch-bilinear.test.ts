/**
 * resizeBilinearTorch against PyTorch's `interpolate(mode="bilinear", align_corners=False)` on contiguous CHW
 * float tensors, as torchvision's detection transform calls it (scripts/make-torch-bilinear-fixtures.py wrote the
 * references with PyTorch 1.13 and 2.13): every source index of a 4096×2160 → 1333×702 resize, an enlargement and
 * a 2-D case, on the suite's backend (TFJS_BACKEND).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { linearAxis, resizeBilinearTorch, type SourceIndexMath } from '../../src/algorithms/torch-bilinear';
import { normalizePixels, prepareDetectorInput } from '../../src/algorithms/preprocess';
import { computeResizeGeometry } from '../../src/algorithms/geometry/resize-geometry';
import type { DetectorInput } from '../../src/models/manifest';
import { initTestBackend, testBackend } from '../helpers/backend';
import { expectNoLeak } from './helpers';

interface Case {
  in: [number, number];
  out: [number, number];
  pixels: string;
  resized: string;
  normalised_then_resized: string;
}

interface Reference {
  torch: string;
  mean: [number, number, number];
  std: [number, number, number];
  cases: Case[];
}

const load = (major: number): Reference =>
  JSON.parse(
    fs.readFileSync(
      path.join(__dirname, '..', 'fixtures', 'resample', `torch-bilinear-torch${major}.json`),
      'utf8',
    ),
  ) as Reference;

/** One unit in the last place of float32 values in 128..256: ATen fuses `t0·w0 + t1·w1`, TensorFlow.js cannot. */
const LAST_BIT = 2 ** -16;

const bytes = (b64: string): Buffer => Buffer.from(b64, 'base64');
const floats = (b64: string): Float32Array => {
  const b = bytes(b64);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

const resize = (r: Reference, c: Case, math: SourceIndexMath, normalise: boolean): Float32Array =>
  tf.tidy(() => {
    const pixels = tf.tensor3d(Uint8Array.from(bytes(c.pixels)), [c.in[0], c.in[1], 3], 'int32');
    const out = resizeBilinearTorch(pixels, c.out[0], c.out[1], math);
    return (
      normalise ? normalizePixels(out, { scale: 1 / 255, mean: r.mean, std: r.std, color_order: 'RGB' }) : out
    ).dataSync() as Float32Array;
  });

beforeAll(async () => {
  await initTestBackend();
});

describe.each([
  [1, 'float64', 'float32'],
  [2, 'float32', 'float64'],
] as const)('resizeBilinearTorch against PyTorch %i', (major, math, other) => {
  const r = load(major);
  const cases = r.cases.map((c) => [`${c.in.join('x')} → ${c.out.join('x')}`, c] as const);

  it.each(cases)(`gives PyTorch ${r.torch}’s values to the last bit with ${math} positions: %s`, (_, c) => {
    const ours = resize(r, c, math, false);
    const theirs = floats(c.resized);
    expect(ours).toHaveLength(theirs.length);
    expect(maxDiff(ours, theirs)).toBeLessThanOrEqual(LAST_BIT);
  });

  it(`misses PyTorch ${r.torch}’s values on a 4K resize with ${other} positions, so the choice matters`, () => {
    const c = r.cases[1]; // 4096 → 1333
    expect(maxDiff(resize(r, c, other, false), floats(c.resized))).toBeGreaterThan(0.01);
  });

  it.each(cases)(
    `resizing 0..255 and normalising after lands within 1e-6 of torchvision’s normalise-then-resize (${testBackend()}): %s`,
    (_, c) => {
      // torchvision normalises the [0, 1] image before it resizes; the filter is linear, so the order only
      // changes float32 rounding.
      expect(maxDiff(resize(r, c, math, true), floats(c.normalised_then_resized))).toBeLessThan(1e-6);
    },
  );
});

describe('prepareDetectorInput follows input.interpolation', () => {
  // A 4K-like ratio on a small image: 4096x2160 scaled by 1/8 is 512x270.
  const r = load(2);
  const limits = { minSize: 88, maxSize: 167 };
  const input = (interpolation?: DetectorInput['interpolation']): DetectorInput => ({
    resize: 'shorter-side',
    min_size: limits.minSize,
    max_size: limits.maxSize,
    color_order: 'RGB',
    scale: 1 / 255,
    mean: r.mean,
    std: r.std,
    ...(interpolation ? { interpolation } : {}),
  });
  const geometry = computeResizeGeometry(512, 270, 0, 0, 'shorter-side', limits);
  const image = (): tf.Tensor3D => tf.randomUniform([270, 512, 3], 0, 256, 'int32', 7);
  const prepared = (i: DetectorInput): Float32Array =>
    tf.tidy(() => prepareDetectorInput(image(), i, geometry).dataSync() as Float32Array);
  const expected = (math: SourceIndexMath | 'tf'): Float32Array =>
    tf.tidy(() => {
      const size: [number, number] = [geometry.contentHeight, geometry.contentWidth];
      const resized =
        math === 'tf'
          ? tf.image.resizeBilinear(image(), size, false, true)
          : resizeBilinearTorch(image(), ...size, math);
      return normalizePixels(resized, input()).dataSync() as Float32Array;
    });

  it('shorter-side resizes as PyTorch 2 by default, as PyTorch 1 or TensorFlow when asked', () => {
    expect(maxDiff(prepared(input()), expected('float32'))).toBe(0);
    expect(maxDiff(prepared(input('torch-bilinear')), expected('float32'))).toBe(0);
    expect(maxDiff(prepared(input('torch1-bilinear')), expected('float64'))).toBe(0);
    expect(maxDiff(prepared(input('bilinear')), expected('tf'))).toBe(0);
    expect(maxDiff(expected('float32'), expected('float64'))).toBeGreaterThan(0);
  });
});

describe('linearAxis', () => {
  it('computes ATen’s indices: clamped at the first pixel, the last pixel paired with itself', () => {
    const up = linearAxis(3, 6); // scale 0.5: sources −0.25, 0.25, 0.75, 1.25, 1.75, 2.25
    expect(Array.from(up.i0)).toEqual([0, 0, 0, 1, 1, 2]);
    expect(Array.from(up.i1)).toEqual([1, 1, 1, 2, 2, 2]);
    expect(Array.from(up.w1)).toEqual([0, 0.25, 0.75, 0.25, 0.75, 0.25]);
    const same = linearAxis(4, 4);
    expect(Array.from(same.i0)).toEqual([0, 1, 2, 3]);
    expect(Array.from(same.w0)).toEqual([1, 1, 1, 1]);
  });

  it('leaves no tensors behind', async () => {
    const r = load(2);
    await expectNoLeak(() => Promise.resolve(resize(r, r.cases[3], 'float32', true)));
  });
});
