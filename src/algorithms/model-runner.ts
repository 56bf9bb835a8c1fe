/**
 * Loads the model a manifest names and runs it on one input batch, hiding the difference between TF.js graph
 * models (every backend) and TensorFlow SavedModels (tfjs-node only).
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadGraphModelFromDir } from '../models/graph-model-loader';
import { integerInput, type LoadedManifest } from '../models/manifest';
import { resolveSignature, type ResolvedSignature } from '../models/saved-model-signature';
import { nativeTf, signatureShape, type NativeTfModule } from '../tf/backend';

/** A loaded model that maps one input batch to named outputs. */
export interface ModelRunner {
  /**
   * Runs the model; returns one tensor per name in `outputs`, in that order, or the model's own outputs when
   * `outputs` is null. The caller disposes them.
   */
  run(input: tf.Tensor, outputs: string[] | null): Promise<tf.Tensor[]>;
  /** The input's declared shape (-1 or null for dynamic dims), or null when the model does not say. */
  readonly inputShape: (number | null)[] | null;
  /** What runs: "graph model", "SavedModel", or "graph model as a native SavedModel". */
  readonly form: string;
  dispose(): void;
}

const declaredShape = (shape: number[] | undefined): (number | null)[] | null =>
  shape ? shape.map((d) => (d >= 0 ? d : null)) : null;

/** Thrown when a model cannot be loaded on the active backend; the message names the backend. */
export class ModelLoadError extends Error {}

function graphRunner(model: tf.GraphModel, inputName: string | undefined): ModelRunner {
  const name = inputName ?? model.inputs[0]?.name;
  if (model.inputs.length !== 1 && inputName === undefined) {
    throw new ModelLoadError(`the model has ${model.inputs.length} inputs; set input.name in manifest.json`);
  }
  // Graphs without control flow run synchronously; others (e.g. converted detectors with NMS) need executeAsync.
  let needsAsync = false;
  return {
    form: 'graph model',
    inputShape: declaredShape(model.inputs.find((i) => i.name === name)?.shape),
    async run(input, outputs) {
      const feed: tf.NamedTensorMap = { [name]: input };
      if (!needsAsync) {
        try {
          const result = model.execute(feed, outputs ?? undefined);
          return Array.isArray(result) ? result : [result];
        } catch (err) {
          if (!/executeAsync/.test((err as Error).message)) throw err;
          needsAsync = true;
        }
      }
      const result = await model.executeAsync(feed, outputs ?? undefined);
      return Array.isArray(result) ? result : [result];
    },
    dispose() {
      model.dispose();
    },
  };
}

/**
 * Runs a SavedModel signature loaded by tfjs-node. Inputs and outputs go by signature key (`signature`), which
 * is what `predict` with a named map takes and returns; the manifest's output names are mapped to keys too.
 */
function savedModelRunner(
  model: tf.InferenceModel & { dispose?: () => void },
  signature: ResolvedSignature,
  form: string,
): ModelRunner {
  return {
    form,
    // The signature's inputs carry tensor names, not keys; with one input its shape is the one fed.
    inputShape: signatureShape(model.inputs.length === 1 ? model.inputs[0].shape : undefined),
    run(input, outputs) {
      const wanted = (outputs ?? signature.outputKeys).map((o) => ({ name: o, key: signature.outputKey(o) }));
      const unknown = wanted.filter((w) => w.key === null).map((w) => w.name);
      if (unknown.length > 0) {
        return Promise.reject(
          new Error(
            `the SavedModel signature has no output(s) ${unknown.join(', ')}; its output keys are ${signature.outputKeys.join(', ')}`,
          ),
        );
      }
      const result = model.predict({ [signature.inputKey]: input }, {});
      if (result instanceof tf.Tensor || Array.isArray(result)) {
        tf.dispose(result);
        return Promise.reject(
          new Error('the SavedModel signature returned unnamed outputs; expected a named map'),
        );
      }
      const keys = wanted.map((w) => w.key ?? '');
      const missing = keys.filter((k) => !(k in result));
      if (missing.length > 0) {
        tf.dispose(Object.values(result));
        return Promise.reject(
          new Error(
            `the SavedModel returned no output(s) ${missing.join(', ')}; it returned ${Object.keys(result).join(', ')}`,
          ),
        );
      }
      tf.dispose(
        Object.entries(result)
          .filter(([k]) => !keys.includes(k))
          .map(([, t]) => t),
      );
      return Promise.resolve(keys.map((k) => result[k]));
    },
    dispose() {
      model.dispose?.();
    },
  };
}

/** Loads a SavedModel signature on the native backend, resolving the manifest's names to signature keys. */
async function loadSavedModelRunner(
  native: NativeTfModule,
  modelPath: string,
  loaded: LoadedManifest,
  form: string,
): Promise<ModelRunner> {
  const { manifest, dir } = loaded;
  // A native_saved_model is written with these defaults; `saved_model` describes a `tf-saved-model` format.
  const own = manifest.format === 'tf-saved-model' ? manifest.saved_model : undefined;
  const tags = own?.tags ?? ['serve'];
  const signatureName = own?.signature ?? 'serving_default';
  let signature: ResolvedSignature;
  try {
    const metaGraphs = await native.node.getMetaGraphsFromSavedModel(modelPath);
    signature = resolveSignature(metaGraphs, tags, signatureName, manifest.input.name);
  } catch (err) {
    throw new ModelLoadError(`${dir}: ${(err as Error).message}`);
  }
  const model = await native.node.loadSavedModel(modelPath, tags, signatureName);
  return savedModelRunner(model, signature, form);
}

/**
 * NATIVE_SAVED_MODELS (a setting, applied to the environment at start-up like libtensorflow's own): whether the
 * native backend runs a graph model's `native_saved_model` instead of the graph model. On unless "false".
 */
export const nativeSavedModelsEnabled = (env: NodeJS.ProcessEnv = process.env): boolean =>
  env.NATIVE_SAVED_MODELS?.trim().toLowerCase() !== 'false';

/**
 * Loads the manifest's model. `tfjs-graph-model` works on every backend (on the native one through its
 * `native_saved_model` when it has one); `tf-saved-model` needs the native `tensorflow` backend (libtensorflow),
 * and fails elsewhere with an error naming the active backend.
 */
export async function loadModelRunner(
  loaded: LoadedManifest,
  native: NativeTfModule | null = nativeTf(),
): Promise<ModelRunner> {
  const { manifest, dir } = loaded;
  const modelPath = path.join(dir, manifest.model_path);
  if (manifest.format === 'tfjs-graph-model') {
    // On libtensorflow the same graph runs as one TensorFlow session (Grappler, no per-op round trip through
    // JavaScript) when `npm run convert -- native` has written it as a SavedModel.
    if (native && manifest.native_saved_model !== undefined && nativeSavedModelsEnabled()) {
      const savedModel = path.join(dir, manifest.native_saved_model);
      return loadSavedModelRunner(native, savedModel, loaded, 'graph model as a native SavedModel');
    }
    return graphRunner(await loadGraphModelFromDir(modelPath), manifest.input.name);
  }
  if (!native) {
    throw new ModelLoadError(
      `${dir}: format tf-saved-model needs the native TensorFlow backend (@tensorflow/tfjs-node or -gpu), ` +
        `but the active backend is "${tf.getBackend()}"; convert the model to a TF.js graph model instead`,
    );
  }
  return loadSavedModelRunner(native, modelPath, loaded, 'SavedModel');
}

/** Warm-up image size for manifests that take images at their own size and give no width/height. */
export const NATIVE_WARM_UP_SIZE = 64;

/**
 * Loads the model of `loaded` and runs it once on a blank input (the first call is the slow one), letting `check`
 * validate the outputs. Nothing is kept if either step fails. `makeInput` builds the warm-up input from the
 * loaded runner; by default a blank `[1, H, W, 3]` of a classifier's input size (NATIVE_WARM_UP_SIZE square
 * without one) and dtype.
 */
export async function loadAndWarmUp(
  loaded: LoadedManifest,
  outputNames: string[] | null,
  check: (outputs: tf.Tensor[]) => void,
  makeInput?: (runner: ModelRunner) => tf.Tensor,
): Promise<ModelRunner> {
  const runner = await loadModelRunner(loaded);
  try {
    const { input } = loaded.manifest;
    const blank = makeInput
      ? makeInput(runner)
      : tf.zeros(
          [1, input.height ?? NATIVE_WARM_UP_SIZE, input.width ?? NATIVE_WARM_UP_SIZE, 3],
          integerInput(input) ? 'int32' : 'float32',
        );
    try {
      const outputs = await runner.run(blank, outputNames);
      try {
        check(outputs);
      } finally {
        tf.dispose(outputs);
      }
    } finally {
      blank.dispose();
    }
  } catch (err) {
    runner.dispose();
    throw err;
  }
  return runner;
}
