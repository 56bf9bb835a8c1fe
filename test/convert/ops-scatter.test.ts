/**
 * ScatterElements on axis 0 against onnxruntime, on a [3, H, W] input of any size: the row scatter the converter
 * takes when every index row is provably one value (Expand of a [K, 1, 1] column, as torchvision's
 * MultiScaleRoIAlign writes it; Mul by a ConstantOfShape), and the full-coordinate path it keeps otherwise; K rows
 * written, K = H and K = 0 (no RoI on a level); and MultiScaleRoIAlign in small, two levels of RoiAlign scattered
 * into one zero tensor and read by a linear layer, which the converter turns into one gather with no transpose.
 */
import { convertOnnx } from '../../src/convert/onnx/convert-onnx';
import { makeConst } from '../../src/convert/tensor';
import { initTestBackend } from '../helpers/backend';
import { loadConversion, maxAbsDiff, runBothOnImage } from './helpers';
import { Net } from './models';

beforeAll(async () => {
  await initTestBackend();
});

type Indices = 'expand' | 'mul-constant-of-shape' | 'per-column';

/**
 * data: [2H + W + 2, 3, W] of 7s; updates: the input as [H, 3, W], its first K rows (K = H, or 0 when `empty`);
 * indices [K, 3, W] by `kind`: `expand` row k → H + 1 − k; `mul-constant-of-shape` row k → 2k; `per-column`
 * element (k, c, j) → k + j (not row-constant: the general path). Every target is distinct, as ONNX requires.
 */
function scatterRowsNet(kind: Indices, empty: boolean): Uint8Array {
  const m = new Net(13, 1);
  const i64 = (v: number[], scalar = false): string => m.ints(v, scalar);
  const x = m.b.input('images', [3, 'h', 'w']);
  const shape = m.op('Shape', [x]);
  const h = m.op('Gather', [shape, i64([1], true)], { axis: { i: 0 } });
  const w = m.op('Gather', [shape, i64([2], true)], { axis: { i: 0 } });
  const k = empty ? m.op('Sub', [h, h]) : h;
  const rowsOfX = m.op('Transpose', [x], { perm: { ints: [1, 0, 2] } });
  const updates = m.op('Slice', [rowsOfX, i64([0]), m.op('Unsqueeze', [k, i64([0])]), i64([0])]);
  const updShape = m.op('Shape', [updates]);
  const ks = m.op('Range', [i64([0], true), k, i64([1], true)]);
  const column = (v: string): string => m.op('Reshape', [v, i64([-1, 1, 1])]);
  let idx: string;
  if (kind === 'expand') {
    const rev = m.op('Sub', [m.op('Add', [h, i64([1], true)]), ks]);
    idx = m.op('Expand', [column(rev), updShape]);
  } else if (kind === 'mul-constant-of-shape') {
    const twos = m.op('ConstantOfShape', [updShape], { value: { t: makeConst('int64', [1], [2]) } });
    idx = m.op('Mul', [column(ks), twos]);
  } else {
    const js = m.op('Reshape', [m.op('Range', [i64([0], true), w, i64([1], true)]), i64([1, 1, -1])]);
    idx = m.op('Expand', [m.op('Add', [column(ks), js]), updShape]);
  }
  const rows = m.op('Add', [m.op('Add', [m.op('Mul', [h, i64([2], true)]), w]), i64([2], true)]);
  const dataShape = m.op(
    'Concat',
    [m.op('Unsqueeze', [rows, i64([0])]), i64([3]), m.op('Unsqueeze', [w, i64([0])])],
    {
      axis: { i: 0 },
    },
  );
  const data = m.op('ConstantOfShape', [dataShape], { value: { t: makeConst('float32', [1], [7]) } });
  m.b.output(m.op('ScatterElements', [data, idx, updates], { axis: { i: 0 } }), ['r', 3, 'w']);
  return m.bytes();
}

/**
 * MultiScaleRoIAlign in small: a conv map [1, 4, h, w]; level A pools 2 RoIs, level B 1 (or none when `emptyB`),
 * RoIs given as fractions of the image, so computed at run time like the real ones; each level's rows are
 * scattered (Expand of a [K, 1, 1, 1] column) into zeros [4, 4, 2, 2]: A to rows 0 and 2, B to row 0, after A,
 * so B's row wins; rows 1 and 3 stay zero. Then Flatten and a Gemm, as the box head reads it. Output [4, 5].
 */
function multiLevelRoiNet(emptyB: boolean): Uint8Array {
  const m = new Net(13, 5);
  const i64 = (v: number[], scalar = false): string => m.ints(v, scalar);
  const x = m.b.input('images', [3, 'h', 'w']);
  const map = m.conv(m.op('Unsqueeze', [x, i64([0])]), 3, 4, 3, { bias: true });
  const size = m.op('Cast', [m.op('Slice', [m.op('Shape', [x]), i64([1]), i64([3])])], { to: { i: 1 } });
  const whwh = m.op('Concat', [m.op('Gather', [size, i64([1, 0, 1, 0])], { axis: { i: 0 } })], {
    axis: { i: 0 },
  });
  const h = m.op('Gather', [m.op('Shape', [x]), i64([1], true)], { axis: { i: 0 } });
  const level = (fractions: number[], rowStep: number, empty = false): { pooled: string; idx: string } => {
    const k = fractions.length / 4;
    // min(h, k) RoIs (k on the images tested), or h − h = 0: a count known only at run time, as NMS leaves it.
    const count = empty ? m.op('Sub', [h, h]) : m.op('Min', [h, i64([k], true)]);
    const all = m.op('Mul', [m.b.constant(makeConst('float32', [k, 4], fractions)), whwh]);
    const rois = m.op('Slice', [all, i64([0]), m.op('Unsqueeze', [count, i64([0])]), i64([0])]);
    const batch = m.op('ConstantOfShape', [m.op('Unsqueeze', [count, i64([0])])], {
      value: { t: makeConst('int64', [1], [0]) },
    });
    const pooled = m.op('RoiAlign', [map, rois, batch], {
      output_height: { i: 2 },
      output_width: { i: 2 },
      sampling_ratio: { i: 2 },
      spatial_scale: { f: 1 },
    });
    const rows = m.op('Mul', [m.op('Range', [i64([0], true), count, i64([1], true)]), i64([rowStep], true)]);
    const shape = m.op('Shape', [pooled]);
    return { pooled, idx: m.op('Expand', [m.op('Reshape', [rows, i64([-1, 1, 1, 1])]), shape]) };
  };
  const a = level([0, 0, 0.5, 0.5, 0.25, 0.25, 0.9, 0.8], 2);
  const b = level([0.1, 0.2, 0.6, 0.7], 1, emptyB);
  const dims = m.op('Concat', [i64([4]), m.op('Slice', [m.op('Shape', [a.pooled]), i64([1]), i64([4])])], {
    axis: { i: 0 },
  });
  const zeros = m.op('ConstantOfShape', [dims], { value: { t: makeConst('float32', [1], [0]) } });
  const first = m.op('ScatterElements', [zeros, a.idx, a.pooled], { axis: { i: 0 } });
  const both = m.op('ScatterElements', [first, b.idx, b.pooled], { axis: { i: 0 } });
  m.b.output(m.gemm(m.op('Flatten', [both], { axis: { i: 1 } }), 16, 5), [4, 5]);
  return m.bytes();
}

/** TF node names of the converted graph. */
function tfNodes(bytes: Uint8Array): { name: string; op: string }[] {
  return convertOnnx(bytes).builder.toArtifacts().json.modelTopology.node;
}

describe('ScatterElements axis 0: row scatter and full coordinates, parity with onnxruntime', () => {
  it.each([
    ['Expand of a [K, 1, 1] column: row scatter', 'expand', true],
    ['Mul by ConstantOfShape: row scatter', 'mul-constant-of-shape', true],
    ['per-column indices: full coordinates', 'per-column', false],
  ] as const)('%s', async (_name, kind, rowPath) => {
    for (const empty of [false, true]) {
      const bytes = scatterRowsNet(kind, empty);
      const nodes = tfNodes(bytes);
      const scatters = nodes.filter((nd) => nd.op === 'TensorScatterUpdate');
      expect(scatters).toHaveLength(1);
      // The row path scatters [K, 1] row indices; the general path builds a [K·3·W, 3] coordinate list.
      expect(nodes.some((nd) => nd.name.endsWith('/rows'))).toBe(rowPath);
      expect(nodes.some((nd) => nd.name.endsWith('/coords_nd'))).toBe(!rowPath);
      const model = await loadConversion(convertOnnx(bytes));
      try {
        for (const [h, w, seed] of [
          [5, 4, 1],
          [1, 7, 2],
          [9, 2, 3],
        ]) {
          const { ref, got, leaked } = await runBothOnImage(bytes, model, h, w, seed);
          expect(got.shape).toEqual([2 * h + w + 2, 3, w]);
          expect(got.data.length).toBe(ref.length);
          expect(maxAbsDiff(ref, got.data)).toBe(0);
          // Independent of onnxruntime: K rows were written, the rest still hold 7.
          const sevens = got.data.filter((v) => v === 7).length;
          expect(sevens).toBe((2 * h + w + 2 - (empty ? 0 : h)) * 3 * w);
          expect(leaked).toBe(0);
        }
      } finally {
        model.dispose();
      }
    }
  });
});

describe('MultiScaleRoIAlign: RoiAlign levels scattered into zeros, then a linear layer', () => {
  it.each([
    ['two levels', false],
    ['a level with no RoI', true],
  ] as const)('%s: one gather, no transpose, same as onnxruntime', async (_name, emptyB) => {
    const bytes = multiLevelRoiNet(emptyB);
    const ops = tfNodes(bytes).map((nd) => nd.op);
    // The RoiAlign output stays NHWC up to the Gemm (whose weight rows are permuted instead), and the zeros and
    // per-level copies of the scatters become one gather of the concatenated rows.
    expect(ops.filter((op) => op === 'Transpose')).toHaveLength(0);
    expect(ops.filter((op) => op === 'TensorScatterUpdate')).toHaveLength(1); // the [4] int32 row positions
    const model = await loadConversion(convertOnnx(bytes));
    try {
      for (const [h, w, seed] of [
        [12, 16, 1],
        [9, 20, 2],
      ]) {
        const { ref, got, leaked } = await runBothOnImage(bytes, model, h, w, seed);
        expect(got.shape).toEqual([4, 5]);
        expect(maxAbsDiff(ref, got.data)).toBeLessThanOrEqual(1e-5);
        expect(leaked).toBe(0);
      }
    } finally {
      model.dispose();
    }
  });
});
