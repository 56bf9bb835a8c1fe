/**
 * The input normalisation moved past the model's own resize (src/convert/onnx/normalize-after-resize.ts): on
 * torchvision's transform in small, the conversion still matches onnxruntime on several image sizes, and the
 * rewrite is applied exactly where it cannot change a result.
 */
import { convertOnnx } from '../../src/convert/onnx/convert-onnx';
import { OnnxDataType } from '../../src/convert/onnx/onnx-proto';
import { makeConst } from '../../src/convert/tensor';
import { initTestBackend } from '../helpers/backend';
import { expectSameAsOrtOnImages, loadConversion } from './helpers';
import { Net } from './models';

beforeAll(async () => {
  await initTestBackend();
});

interface Variant {
  /** Constant of the Sub: torchvision's [3, 1, 1] mean, or one that varies along the width. */
  meanShape?: number[];
  /** `mean − x` instead of `x − mean`. */
  constantFirst?: boolean;
  /** A Conv also reads the normalised image. */
  extraReader?: boolean;
  /** Resize mode. */
  mode?: 'linear' | 'nearest';
}

/**
 * images [3, h, w] → (x − mean) / std → Shape → size floor(0.6·h), floor(0.6·w); Unsqueeze(0) → Resize to it →
 * Conv: torchvision's GeneralizedRCNNTransform as exported, with a conv head to make the result depend on all of it.
 */
function transformNet(v: Variant = {}): Uint8Array {
  const m = new Net(11, 3);
  const x = m.b.input('images', [3, 'h', 'w']);
  const meanShape = v.meanShape ?? [3, 1, 1];
  const mean = m.param(meanShape, 0.3, 0.6);
  const std = m.param([3, 1, 1], 0.8, 1.2);
  const centred = m.op('Sub', v.constantFirst ? [mean, x] : [x, mean]);
  const normalised = m.op('Div', [centred, std]);
  const hw = m.op('Cast', [m.op('Slice', [m.op('Shape', [normalised]), m.ints([1]), m.ints([3])])], {
    to: { i: OnnxDataType.FLOAT },
  });
  // Nearest upsamples by 2: at a ratio like 0.6, TF's and onnxruntime's nearest rounding differ already.
  const factor = v.mode === 'nearest' ? 2 : 0.6;
  const target = m.op('Cast', [m.op('Floor', [m.op('Mul', [hw, m.scalar(factor)])])], {
    to: { i: OnnxDataType.INT64 },
  });
  const batch = m.op('Unsqueeze', [normalised], { axes: { ints: [0] } });
  const sizes = m.op('Concat', [m.op('Slice', [m.op('Shape', [batch]), m.ints([0]), m.ints([2])]), target], {
    axis: { i: 0 },
  });
  const roi = m.b.constant(makeConst('float32', [0], []));
  const noScales = m.b.constant(makeConst('float32', [0], []));
  const resized = m.op('Resize', [batch, roi, noScales, sizes], {
    mode: { s: v.mode ?? 'linear' },
    coordinate_transformation_mode: { s: v.mode === 'nearest' ? 'asymmetric' : 'half_pixel' },
    nearest_mode: { s: 'floor' },
  });
  let y = m.conv(resized, 3, 4, 3, { bias: true });
  if (v.extraReader) {
    const side = m.conv(m.op('Unsqueeze', [normalised], { axes: { ints: [0] } }), 3, 4, 3, { bias: true });
    y = m.op('Add', [y, m.op('ReduceMean', [side], { axes: { ints: [2, 3] }, keepdims: { i: 1 } })]);
  }
  m.b.output(y, [1, 4, 'h2', 'w2']);
  return m.bytes();
}

const SIZES = [
  [40, 64, 1],
  [75, 50, 2],
  [33, 33, 3],
] as const;

async function expectParity(bytes: Uint8Array, moved: number): Promise<void> {
  const conversion = convertOnnx(bytes);
  expect(conversion.stats.normalizationsAfterResize).toBe(moved);
  const model = await loadConversion(conversion);
  try {
    await expectSameAsOrtOnImages(bytes, model, SIZES);
  } finally {
    model.dispose();
  }
}

describe('input normalisation moved past the resize', () => {
  it('moves torchvision-style (x − mean) / std past a bilinear resize and still matches onnxruntime', () =>
    expectParity(transformNet(), 1));

  it('moves it past a nearest resize too', () => expectParity(transformNet({ mode: 'nearest' }), 1));

  it('leaves it in place when something else reads the normalised image', () =>
    expectParity(transformNet({ extraReader: true }), 0));

  it('leaves mean − x in place (not of the form the move rewrites)', () =>
    expectParity(transformNet({ constantFirst: true }), 0));

  it('leaves a constant that varies along the resized width in place', async () => {
    // [1, 1, 40] varies along the width: the move would be wrong, so only 40-pixel-wide images are run.
    const bytes = transformNet({ meanShape: [1, 1, 40] });
    const conversion = convertOnnx(bytes);
    expect(conversion.stats.normalizationsAfterResize).toBe(0);
    const model = await loadConversion(conversion);
    try {
      await expectSameAsOrtOnImages(bytes, model, [[64, 40, 4]]);
    } finally {
      model.dispose();
    }
  });
});
