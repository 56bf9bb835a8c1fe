/**
 * Turns one raw detector box (four numbers in the manifest's layout) into corner form in model-input pixels.
 */
import type { BoundingBox } from '../../contract/types';

export type BoxFormat = 'yxyx' | 'xyxy' | 'xywh' | 'cxcywh';
export type BoxCoordinates = 'normalized' | 'pixels';

/**
 * `values` is one row of the detector's `[B, K, 4]` box tensor. `normalized` coordinates are fractions of the
 * model input (`inputWidth`, `inputHeight`); `pixels` are already input pixels. `xywh` is top-left plus size,
 * `cxcywh` centre plus size. Corners are reordered so that x1 ≤ x2 and y1 ≤ y2.
 */
export function decodeBox(
  values: ArrayLike<number>,
  format: BoxFormat,
  coordinates: BoxCoordinates,
  inputWidth: number,
  inputHeight: number,
): BoundingBox {
  const [a, b, c, d] = [values[0], values[1], values[2], values[3]];
  let x1: number;
  let y1: number;
  let x2: number;
  let y2: number;
  switch (format) {
    case 'yxyx':
      [y1, x1, y2, x2] = [a, b, c, d];
      break;
    case 'xyxy':
      [x1, y1, x2, y2] = [a, b, c, d];
      break;
    case 'xywh':
      [x1, y1, x2, y2] = [a, b, a + c, b + d];
      break;
    case 'cxcywh':
      [x1, y1, x2, y2] = [a - c / 2, b - d / 2, a + c / 2, b + d / 2];
      break;
  }
  if (coordinates === 'normalized') {
    x1 *= inputWidth;
    x2 *= inputWidth;
    y1 *= inputHeight;
    y2 *= inputHeight;
  }
  return { x1: Math.min(x1, x2), y1: Math.min(y1, y2), x2: Math.max(x1, x2), y2: Math.max(y1, y2) };
}
