/**
 * Pixel preparation shared by detectors and classifiers: resize as the manifest says, then colour order,
 * scale and mean/std, in that order (models/README.md, "input").
 */
import * as tf from '@tensorflow/tfjs';
import type { ManifestInput } from '../models/manifest';
import type { ResizeGeometry } from './geometry/resize-geometry';

/**
 * Applies colour order, `scale` and per-channel mean/std to `[..., 3]` RGB values in 0..255 (any dtype).
 * Returns float32. Call inside `tf.tidy`.
 */
export function normalizePixels<T extends tf.Tensor>(pixels: T, input: ManifestInput): T {
  let x: tf.Tensor = tf.cast(pixels, 'float32');
  if (input.color_order === 'BGR') x = tf.reverse(x, -1);
  // (x·scale − mean) / std, folded into one multiply and one subtract per channel.
  const mul = tf.tensor1d(input.std.map((s) => input.scale / s));
  const sub = tf.tensor1d(input.mean.map((m, i) => m / input.std[i]));
  return tf.sub<T>(tf.mul(x, mul), sub);
}

/**
 * Resizes one decoded image `[H, W, 3]` (0..255) to the model input `[inputH, inputW, 3]`, normalised.
 * Bilinear with half-pixel centres, so that input pixel edges map linearly onto source pixel edges
 * (`geometry.scaleX`, `scaleY`). Letterbox padding (bottom/right) gets `input.pad_value` after normalisation.
 * Call inside `tf.tidy`.
 */
export function prepareDetectorInput(
  image: tf.Tensor3D,
  input: ManifestInput,
  geometry: ResizeGeometry,
): tf.Tensor3D {
  // [contentH, contentW, 3] float32, 0..255
  const resized = tf.image.resizeBilinear(
    image,
    [geometry.contentHeight, geometry.contentWidth],
    false,
    true,
  );
  const normalized = normalizePixels(resized, input);
  const padBottom = input.height - geometry.contentHeight;
  const padRight = input.width - geometry.contentWidth;
  if (padBottom === 0 && padRight === 0) return normalized;
  return tf.pad(
    normalized,
    [
      [0, padBottom],
      [0, padRight],
      [0, 0],
    ],
    input.pad_value ?? 0,
  );
}
