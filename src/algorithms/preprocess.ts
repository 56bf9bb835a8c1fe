/**
 * Pixel preparation shared by detectors and classifiers: resize as the manifest says, then colour order,
 * scale and mean/std, in that order (models/README.md, "input").
 */
import * as tf from '@tensorflow/tfjs';
import {
  integerInput,
  type DetectorInput,
  type ManifestInput,
  type PixelNormalization,
} from '../models/manifest';
import type { ResizeGeometry } from './geometry/resize-geometry';
import { resizeBilinearTorch } from './torch-bilinear';

/**
 * Applies colour order, `scale` and per-channel mean/std to `[..., 3]` RGB values in 0..255 (any dtype).
 * Returns float32; for an integer input (`dtype` uint8 or int32) the whole values as int32 instead, rounded if a
 * resize made them fractional and not normalised (tfjs has no uint8: tfjs-node narrows int32 to the uint8 a
 * SavedModel signature declares). Call inside `tf.tidy`.
 */
export function normalizePixels<T extends tf.Tensor>(
  pixels: T,
  input: PixelNormalization | ManifestInput,
): T {
  if (integerInput(input)) {
    let x: tf.Tensor = pixels.dtype === 'int32' ? pixels : tf.cast(tf.round(pixels), 'int32');
    if (input.color_order === 'BGR') x = tf.reverse(x, -1);
    return x as T;
  }
  let x: tf.Tensor = tf.cast(pixels, 'float32');
  if (input.color_order === 'BGR') x = tf.reverse(x, -1);
  // (x·scale − mean) / std, folded into one multiply and one subtract per channel. Validation guarantees the
  // fields of a float input (inputProblems); the defaults only satisfy the type.
  const scale = input.scale ?? 1;
  const mean = input.mean ?? [0, 0, 0];
  const std = input.std ?? [1, 1, 1];
  const mul = channelOperand(std.map((s) => scale / s));
  const sub = channelOperand(mean.map((m, i) => m / std[i]));
  if (mul !== 1) x = tf.mul(x, mul);
  if (sub !== 0) x = tf.sub(x, sub);
  return x as T;
}

/**
 * A per-channel operand as a scalar when every channel has the same value (a plain number, `1` or `0` when the
 * op can be skipped), else a `[C]` tensor. The values are the same either way; on a 4096×2160 image a broadcast
 * against `[3]` took libtensorflow twice as long as one against a scalar (and a detector exported with its own
 * normalisation has scale 1/255, mean 0, std 1: one multiply, no subtract).
 */
function channelOperand(values: number[]): number | tf.Tensor1D {
  return values.every((v) => v === values[0]) ? values[0] : tf.tensor1d(values);
}

/**
 * Resizes one decoded image `[H, W, 3]` (0..255) to the model input `[inputH, inputW, 3]` (the geometry's input
 * size), normalised, channels last. Bilinear with half-pixel centres, so that input pixel edges map linearly onto
 * source pixel edges (`geometry.scaleX`, `scaleY`), as OpenCV's INTER_LINEAR does for ultralytics, or with
 * PyTorch's rounding (`input.interpolation`; torchvision's detectors). The resize comes before the normalisation,
 * on 0..255 values, where torchvision normalises first: the filter is linear, so the order changes only float32
 * rounding (under 1e-6 after ImageNet normalisation, test/algorithms/torch-bilinear.test.ts), and resizing
 * first normalises 10× fewer pixels on a 4K image. Letterbox
 * padding gets `input.pad_value` (0..255 pixel units) before normalisation, so that it is normalised like the
 * pixels around it. `resize: none` only normalises. Call inside `tf.tidy`.
 */
export function prepareDetectorInput(
  image: tf.Tensor3D,
  input: DetectorInput,
  geometry: ResizeGeometry,
): tf.Tensor3D {
  let pixels: tf.Tensor3D = image;
  if (geometry.contentHeight !== image.shape[0] || geometry.contentWidth !== image.shape[1]) {
    // [contentH, contentW, 3] float32, 0..255
    const interpolation =
      input.interpolation ?? (input.resize === 'shorter-side' ? 'torch-bilinear' : 'bilinear');
    pixels =
      interpolation === 'bilinear'
        ? tf.image.resizeBilinear(image, [geometry.contentHeight, geometry.contentWidth], false, true)
        : resizeBilinearTorch(
            image,
            geometry.contentHeight,
            geometry.contentWidth,
            interpolation === 'torch1-bilinear' ? 'float64' : 'float32',
          );
    // ultralytics resizes 8-bit pixels with cv2, which gives 8-bit pixels: whole values, halves rounded up as
    // cv2's fixed point rounds them. (Its 11-bit weights still make one value in eight differ by 1 from these;
    // unrounded, the mean difference was 0.27.)
    if (input.resize === 'letterbox-center') pixels = tf.floor(tf.add(pixels, 0.5)) as tf.Tensor3D;
  }
  const before = [geometry.offsetY, geometry.offsetX];
  const after = [
    geometry.inputHeight - geometry.contentHeight - geometry.offsetY,
    geometry.inputWidth - geometry.contentWidth - geometry.offsetX,
  ];
  if (before.some((p) => p > 0) || after.some((p) => p > 0)) {
    pixels = tf.pad(
      tf.cast(pixels, 'float32'),
      [
        [before[0], after[0]],
        [before[1], after[1]],
        [0, 0],
      ],
      input.pad_value ?? 0,
    );
  }
  return normalizePixels(pixels, input);
}
