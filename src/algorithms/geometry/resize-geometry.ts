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
  /**
   * Input pixels per source pixel along each axis, as boxes are mapped back: `contentWidth / sourceWidth`,
   * `contentHeight / sourceHeight`, except with `letterbox-center` (ultralytics' `scale_boxes`: the unrounded
   * gain on both axes).
   */
  scaleX: number;
  scaleY: number;
  /**
   * Input pixel subtracted from a box before scaling it back: `offsetX`, `offsetY`, except with `letterbox-center`
   * (ultralytics' `scale_boxes` recomputes the padding from the unrounded content size, which is LetterBox's
   * padding or one pixel more).
   */
  boxOffsetX: number;
  boxOffsetY: number;
}

/** Python's `round()` of a number: half to even (`Math.round` rounds half up). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * `stretch` fills the whole input (aspect ratio ignored). `shorter-side` makes the input the size
 * `shorterSideSize` gives (aspect kept up to flooring, no padding; `inputWidth`/`inputHeight` are ignored). `letterbox` scales both axes by
 * `min(inputWidth / sourceWidth, inputHeight / sourceHeight)`, rounds the content size to whole pixels (at least 1)
 * and leaves the rest of the input as padding on the bottom and right; its scales are recomputed from the rounded
 * content size, so mapping a box back is exact for the pixels the model actually saw. `none` feeds the source as
 * it is (`inputWidth`/`inputHeight` are ignored).
 *
 * `letterbox-center` is ultralytics' predict, number for number (ultralytics/data/augment.py LetterBox and
 * ultralytics/utils/ops.py scale_boxes): content `round(side · r)` with Python's half-to-even round (721 · 0.5
 * gives 360 rows, not 361), padding `round(pad / 2 − 0.1)` before and the rest after; boxes mapped back with the
 * unrounded gain `r` on both axes (the model was trained on labels scaled by `r`), less a padding that
 * scale_boxes recomputes from the unrounded content size. Mapping with the rounded content's scales instead put
 * boxes of a 4096×2160 image up to 3 px lower than ultralytics does at its bottom edge.
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
  // Set by letterbox-center, which maps boxes back with the unrounded gain and its own padding.
  let gain: number | undefined;
  let boxOffsetX: number | undefined;
  let boxOffsetY: number | undefined;
  if (mode === 'letterbox') {
    const r = Math.min(inputWidth / sourceWidth, inputHeight / sourceHeight);
    contentWidth = Math.min(inputWidth, Math.max(1, Math.round(sourceWidth * r)));
    contentHeight = Math.min(inputHeight, Math.max(1, Math.round(sourceHeight * r)));
  } else if (mode === 'letterbox-center') {
    const r = Math.min(inputWidth / sourceWidth, inputHeight / sourceHeight);
    contentWidth = Math.min(inputWidth, Math.max(1, roundHalfEven(sourceWidth * r)));
    contentHeight = Math.min(inputHeight, Math.max(1, roundHalfEven(sourceHeight * r)));
    // Python's round again (max: no −0).
    const pad = (input: number, content: number): number =>
      Math.max(0, roundHalfEven((input - content) / 2 - 0.1));
    offsetX = pad(inputWidth, contentWidth);
    offsetY = pad(inputHeight, contentHeight);
    gain = r;
    boxOffsetX = pad(inputWidth, sourceWidth * r);
    boxOffsetY = pad(inputHeight, sourceHeight * r);
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
    scaleX: gain ?? contentWidth / sourceWidth,
    scaleY: gain ?? contentHeight / sourceHeight,
    boxOffsetX: boxOffsetX ?? offsetX,
    boxOffsetY: boxOffsetY ?? offsetY,
  };
}
