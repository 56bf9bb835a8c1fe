/**
 * Antialiased bilinear resampling of one crop, as two libraries that classifiers are trained with do it, so that
 * a model sees the pixels it saw in training:
 *
 * - `pil-bilinear`: Pillow's `Image.resize(size, BILINEAR)` on an 8-bit RGB image (what torchvision's
 *   `transforms.Resize` does to a PIL image). Pillow filters with a triangle whose support grows with the
 *   downscale factor, horizontally first, then vertically, in fixed point with 22 fraction bits, and rounds to
 *   8 bits after each pass (libImaging/Resample.c).
 * - `bilinear-antialias`: PyTorch's `interpolate(mode="bilinear", antialias=True, align_corners=False)` on a
 *   float tensor (what `transforms.Resize(antialias=True)` does to a tensor): the same filter and the same pass
 *   order, in float, with no rounding in between (aten/src/ATen/native/cpu/UpSampleKernel.cpp).
 *
 * Both compute, per output index, a window of input indices and normalised weights; the window and weights are
 * the same formula (`center = scale·(i+0.5)`, `support = max(scale,1)`, weights `1−|x|` of
 * `(j − center + 0.5)/max(scale,1)`), so one function computes them. Crops are HWC with 3 channels.
 */

/** Which library's resampling to reproduce. */
export type ResampleMethod = 'pil-bilinear' | 'bilinear-antialias';

/** The filter of one axis: for output index i, `count[i]` weights from input index `start[i]` on. */
export interface AxisFilter {
  start: Int32Array;
  count: Int32Array;
  /** `taps` weights per output index (zeros past `count`). */
  weights: Float64Array;
  taps: number;
}

const triangle = (x: number): number => {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
};

/**
 * The bilinear filter from `inSize` to `outSize` samples. `float32` computes as PyTorch does for float tensors
 * (every intermediate rounded to float32); otherwise in double, as Pillow does.
 */
export function bilinearFilter(inSize: number, outSize: number, float32: boolean): AxisFilter {
  const f = float32 ? Math.fround : (x: number): number => x;
  const scale = f(inSize / outSize);
  const filterScale = scale < 1 ? 1 : scale;
  const support = f(filterScale); // the triangle's support (1) times the filter scale
  const invScale = f(1 / filterScale);
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * taps);
  for (let i = 0; i < outSize; i++) {
    const center = f(scale * (i + 0.5));
    // C++ evaluates `center - support + 0.5` as a float difference plus a double 0.5, then truncates; both
    // bounds are positive where it matters (min/max clamp the rest).
    const lo = Math.max(Math.trunc(f(center - support) + 0.5), 0);
    const hi = Math.min(Math.trunc(f(center + support) + 0.5), inSize);
    const n = Math.max(hi - lo, 0);
    let total = 0;
    for (let j = 0; j < n; j++) {
      const w = f(triangle(f((f(j + lo - center) + 0.5) * invScale)));
      weights[i * taps + j] = w;
      total = f(total + w);
    }
    if (total !== 0) for (let j = 0; j < n; j++) weights[i * taps + j] = f(weights[i * taps + j] / total);
    start[i] = lo;
    count[i] = n;
  }
  return { start, count, weights, taps };
}

/** Pillow's fixed point: 32 bits, minus 8 for the pixel, minus 2 of headroom for the sum (Resample.c). */
const PRECISION_BITS = 22;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

/** Pillow's 8-bit coefficients: each weight rounded half away from zero to 22 fraction bits. */
function fixedPoint(filter: AxisFilter): Int32Array {
  return Int32Array.from(filter.weights, (w) =>
    w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE),
  );
}

/** Pillow's clip8: the fixed-point sum back to a byte. */
const clip8 = (sum: number): number => (sum >= ONE * 256 ? 255 : sum <= 0 ? 0 : Math.floor(sum / ONE));

/**
 * Resamples an HWC RGB crop (`pixels[(y·width + x)·3 + c]`, values 0..255) to `outHeight × outWidth`. Returns the
 * result as HWC values 0..255: whole numbers for `pil-bilinear` (Pillow's 8-bit image), floats for
 * `bilinear-antialias`.
 */
export function resampleCrop(
  pixels: ArrayLike<number>,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
  method: ResampleMethod,
): Float32Array {
  const pil = method === 'pil-bilinear';
  const fx = bilinearFilter(width, outWidth, !pil);
  const fy = bilinearFilter(height, outHeight, !pil);
  // Pillow passes only over the rows the vertical filter reads, and skips a pass whose size does not change;
  // skipping changes nothing for PyTorch's float pass (its identity weights are exactly 1 and 0).
  const rowFirst = fy.start[0];
  const rowLast = fy.start[outHeight - 1] + fy.count[outHeight - 1];
  const rows = rowLast - rowFirst;
  const horizontal = outWidth !== width;
  const vertical = outHeight !== height;
  const kx = pil ? fixedPoint(fx) : null;
  const ky = pil ? fixedPoint(fy) : null;

  // Pass 1, horizontal: [rows, outWidth, 3] over the rows the second pass reads.
  let mid: Float32Array | ArrayLike<number>;
  let midWidth: number;
  let midFirst: number;
  if (horizontal) {
    const out = new Float32Array(rows * outWidth * 3);
    for (let y = 0; y < rows; y++) {
      const src = (y + rowFirst) * width * 3;
      for (let x = 0; x < outWidth; x++) {
        const lo = fx.start[x];
        const n = fx.count[x];
        const k = x * fx.taps;
        let s0 = pil ? HALF : 0;
        let s1 = s0;
        let s2 = s0;
        for (let j = 0; j < n; j++) {
          const w = pil ? kx![k + j] : fx.weights[k + j];
          const p = src + (lo + j) * 3;
          s0 += pixels[p] * w;
          s1 += pixels[p + 1] * w;
          s2 += pixels[p + 2] * w;
        }
        const o = (y * outWidth + x) * 3;
        out[o] = pil ? clip8(s0) : s0;
        out[o + 1] = pil ? clip8(s1) : s1;
        out[o + 2] = pil ? clip8(s2) : s2;
      }
    }
    mid = out;
    midWidth = outWidth;
    midFirst = rowFirst;
  } else {
    mid = pixels;
    midWidth = width;
    midFirst = 0;
  }
  if (!vertical) return mid instanceof Float32Array && horizontal ? mid : Float32Array.from(mid);

  // Pass 2, vertical: [outHeight, outWidth, 3].
  const out = new Float32Array(outHeight * outWidth * 3);
  for (let y = 0; y < outHeight; y++) {
    const lo = fy.start[y] - midFirst;
    const n = fy.count[y];
    const k = y * fy.taps;
    for (let x = 0; x < midWidth; x++) {
      let s0 = pil ? HALF : 0;
      let s1 = s0;
      let s2 = s0;
      for (let j = 0; j < n; j++) {
        const w = pil ? ky![k + j] : fy.weights[k + j];
        const p = ((lo + j) * midWidth + x) * 3;
        s0 += mid[p] * w;
        s1 += mid[p + 1] * w;
        s2 += mid[p + 2] * w;
      }
      const o = (y * midWidth + x) * 3;
      out[o] = pil ? clip8(s0) : s0;
      out[o + 1] = pil ? clip8(s1) : s1;
      out[o + 2] = pil ? clip8(s2) : s2;
    }
  }
  return out;
}
