/**
 * Converts a pixel box into the normalised `[y1, x1, y2, x2]` that `tf.image.cropAndResize` expects.
 */
import type { BoundingBox } from '../../contract/types';

/**
 * `cropAndResize` samples row i of a crop at image row `y1 * (H - 1) + i * (y2 - y1) * (H - 1) / (cropH - 1)`
 * (pixel-centre indices, endpoints included). A pixel box [x1, x2) spans continuous coordinates whose pixel `j`
 * has its centre at index j. To sample the centres of `cropW` equal bins across the box, as a half-pixel-centre
 * resize of the region would, the first and last sample indices must be
 * `x1 + 0.5·(x2 - x1)/cropW - 0.5` and `x2 - 0.5·(x2 - x1)/cropW - 0.5`, which are then divided by `W - 1`.
 * Indices are clamped to `[0, W - 1]` (edge pixels repeat, as in `resizeBilinear`) instead of sampling the
 * zero extrapolation value. A one-pixel axis maps to 0.
 */
export function cropBoxToNormalized(
  box: BoundingBox,
  imageWidth: number,
  imageHeight: number,
  cropWidth: number,
  cropHeight: number,
): [number, number, number, number] {
  const axis = (lo: number, hi: number, size: number, crop: number): [number, number] => {
    if (size <= 1) return [0, 0];
    const half = (0.5 * (hi - lo)) / crop;
    const clamp = (v: number): number => Math.min(Math.max(v, 0), size - 1) / (size - 1);
    return [clamp(lo + half - 0.5), clamp(hi - half - 0.5)];
  };
  const [x1, x2] = axis(box.x1, box.x2, imageWidth, cropWidth);
  const [y1, y2] = axis(box.y1, box.y2, imageHeight, cropHeight);
  return [y1, x1, y2, x2];
}
