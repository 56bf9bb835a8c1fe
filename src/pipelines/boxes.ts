/**
 * Pure box rules that every pipeline applies before answering (CONTRACT §3.3).
 */
import type { BoundingBox } from '../contract/types';

/** Clamps a box to the image, `0 ≤ x1 ≤ x2 ≤ width`, `0 ≤ y1 ≤ y2 ≤ height`. */
export function clampBox(b: BoundingBox, width: number, height: number): BoundingBox {
  const cx = (v: number): number => Math.min(Math.max(v, 0), width);
  const cy = (v: number): number => Math.min(Math.max(v, 0), height);
  const x1 = cx(Math.min(b.x1, b.x2));
  const x2 = cx(Math.max(b.x1, b.x2));
  const y1 = cy(Math.min(b.y1, b.y2));
  const y2 = cy(Math.max(b.y1, b.y2));
  return { x1, y1, x2, y2 };
}

/** D2: Antenna's crop task fails on zero-area boxes, so they are dropped. Also drops non-finite boxes. */
export function hasArea(b: BoundingBox): boolean {
  return [b.x1, b.y1, b.x2, b.y2].every(Number.isFinite) && b.x2 > b.x1 && b.y2 > b.y1;
}

const boxKey = (b: BoundingBox): string => `${b.x1},${b.y1},${b.x2},${b.y2}`;

/** D5: two identical boxes on one image would become two detections; keeps the first of each. */
export function uniqueBoxes<T extends { bbox: BoundingBox }>(items: T[]): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const key = boxKey(item.bbox);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
