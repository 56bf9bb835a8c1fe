import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'fs';
import * as path from 'path';
import { convertOnnx } from '../../src/convert/onnx/convert-onnx';
import { initTestBackend } from '../helpers/backend';
import { loadConversion, maxAbsDiff, randomInput, runOrt, runTfjs } from './helpers';

const FIXTURE = path.resolve(__dirname, '../fixtures/onnx/yolo-tiny.onnx');

beforeAll(async () => {
  await initTestBackend();
});

describe('ultralytics-layout YOLO export (test/fixtures/onnx/yolo-tiny.onnx)', () => {
  const bytes = new Uint8Array(readFileSync(FIXTURE));

  it('describes the input, the output and ultralytics metadata for the manifest', () => {
    const c = convertOnnx(bytes);
    expect(c.input).toEqual({
      name: 'images',
      onnxName: 'images',
      onnxLayout: 'NCHW',
      layout: 'NHWC',
      rank: 4,
      shape: [-1, 64, 64, 3],
      onnxShape: [-1, 3, 64, 64],
      fixedBatch: 1,
    });
    expect(c.outputs).toEqual([
      { key: 'output0', onnxName: 'output0', shape: [-1, 7, 80], dtype: 'float32' },
    ]);
    expect(c.metadata).toMatchObject({
      names: "{0: 'insect', 1: 'other', 2: 'dust'}",
      imgsz: '[64, 64]',
      stride: '16',
      task: 'detect',
    });
  });

  it('converts and matches onnxruntime within 1e-4 on the [1, 4+nc, N] output', async () => {
    const conversion = convertOnnx(bytes);
    expect(conversion.input.shape).toEqual([-1, 64, 64, 3]);
    const before = tf.memory().numTensors;
    const model = await loadConversion(conversion);
    try {
      for (const seed of [1, 2, 3]) {
        const input = randomInput(1, 3, 64, 64, seed);
        const ref = await runOrt(bytes, input);
        const got = await runTfjs(model, input);
        // 4 box rows + 3 class rows over 8·8 + 4·4 anchors.
        expect(got.shape).toEqual([1, 7, 80]);
        const diff = maxAbsDiff(ref, got.data);
        process.stdout.write(`yolo parity seed ${seed}: max abs diff ${diff.toExponential(2)}\n`);
        expect(diff).toBeLessThanOrEqual(1e-4);
      }
    } finally {
      model.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
