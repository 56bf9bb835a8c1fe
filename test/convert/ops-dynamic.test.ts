/**
 * Shape arithmetic at run time, on a [3, H, W] image input of any size (as torchvision detection exports take),
 * against onnxruntime on several sizes: Shape, Gather/Slice of shapes, Range, Expand, ConstantOfShape, ReduceProd,
 * ScatterElements, Resize to computed sizes, Pad by computed pads, Reshape to a computed shape.
 */
import { convertOnnx } from '../../src/convert/onnx/convert-onnx';
import { OnnxDataType } from '../../src/convert/onnx/onnx-proto';
import { makeConst } from '../../src/convert/tensor';
import { initTestBackend } from '../helpers/backend';
import { expectSameAsOrtOnImages, loadConversion, runTfjs } from './helpers';
import { Net } from './models';

beforeAll(async () => {
  await initTestBackend();
});

const i64 = (m: Net, v: number[], scalar = false): string => m.ints(v, scalar);

/** Rows flipped by ScatterElements(zeros, H−1−row index expanded to the image, image, axis 1), plus ReduceProd. */
function scatterNet(): Uint8Array {
  const m = new Net(13, 1);
  const x = m.b.input('images', [3, 'h', 'w']);
  const shape = m.op('Shape', [x]);
  const h = m.op('Gather', [shape, i64(m, [1], true)], { axis: { i: 0 } });
  const rows = m.op('Range', [i64(m, [0], true), h, i64(m, [1], true)]);
  const flipped = m.op('Sub', [m.op('Sub', [h, i64(m, [1], true)]), rows]);
  const column = m.op('Reshape', [flipped, i64(m, [1, -1, 1])]);
  const idx = m.op('Expand', [column, shape]);
  const zeros = m.op('ConstantOfShape', [shape], { value: { t: makeConst('float32', [1], [0]) } });
  const scattered = m.op('ScatterElements', [zeros, idx, x], { axis: { i: 1 } });
  const pixels = m.op('Cast', [m.op('ReduceProd', [shape], { keepdims: { i: 0 } })], {
    to: { i: OnnxDataType.FLOAT },
  });
  m.b.output(m.op('Add', [scattered, m.op('Mul', [pixels, m.scalar(1e-4)])]), [3, 'h', 'w']);
  return m.bytes();
}

/**
 * torchvision's transform in small: batch of one, bilinear resize to floor(size·scale), then zero-pad bottom/right
 * to a multiple of 8 with pads computed from the resized shape, then flatten the spatial dims with a computed shape.
 */
function resizePadNet(): Uint8Array {
  const m = new Net(13, 2);
  const x = m.b.input('images', [3, 'h', 'w']);
  const batch = m.op('Unsqueeze', [x, i64(m, [0])]);
  const shape = m.op('Shape', [batch]);
  const hw = m.op('Cast', [m.op('Slice', [shape, i64(m, [2]), i64(m, [4])])], {
    to: { i: OnnxDataType.FLOAT },
  });
  const scaled = m.op('Floor', [m.op('Mul', [hw, m.b.constant(makeConst('float32', [2], [1.5, 0.75]))])]);
  const sizes = m.op(
    'Concat',
    [
      m.op('Slice', [shape, i64(m, [0]), i64(m, [2])]),
      m.op('Cast', [scaled], { to: { i: OnnxDataType.INT64 } }),
    ],
    { axis: { i: 0 } },
  );
  const roi = m.b.constant(makeConst('float32', [0], []));
  const noScales = m.b.constant(makeConst('float32', [0], []));
  const resized = m.op('Resize', [batch, roi, noScales, sizes], {
    mode: { s: 'linear' },
    coordinate_transformation_mode: { s: 'half_pixel' },
  });
  const rs = m.op('Shape', [resized]);
  const rhw = m.op('Slice', [rs, i64(m, [2]), i64(m, [4])]);
  const eight = i64(m, [8]);
  const up = m.op('Mul', [m.op('Div', [m.op('Add', [rhw, i64(m, [7])]), eight]), eight]);
  const extra = m.op('Sub', [up, rhw]);
  const pads = m.op('Concat', [i64(m, [0, 0, 0, 0, 0, 0]), extra], { axis: { i: 0 } });
  const padded = m.op('Pad', [resized, pads]);
  const ps = m.op('Shape', [padded]);
  const flatShape = m.op('Concat', [m.op('Slice', [ps, i64(m, [0]), i64(m, [2])]), i64(m, [-1])], {
    axis: { i: 0 },
  });
  m.b.output(m.op('Reshape', [padded, flatShape]), [1, 3, 'n']);
  return m.bytes();
}

/**
 * torchvision's `box_coder.decode` in small: the rows of the image whose first value passes `cut`, as [n, W]
 * (NonZero, Gather), then `rows.reshape(n, -1)` with n read back from their shape at run time. On an image where
 * no row passes, n is 0 and the target is [0, -1]: the path every torchvision detector takes when its RPN keeps
 * no proposal.
 */
function rowsReshapeNet(cut: number): Uint8Array {
  const m = new Net(11, 3);
  const x = m.b.input('images', [3, 'h', 'w']);
  const plane = m.op('Gather', [x, i64(m, [0], true)], { axis: { i: 0 } }); // [H, W]
  const first = m.op('Gather', [plane, i64(m, [0], true)], { axis: { i: 1 } }); // [H]
  const passing = m.op('NonZero', [m.op('Greater', [first, m.scalar(cut)])]); // [1, n]
  const index = m.op('Squeeze', [passing], { axes: { ints: [0] } }); // [n]
  const rows = m.op('Gather', [plane, index], { axis: { i: 0 } }); // [n, W]
  const n = m.op('Gather', [m.op('Shape', [rows]), i64(m, [0])], { axis: { i: 0 } }); // [1]
  const target = m.op('Concat', [n, i64(m, [-1])], { axis: { i: 0 } });
  m.b.output(m.op('Reshape', [rows, target]), ['n', 'k']);
  return m.bytes();
}

describe('Reshape to a run-time target with -1 on an empty tensor', () => {
  it('gives [0, W] where no row passes, as libtensorflow does (onnxruntime and PyTorch refuse [0, -1])', async () => {
    const model = await loadConversion(convertOnnx(rowsReshapeNet(2)));
    try {
      const got = await runTfjs(model, { data: new Float32Array(3 * 4 * 5).fill(0.5), shape: [3, 4, 5] });
      expect(got.shape).toEqual([0, 5]);
    } finally {
      model.dispose();
    }
  });

  it('infers the -1 as onnxruntime does where rows pass', async () => {
    const bytes = rowsReshapeNet(0);
    const model = await loadConversion(convertOnnx(bytes));
    try {
      await expectSameAsOrtOnImages(bytes, model, [
        [9, 13, 1],
        [16, 5, 2],
      ]);
    } finally {
      model.dispose();
    }
  });
});

describe('run-time shape arithmetic on a [3, H, W] input: parity with onnxruntime', () => {
  it.each([
    ['Shape, Gather, Range, Expand, ConstantOfShape, ScatterElements, ReduceProd', scatterNet],
    ['Resize to computed sizes, Pad by computed pads, Reshape to a computed shape', resizePadNet],
  ] as const)('%s', async (_name, build) => {
    const bytes = build();
    const conversion = convertOnnx(bytes);
    expect(conversion.input).toMatchObject({ rank: 3, layout: 'HWC', shape: [-1, -1, 3] });
    const model = await loadConversion(conversion);
    try {
      await expectSameAsOrtOnImages(bytes, model, [
        [9, 13, 1],
        [16, 5, 2],
        [1, 7, 3],
      ]);
    } finally {
      model.dispose();
    }
  });
});
