/**
 * Resize against onnxruntime: every coordinate_transformation_mode and nearest_mode, by scales and by sizes,
 * up and down, in nearest and linear mode.
 */
import * as tf from '@tensorflow/tfjs';
import { convertOnnx } from '../../src/convert/onnx/convert-onnx';
import { makeConst } from '../../src/convert/tensor';
import { initTestBackend } from '../helpers/backend';
import { parity } from './helpers';
import { Net } from './models';

beforeAll(async () => {
  await initTestBackend();
});

interface ResizeCase {
  mode: 'nearest' | 'linear';
  coord: string;
  nearest?: string;
  scales?: [number, number];
  sizes?: [number, number];
}

/** input [batch, 3, 5, 6] → Resize → output; a conv first so the op sees an NHWC-tagged feature map. */
function resizeNet(c: ResizeCase, opset = 13): Uint8Array {
  const m = new Net(opset, 7);
  const x = m.b.input('input', ['batch', 3, 5, 6]);
  const y = m.conv(x, 3, 4, 3, { bias: true });
  const roi = m.b.constant(makeConst('float32', [0], []));
  const scales = c.scales
    ? m.b.constant(makeConst('float32', [4], [1, 1, ...c.scales]))
    : m.b.constant(makeConst('float32', [0], []));
  const inputs = [y, roi, scales];
  if (c.sizes) {
    // As torch exports it: the batch and channel sizes read from the input's shape.
    const lead = m.op('Slice', [m.op('Shape', [y]), m.ints([0]), m.ints([2])]);
    inputs.push(m.op('Concat', [lead, m.ints(c.sizes)], { axis: { i: 0 } }));
  }
  const attrs: Parameters<Net['op']>[2] = {
    mode: { s: c.mode },
    coordinate_transformation_mode: { s: c.coord },
  };
  if (c.nearest) attrs.nearest_mode = { s: c.nearest };
  m.b.output(m.op('Resize', inputs, attrs), ['batch', 4, 'h', 'w']);
  return m.bytes();
}

const cases: ResizeCase[] = [
  // PyTorch's nn.Upsample(scale_factor=2, mode='nearest'), as ultralytics exports it.
  { mode: 'nearest', coord: 'asymmetric', nearest: 'floor', scales: [2, 2] },
  { mode: 'nearest', coord: 'asymmetric', nearest: 'round_prefer_floor', scales: [1.5, 2.5] },
  { mode: 'nearest', coord: 'half_pixel', nearest: 'round_prefer_floor', sizes: [7, 4] },
  { mode: 'nearest', coord: 'half_pixel', nearest: 'round_prefer_ceil', sizes: [10, 9] },
  { mode: 'nearest', coord: 'align_corners', nearest: 'round_prefer_ceil', sizes: [9, 11] },
  { mode: 'nearest', coord: 'pytorch_half_pixel', nearest: 'ceil', sizes: [3, 1] },
  { mode: 'nearest', coord: 'tf_half_pixel_for_nn', nearest: 'floor', scales: [0.5, 0.5] },
  { mode: 'linear', coord: 'half_pixel', scales: [2, 2] },
  { mode: 'linear', coord: 'pytorch_half_pixel', sizes: [8, 1] },
  { mode: 'linear', coord: 'align_corners', sizes: [9, 13] },
  { mode: 'linear', coord: 'asymmetric', sizes: [3, 4] },
];

describe('Resize parity with onnxruntime', () => {
  it.each(cases.map((c) => [JSON.stringify(c), c] as const))('%s', async (_name, c) => {
    const before = tf.memory().numTensors;
    const r = await parity(resizeNet(c));
    const [h, w] = c.sizes ?? [Math.floor(5 * c.scales![0]), Math.floor(6 * c.scales![1])];
    expect(r.shape).toEqual([2, 4, h, w]);
    expect(r.diff).toBeLessThanOrEqual(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses cubic mode with a message naming the node and the supported modes', () => {
    const m = new Net(13, 1);
    const x = m.b.input('input', ['batch', 3, 5, 6]);
    const scales = m.b.constant(makeConst('float32', [4], [1, 1, 2, 2]));
    const roi = m.b.constant(makeConst('float32', [0], []));
    m.b.output(m.op('Resize', [x, roi, scales], { mode: { s: 'cubic' } }), ['batch', 3, 10, 12]);
    return expect(parity(m.bytes())).rejects.toThrow(/Resize node .*mode "cubic" is not supported/);
  });
});

/**
 * input [2, 3, 12, 16] → conv (NHWC-tagged map) → RoiAlign over constant RoIs: inside, touching and crossing the
 * borders, smaller than a pixel, on both images.
 */
function roiAlignNet(opset: number, attrs: Parameters<Net['op']>[2]): Uint8Array {
  const m = new Net(opset, 11);
  const x = m.b.input('input', [2, 3, 12, 16]);
  const y = m.conv(x, 3, 4, 3, { bias: true });
  // x1, y1, x2, y2 in input pixels (spatial_scale maps them onto the map).
  const rois = m.b.constant(
    makeConst(
      'float32',
      [6, 4],
      [
        2,
        3,
        20,
        15, // inside
        0,
        0,
        32,
        24, // the whole map
        -6,
        -4,
        10,
        8, // crossing the top-left border
        25,
        18,
        40,
        30, // crossing the bottom-right border
        7.2,
        5.1,
        7.6,
        5.3, // under one pixel
        30.5,
        1,
        31.9,
        23.7, // a thin sliver at the right edge
      ],
    ),
  );
  const batch = m.b.constant({ dtype: 'int64', shape: [6], data: Float64Array.of(0, 1, 1, 0, 1, 0) });
  m.b.output(m.op('RoiAlign', [y, rois, batch], attrs), [6, 4, 'h', 'w']);
  return m.bytes();
}

const ROI_BASE = { output_height: { i: 3 }, output_width: { i: 4 }, spatial_scale: { f: 0.5 } };

describe('RoiAlign parity with onnxruntime', () => {
  it.each([
    [
      'opset 11 (output_half_pixel, torchvision aligned=False), sampling_ratio 2',
      11,
      { ...ROI_BASE, sampling_ratio: { i: 2 } },
    ],
    ['opset 11, sampling_ratio 1', 11, { ...ROI_BASE, sampling_ratio: { i: 1 } }],
    [
      'opset 16 half_pixel (aligned=True), sampling_ratio 3',
      16,
      { ...ROI_BASE, sampling_ratio: { i: 3 }, coordinate_transformation_mode: { s: 'half_pixel' } },
    ],
  ] as const)('%s', async (_name, opset, attrs) => {
    const before = tf.memory().numTensors;
    const r = await parity(roiAlignNet(opset, attrs), 2);
    expect(r.shape).toEqual([6, 4, 3, 4]);
    expect(r.diff).toBeLessThanOrEqual(1e-4);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses the adaptive sampling ratio (data-dependent) with a clear message', () => {
    expect(() => convertOnnx(roiAlignNet(11, { ...ROI_BASE, sampling_ratio: { i: 0 } }))).toThrow(
      /RoiAlign node .*sampling_ratio 0 .*not supported/,
    );
  });
});
