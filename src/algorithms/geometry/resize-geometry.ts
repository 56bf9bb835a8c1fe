/**
 * Where an image lands inside a fixed-size model input, for `stretch` and `letterbox` resizing.
 */

export type ResizeMode = 'stretch' | 'letterbox';

/** How a source image maps onto the model input. Content starts at (0, 0); letterbox pads bottom/right. */
export interface ResizeGeometry {
  /** Source pixel size. */
  sourceWidth: number;
  sourceHeight: number;
  /** Size of the resized image content inside the input, in input pixels (≤ input size). */
  contentWidth: number;
  contentHeight: number;
  /** Input pixels per source pixel along each axis: `contentWidth / sourceWidth`, `contentHeight / sourceHeight`. */
  scaleX: number;
  scaleY: number;
}

/**
 * `stretch` fills the whole input (aspect ratio ignored). `letterbox` scales both axes by
 * `min(inputWidth / sourceWidth, inputHeight / sourceHeight)`, rounds the content size to whole pixels (at least 1)
 * and leaves the rest of the input as padding on the bottom and right. The scales are recomputed from the rounded
 * content size, so mapping a box back is exact for the pixels the model actually saw.
 */
export function computeResizeGeometry(
  sourceWidth: number,
  sourceHeight: number,
  inputWidth: number,
  inputHeight: number,
  mode: ResizeMode,
): ResizeGeometry {
  if (!(sourceWidth > 0 && sourceHeight > 0 && inputWidth > 0 && inputHeight > 0)) {
    throw new RangeError(
      `sizes must be positive: source ${sourceWidth}x${sourceHeight}, input ${inputWidth}x${inputHeight}`,
    );
  }
  let contentWidth = inputWidth;
  let contentHeight = inputHeight;
  if (mode === 'letterbox') {
    const r = Math.min(inputWidth / sourceWidth, inputHeight / sourceHeight);
    contentWidth = Math.min(inputWidth, Math.max(1, Math.round(sourceWidth * r)));
    contentHeight = Math.min(inputHeight, Math.max(1, Math.round(sourceHeight * r)));
  }
  return {
    sourceWidth,
    sourceHeight,
    contentWidth,
    contentHeight,
    scaleX: contentWidth / sourceWidth,
    scaleY: contentHeight / sourceHeight,
  };
}
