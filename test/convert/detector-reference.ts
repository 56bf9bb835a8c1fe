/**
 * The onnxruntime side of the detector parity tests: the ultralytics letterbox done by hand, ultralytics' decode,
 * the one-to-one comparison of ObjectDetector's boxes with the reference, and the torchvision fixture's score
 * threshold edit. Shared by convert-detector, detector-fixtures, frcnn and frcnn-service tests.
 */
import type { BoundingBox, DetectionResponse } from '../../src/contract/types';
import { decodeOnnxModel, encodeOnnxModel } from '../../src/convert/onnx/onnx-proto';

/** A reference detection: corners x1,y1,x2,y2 in source pixels and the best class score. */
export interface ReferenceBox {
  box: number[];
  score: number;
}

/** A W×H source given by `px(y, x, c)` (0..255) as HWC RGB bytes, row by row. */
export const hwcPixels = (
  px: (y: number, x: number, c: number) => number,
  source: { width: number; height: number },
): Uint8Array =>
  Uint8Array.from({ length: source.height * source.width * 3 }, (_, i) =>
    px(Math.floor(i / (source.width * 3)), Math.floor(i / 3) % source.width, i % 3),
  );

/**
 * A 2W×2H source (`px(y, x, c)` in 0..255) letterboxed by hand into an S×S NCHW input `[1, 3, S, S]` in [0, 1]:
 * halving it makes each input pixel exactly the mean of a 2×2 source block (bilinear, half-pixel centres, scale
 * 1/2) rounded to a whole value (halves up), as cv2 gives ultralytics 8-bit pixels, placed `padY` rows down;
 * every other pixel is 114 grey.
 */
export function halvedLetterbox(
  px: (y: number, x: number, c: number) => number,
  source: { width: number; height: number },
  size: number,
  padY: number,
): Float32Array {
  const input = new Float32Array(3 * size * size).fill(114 / 255);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < source.height / 2; y++)
      for (let x = 0; x < source.width / 2; x++) {
        const sum =
          px(2 * y, 2 * x, c) +
          px(2 * y, 2 * x + 1, c) +
          px(2 * y + 1, 2 * x, c) +
          px(2 * y + 1, 2 * x + 1, c);
        input[c * size * size + (y + padY) * size + x] = Math.floor(sum / 4 + 0.5) / 255;
      }
  return input;
}

/**
 * ultralytics' decode of one image's `[1, 4+nc, N]` output, without NMS: best class score > `threshold`;
 * cx,cy,w,h → corners; minus the letterbox offset `(0, padY)`; ÷ `scale`; clamped to the source; empty boxes
 * dropped. Highest score first.
 */
export function decodeUltralytics(
  out: Float32Array,
  classes: number,
  threshold: number,
  letterbox: { scale: number; padY: number; width: number; height: number },
): ReferenceBox[] {
  const n = out.length / (4 + classes);
  const { scale, padY, width, height } = letterbox;
  const clamp = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);
  const expected: ReferenceBox[] = [];
  for (let j = 0; j < n; j++) {
    let score = -Infinity;
    for (let k = 0; k < classes; k++) score = Math.max(score, out[(4 + k) * n + j]);
    if (score <= threshold) continue;
    const [cx, cy, w, h] = [0, 1, 2, 3].map((q) => out[q * n + j]);
    const box = [
      clamp((cx - w / 2) / scale, width),
      clamp((cy - h / 2 - padY) / scale, height),
      clamp((cx + w / 2) / scale, width),
      clamp((cy + h / 2 - padY) / scale, height),
    ];
    if (box[2] > box[0] && box[3] > box[1]) expected.push({ box, score });
  }
  return expected.sort((a, b) => b.score - a.score);
}

/**
 * One-to-one: each found box takes an unused reference box within `boxTolerance` px (each corner) and 1e-4 in
 * score, and none is left over. Returns the largest differences seen (box in px, score).
 */
export function expectSameDetections(
  found: { bbox: BoundingBox; score: number }[],
  expected: ReferenceBox[],
  boxTolerance: number,
): { boxDiff: number; scoreDiff: number } {
  expect(found).toHaveLength(expected.length);
  let boxDiff = 0;
  let scoreDiff = 0;
  const unused = [...expected];
  for (const d of found) {
    const box = [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2];
    const at = unused.findIndex(
      (x) =>
        x.box.every((v, q) => Math.abs(v - box[q]) <= boxTolerance) && Math.abs(x.score - d.score) <= 1e-4,
    );
    expect({ box, score: d.score, matched: at >= 0 }).toMatchObject({ matched: true });
    boxDiff = Math.max(boxDiff, ...unused[at].box.map((v, q) => Math.abs(v - box[q])));
    scoreDiff = Math.max(scoreDiff, Math.abs(unused[at].score - d.score));
    unused.splice(at, 1);
  }
  return { boxDiff, scoreDiff };
}

/** The torchvision fixture with roi_heads' box_score_thresh (a Constant read by /roi_heads/Greater) set to `t`. */
export function withScoreThreshold(original: Uint8Array, t: number): Uint8Array {
  const m = decodeOnnxModel(original);
  const nodes = m.graph?.node ?? [];
  const greater = nodes.find((n) => n.name === '/roi_heads/Greater');
  const constant = nodes.find((n) => n.output?.[0] === greater?.input?.[1]);
  const tensor = constant?.attribute?.[0]?.t;
  if (!tensor) throw new Error('the fixture no longer has the box score threshold constant');
  tensor.rawData = new Uint8Array(Float32Array.of(t).buffer);
  return encodeOnnxModel(m);
}

/**
 * `/process` boxes of one image against the reference as the service reports it: corners truncated toward zero,
 * zero-area boxes dropped, then identical ones. Each box takes an unused reference box whose corners truncate to
 * it, allowing a corner within `slack` px of a whole pixel to truncate either way in either runtime.
 */
export function expectSameWholePixelBoxes(
  got: DetectionResponse[],
  expected: ReferenceBox[],
  label: string,
  slack = 1e-3,
): void {
  const ref = expected
    .filter((e) => Math.trunc(e.box[2]) > Math.trunc(e.box[0]) && Math.trunc(e.box[3]) > Math.trunc(e.box[1]))
    .map((e) => ({
      whole: e.box.map(Math.trunc).join(','),
      window: e.box.map((v) => [Math.trunc(Math.max(0, v - slack)), Math.trunc(v + slack)]),
    }));
  expect({ label, count: got.length }).toEqual({ label, count: new Set(ref.map((r) => r.whole)).size });
  const unused = [...ref];
  for (const d of got) {
    const box = [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2];
    const at = unused.findIndex((r) => r.window.every(([lo, hi], q) => box[q] >= lo && box[q] <= hi));
    expect({ label, box, matched: at >= 0 }).toMatchObject({ matched: true });
    unused.splice(at, 1);
  }
}
