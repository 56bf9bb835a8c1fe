/**
 * `npm run convert -- native <model dir>...`: writes a TF.js graph model's own graph as a SavedModel beside it
 * (`<dir>/saved_model/`) and names it in the manifest (`native_saved_model`), so that the native backend runs the
 * model as one TensorFlow graph instead of op by op (src/algorithms/model-runner.ts). The graph model stays: wasm
 * and cpu use it, and so does native with NATIVE_SAVED_MODELS=false.
 *
 * Writing it takes TensorFlow's Python package, for its op registry (scripts/graph-to-saved-model.py says what the
 * script fixes and why). That Python is found, or made once: TF_PYTHON (used as given), else a managed venv in
 * `npm run native`'s cache with the same TensorFlow wheel the native backend was built from, else a `python3` that
 * imports tensorflow; with none, the managed venv is created (pip installs the wheel and its dependencies).
 */
import * as fs from 'fs';
import { promises as fsp } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadModelRunner, type ModelRunner } from '../algorithms/model-runner';
import { integerInput, readManifest, type LoadedManifest } from '../models/manifest';
import { nativeTf } from '../tf/backend';
import { projectRoot } from '../util/paths';
import { runCommand, runSetupStep } from '../util/run-command';

export const GRAPH_TO_SAVED_MODEL_SCRIPT = path.join(projectRoot(), 'scripts', 'graph-to-saved-model.py');

/** The directory name the SavedModel is written to, inside the model directory. */
export const NATIVE_SAVED_MODEL_DIR = 'saved_model';

/** Thrown when a TensorFlow Python cannot be found or made, or the graph cannot be written; says why. */
export class NativeSavedModelError extends Error {}

export interface TfPython {
  python: string;
  tensorflow: string;
  /** How it was found, for the progress line. */
  source: string;
}

/** Where `npm run native` keeps its wheel and cache (its settings: NATIVE_CACHE_DIR, TF_WHEEL, ...). */
export interface TfWheelSettings {
  cacheDir: string;
  /** TF_WHEEL: the wheel the backend was built from, when one was given. */
  wheel: string | null;
  /** TF_PIP_SPEC and TF_PIP_INDEX: what pip installs when no wheel is at hand. */
  spec: string;
  index: string | null;
}

export interface NativeIo {
  log: (line: string) => void;
  detail: (line: string) => void;
}

const venvPython = (settings: TfWheelSettings): string =>
  path.join(settings.cacheDir, 'python', 'bin', 'python');

async function probe(python: string): Promise<{ tensorflow: string } | { error: string }> {
  const r = await runCommand(python, [GRAPH_TO_SAVED_MODEL_SCRIPT, '--versions']);
  if (r.status !== 0) return { error: r.stderr.trim().split('\n').slice(-1)[0] ?? `exit status ${r.status}` };
  try {
    return {
      tensorflow: (JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { tensorflow: string }).tensorflow,
    };
  } catch {
    return { error: `unexpected output: ${r.stdout.trim().slice(0, 200)}` };
  }
}

/** The wheel `npm run native` built from (TF_WHEEL, else the newest TensorFlow wheel it downloaded), or null. */
function nativeWheel(settings: TfWheelSettings): string | null {
  if (settings.wheel) return path.resolve(settings.wheel);
  const dir = path.join(settings.cacheDir, 'wheels');
  if (!fs.existsSync(dir)) return null;
  const wheels = fs
    .readdirSync(dir)
    .filter((f) => /^tensorflow.*\.whl$/.test(f))
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return wheels[0] ?? null;
}

/**
 * Where a Python with TensorFlow is looked for when TF_PYTHON is unset, in order, with how each is named: the
 * managed venv (when it exists), then `python3` on PATH.
 */
export function tfPythonCandidates(settings: TfWheelSettings): [string, string][] {
  const managed = venvPython(settings);
  const candidates: [string, string][] = [
    [managed, `the managed venv ${path.dirname(path.dirname(managed))}`],
    ['python3', 'python3 on PATH'],
  ];
  return candidates.filter(([python]) => !python.includes('/') || fs.existsSync(python));
}

/**
 * Finds a Python that imports TensorFlow, or makes the managed venv (`<NATIVE_CACHE_DIR>/python`) with the
 * wheel the native backend was built from, so that the graph is written by the TensorFlow that will run it.
 */
export async function ensureTfPython(
  settings: TfWheelSettings,
  io: NativeIo,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TfPython> {
  const given = env.TF_PYTHON?.trim();
  if (given) {
    const r = await probe(given);
    if ('error' in r)
      throw new NativeSavedModelError(`TF_PYTHON=${given} cannot import tensorflow: ${r.error}`);
    return { python: given, tensorflow: r.tensorflow, source: 'TF_PYTHON' };
  }
  for (const [python, source] of tfPythonCandidates(settings)) {
    const r = await probe(python);
    if ('tensorflow' in r) return { python, tensorflow: r.tensorflow, source };
  }
  const managed = venvPython(settings);
  const venv = path.dirname(path.dirname(managed));
  const target = nativeWheel(settings) ?? settings.spec;
  io.log(`no Python here imports tensorflow: making ${venv} with ${path.basename(target)} (once)`);
  const step = async (command: string, args: string[], what: string): Promise<void> => {
    const failure = await runSetupStep(command, args, io.detail);
    if (failure !== null) {
      throw new NativeSavedModelError(
        `${what} failed (${command} ${args.join(' ')}): ${failure}. Set TF_PYTHON to a Python that imports tensorflow.`,
      );
    }
  };
  fs.rmSync(venv, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(venv), { recursive: true });
  await step('python3', ['-m', 'venv', venv], 'creating the venv');
  // --retries 0: an index that cannot be reached (no network) is skipped at once instead of after five waits.
  const pip = ['-m', 'pip', 'install', '--retries', '0', '--progress-bar', 'off', '-q', target];
  if (settings.index) pip.push('--index-url', settings.index);
  await step(managed, pip, `installing ${path.basename(target)}`);
  const r = await probe(managed);
  if ('error' in r)
    throw new NativeSavedModelError(`the new venv ${venv} cannot import tensorflow: ${r.error}`);
  return { python: managed, tensorflow: r.tensorflow, source: `the managed venv ${venv}` };
}

export interface WrittenSavedModel {
  dir: string;
  savedModel: string;
  nodes: number;
  bytes: number;
}

/**
 * Writes `<dir>/saved_model/` from the directory's graph model and adds `native_saved_model` to its manifest.
 * Throws NativeSavedModelError naming the directory when it is not a graph model or TensorFlow refuses the graph.
 */
export async function writeNativeSavedModel(dir: string, python: TfPython): Promise<WrittenSavedModel> {
  const loaded = await readManifest(dir);
  const { manifest } = loaded;
  if (manifest.format !== 'tfjs-graph-model') {
    throw new NativeSavedModelError(
      `${dir}: format "${manifest.format}" is a SavedModel already; only graph models need a native SavedModel`,
    );
  }
  const out = path.join(dir, NATIVE_SAVED_MODEL_DIR);
  const r = await runCommand(python.python, [
    GRAPH_TO_SAVED_MODEL_SCRIPT,
    path.join(dir, manifest.model_path),
    out,
  ]);
  if (r.status !== 0) {
    const why = r.stderr.trim().split('\n').slice(-1)[0] ?? `exit status ${r.status}`;
    throw new NativeSavedModelError(
      `${dir}: TensorFlow cannot take this graph: ${why.replace(/^error: /, '')}`,
    );
  }
  const report = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { nodes: number; bytes: number };
  const file = path.join(dir, 'manifest.json');
  const raw = JSON.parse(await fsp.readFile(file, 'utf8')) as Record<string, unknown>;
  raw.native_saved_model = NATIVE_SAVED_MODEL_DIR;
  await fsp.writeFile(file, `${JSON.stringify(raw, null, 2)}\n`);
  return { dir, savedModel: out, nodes: report.nodes, bytes: report.bytes };
}

/** How the two forms of one model compared on the same input. */
export interface FormsComparison {
  /** Per output: its name, both shapes, and the largest absolute difference (null when the shapes differ). */
  outputs: { name: string; graph: number[]; savedModel: number[]; maxAbsDiff: number | null }[];
}

/** An input the model takes, with seeded values: a detector image or a classifier batch of two. */
function sampleInput(loaded: LoadedManifest, runner: ModelRunner): tf.Tensor {
  const { manifest } = loaded;
  const declared = runner.inputShape;
  const dims = declared?.length === 4 ? declared.slice(1) : (declared ?? [null, null, 3]);
  const [h, w] = [dims[0] ?? manifest.input.height ?? 320, dims[1] ?? manifest.input.width ?? 480];
  const integer = integerInput(manifest.input);
  const shape = declared?.length === 3 ? [h, w, 3] : [manifest.kind === 'classifier' ? 2 : 1, h, w, 3];
  return tf.tidy(() => {
    const x = tf.randomUniform(shape, 0, integer ? 255 : 1, 'float32', 42);
    return integer ? x.round().cast('int32') : x;
  });
}

const maxAbsDiff = (x: tf.Tensor, y: tf.Tensor): number =>
  tf.tidy(() => x.cast('float32').sub(y.cast('float32')).abs().max().dataSync()[0] ?? 0);

/**
 * Runs the graph model and its native SavedModel on one seeded input (native backend only) and compares every
 * output: the check that the written graph computes what the graph model does.
 */
export async function compareForms(dir: string): Promise<FormsComparison> {
  const loaded = await readManifest(dir);
  const native = nativeTf();
  if (!native) throw new NativeSavedModelError('comparing the two forms needs the native backend');
  // The SavedModel's signature has the graph model's keys, so both are asked for the same outputs by key.
  const modelJson = JSON.parse(await fsp.readFile(path.join(dir, loaded.manifest.model_path), 'utf8')) as {
    signature?: { outputs?: Record<string, { name: string }> };
  };
  const names = Object.keys(modelJson.signature?.outputs ?? {}).sort();
  const nodeNames = names.map((n) => (modelJson.signature?.outputs?.[n]?.name ?? n).replace(/:0$/, ''));
  const graphOnly: LoadedManifest = {
    ...loaded,
    manifest: { ...loaded.manifest, native_saved_model: undefined },
  };
  const disposers: (() => void)[] = [];
  try {
    const graph = await loadModelRunner(graphOnly, native);
    disposers.push(() => graph.dispose());
    const saved = await loadModelRunner(loaded, native);
    disposers.push(() => saved.dispose());
    const input = sampleInput(loaded, graph);
    disposers.push(() => input.dispose());
    const a = await graph.run(input, nodeNames);
    disposers.push(() => tf.dispose(a));
    const b = await saved.run(input, names);
    disposers.push(() => tf.dispose(b));
    const outputs = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const [x, y] = [a[i], b[i]];
      const same = x !== undefined && y !== undefined && x.shape.join() === y.shape.join();
      outputs.push({
        name: names[i] ?? String(i),
        graph: x?.shape ?? [],
        savedModel: y?.shape ?? [],
        maxAbsDiff: !same ? null : x.size === 0 ? 0 : maxAbsDiff(x, y),
      });
    }
    return { outputs };
  } finally {
    for (const dispose of disposers.reverse()) dispose();
  }
}
