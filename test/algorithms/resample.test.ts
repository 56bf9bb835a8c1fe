/**
 * resampleCrop against the libraries it reproduces: Pillow's BILINEAR resize of an 8-bit image and PyTorch's
 * antialiased bilinear interpolate of a float tensor, on crops that shrink by more and by less than 2, grow,
 * keep one axis, and have a one-pixel axis (scripts/make-resample-fixtures.py wrote the references).
 */
import * as fs from 'fs';
import * as path from 'path';
import { bilinearFilter, resampleCrop, type ResampleMethod } from '../../src/algorithms/resample';

interface Case {
  in: [number, number];
  out: [number, number];
  pixels: number[];
  'pil-bilinear': number[];
  'bilinear-antialias': number[];
}

const reference = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'resample', 'reference.json'), 'utf8'),
) as { pillow: string; torch: string; cases: Case[] };

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

const run = (c: Case, method: ResampleMethod): Float32Array =>
  resampleCrop(c.pixels, c.in[1], c.in[0], c.out[1], c.out[0], method);

describe(`resampleCrop against Pillow ${reference.pillow} and PyTorch ${reference.torch}`, () => {
  it.each(reference.cases.map((c) => [`${c.in.join('x')} → ${c.out.join('x')}`, c] as const))(
    'pil-bilinear gives Pillow’s bytes exactly: %s',
    (_, c) => {
      const ours = run(c, 'pil-bilinear');
      expect(ours).toHaveLength(c['pil-bilinear'].length);
      expect(maxDiff(ours, c['pil-bilinear'])).toBe(0);
    },
  );

  it.each(reference.cases.map((c) => [`${c.in.join('x')} → ${c.out.join('x')}`, c] as const))(
    'bilinear-antialias matches PyTorch within float rounding: %s',
    (_, c) => {
      const ours = run(c, 'bilinear-antialias');
      expect(ours).toHaveLength(c['bilinear-antialias'].length);
      // The reference is rounded to 4 decimals; float32 sums of ~10 terms of 0..255 differ by ~1e-5.
      expect(maxDiff(ours, c['bilinear-antialias'])).toBeLessThan(1e-3);
    },
  );

  it('the two methods differ where Pillow rounds between passes (so each test tells them apart)', () => {
    const c = reference.cases[0];
    expect(maxDiff(run(c, 'pil-bilinear'), c['bilinear-antialias'])).toBeGreaterThan(0.4);
  });
});

describe('bilinearFilter', () => {
  it('is the identity at equal sizes', () => {
    const f = bilinearFilter(5, 5, false);
    for (let i = 0; i < 5; i++) {
      expect(f.start[i]).toBe(i);
      expect(f.weights[i * f.taps]).toBe(1);
    }
  });

  it('widens its support with the downscale factor and keeps every window inside the input', () => {
    const f = bilinearFilter(100, 10, true);
    expect(f.taps).toBe(21); // support 10 on each side, plus the centre
    for (let i = 0; i < 10; i++) {
      expect(f.start[i]).toBeGreaterThanOrEqual(0);
      expect(f.start[i] + f.count[i]).toBeLessThanOrEqual(100);
      let sum = 0;
      for (let j = 0; j < f.count[i]; j++) sum += f.weights[i * f.taps + j];
      expect(sum).toBeCloseTo(1, 6);
    }
  });
});
