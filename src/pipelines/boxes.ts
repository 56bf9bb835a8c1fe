/**
 * Pure box rules that every pipeline applies before answering (docs/antenna-protocol.md#detections).
 */
import type { BoundingBox } from '../contract/types';
import { boxArea } from '../algorithms/geometry/box-area';

export { clampBox } from '../algorithms/geometry/clamp-box';

/** Antenna's crop task fails on zero-area boxes, so they are dropped. Also drops non-finite boxes. */
export function hasArea(b: BoundingBox): boolean {
  return [b.x1, b.y1, b.x2, b.y2].every(Number.isFinite) && boxArea(b) > 0;
}

/** Whole-pixel box: corners truncated toward zero, like ADC (a box may become zero-area: check after). */
export function truncateBox(b: BoundingBox): BoundingBox {
  return { x1: Math.trunc(b.x1), y1: Math.trunc(b.y1), x2: Math.trunc(b.x2), y2: Math.trunc(b.y2) };
}

const boxKey = (b: BoundingBox): string => `${b.x1},${b.y1},${b.x2},${b.y2}`;

/** Two identical boxes on one image would become two detections in Antenna; keeps the first of each. */
export function uniqueBoxes<T extends { bbox: BoundingBox }>(items: T[]): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const key = boxKey(item.bbox);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
