/**
 * Split, Slice and Gather on run-time tensors against onnxruntime: channel axes of NHWC-tagged feature maps,
 * negative axes and indices, steps (negative too), INT64_MAX ends, uneven splits, opset 18's num_outputs.
 */
import * as tf from '@tensorflow/tfjs';
import { initTestBackend } from '../helpers/backend';
import { parity } from './helpers';
import { Net } from './models';

beforeAll(async () => {
  await initTestBackend();
});

/** INT64_MAX as a double (2^63); the writer clamps it to the int64 range. */
const INT64_MAX = 2 ** 63;

/** input [batch, 3, 6, 7] → conv to 8 channels (NHWC-tagged) → `body` → output. */
function net(body: (m: Net, x: string) => string, opset = 13): Uint8Array {
  const m = new Net(opset, 3);
  const x = m.b.input('input', ['batch', 3, 6, 7]);
  const y = m.conv(x, 3, 8, 3, { bias: true });
  m.b.output(body(m, y), ['batch', 'c', 'h', 'w']);
  return m.bytes();
}

/** Splits into outputs `names` and concatenates them back in reverse order, so a wrong split shows. */
function splitAndSwap(
  m: Net,
  x: string,
  axis: number,
  sizes: number[] | null,
  count: number,
  opset: number,
): string {
  const inputs = opset >= 13 && sizes ? [x, m.ints(sizes)] : [x];
  const attrs: Parameters<Net['op']>[2] = { axis: { i: axis } };
  if (opset < 13 && sizes) attrs.split = { ints: sizes };
  if (opset >= 18 && !sizes) attrs.num_outputs = { i: count };
  const outs = Array.from({ length: count }, (_, k) => `split_out${k}`);
  m.b.node('Split', inputs, attrs, { name: 'split', outputNames: outs });
  return m.op('Concat', [...outs].reverse(), { axis: { i: axis } });
}

const cases: [string, () => Uint8Array, number[]][] = [
  [
    'Split channels [3, 5] (C2f-style, opset 13)',
    () => net((m, x) => splitAndSwap(m, x, 1, [3, 5], 2, 13)),
    [2, 8, 6, 7],
  ],
  [
    'Split height, axis -2, equal parts (opset 11 attribute)',
    () => net((m, x) => splitAndSwap(m, x, -2, null, 3, 11), 11),
    [2, 8, 6, 7],
  ],
  [
    'Split width [1, 4, 2] (opset 11 attribute)',
    () => net((m, x) => splitAndSwap(m, x, 3, [1, 4, 2], 3, 11), 11),
    [2, 8, 6, 7],
  ],
  [
    'Split channels num_outputs 3, uneven (opset 18)',
    () => net((m, x) => splitAndSwap(m, x, 1, null, 3, 18), 18),
    [2, 8, 6, 7],
  ],
  [
    'Slice channels 2:INT64_MAX step 2, width -5:-1',
    () =>
      net((m, x) =>
        m.op('Slice', [x, m.ints([2, -5]), m.ints([INT64_MAX, -1]), m.ints([1, -1]), m.ints([2, 1])]),
      ),
    [2, 3, 6, 4],
  ],
  [
    'Slice negative steps: channels reversed, height from -2 back to the start',
    () =>
      net((m, x) =>
        m.op('Slice', [
          x,
          m.ints([-1, -2]),
          m.ints([-INT64_MAX, -INT64_MAX]),
          m.ints([1, 2]),
          m.ints([-1, -2]),
        ]),
      ),
    [2, 8, 3, 7],
  ],
  [
    'Slice empty range gives an empty tensor',
    () => net((m, x) => m.op('Slice', [x, m.ints([4]), m.ints([4]), m.ints([-1])])),
    [2, 8, 6, 0],
  ],
  [
    'Gather scalar index on channels (drops the axis)',
    () => net((m, x) => m.op('Gather', [x, m.ints([5], true)], { axis: { i: 1 } })),
    [2, 6, 7],
  ],
  [
    'Gather negative int64 indices on width',
    () => net((m, x) => m.op('Gather', [x, m.ints([-1, 0, -7, 3])], { axis: { i: -1 } })),
    [2, 8, 6, 4],
  ],
  [
    'Gather a 2-D index tensor on channels',
    () =>
      net((m, x) =>
        m.op(
          'Gather',
          [x, m.b.constant({ dtype: 'int64', shape: [2, 2], data: Float64Array.of(7, 0, 1, 1) })],
          { axis: { i: 1 } },
        ),
      ),
    [2, 2, 2, 6, 7],
  ],
];

describe('Split / Slice / Gather parity with onnxruntime', () => {
  it.each(cases)('%s', async (_name, build, shape) => {
    const before = tf.memory().numTensors;
    const r = await parity(build());
    expect(r.shape).toEqual(shape);
    expect(r.diff).toBeLessThanOrEqual(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });
});
