/**
 * Clamps a box to an image's pixel grid.
 */
import type { BoundingBox } from '../../contract/types';

/** Every coordinate is clamped to `[0, width]` or `[0, height]`; the result may have zero area. */
export function clampBox(box: BoundingBox, width: number, height: number): BoundingBox {
  const cx = (v: number): number => Math.min(Math.max(v, 0), width);
  const cy = (v: number): number => Math.min(Math.max(v, 0), height);
  return { x1: cx(box.x1), y1: cy(box.y1), x2: cx(box.x2), y2: cy(box.y2) };
}
