/**
 * PyTorch's own answers for the torchvision detector fixtures (test/fixtures/onnx/torchvision-references.json,
 * written by scripts/export-onnx-fixtures.py with the fixtures), the pictures they were recorded on, rebuilt pixel
 * for pixel from the numbers listed there, and the ONNX edit that gives a fixture its "+rpn-silent" variant.
 */
import * as fs from 'fs';
import * as path from 'path';
import { decodeOnnxModel, encodeOnnxModel } from '../../src/convert/onnx/onnx-proto';
import type { ReferenceBox } from './detector-reference';
import { runOrt } from './helpers';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'onnx');

/** One recorded picture: black, mid-grey or seeded texture, at its own size. */
export interface TorchvisionPicture {
  id: string;
  kind: 'blank' | 'grey' | 'texture';
  width: number;
  height: number;
  seed: number;
}

/** torchvision's detection output for one picture: boxes x1,y1,x2,y2 in source pixels, labels, scores. */
interface Recorded {
  boxes: number[][];
  labels: number[];
  scores: number[];
}

interface ReferenceFile {
  pictures: TorchvisionPicture[];
  models: Record<string, Record<string, Recorded>>;
  rpn_silent_bias: number;
}

const file = JSON.parse(
  fs.readFileSync(path.join(FIXTURES, 'torchvision-references.json'), 'utf8'),
) as ReferenceFile;

export const TORCHVISION_PICTURES: readonly TorchvisionPicture[] = file.pictures;

/** The fixture's ONNX bytes. */
export const fixtureBytes = (name: string): Uint8Array =>
  new Uint8Array(fs.readFileSync(path.join(FIXTURES, `${name}.onnx`)));

/** 32-bit integer hash, the script's `hash32` (Python's `& 0xFFFFFFFF` arithmetic as Math.imul and >>> 0). */
function hash32(n: number): number {
  let i = n >>> 0;
  i = Math.imul((i >>> 16) ^ i, 0x45d9f3b) >>> 0;
  i = Math.imul((i >>> 16) ^ i, 0x45d9f3b) >>> 0;
  return ((i >>> 16) ^ i) >>> 0;
}

/** The picture's HWC RGB bytes, as the script's `picture()` builds them. */
export function picturePixels(p: TorchvisionPicture): Uint8Array {
  const { width: w, height: h, seed } = p;
  const rgb = new Uint8Array(w * h * 3);
  if (p.kind === 'grey') rgb.fill(128);
  if (p.kind !== 'texture') return rgb;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++)
        rgb[(y * w + x) * 3 + c] =
          64 +
          (hash32(seed * 7919 + (Math.floor(y / 4) * 1031 + Math.floor(x / 4)) * 3 + c) % 96) +
          (hash32(seed * 104729 + (y * w + x) * 3 + c) % 32);
  return rgb;
}

/** Detections as the service reports them under `threshold` (inclusive): clamped, empty boxes dropped, best first. */
function asReported(
  p: TorchvisionPicture,
  boxes: ArrayLike<number>,
  scores: ArrayLike<number>,
  threshold: number,
): ReferenceBox[] {
  const clamp = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);
  const out: ReferenceBox[] = [];
  for (let i = 0; i < scores.length; i++) {
    if (scores[i] < threshold) continue;
    const [x1, y1, x2, y2] = [0, 1, 2, 3].map((q) => boxes[4 * i + q]);
    const box = [clamp(x1, p.width), clamp(y1, p.height), clamp(x2, p.width), clamp(y2, p.height)];
    if (box[2] > box[0] && box[3] > box[1]) out.push({ box, score: scores[i] });
  }
  return out.sort((a, b) => b.score - a.score);
}

/**
 * PyTorch's detections of `model` (a fixture name, or `<name>+rpn-silent`) on one picture as the service reports
 * them under `threshold` (inclusive): clamped to the image, empty boxes dropped, best first.
 */
export function pytorchDetections(model: string, p: TorchvisionPicture, threshold: number): ReferenceBox[] {
  const recorded = file.models[model]?.[p.id];
  if (!recorded) throw new Error(`torchvision-references.json has no ${model} / ${p.id}`);
  return asReported(p, recorded.boxes.flat(), recorded.scores, threshold);
}

/** onnxruntime's detections of the ONNX file on one picture (CHW floats in [0, 1]), as `pytorchDetections`. */
export async function ortDetections(
  onnx: Uint8Array,
  p: TorchvisionPicture,
  threshold: number,
): Promise<ReferenceBox[]> {
  const rgb = picturePixels(p);
  const plane = p.width * p.height;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) data[c * plane + i] = rgb[i * 3 + c] / 255;
  const input = { data, shape: [3, p.height, p.width] };
  const [boxes, scores] = await Promise.all([runOrt(onnx, input, 0), runOrt(onnx, input, 2)]);
  return asReported(p, boxes, scores, threshold);
}

/**
 * Whether torchvision's transform, traced into the ONNX graph, resizes the picture to the size PyTorch does
 * (`min_size`, `max_size` as the fixtures' transform has them). The scale is a float32 in both; PyTorch then
 * floors `side · scale` in double precision, the traced graph in float32, so where the product lands just under a
 * whole number the two floor to sizes one pixel apart, and every box moves.
 */
export function tracedResizeAgrees(p: TorchvisionPicture, minSize = 128, maxSize = 213): boolean {
  const f = Math.fround;
  const shorter = Math.min(p.width, p.height);
  const longer = Math.max(p.width, p.height);
  const scale = Math.min(f(minSize / shorter), f(maxSize / longer));
  return [p.width, p.height].every((side) => Math.floor(side * scale) === Math.floor(f(side * scale)));
}

/** Every score PyTorch gave on the picture, before any threshold of the service. */
export const pytorchScores = (model: string, p: TorchvisionPicture): number[] =>
  file.models[model]?.[p.id]?.scores ?? [];

/**
 * The fixture with `rpn.head.cls_logits.bias` set to the recorded silent bias: no anchor reaches rpn_score_thresh
 * on any picture, so no proposal survives the RPN, as with a trained model on a blank image.
 */
export function rpnSilenced(original: Uint8Array): Uint8Array {
  const m = decodeOnnxModel(original);
  const bias = m.graph?.initializer?.find((t) => t.name === 'rpn.head.cls_logits.bias');
  const n = bias?.dims?.map(Number).reduce((a, b) => a * b, 1);
  if (!bias || !n) throw new Error('the fixture has no initializer rpn.head.cls_logits.bias');
  bias.rawData = new Uint8Array(new Float32Array(n).fill(file.rpn_silent_bias).buffer);
  bias.floatData = [];
  return encodeOnnxModel(m);
}
