/**
 * Plain (not antialiased) bilinear resizing as PyTorch computes it on a float32 tensor:
 * `torch.nn.functional.interpolate(x, size, mode="bilinear", align_corners=False)`, ATen's `upsample_bilinear2d`
 * on the CPU (aten/src/ATen/native/UpSample.h, cpu/UpSampleKernel.cpp). torchvision's detection transform
 * (`GeneralizedRCNNTransform`) resizes every image this way, with `recompute_scale_factor=True`, so the scale is
 * `input size / output size`.
 *
 * The interpolation is the same half-pixel bilinear as `tf.image.resizeBilinear(…, halfPixelCenters)`, but the
 * arithmetic differs: TensorFlow's source positions and lerps round differently, by up to 3.6e-4 of a normalised
 * pixel on a 4096×2160 → 1333×702 resize, enough to tip boxes of a detector near its score threshold; PyTorch 1.x
 * and 2.x differ from each other as much (SourceIndexMath).
 * Here the source indices and weights are ATen's, rounded as ATen rounds them, and the weighted sums follow its
 * order: along x within each of the two rows, then the two rows. ATen fuses each `t0·w0 + t1·w1` into one
 * multiply-add where the compiler may; this rounds the product first, so a value can differ in its last bit
 * (1.5e-5 on 0..255, 3e-7 after ImageNet normalisation).
 */
import * as tf from '@tensorflow/tfjs';

/** For each output index along one axis: the two input indices and their weights (`w0 + w1 = 1`). */
export interface LinearAxis {
  i0: Int32Array;
  i1: Int32Array;
  w0: Float32Array;
  w1: Float32Array;
}

/**
 * Where PyTorch computes source positions: `float32` with a fused multiply-add (PyTorch ≥ 2: `opmath_t` float,
 * and the compiler fuses `scale·(i + 0.5) − 0.5`), or `float64` (PyTorch 1.x: `acc_type<float>` is double on the
 * CPU). The two differ by up to ~3e-5 of a pixel in position, 0.03 of a byte in value on a 4K resize.
 */
export type SourceIndexMath = 'float32' | 'float64';

/**
 * ATen's `compute_source_index_and_lambda` for `align_corners=False`: `scale = in / out` in float32,
 * `src = scale·(i + 0.5) − 0.5` clamped at 0, `i0 = floor(src)` (at most `in − 1`), `i1 = i0 + 1` except at the
 * last input index, `w1 = src − i0` clamped to [0, 1] and rounded to float32, `w0 = 1 − w1`. An axis that keeps
 * its size is copied.
 */
export function linearAxis(inSize: number, outSize: number, math: SourceIndexMath = 'float32'): LinearAxis {
  const f = Math.fround;
  const axis: LinearAxis = {
    i0: new Int32Array(outSize),
    i1: new Int32Array(outSize),
    w0: new Float32Array(outSize),
    w1: new Float32Array(outSize),
  };
  const scale = f(inSize / outSize);
  for (let i = 0; i < outSize; i++) {
    if (inSize === outSize) {
      axis.i0[i] = i;
      axis.i1[i] = i;
      axis.w0[i] = 1;
      continue;
    }
    // The product of two float32 values is exact in a double, and so is subtracting 0.5 at these magnitudes:
    // the double expression rounded once to float32 is the fused multiply-add.
    const exact = scale * (i + 0.5) - 0.5;
    const src = Math.max(math === 'float32' ? f(exact) : exact, 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const w1 = f(Math.min(Math.max(src - i0, 0), 1));
    axis.i0[i] = i0;
    axis.i1[i] = i0 < inSize - 1 ? i0 + 1 : i0;
    axis.w1[i] = w1;
    axis.w0[i] = f(1 - w1);
  }
  return axis;
}

/**
 * Resizes `[H, W, C]` pixels to `[outHeight, outWidth, C]` float32 as PyTorch's `upsample_bilinear2d` does
 * (align_corners=False): per output pixel `t0 = p[y0][x0]·wx0 + p[y0][x1]·wx1`, `t1` likewise on row `y1`, then
 * `t0·wy0 + t1·wy1`, each product and sum rounded to float32 (a double rounded once to float32 is the float32
 * result for one product or sum of float32 values, so `Math.fround` of each step is exact). In plain JS on the
 * pixels: the same bits on every backend, and faster than gathers, which take wasm seconds on a 4K image.
 * Returns a new tensor; call inside `tf.tidy`.
 */
export function resizeBilinearTorch(
  pixels: tf.Tensor3D,
  outHeight: number,
  outWidth: number,
  math: SourceIndexMath = 'float32',
): tf.Tensor3D {
  const [height, width, channels] = pixels.shape;
  const x = linearAxis(width, outWidth, math);
  const y = linearAxis(height, outHeight, math);
  const src = pixels.dataSync(); // HWC
  const out = new Float32Array(outHeight * outWidth * channels);
  const f = Math.fround;
  const stride = width * channels;
  let o = 0;
  for (let oy = 0; oy < outHeight; oy++) {
    const row0 = y.i0[oy] * stride;
    const row1 = y.i1[oy] * stride;
    const wy0 = y.w0[oy];
    const wy1 = y.w1[oy];
    for (let ox = 0; ox < outWidth; ox++) {
      const col0 = x.i0[ox] * channels;
      const col1 = x.i1[ox] * channels;
      const wx0 = x.w0[ox];
      const wx1 = x.w1[ox];
      for (let c = 0; c < channels; c++) {
        const t0 = f(f(src[row0 + col0 + c] * wx0) + f(src[row0 + col1 + c] * wx1));
        const t1 = f(f(src[row1 + col0 + c] * wx0) + f(src[row1 + col1 + c] * wx1));
        out[o++] = f(t0 * wy0) + f(t1 * wy1);
      }
    }
  }
  return tf.tensor3d(out, [outHeight, outWidth, channels]);
}
