/**
 * Area of a corner-form box; zero for empty or inverted boxes.
 */
import type { BoundingBox } from '../../contract/types';

export function boxArea(box: BoundingBox): number {
  return Math.max(0, box.x2 - box.x1) * Math.max(0, box.y2 - box.y1);
}
