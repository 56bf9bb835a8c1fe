/**
 * Intersection over union of two corner-form boxes.
 */
import type { BoundingBox } from '../../contract/types';
import { boxArea } from './box-area';

/** 0 when the boxes do not overlap or both are empty. */
export function iou(a: BoundingBox, b: BoundingBox): number {
  const inter = boxArea({
    x1: Math.max(a.x1, b.x1),
    y1: Math.max(a.y1, b.y1),
    x2: Math.min(a.x2, b.x2),
    y2: Math.min(a.y2, b.y2),
  });
  const union = boxArea(a) + boxArea(b) - inter;
  return union > 0 ? inter / union : 0;
}
