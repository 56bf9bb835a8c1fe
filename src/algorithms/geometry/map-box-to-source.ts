/**
 * Maps a box from model-input pixels back to source-image pixels (undoing stretch or letterbox).
 */
import type { BoundingBox } from '../../contract/types';
import type { ResizeGeometry } from './resize-geometry';

/** Divides by the per-axis scale; letterbox content starts at (0, 0), so there is no offset to undo. */
export function mapBoxToSource(box: BoundingBox, geometry: ResizeGeometry): BoundingBox {
  return {
    x1: box.x1 / geometry.scaleX,
    y1: box.y1 / geometry.scaleY,
    x2: box.x2 / geometry.scaleX,
    y2: box.y2 / geometry.scaleY,
  };
}
