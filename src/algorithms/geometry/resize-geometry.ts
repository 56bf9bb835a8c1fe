/**
 * Where an image lands inside the model input, for `stretch`, `letterbox`, `letterbox-center` and `none`.
 */

export type ResizeMode = 'stretch' | 'letterbox' | 'letterbox-center' | 'none';

/** How a source image maps onto the model input. */
export interface ResizeGeometry {
  /** Source pixel size. */
  sourceWidth: number;
  sourceHeight: number;
  /** Model input size for this image (the source size with `none`). */
  inputWidth: number;
  inputHeight: number;
  /** Size of the resized image content inside the input, in input pixels (≤ input size). */
  contentWidth: number;
  contentHeight: number;
  /** Input pixel where the content starts: 0 except with `letterbox-center`. */
  offsetX: number;
  offsetY: number;
  /** Input pixels per source pixel along each axis: `contentWidth / sourceWidth`, `contentHeight / sourceHeight`. */
  scaleX: number;
  scaleY: number;
}

/**
 * `stretch` fills the whole input (aspect ratio ignored). `letterbox` scales both axes by
 * `min(inputWidth / sourceWidth, inputHeight / sourceHeight)`, rounds the content size to whole pixels (at least 1)
 * and leaves the rest of the input as padding on the bottom and right. `letterbox-center` splits the padding
 * between both sides as ultralytics' LetterBox does (`round(pad / 2 − 0.1)` before, the rest after). `none` feeds
 * the source as it is (`inputWidth`/`inputHeight` are ignored). The scales are recomputed from the rounded content
 * size, so mapping a box back is exact for the pixels the model actually saw.
 */
export function computeResizeGeometry(
  sourceWidth: number,
  sourceHeight: number,
  inputWidth: number,
  inputHeight: number,
  mode: ResizeMode,
): ResizeGeometry {
  if (mode === 'none') {
    inputWidth = sourceWidth;
    inputHeight = sourceHeight;
  }
  if (!(sourceWidth > 0 && sourceHeight > 0 && inputWidth > 0 && inputHeight > 0)) {
    throw new RangeError(
      `sizes must be positive: source ${sourceWidth}x${sourceHeight}, input ${inputWidth}x${inputHeight}`,
    );
  }
  let contentWidth = inputWidth;
  let contentHeight = inputHeight;
  let offsetX = 0;
  let offsetY = 0;
  if (mode === 'letterbox' || mode === 'letterbox-center') {
    const r = Math.min(inputWidth / sourceWidth, inputHeight / sourceHeight);
    contentWidth = Math.min(inputWidth, Math.max(1, Math.round(sourceWidth * r)));
    contentHeight = Math.min(inputHeight, Math.max(1, Math.round(sourceHeight * r)));
    if (mode === 'letterbox-center') {
      offsetX = Math.max(0, Math.round((inputWidth - contentWidth) / 2 - 0.1)); // max: no -0
      offsetY = Math.max(0, Math.round((inputHeight - contentHeight) / 2 - 0.1));
    }
  }
  return {
    sourceWidth,
    sourceHeight,
    inputWidth,
    inputHeight,
    contentWidth,
    contentHeight,
    offsetX,
    offsetY,
    scaleX: contentWidth / sourceWidth,
    scaleY: contentHeight / sourceHeight,
  };
}
