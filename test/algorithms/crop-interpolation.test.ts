/**
 * CropClassifier's `interpolation` against torchvision: the model input the service builds from boxes on an
 * image equals what ADC's transforms build from `PIL.Image.crop` of the same integer boxes
 * (scripts/make-resample-fixtures.py wrote them). The "classifier" is a graph that flattens its input, with
 * `kind: probabilities`, so each result's scores are the very values the model was fed.
 */
import { promises as fsp, readFileSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { CropClassifier } from '../../src/algorithms/crop-classifier';
import type { Region } from '../../src/algorithms/algorithm';
import { GraphBuilder, attr } from '../../src/models/graph-model-writer';
import { readManifest, type CropInterpolation } from '../../src/models/manifest';
import { initTestBackend } from '../helpers/backend';
import { expectNoLeak, runOptions, tensorImage } from './helpers';

interface Pipeline {
  image: [number, number];
  pixels: number[];
  size: [number, number];
  boxes: [number, number, number, number][];
  'bilinear-antialias': { mean: number[]; std: number[]; inputs: number[][] };
  'pil-bilinear': { mean: number[]; std: number[]; inputs: number[][] };
}

const reference = (
  JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'resample', 'reference.json'), 'utf8')) as {
    pipeline: Pipeline;
  }
).pipeline;

const [H, W] = reference.size;
const VALUES = H * W * 3;

/** A model directory whose graph returns its `[B, H, W, 3]` input flattened to `[B, H·W·3]`. */
async function flatteningClassifier(interpolation: CropInterpolation): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'antenna-flatten-'));
  const g = new GraphBuilder();
  const x = g.placeholder('crops', [-1, H, W, 3]);
  const flat = g.op('flat', 'Reshape', [x, g.constInt('shape', [2], [-1, VALUES])], {
    T: attr.type('DT_FLOAT'),
    Tshape: attr.type('DT_INT32'),
  });
  g.output('values', flat);
  await g.write(dir);
  const { mean, std } = reference[interpolation === 'pil-bilinear' ? 'pil-bilinear' : 'bilinear-antialias'];
  const labels = Array.from({ length: VALUES }, (_, i) => `v${i}`);
  await fsp.writeFile(
    path.join(dir, 'category_map.json'),
    JSON.stringify({ data: labels.map((label, index) => ({ index, label })), labels }),
  );
  await fsp.writeFile(
    path.join(dir, 'manifest.json'),
    JSON.stringify({
      kind: 'classifier',
      format: 'tfjs-graph-model',
      model_path: 'model.json',
      algorithm: {
        key: 'flatten',
        name: 'flatten',
        version: 1,
        version_name: null,
        description: null,
        uri: null,
        task_type: 'classification',
      },
      input: {
        width: W,
        height: H,
        resize: 'stretch',
        interpolation,
        color_order: 'RGB',
        scale: 1 / 255,
        mean,
        std,
      },
      output: { kind: 'probabilities' },
      category_map: 'category_map.json',
    }),
  );
  return dir;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

beforeAll(() => initTestBackend());

describe.each([
  ['bilinear-antialias', 'ToTensor, Resize(antialias=True), Normalize'],
  ['pil-bilinear', 'Resize on the PIL crop, ToTensor, Normalize'],
] as const)(
  'interpolation %s: the model input equals torchvision\u2019s %s',
  (interpolation, _transforms) => {
    let classifier: CropClassifier;
    beforeAll(async () => {
      classifier = new CropClassifier(await readManifest(await flatteningClassifier(interpolation)));
      await classifier.compile();
    });
    afterAll(() => classifier.dispose());

    it('for every box, at any batch size, leaking nothing', async () => {
      const [h, w] = reference.image;
      const image = tensorImage('img', tf.tensor3d(reference.pixels, [h, w, 3], 'int32'));
      const regions: Region[] = reference.boxes.map(([x1, y1, x2, y2]) => ({
        image,
        bbox: { x1, y1, x2, y2 },
      }));
      for (const batchSize of [1, 2, 32]) {
        const results = await expectNoLeak(() => classifier.run(regions, runOptions(batchSize)));
        results.forEach((r, i) => {
          // Normalised values are ~1e-6 apart from the float32 sums PyTorch makes; Pillow's bytes agree exactly.
          expect({
            box: i,
            batchSize,
            diff: maxDiff(r.scores, reference[interpolation].inputs[i]) < 2e-5,
          }).toEqual({
            box: i,
            batchSize,
            diff: true,
          });
        });
      }
      image.dispose();
    });
  },
);
