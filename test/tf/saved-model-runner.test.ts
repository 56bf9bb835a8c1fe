/**
 * SavedModels on the real native backend: small SavedModels that TF-Python 2.21 wrote
 * (scripts/export-native-fixtures.py) loaded by tfjs-node on libtensorflow. tfjs-node's `TFSavedModel` reports
 * graph tensor names in `inputs`, while `predict` with a named map accepts only the signature's input keys and
 * returns a map keyed by output keys; the runner maps the manifest's names to keys.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadAndWarmUp, loadModelRunner, ModelLoadError } from '../../src/algorithms/model-runner';
import { resolveBatchMode } from '../../src/algorithms/object-detector';
import type { ClassifierManifest, LoadedManifest } from '../../src/models/manifest';
import { initBackend, nativeTf } from '../../src/tf/backend';
import { itWithNative, nativeBuilt } from '../helpers/backend';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'native', 'saved-model-runner');

/**
 * A classifier manifest over one fixture: `one-input` (key `input_1`, tensor `serving_default_input_1:0`;
 * outputs `logits` = channel means [N, 3] and `features` = channel maxima then minima [N, 6]), `batch-one` (its
 * input [1, H, W, 3]), `two-inputs` (`input_1` and `mask`) or `gpu-tags` (one-input tagged [serve, gpu]).
 */
function manifest(
  fixture: 'one-input' | 'batch-one' | 'two-inputs' | 'gpu-tags',
  input: { name?: string } = {},
): LoadedManifest {
  const m: ClassifierManifest = {
    kind: 'classifier',
    format: 'tf-saved-model',
    model_path: fixture,
    saved_model: { tags: ['serve'], signature: 'serving_default' },
    algorithm: {
      key: 'fixture',
      name: 'Fixture',
      version: 1,
      version_name: null,
      description: null,
      uri: null,
      task_type: 'classification',
    },
    input: {
      width: 4,
      height: 4,
      color_order: 'RGB',
      resize: 'stretch',
      scale: 1,
      mean: [0, 0, 0],
      std: [1, 1, 1],
      ...input,
    },
    output: { name: 'logits', kind: 'logits' },
    category_map: 'category_map.json',
  };
  return { dir: FIXTURES, manifest: m, categoryMap: null };
}

/** Per-image channel means, maxima and minima of an NHWC batch, computed here in plain JS. */
function channelStats(
  values: Float32Array,
  [n, h, w, c]: number[],
): { mean: number[]; max: number[]; min: number[] } {
  const mean: number[] = [];
  const max: number[] = [];
  const min: number[] = [];
  for (let i = 0; i < n; i++)
    for (let k = 0; k < c; k++) {
      let sum = 0;
      let hi = -Infinity;
      let lo = Infinity;
      for (let p = 0; p < h * w; p++) {
        const v = values[(i * h * w + p) * c + k];
        sum += v;
        hi = Math.max(hi, v);
        lo = Math.min(lo, v);
      }
      mean.push(sum / (h * w));
      max.push(hi);
      min.push(lo);
    }
  return { mean, max, min };
}

describe('SavedModel runner on tfjs-node', () => {
  beforeAll(async () => {
    if (nativeBuilt()) await initBackend('tensorflow');
  });

  itWithNative('feeds the signature key, not the tensor name that model.inputs reports', async () => {
    const runner = await loadModelRunner(manifest('one-input'));
    // What tfjs-node itself says about the tensor name, which was the old default feed:
    const model = await nativeTf()!.node.loadSavedModel(path.join(FIXTURES, 'one-input'));
    expect(model.inputs[0]?.name).toBe('serving_default_input_1');
    expect(() =>
      tf.tidy(() => model.predict({ serving_default_input_1: tf.zeros([1, 4, 4, 3]) }, {})),
    ).toThrow(
      'The model signatureDef input names are input_1, however the provided input names are serving_default_input_1',
    );
    (model as unknown as { dispose(): void }).dispose();

    const values = Float32Array.from({ length: 2 * 4 * 4 * 3 }, (_, i) => ((i * 37) % 101) / 7);
    const input = tf.tensor4d(values, [2, 4, 4, 3]);
    const [logits] = await runner.run(input, ['logits']);
    expect(logits?.shape).toEqual([2, 3]);
    const got = Array.from(await logits.data());
    channelStats(values, [2, 4, 4, 3]).mean.forEach((m, i) => expect(got[i]).toBeCloseTo(m, 5));
    tf.dispose([input, logits]);
    runner.dispose();
  });

  itWithNative(
    "reads the input's declared shape from tfjs-node's dimension messages: [1, H, W, 3] runs one image per call",
    async () => {
      const any = await loadModelRunner(manifest('one-input'));
      const one = await loadModelRunner(manifest('batch-one'));
      expect([any.inputShape, one.inputShape]).toEqual([
        [null, null, null, 3],
        [1, null, null, 3],
      ]);
      // A TF2 Object Detection API export takes [1, H, W, 3]: its detector must feed one image at a time.
      expect(resolveBatchMode(undefined, one.inputShape)).toBe('single');
      any.dispose();
      one.dispose();
    },
  );

  itWithNative(
    'maps an input.name given as the tensor name (with or without :0) to its signature key',
    async () => {
      for (const name of ['serving_default_input_1:0', 'serving_default_input_1', 'input_1']) {
        const runner = await loadModelRunner(manifest('one-input', { name }));
        const input = tf.ones([2, 4, 4, 3]);
        const out = await runner.run(input, ['logits']);
        expect(Array.from(await out[0].data())).toEqual([1, 1, 1, 1, 1, 1]);
        tf.dispose([input, ...out]);
        runner.dispose();
      }
    },
  );

  itWithNative(
    'refuses an input.name the signature does not have, listing its keys and tensors',
    async () => {
      await expect(loadModelRunner(manifest('one-input', { name: 'images' }))).rejects.toThrow(
        new ModelLoadError(
          `${FIXTURES}: input.name "images" is not an input of signature "serving_default"; set it to one of ` +
            'its keys: input_1 (tensor serving_default_input_1:0)',
        ),
      );
    },
  );

  itWithNative('asks for input.name when the signature has several inputs', async () => {
    await expect(loadModelRunner(manifest('two-inputs'))).rejects.toThrow(
      /signature "serving_default" has 2 inputs; set input.name in manifest.json to one of its keys: input_1 \(tensor serving_default_input_1:0\), mask \(tensor serving_default_mask:0\)$/,
    );
  });

  itWithNative('names the meta graphs when the tags match none', async () => {
    await expect(loadModelRunner(manifest('gpu-tags'))).rejects.toThrow(
      `${FIXTURES}: the SavedModel has no meta graph tagged [serve] (it has [serve, gpu])`,
    );
  });

  itWithNative('accepts output names given as tensor names and returns them in the order asked', async () => {
    const runner = await loadModelRunner(manifest('one-input'));
    const before = tf.memory().numTensors;
    const values = Float32Array.from({ length: 4 * 4 * 3 }, (_, i) => Math.sin(i));
    const input = tf.tensor4d(values, [1, 4, 4, 3]);
    // tfjs-node names `features` PartitionedCall:0 and `logits` PartitionedCall:1 (keys in sorted order).
    const out = await runner.run(input, ['PartitionedCall:0', 'logits']);
    expect(out.map((t) => t.shape)).toEqual([
      [1, 6],
      [1, 3],
    ]);
    const { mean, max, min } = channelStats(values, [1, 4, 4, 3]);
    const [features, logits] = await Promise.all(out.map(async (t) => Array.from(await t.data())));
    [...max, ...min].forEach((v, i) => expect(features[i]).toBeCloseTo(v, 6));
    mean.forEach((v, i) => expect(logits[i]).toBeCloseTo(v, 6));
    tf.dispose([input, ...out]);
    // Outputs not asked for are disposed by the runner.
    expect(tf.memory().numTensors).toBe(before);
    await expect(runner.run(tf.ones([1, 4, 4, 3]), ['probs'])).rejects.toThrow(
      'the SavedModel signature has no output(s) probs; its output keys are features, logits',
    );
    runner.dispose();
  });

  itWithNative('warms up through the active native module (loadAndWarmUp) without leaking', async () => {
    const before = tf.memory().numTensors;
    const shapes: number[][] = [];
    const runner = await loadAndWarmUp(manifest('one-input'), ['logits'], (outputs) => {
      shapes.push(...outputs.map((t) => t.shape));
    });
    expect(shapes).toEqual([[1, 3]]);
    runner.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
