/**
 * Maps a box from model-input pixels back to source-image pixels (undoing stretch or letterbox).
 */
import type { BoundingBox } from '../../contract/types';
import type { ResizeGeometry } from './resize-geometry';

/** Removes the box offset (centred letterbox only), then divides by the per-axis scale. */
export function mapBoxToSource(box: BoundingBox, geometry: ResizeGeometry): BoundingBox {
  return {
    x1: (box.x1 - geometry.boxOffsetX) / geometry.scaleX,
    y1: (box.y1 - geometry.boxOffsetY) / geometry.scaleY,
    x2: (box.x2 - geometry.boxOffsetX) / geometry.scaleX,
    y2: (box.y2 - geometry.boxOffsetY) / geometry.scaleY,
  };
}
