/**
 * A tiny software rasteriser for synthetic trap images: an RGB float canvas, shaders in object-local
 * coordinates, 3×3 supersampled coverage, and the tight box of what was actually drawn.
 */
import type { BoundingBox } from '../../src/contract/types';

/** RGB canvas, values 0..255 as float32, row-major, interleaved. */
export interface Canvas {
  width: number;
  height: number;
  data: Float32Array;
}

export function createCanvas(width: number, height: number): Canvas {
  return { width, height, data: new Float32Array(width * height * 3) };
}

/**
 * Colour of an object at local coordinates (x across, y along the body, both in units of the object's half-size,
 * head towards −y). Writes r, g, b (0..255) and alpha (0..1) into `out` and returns true when inside.
 */
export type Shader = (x: number, y: number, out: Float64Array) => boolean;

export interface Placement {
  cx: number;
  cy: number;
  /** Half-size in pixels: local unit length. */
  scale: number;
  /** Radians, counter-clockwise. */
  angle: number;
  /** Local extent: the shader is only evaluated for |x|, |y| ≤ extent. */
  extent: number;
}

const SS = 3; // supersampling per axis

/**
 * Draws a shaded object and returns the tight pixel box of pixels at least half covered (null if none).
 */
export function drawObject(canvas: Canvas, shader: Shader, p: Placement): BoundingBox | null {
  const { width, height, data } = canvas;
  const r = p.extent * p.scale * Math.SQRT2 + 2;
  const x0 = Math.max(0, Math.floor(p.cx - r));
  const x1 = Math.min(width - 1, Math.ceil(p.cx + r));
  const y0 = Math.max(0, Math.floor(p.cy - r));
  const y1 = Math.min(height - 1, Math.ceil(p.cy + r));
  const cos = Math.cos(p.angle);
  const sin = Math.sin(p.angle);
  const inv = 1 / p.scale;
  const out = new Float64Array(4);
  let bx1 = Infinity;
  let by1 = Infinity;
  let bx2 = -Infinity;
  let by2 = -Infinity;
  for (let py = y0; py <= y1; py++) {
    for (let px = x0; px <= x1; px++) {
      let sr = 0;
      let sg = 0;
      let sb = 0;
      let sa = 0;
      for (let sy = 0; sy < SS; sy++) {
        const dy = py + (sy + 0.5) / SS - p.cy;
        for (let sx = 0; sx < SS; sx++) {
          const dx = px + (sx + 0.5) / SS - p.cx;
          // rotate by −angle into local coordinates
          const lx = (dx * cos + dy * sin) * inv;
          const ly = (-dx * sin + dy * cos) * inv;
          if (Math.abs(lx) > p.extent || Math.abs(ly) > p.extent) continue;
          if (!shader(lx, ly, out)) continue;
          const a = out[3];
          sr += out[0] * a;
          sg += out[1] * a;
          sb += out[2] * a;
          sa += a;
        }
      }
      if (sa <= 0) continue;
      const cover = sa / (SS * SS);
      const o = (py * width + px) * 3;
      data[o] = data[o] * (1 - cover) + (sr / sa) * cover;
      data[o + 1] = data[o + 1] * (1 - cover) + (sg / sa) * cover;
      data[o + 2] = data[o + 2] * (1 - cover) + (sb / sa) * cover;
      if (cover >= 0.5) {
        if (px < bx1) bx1 = px;
        if (px > bx2) bx2 = px;
        if (py < by1) by1 = py;
        if (py > by2) by2 = py;
      }
    }
  }
  if (bx2 < bx1) return null;
  return { x1: bx1, y1: by1, x2: bx2 + 1, y2: by2 + 1 };
}

/** Adds zero-mean noise of standard deviation `sigma`, then rounds and clamps to bytes (RGB interleaved). */
export function toBytes(canvas: Canvas, sigma: number, seed: number): Uint8Array {
  const { data } = canvas;
  const bytes = new Uint8Array(data.length);
  let s = seed >>> 0 || 1;
  // xorshift32; the sum of three uniforms has variance 1/4, so scale by 2σ.
  const k = (2 * sigma) / 4294967296;
  for (let i = 0; i < data.length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const u1 = s;
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const u2 = s;
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const n = (u1 + u2 + s - 1.5 * 4294967296) * k;
    const v = Math.round(data[i] + n);
    bytes[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return bytes;
}
