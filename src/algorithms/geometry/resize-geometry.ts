/**
 * Where an image lands inside the model input, for `stretch`, `letterbox`, `letterbox-center`, `shorter-side` and
 * `none`.
 */

export type ResizeMode = 'stretch' | 'letterbox' | 'letterbox-center' | 'shorter-side' | 'none';

/** `shorter-side`'s two sizes: the shorter side's target and the longer side's limit. */
export interface SideLimits {
  minSize: number;
  maxSize: number;
}

/**
 * The size torchvision's detection transform (`GeneralizedRCNNTransform`) resizes an image to, bit for bit:
 * `scale = min(min_size / shorter, max_size / longer)` evaluated as PyTorch evaluates a Python number divided by a
 * float32 tensor (the tensor's float32 reciprocal times the number, rounded to float32), then each side
 * `floor(side · scale)` in double, as `interpolate(recompute_scale_factor=True)` computes it. The reciprocal is
 * what makes 1024×768 give 1066×800 and 4000×3000 give 1066×799.
 */
export function shorterSideSize(width: number, height: number, limits: SideLimits): [number, number] {
  const f = Math.fround;
  const byShorter = f(f(1 / Math.min(width, height)) * limits.minSize);
  const byLonger = f(f(1 / Math.max(width, height)) * limits.maxSize);
  const scale = Math.min(byShorter, byLonger);
  return [Math.max(1, Math.floor(width * scale)), Math.max(1, Math.floor(height * scale))];
}

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
 * `stretch` fills the whole input (aspect ratio ignored). `shorter-side` makes the input the size
 * `shorterSideSize` gives (aspect kept up to flooring, no padding; `inputWidth`/`inputHeight` are ignored). `letterbox` scales both axes by
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
  limits?: SideLimits,
): ResizeGeometry {
  if (mode === 'none') {
    inputWidth = sourceWidth;
    inputHeight = sourceHeight;
  } else if (mode === 'shorter-side') {
    if (!limits) throw new RangeError('resize "shorter-side" needs min_size and max_size');
    [inputWidth, inputHeight] = shorterSideSize(sourceWidth, sourceHeight, limits);
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
