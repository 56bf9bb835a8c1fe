import * as tf from '@tensorflow/tfjs';
import { initTestBackend } from '../helpers/backend';
import { parity, top1 } from './helpers';
import { convNextOps, efficientNetOps, miscOps, mobilenetV3Ops, resnetOps } from './models';

const TOLERANCE = 1e-4;

beforeAll(async () => {
  await initTestBackend();
});

// One network per op group; every supported runtime op appears in at least one of them.
const cases: [string, () => Uint8Array, number][] = [
  [
    'ResNet ops (Conv+BN+Relu, MaxPool pads, Add, GlobalAveragePool, Squeeze, Flatten, Gemm; opset 13)',
    resnetOps,
    10,
  ],
  [
    'MobileNetV3 ops (HardSwish, HardSigmoid, depthwise, Clip→Relu6, SE, AveragePool, NHWC Flatten→Gemm, Dropout)',
    mobilenetV3Ops,
    10,
  ],
  [
    'EfficientNet ops (SiLU, grouped conv, Pad, ReduceMean, Concat, AveragePool count/ceil modes, shape chain, MatMul, Softmax)',
    efficientNetOps,
    10,
  ],
  [
    'ConvNeXt ops (permute→LayerNormalization→permute, MatMul+Add on 4-D, Erf GELU, layer scale, LN decomposition)',
    convNextOps,
    10,
  ],
  ['opset 20 Gelu and misc elementwise (LeakyRelu, Tanh, Neg, Max, Exp, ReduceMean keepdims 0)', miscOps, 5],
];

describe('ONNX → TF.js parity with onnxruntime (wasm; libtensorflow in the native tier)', () => {
  it.each(cases)('%s', async (_name, build, classes) => {
    const before = tf.memory().numTensors;
    const r = await parity(build());
    expect(r.shape).toEqual([2, classes]);
    expect(r.diff).toBeLessThanOrEqual(TOLERANCE);
    expect(top1(r.got, classes)).toEqual(top1(r.ref, classes));
    // The layout strategy needs no transposes in these CNNs.
    expect(r.conversion.stats.insertedTransposes).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    process.stdout.write(`parity ${_name.split(' (')[0]}: max abs diff ${r.diff.toExponential(2)}\n`);
  });
});
