/**
 * ONNX If → TF If with branch functions in the graph's library, against onnxruntime: a run-time condition either
 * way, branches reading outer values (an NHWC-tagged feature map), branches of different output shapes (one
 * empty, as torchvision's batched_nms returns when there are no boxes), a nested If, and a static condition
 * resolved at conversion time.
 */
import * as tf from '@tensorflow/tfjs';
import { convertOnnx } from '../../src/convert/onnx/convert-onnx';
import { OnnxDataType } from '../../src/convert/onnx/onnx-proto';
import { OnnxBuilder } from '../../src/convert/onnx/onnx-writer';
import { makeConst } from '../../src/convert/tensor';
import { initTestBackend } from '../helpers/backend';
import { parity } from './helpers';
import { Net } from './models';

beforeAll(async () => {
  await initTestBackend();
});

/** A branch graph built with its own name prefix; `body` returns its output. */
function branch(prefix: string, body: (b: OnnxBuilder) => string, shape: (number | string)[]): { g: never } {
  const b = new OnnxBuilder({ opset: 13, namePrefix: prefix });
  b.output(body(b), shape);
  return { g: b.toModel().graph as never };
}

/**
 * input [batch, 3, 5, 6] → y = conv (4 ch), z = Sigmoid(y); cond = mean(input) > threshold (or a constant);
 * then: Relu(y) + z, flattened to [batch·120]; else: nested If(mean < 100: (y − 1)[:, 1:3] flattened, else: empty).
 */
function ifNet(cond: { threshold: number } | { constant: boolean }): Uint8Array {
  const m = new Net(13, 4);
  const x = m.b.input('input', ['batch', 3, 5, 6]);
  const y = m.conv(x, 3, 4, 3, { bias: true });
  const z = m.op('Sigmoid', [y]);
  const c =
    'threshold' in cond
      ? m.op('Greater', [m.op('ReduceMean', [x], { keepdims: { i: 0 } }), m.scalar(cond.threshold)])
      : m.b.constant({ dtype: 'bool', shape: [], data: Float64Array.of(cond.constant ? 1 : 0) });
  const flat = (b: OnnxBuilder, v: string): string =>
    b.op('Reshape', [v, b.constant({ dtype: 'int64', shape: [1], data: Float64Array.of(-1) })]);
  const thenB = branch('/then', (b) => flat(b, b.op('Add', [b.op('Relu', [y]), z])), ['n']);
  const innerThen = branch(
    '/else/then',
    (b) => {
      const one = b.constant(makeConst('float32', [], [1]));
      const i64 = (v: number): string => b.constant({ dtype: 'int64', shape: [1], data: Float64Array.of(v) });
      return flat(b, b.op('Slice', [b.op('Sub', [y, one]), i64(1), i64(3), i64(1)]));
    },
    ['n'],
  );
  const innerElse = branch('/else/else', (b) => b.constant(makeConst('float32', [0], [])), [0]);
  const elseB = branch(
    '/else',
    (b) => {
      const c2 = b.op('Less', [
        b.op('ReduceMean', [x], { keepdims: { i: 0 } }),
        b.constant(makeConst('float32', [], [100])),
      ]);
      return b.op('If', [c2], { then_branch: innerThen, else_branch: innerElse });
    },
    ['n'],
  );
  m.b.output(m.op('If', [c], { then_branch: thenB, else_branch: elseB }), ['n'], OnnxDataType.FLOAT);
  return m.bytes();
}

describe('If parity with onnxruntime', () => {
  it.each([
    ['run-time condition true: then-branch reads outer values', { threshold: -10 }, 2 * 4 * 5 * 6],
    ['run-time condition false: nested If in the else-branch', { threshold: 10 }, 2 * 2 * 5 * 6],
  ] as const)('%s', async (_name, cond, size) => {
    const before = tf.memory().numTensors;
    const r = await parity(ifNet(cond));
    expect(r.shape).toEqual([size]);
    expect(r.diff).toBeLessThanOrEqual(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('writes both branches as functions of the library and the If node with its captured args', () => {
    const c = convertOnnx(ifNet({ threshold: 0 }));
    const { json } = c.builder.toArtifacts();
    const names = (json.modelTopology.library.function ?? []).map((f) => f.signature.name);
    // Outer then/else, and the nested pair inside the else-branch.
    expect(names).toHaveLength(4);
    const ifNode = json.modelTopology.node.find((nd) => nd.op === 'If');
    expect(ifNode?.input.length).toBe(4); // cond, then the outer values read: y, z, input
  });

  it('resolves a constant condition at conversion time: no If, no functions', async () => {
    const c = convertOnnx(ifNet({ constant: true }));
    expect(c.stats.opHistogram.If).toBeUndefined();
    expect(c.builder.toArtifacts().json.modelTopology.library.function).toBeUndefined();
    const r = await parity(ifNet({ constant: true }));
    expect(r.diff).toBeLessThanOrEqual(1e-5);
  });
});
