/**
 * The bright, slightly uneven, lightly textured "light sheet" behind the insects.
 */
import type { Rng } from '../../src/util/rng';
import type { Canvas } from './raster';

/** Fills the canvas with an off-white sheet: smooth illumination falloff, faint weave and a few soft folds. */
export function paintSheet(canvas: Canvas, rng: Rng): void {
  const { width, height, data } = canvas;
  const base = [232 + rng.next() * 10, 234 + rng.next() * 10, 238 + rng.next() * 12];
  // Illumination on a coarse grid, bilinearly interpolated: a lamp hot-spot, a vignette and two slow waves.
  const cell = 32;
  const gw = Math.ceil(width / cell) + 2;
  const gh = Math.ceil(height / cell) + 2;
  const lampX = width * (0.3 + 0.4 * rng.next());
  const lampY = height * (0.2 + 0.5 * rng.next());
  const reach = Math.hypot(width, height) * (0.55 + 0.2 * rng.next());
  const waves = [0, 1].map(() => ({
    fx: ((rng.next() * 2 - 1) * 3) / width,
    fy: ((rng.next() * 2 - 1) * 3) / height,
    phase: rng.next() * Math.PI * 2,
    amp: 0.015 + 0.02 * rng.next(),
  }));
  const grid = new Float32Array(gw * gh);
  for (let j = 0; j < gh; j++) {
    for (let i = 0; i < gw; i++) {
      const x = i * cell;
      const y = j * cell;
      const d = Math.hypot(x - lampX, y - lampY) / reach;
      let v = 1.02 - 0.13 * d * d;
      for (const w of waves) v += w.amp * Math.sin(Math.PI * 2 * (w.fx * x + w.fy * y) + w.phase);
      grid[j * gw + i] = v;
    }
  }
  // Soft folds: darker bands along random lines.
  const folds = Array.from({ length: 2 + rng.int(0, 2) }, () => {
    const a = rng.next() * Math.PI;
    return {
      nx: Math.cos(a),
      ny: Math.sin(a),
      c: rng.next() * width * Math.cos(a) + rng.next() * height * Math.sin(a),
      w: 20 + rng.next() * 60,
      depth: 0.02 + rng.next() * 0.03,
    };
  });
  const weaveX = new Float32Array(width);
  const weaveY = new Float32Array(height);
  for (let x = 0; x < width; x++) weaveX[x] = Math.sin(x * 1.9);
  for (let y = 0; y < height; y++) weaveY[y] = Math.sin(y * 1.9);
  for (let y = 0; y < height; y++) {
    const gy = y / cell;
    const j = Math.floor(gy);
    const fy = gy - j;
    for (let x = 0; x < width; x++) {
      const gx = x / cell;
      const i = Math.floor(gx);
      const fx = gx - i;
      const g00 = grid[j * gw + i];
      const g10 = grid[j * gw + i + 1];
      const g01 = grid[(j + 1) * gw + i];
      const g11 = grid[(j + 1) * gw + i + 1];
      let light = (g00 * (1 - fx) + g10 * fx) * (1 - fy) + (g01 * (1 - fx) + g11 * fx) * fy;
      for (const f of folds) {
        const d = (x * f.nx + y * f.ny - f.c) / f.w;
        if (d > -3 && d < 3) light -= f.depth * Math.exp(-d * d);
      }
      const weave = 1.2 * weaveX[x] * weaveY[y];
      const o = (y * width + x) * 3;
      data[o] = base[0] * light + weave;
      data[o + 1] = base[1] * light + weave;
      data[o + 2] = base[2] * light + weave;
    }
  }
}
