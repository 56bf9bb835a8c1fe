/**
 * The whole pixels a box covers, for classifiers that take each crop at its own size.
 */
import type { BoundingBox } from '../../contract/types';

/** A crop as `tf.slice` takes it: top-left row and column, then height and width, all whole pixels. */
export interface PixelCrop {
  y: number;
  x: number;
  height: number;
  width: number;
}

/**
 * `image[trunc(y1):trunc(y2), trunc(x1):trunc(x2)]`, as Antenna cuts crops, after clamping to the image; at least
 * one pixel each way, so that a sliver narrower than a pixel still has something to classify.
 */
export function wholePixelCrop(box: BoundingBox, imageWidth: number, imageHeight: number): PixelCrop {
  const axis = (lo: number, hi: number, size: number): [number, number] => {
    const a = Math.trunc(Math.min(Math.max(Math.min(lo, hi), 0), size - 1));
    const b = Math.trunc(Math.min(Math.max(Math.max(lo, hi), 0), size));
    return [a, Math.max(b - a, 1)];
  };
  const [x, width] = axis(box.x1, box.x2, imageWidth);
  const [y, height] = axis(box.y1, box.y2, imageHeight);
  return { y, x, height, width };
}
