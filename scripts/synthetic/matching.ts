/**
 * Greedy IoU matching of detections to ground-truth objects, for calibration and evaluation.
 */
import type { BoundingBox } from '../../src/contract/types';
import { iou } from '../../src/algorithms/geometry/iou';

export interface Match {
  /** Index of the matched ground-truth object for each detection, or −1. */
  detToGt: number[];
  /** Index of the matched detection for each ground-truth object, or −1. */
  gtToDet: number[];
  /** IoU of each detection with its match (0 when unmatched). */
  detIou: number[];
}

/** Highest-IoU pairs first; each detection and each object is used at most once; pairs below `minIou` are not matched. */
export function matchBoxes(dets: BoundingBox[], gts: BoundingBox[], minIou: number): Match {
  const pairs: { d: number; g: number; v: number }[] = [];
  dets.forEach((d, di) =>
    gts.forEach((g, gi) => {
      const v = iou(d, g);
      if (v >= minIou) pairs.push({ d: di, g: gi, v });
    }),
  );
  pairs.sort((a, b) => b.v - a.v || a.d - b.d || a.g - b.g);
  const detToGt = dets.map(() => -1);
  const gtToDet = gts.map(() => -1);
  const detIou = dets.map(() => 0);
  for (const p of pairs) {
    if (detToGt[p.d] !== -1 || gtToDet[p.g] !== -1) continue;
    detToGt[p.d] = p.g;
    gtToDet[p.g] = p.d;
    detIou[p.d] = p.v;
  }
  return { detToGt, gtToDet, detIou };
}
