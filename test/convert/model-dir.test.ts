/**
 * convertOnnxToModelDir (the classifier path) refuses inputs the service cannot feed, and writes nothing for them.
 */
import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { convertOnnxToModelDir } from '../../src/convert/model-dir';
import { ConversionError } from '../../src/convert/onnx/convert-onnx';
import { Net } from './models';

let tmp: string;

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'model-dir-'));
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

/** A 3-class classifier whose input is one CHW image [3, 8, 8] (unsqueezed to a batch of one in the graph). */
function rank3Classifier(): Uint8Array {
  const m = new Net(17, 9);
  const x = m.b.input('image', [3, 8, 8]);
  let y = m.op('Unsqueeze', [x, m.ints([0])]);
  y = m.op('Relu', [m.conv(y, 3, 4, 3, { bias: true })]);
  y = m.op('Flatten', [m.op('GlobalAveragePool', [y])], { axis: { i: 1 } });
  m.b.output(m.gemm(y, 4, 3), [1, 3]);
  return m.bytes();
}

it('a rank-3 classifier input is a ConversionError naming the input and its shape, and nothing is written', async () => {
  const onnxPath = path.join(tmp, 'rank3.onnx');
  await fsp.writeFile(onnxPath, rank3Classifier());
  const outDir = path.join(tmp, 'rank3');
  const run = convertOnnxToModelDir({
    onnxPath,
    outDir,
    algorithm: { key: 'rank3', name: 'rank-3 classifier', version: 1 },
    labels: ['a', 'b', 'c'],
  });
  await expect(run).rejects.toThrow(ConversionError);
  await expect(run).rejects.toThrow(
    'input "image" has shape [3,8,8] (rank 3), but a classifier input must be a batch of images ' +
      '[batch, 3, height, width]: export it with a leading batch axis',
  );
  await expect(fsp.access(outDir)).rejects.toThrow();
});
