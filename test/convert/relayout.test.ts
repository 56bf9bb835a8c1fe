/**
 * A layout change that only moves size-1 dims is a reshape even when several sizes are known only at run time:
 * torchvision's `image[None]` on a [3, H, W] input of any size, fed to a convolution (NHWC), against onnxruntime.
 * It used to be a full transpose of the image (padded and sliced to dodge wasm's empty-tensor trap).
 */
import { convertOnnx } from '../../src/convert/onnx/convert-onnx';
import { initTestBackend } from '../helpers/backend';
import { expectSameAsOrtOnImages, loadConversion } from './helpers';
import { Net } from './models';

beforeAll(async () => {
  await initTestBackend();
});

/** [3, h, w] → Unsqueeze(0) → 3×3 conv to 4 channels → [1, 4, h, w]. */
function unsqueezeConvNet(): Uint8Array {
  const m = new Net(13, 4);
  const x = m.b.input('images', [3, 'h', 'w']);
  const batch = m.op('Unsqueeze', [x, m.ints([0])]);
  m.b.output(m.conv(batch, 3, 4, 3, { bias: true }), [1, 4, 'h', 'w']);
  return m.bytes();
}

describe('size-1 relayout of a run-time-sized image', () => {
  it('reshapes instead of transposing, and matches onnxruntime', async () => {
    const bytes = unsqueezeConvNet();
    const conversion = convertOnnx(bytes);
    // The one transpose left is the output's, NHWC back to ONNX's [1, 4, h, w].
    expect(conversion.stats.insertedTransposes).toBe(1);
    const nodes = conversion.builder.toArtifacts().json.modelTopology.node;
    const moves = nodes.filter((nd) => nd.op === 'Transpose' || nd.op === 'PadV2');
    expect(moves.every((nd) => nd.name.includes('to_onnx_layout'))).toBe(true);
    expect(nodes.some((nd) => nd.op === 'Reshape' && nd.name.endsWith('/relayout'))).toBe(true);
    const model = await loadConversion(conversion);
    try {
      await expectSameAsOrtOnImages(bytes, model, [
        [9, 13, 1],
        [1, 7, 2],
        [16, 5, 3],
      ]);
    } finally {
      model.dispose();
    }
  });
});
