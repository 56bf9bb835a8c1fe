/**
 * Detection and logic ops against onnxruntime: TopK (largest/smallest, channel axis), NonMaxSuppression (with
 * and without surviving boxes), NonZero, comparisons, And/Or/Not, Where, Floor and Ceil. The data-dependent
 * ones run through executeAsync (see helpers.runTfjs).
 */
import * as tf from '@tensorflow/tfjs';
import { OnnxDataType } from '../../src/convert/onnx/onnx-proto';
import { makeConst } from '../../src/convert/tensor';
import { initTestBackend } from '../helpers/backend';
import { parity } from './helpers';
import { Net } from './models';

beforeAll(async () => {
  await initTestBackend();
});

/** input [batch, 3, 5, 6] → conv to 4 channels (NHWC-tagged) → `body`. `outputs` names the graph outputs. */
function net(body: (m: Net, x: string) => string[], types: number[] = [], opset = 13): Uint8Array {
  const m = new Net(opset, 5);
  const x = m.b.input('input', ['batch', 3, 5, 6]);
  const y = m.conv(x, 3, 4, 3, { bias: true });
  body(m, y).forEach((o, i) => m.b.output(o, ['d0', 'd1', 'd2', 'd3'], types[i]));
  return m.bytes();
}

const topk = (axis: number, k: number, largest: number) => (m: Net, x: string) =>
  m.b.node(
    'TopK',
    [x, m.ints([k])],
    { axis: { i: axis }, largest: { i: largest }, sorted: { i: 1 } },
    { outputs: 2 },
  );

/** A [1, 1, 4, N] image read as N boxes (its 4 rows) with sigmoid(sum of corners) as scores, then NMS. */
function nmsNet(n: number, iou: number, scoreThreshold: number, maxBoxes: number): Uint8Array {
  const m = new Net(11, 9);
  const x = m.b.input('input', [1, 1, 4, n]);
  const boxes = m.op('Transpose', [m.op('Reshape', [x, m.ints([1, 4, n])])], { perm: { ints: [0, 2, 1] } });
  const sum = m.op('ReduceSum', [boxes], { axes: { ints: [2] }, keepdims: { i: 0 } });
  const scores = m.op('Sigmoid', [m.op('Unsqueeze', [sum], { axes: { ints: [1] } })]);
  const f = (v: number): string => m.b.constant(makeConst('float32', [1], [v]));
  const sel = m.op('NonMaxSuppression', [boxes, scores, m.ints([maxBoxes]), f(iou), f(scoreThreshold)]);
  m.b.output(sel, ['k', 3], OnnxDataType.INT64);
  return m.bytes();
}

const TOPK_TYPES = [OnnxDataType.FLOAT, OnnxDataType.INT64];

const cases: [string, () => Uint8Array, number, number, number[]][] = [
  ['TopK largest 3 over channels: values', () => net(topk(1, 3, 1), TOPK_TYPES), 2, 0, [2, 3, 5, 6]],
  ['TopK largest 3 over channels: int64 indices', () => net(topk(1, 3, 1), TOPK_TYPES), 2, 1, [2, 3, 5, 6]],
  ['TopK smallest 4 over width (axis -1): values', () => net(topk(-1, 4, 0), TOPK_TYPES), 2, 0, [2, 4, 5, 4]],
  [
    'TopK smallest 4 over width (axis -1): indices',
    () => net(topk(-1, 4, 0), TOPK_TYPES),
    2,
    1,
    [2, 4, 5, 4],
  ],
  [
    'NonZero of x > 0.2 (int64 [rank, K])',
    () => net((m, x) => [m.op('NonZero', [m.op('Greater', [x, m.scalar(0.2)])])], [OnnxDataType.INT64]),
    2,
    0,
    [4, 98],
  ],
  [
    'Where(And(x > 0, Not(x < 0.8)) Or x == floor, x, Floor(3x)) + Ceil(x)',
    () =>
      net((m, x) => {
        const fl = m.op('Floor', [x]);
        const cond = m.op('Or', [
          m.op('And', [m.op('Greater', [x, m.scalar(0)]), m.op('Not', [m.op('Less', [x, m.scalar(0.8)])])]),
          m.op('Equal', [x, fl]),
        ]);
        const w = m.op('Where', [cond, x, m.op('Floor', [m.op('Mul', [x, m.scalar(3)])])]);
        return [m.op('Add', [w, m.op('Ceil', [x])])];
      }),
    2,
    0,
    [2, 4, 5, 6],
  ],
  ['NonMaxSuppression keeps some of 24 boxes', () => nmsNet(24, 0.3, 0.5, 100), 1, 0, [13, 3]],
  ['NonMaxSuppression at most 2 boxes', () => nmsNet(24, 0.3, 0.0, 2), 1, 0, [2, 3]],
  [
    'NonMaxSuppression with no box above threshold gives [0, 3]',
    () => nmsNet(24, 0.5, 0.99999, 100),
    1,
    0,
    [0, 3],
  ],
];

describe('detection and logic ops: parity with onnxruntime', () => {
  it.each(cases)('%s', async (_name, build, batch, output, shape) => {
    const before = tf.memory().numTensors;
    const r = await parity(build(), batch, output);
    shape.forEach((d, i) => {
      if (d >= 0) expect(r.shape[i]).toBe(d);
    });
    expect(r.got.length).toBe(r.ref.length);
    expect(r.diff).toBeLessThanOrEqual(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });
});
