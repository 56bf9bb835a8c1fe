/**
 * Clamps a box to an image's pixel grid.
 */
import type { BoundingBox } from '../../contract/types';

/**
 * Orders the corners (x1 ≤ x2, y1 ≤ y2) and clamps every coordinate to `[0, width]` or `[0, height]`;
 * the result may have zero area.
 */
export function clampBox(box: BoundingBox, width: number, height: number): BoundingBox {
  const cx = (v: number): number => Math.min(Math.max(v, 0), width);
  const cy = (v: number): number => Math.min(Math.max(v, 0), height);
  return {
    x1: cx(Math.min(box.x1, box.x2)),
    y1: cy(Math.min(box.y1, box.y2)),
    x2: cx(Math.max(box.x1, box.x2)),
    y2: cy(Math.max(box.y1, box.y2)),
  };
}
