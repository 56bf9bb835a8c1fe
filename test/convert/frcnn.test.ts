/**
 * torchvision Faster R-CNN (test/fixtures/onnx/frcnn-tiny.onnx: tiny backbone, real transform, RPN, RoIAlign, box
 * head and the If-guarded NMS; see scripts/export-onnx-fixtures.py) against onnxruntime on whole images of several
 * sizes and aspect ratios, with zero, one and many detections (the box score threshold patched in the ONNX file),
 * and a leak check over those runs.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fsp, readFileSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { convertOnnx } from '../../src/convert/onnx/convert-onnx';
import { writeShardedGraphModel } from '../../src/convert/onnx/tf-graph';
import { loadGraphModelFromDir } from '../../src/models/graph-model-loader';
import { initTestBackend } from '../helpers/backend';
import { withScoreThreshold } from './detector-reference';
import { loadConversion, maxAbsDiff, randomInput, runOrt, runTfjs } from './helpers';

const FIXTURE = path.resolve(__dirname, '../fixtures/onnx/frcnn-tiny.onnx');
const original = new Uint8Array(readFileSync(FIXTURE));

beforeAll(async () => {
  await initTestBackend();
});

/** A CHW image in [0, 1]. */
function image(h: number, w: number, seed: number): { data: Float32Array; shape: number[] } {
  const r = randomInput(1, 3, h, w, seed);
  return { data: r.data.map((v) => Math.min(1, Math.max(0, v * 0.3 + 0.5))), shape: [3, h, w] };
}

/** Runs both runtimes and checks count, boxes (1e-3 of the image size), labels and scores (1e-4). */
async function expectParity(bytes: Uint8Array, h: number, w: number, seed: number): Promise<number> {
  const input = image(h, w, seed);
  const [boxes, labels, scores] = await Promise.all([0, 1, 2].map((k) => runOrt(bytes, input, k)));
  const model = await loadConversion(convertOnnx(bytes));
  try {
    const got = [];
    for (let k = 0; k < 3; k++) got.push(await runTfjs(model, input, k));
    expect(got[0].shape).toEqual([scores.length, 4]);
    expect(got[2].shape).toEqual([scores.length]);
    const size = Math.max(h, w);
    let boxDiff = 0;
    let scoreDiff = 0;
    for (let i = 0; i < boxes.length; i++)
      boxDiff = Math.max(boxDiff, Math.abs(got[0].data[i] - boxes[i]) / size);
    for (let i = 0; i < scores.length; i++)
      scoreDiff = Math.max(scoreDiff, Math.abs(got[2].data[i] - scores[i]));
    process.stdout.write(
      `frcnn ${h}×${w}: ${scores.length} detections; box diff ${boxDiff.toExponential(2)} of the image size, ` +
        `score diff ${scoreDiff.toExponential(2)}\n`,
    );
    expect(boxDiff).toBeLessThanOrEqual(1e-3);
    expect(Array.from(got[1].data)).toEqual(Array.from(labels));
    expect(scoreDiff).toBeLessThanOrEqual(1e-4);
    return scores.length;
  } finally {
    model.dispose();
  }
}

describe('torchvision Faster R-CNN export', () => {
  it('describes a rank-3 CHW input of any size and boxes/labels/scores outputs', () => {
    const c = convertOnnx(original);
    expect(c.input).toEqual({
      name: 'images',
      onnxName: 'images',
      onnxLayout: 'CHW',
      layout: 'HWC',
      rank: 3,
      shape: [-1, -1, 3],
      onnxShape: [3, -1, -1],
      fixedBatch: null,
    });
    expect(c.outputs).toEqual([
      { key: 'boxes', onnxName: 'boxes', shape: [-1, 4], dtype: 'float32' },
      { key: 'labels', onnxName: 'labels', shape: [-1], dtype: 'int32' },
      { key: 'scores', onnxName: 'scores', shape: [-1], dtype: 'float32' },
    ]);
    // NMS and friends are in the graph: the model runs through executeAsync.
    expect(c.needsAsync).toBe(true);
    expect(c.stats.opHistogram.If).toBeGreaterThan(0);
    expect(c.builder.toArtifacts().json.modelTopology.library.function?.length).toBeGreaterThan(0);
  });

  it.each([
    [96, 128, 1],
    [120, 90, 2],
    [64, 200, 3],
    [150, 150, 4],
  ])('%i×%i image: same boxes, labels and scores as onnxruntime', async (h, w, seed) => {
    expect(await expectParity(original, h, w, seed)).toBeGreaterThan(1);
  });

  it('written as model.json + shards and loaded from disk, gives the same detections', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'frcnn-'));
    try {
      await writeShardedGraphModel(convertOnnx(original).builder, dir, {});
      const model = await loadGraphModelFromDir(dir);
      const input = image(96, 128, 1);
      const x = tf.tidy(() => tf.tensor(input.data, input.shape).transpose([1, 2, 0]));
      try {
        const out = (await model.executeAsync(x)) as tf.Tensor[];
        const scores = Float32Array.from(await out[2].data());
        tf.dispose(out);
        const ref = await runOrt(original, input, 2);
        expect(scores.length).toBe(ref.length);
        expect(maxAbsDiff(ref, scores)).toBeLessThanOrEqual(1e-4);
      } finally {
        x.dispose();
        model.dispose();
      }
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  it('an image with no box above the threshold gives empty outputs through both runtimes', async () => {
    expect(await expectParity(withScoreThreshold(original, 0.9999), 96, 128, 1)).toBe(0);
  });

  it('no tensors leak over runs with zero, one and many detections', async () => {
    const input = image(96, 128, 1);
    const scores = await runOrt(original, input, 2);
    const sorted = Array.from(scores).sort((a, b) => b - a);
    const one = withScoreThreshold(original, (sorted[0] + sorted[1]) / 2);
    expect(await expectParity(one, 96, 128, 1)).toBe(1);
    const variants = [withScoreThreshold(original, 0.9999), one, original];
    for (const bytes of variants) {
      const model = await loadConversion(convertOnnx(bytes));
      try {
        const x = tf.tidy(() => tf.tensor(input.data, input.shape).transpose([1, 2, 0]));
        const before = tf.memory().numTensors;
        for (let run = 0; run < 2; run++) {
          const out = (await model.executeAsync(x)) as tf.Tensor[];
          tf.dispose(out);
        }
        expect(tf.memory().numTensors).toBe(before);
        x.dispose();
      } finally {
        model.dispose();
      }
    }
  });
});
