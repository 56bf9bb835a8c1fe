/**
 * SavedModels on the native backend, driven by a fake tfjs-node whose TFSavedModel behaves like tfjs-node
 * 4.22's (tfjs-node/src/saved_model.ts): `inputs` reports graph tensor names, while `predict` with a named map
 * accepts only the signature's input keys and returns a map keyed by output keys.
 */
import * as tf from '@tensorflow/tfjs';
import { loadAndWarmUp, loadModelRunner, ModelLoadError } from '../../src/algorithms/model-runner';
import type { ClassifierManifest, LoadedManifest } from '../../src/models/manifest';
import { initBackend, type MetaGraph } from '../../src/tf/backend';
import { fakeNative, type FakeNative } from './fake-native';

/** A Keras-style export: key `input_1` for tensor `serving_default_input_1:0`, key `logits` for a partitioned call. */
const KERAS: MetaGraph = {
  tags: ['serve'],
  signatureDefs: {
    serving_default: {
      inputs: { input_1: { name: 'serving_default_input_1:0', dtype: 'float32', shape: [-1, 4, 4, 3] } },
      outputs: {
        logits: { name: 'StatefulPartitionedCall:0' },
        features: { name: 'StatefulPartitionedCall:1' },
      },
    },
    __saved_model_init_op: { inputs: {}, outputs: { __saved_model_init_op: { name: 'NoOp' } } },
  },
};

/** What tfjs-node's TFSavedModel does with one signature. Outputs: logits = per-image channel means [N, 3]. */
class FakeSavedModel implements tf.InferenceModel {
  disposed = false;
  fedKeys: string[][] = [];
  constructor(private readonly signature: MetaGraph['signatureDefs'][string]) {}

  get inputs(): tf.ModelTensorInfo[] {
    return Object.values(this.signature.inputs).map((i) => ({
      name: i.name.replace(/:0$/, ''),
      dtype: 'float32',
    }));
  }
  get outputs(): tf.ModelTensorInfo[] {
    return Object.values(this.signature.outputs).map((o) => ({
      name: o.name.replace(/:0$/, ''),
      dtype: 'float32',
    }));
  }

  predict(inputs: tf.Tensor | tf.Tensor[] | tf.NamedTensorMap): tf.NamedTensorMap {
    if (inputs instanceof tf.Tensor || Array.isArray(inputs)) throw new Error('test feeds a named map only');
    const expected = Object.keys(this.signature.inputs);
    const provided = Object.keys(inputs);
    if (expected.length !== provided.length || !expected.every((k) => provided.includes(k))) {
      // tfjs-node's own message
      throw new Error(
        `The model signatureDef input names are ${expected.join()}, however the provided input names are ${provided.join()}.`,
      );
    }
    this.fedKeys.push(provided);
    const x = inputs[expected[0] ?? ''] as tf.Tensor4D;
    return {
      logits: tf.mean(x, [1, 2]),
      features: tf.zeros([x.shape[0], 8]),
    };
  }

  execute(): never {
    throw new Error('execute() of TFSavedModel is not supported yet.'); // as in tfjs-node
  }

  dispose(): void {
    this.disposed = true;
  }
}

function manifest(input: { name?: string } = {}, outputName = 'logits'): LoadedManifest {
  const m: ClassifierManifest = {
    kind: 'classifier',
    format: 'tf-saved-model',
    model_path: 'saved_model',
    saved_model: { tags: ['serve'], signature: 'serving_default' },
    algorithm: {
      key: 'fake',
      name: 'Fake',
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
    output: { name: outputName, kind: 'logits' },
    category_map: 'category_map.json',
  };
  return { dir: '/models/fake', manifest: m, categoryMap: null };
}

describe('SavedModel runner with a fake tfjs-node', () => {
  let fake: FakeNative;
  let models: FakeSavedModel[];
  let graphs: MetaGraph[];

  beforeEach(async () => {
    models = [];
    graphs = [KERAS];
    fake = fakeNative({
      gpu: false,
      getMetaGraphsFromSavedModel: () => Promise.resolve(graphs),
      loadSavedModel: (_path, tags = ['serve'], signature = 'serving_default') => {
        const graph = graphs.find((g) => g.tags.join() === tags.join());
        const def = graph?.signatureDefs[signature];
        if (!def) return Promise.reject(new Error(`The SavedModel does not have signature: ${signature}`));
        const model = new FakeSavedModel(def);
        models.push(model);
        return Promise.resolve(model);
      },
    });
    await initBackend('auto', { load: fake.load });
  });
  afterEach(async () => {
    await initBackend('cpu');
    fake.remove();
  });

  it('feeds the signature key, not the tensor name that model.inputs reports', async () => {
    const runner = await loadModelRunner(manifest());
    const model = models[0];
    // The old default, model.inputs[0].name, is what predict refuses:
    expect(model?.inputs[0]?.name).toBe('serving_default_input_1');
    expect(() => tf.tidy(() => model?.predict({ serving_default_input_1: tf.zeros([1, 4, 4, 3]) }))).toThrow(
      'The model signatureDef input names are input_1, however the provided input names are',
    );

    const input = tf.tensor4d([...Array<number>(16).fill(2), ...Array<number>(32).fill(4)], [1, 4, 4, 3]);
    const [logits] = await runner.run(input, ['logits']);
    expect(model?.fedKeys).toEqual([['input_1']]);
    expect(logits?.shape).toEqual([1, 3]);
    // Channel means of the interleaved fill: pixels 0..5 hold 2s, 6..15 hold 4s, per channel.
    const expected = [0, 1, 2].map((c) => {
      let sum = 0;
      for (let p = 0; p < 16; p++) sum += p * 3 + c < 16 ? 2 : 4;
      return sum / 16;
    });
    expect(Array.from(await logits.data())).toEqual(expected);
    tf.dispose([input, logits]);
    runner.dispose();
    expect(model?.disposed).toBe(true);
  });

  it('maps an input.name given as the tensor name (with or without :0) to its signature key', async () => {
    for (const name of ['serving_default_input_1:0', 'serving_default_input_1', 'input_1']) {
      const runner = await loadModelRunner(manifest({ name }));
      const out = await runner.run(tf.zeros([2, 4, 4, 3]), ['logits']);
      tf.dispose(out);
      runner.dispose();
    }
    expect(models.map((m) => m.fedKeys)).toEqual([[['input_1']], [['input_1']], [['input_1']]]);
  });

  it('refuses an input.name the signature does not have, listing its keys and tensors', async () => {
    await expect(loadModelRunner(manifest({ name: 'images' }))).rejects.toThrow(
      new ModelLoadError(
        '/models/fake: input.name "images" is not an input of signature "serving_default"; set it to one of ' +
          'its keys: input_1 (tensor serving_default_input_1:0)',
      ),
    );
  });

  it('asks for input.name when the signature has several inputs', async () => {
    const serving = KERAS.signatureDefs.serving_default;
    graphs = [
      {
        tags: ['serve'],
        signatureDefs: {
          serving_default: {
            ...serving,
            inputs: { ...serving.inputs, mask: { name: 'serving_default_mask:0' } },
          },
        },
      },
    ];
    await expect(loadModelRunner(manifest())).rejects.toThrow(
      /signature "serving_default" has 2 inputs; set input.name in manifest.json to one of its keys: input_1 \(tensor serving_default_input_1:0\), mask \(tensor serving_default_mask:0\)$/,
    );
  });

  it('names the meta graphs when the tags match none', async () => {
    graphs = [{ ...KERAS, tags: ['serve', 'gpu'] }];
    await expect(loadModelRunner(manifest())).rejects.toThrow(
      '/models/fake: the SavedModel has no meta graph tagged [serve] (it has [serve, gpu])',
    );
  });

  it('accepts output names given as tensor names and returns them in the order asked', async () => {
    const runner = await loadModelRunner(manifest());
    const before = tf.memory().numTensors;
    const input = tf.ones([1, 4, 4, 3]);
    const out = await runner.run(input, ['StatefulPartitionedCall:1', 'logits']);
    expect(out.map((t) => t.shape)).toEqual([
      [1, 8],
      [1, 3],
    ]);
    tf.dispose([input, ...out]);
    // Outputs not asked for are disposed by the runner.
    expect(tf.memory().numTensors).toBe(before);
    await expect(runner.run(tf.ones([1, 4, 4, 3]), ['probs'])).rejects.toThrow(
      'the SavedModel signature has no output(s) probs; its output keys are features, logits',
    );
    runner.dispose();
  });

  it('warms up through the active native module (loadAndWarmUp) without leaking', async () => {
    const before = tf.memory().numTensors;
    const shapes: number[][] = [];
    const runner = await loadAndWarmUp(manifest(), ['logits'], (outputs) => {
      shapes.push(...outputs.map((t) => t.shape));
    });
    expect(shapes).toEqual([[1, 3]]);
    expect(models[0]?.fedKeys).toEqual([['input_1']]);
    runner.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
