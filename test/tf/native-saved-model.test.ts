/**
 * A graph model's native SavedModel (`npm run convert -- native`): the same graph written by TensorFlow's Python
 * as a SavedModel, which the native backend runs as one TensorFlow session. Checked against the graph model it
 * came from, on the same inputs, through the runner and the classifier the service uses. Writing one needs a
 * Python with TensorFlow; running one needs the native tier. The torchvision detector families are checked the
 * same way, against PyTorch, in test/convert/torchvision-families.test.ts.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import pino from 'pino';
import { CropClassifier } from '../../src/algorithms/crop-classifier';
import { buildService } from '../../src/bootstrap';
import { defaultConfig } from '../../src/config';
import { loadModelRunner } from '../../src/algorithms/model-runner';
import {
  NativeSavedModelError,
  compareForms,
  writeNativeSavedModel,
  type TfPython,
} from '../../src/convert/native-saved-model';
import { ManifestError, readManifest, validateManifestJson } from '../../src/models/manifest';
import { initTestBackend, testBackend } from '../helpers/backend';
import { expectNoLeak, groundTruth, runOptions, sampleImage } from '../algorithms/helpers';
import { tfPythonForTests } from '../helpers/tf-python';

const CLASSIFIER = path.join(__dirname, '..', '..', 'models', 'moth-nonmoth-classifier');
const onNative = testBackend() === 'tensorflow';
const found = onNative ? tfPythonForTests() : { python: null, why: 'native tier only: npm run test:native' };
const python: TfPython | null = found.python
  ? { python: found.python, tensorflow: '', source: 'test' }
  : null;
const itWithPython = python ? it : it.skip;
const skipped = (title: string): string => (python ? title : `${title} (SKIPPED: ${found.why})`);

let tmp: string;

/** A fresh copy of the repository's moth/non-moth classifier (a graph model) to write into. */
function classifierCopy(name: string): string {
  const dir = path.join(tmp, name);
  fs.cpSync(CLASSIFIER, dir, { recursive: true });
  return dir;
}

const readJson = (file: string): Record<string, unknown> =>
  JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;

beforeAll(async () => {
  await initTestBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'native-saved-model-'));
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the manifest field', () => {
  const base = readJson(path.join(CLASSIFIER, 'manifest.json'));

  it('is accepted on a graph model', () => {
    expect(
      validateManifestJson({ ...base, native_saved_model: 'saved_model' }, 'm.json').native_saved_model,
    ).toBe('saved_model');
  });

  it('is refused on a SavedModel, saying why', () => {
    expect(() =>
      validateManifestJson(
        { ...base, format: 'tf-saved-model', model_path: '.', native_saved_model: 'saved_model' },
        'm.json',
      ),
    ).toThrow(
      new ManifestError(
        'm.json: native_saved_model: only for format "tfjs-graph-model" (it is that graph written as a SavedModel); this model is already a SavedModel (format "tf-saved-model")',
      ),
    );
  });

  it('is ignored off the native backend: the graph model runs', async () => {
    if (onNative) return; // the native tier runs the SavedModel; checked below
    const dir = classifierCopy('ignored-off-native');
    const manifest = readJson(path.join(dir, 'manifest.json'));
    // Names a directory that is not there: only the native backend would read it.
    fs.writeFileSync(
      path.join(dir, 'manifest.json'),
      JSON.stringify({ ...manifest, native_saved_model: 'not-written' }),
    );
    const runner = await loadModelRunner(await readManifest(dir));
    try {
      expect(runner.form).toBe('graph model');
    } finally {
      runner.dispose();
    }
  });
});

describe(`written and run on ${testBackend()}`, () => {
  itWithPython(
    skipped('writes saved_model/ and names it in the manifest; the graph model stays'),
    async () => {
      const dir = classifierCopy('written');
      const written = await writeNativeSavedModel(dir, python as TfPython);
      expect(written.savedModel).toBe(path.join(dir, 'saved_model'));
      expect(fs.existsSync(path.join(dir, 'saved_model', 'saved_model.pb'))).toBe(true);
      expect(readJson(path.join(dir, 'manifest.json')).native_saved_model).toBe('saved_model');
      expect(fs.existsSync(path.join(dir, 'model.json'))).toBe(true);
    },
    60_000,
  );

  const itNative = python && onNative ? it : it.skip;
  const nativeTitle = (t: string): string =>
    python && onNative ? t : `${t} (SKIPPED: ${python ? 'native tier only' : found.why})`;

  itNative(
    nativeTitle("the service classifies through it, with the graph model's scores (1e-5)"),
    async () => {
      const dir = classifierCopy('classifies');
      await writeNativeSavedModel(dir, python as TfPython);
      const { outputs } = await compareForms(dir);
      expect(outputs.map((o) => o.name)).toEqual(['logits']);
      expect(outputs[0].maxAbsDiff).not.toBeNull();
      expect(outputs[0].maxAbsDiff ?? 1).toBeLessThan(1e-5);

      const asSaved = new CropClassifier(await readManifest(dir));
      const asGraph = new CropClassifier(await readManifest(classifierCopy('graph-only')));
      const image = await sampleImage('trap-1024x768.jpg');
      try {
        await Promise.all([asSaved.compile(), asGraph.compile()]);
        expect(asSaved.modelForm()).toBe('graph model as a native SavedModel');
        expect(asGraph.modelForm()).toBe('graph model');
        const { objects } = await groundTruth('trap-1024x768.jpg');
        const regions = objects.map((o) => ({ image, bbox: o.bbox }));
        await image.tensor(); // decoded once and kept by the image, before counting tensors
        const a = await expectNoLeak(() => asSaved.run(regions, runOptions(4)));
        const b = await asGraph.run(regions, runOptions(4));
        expect(a.length).toBe(objects.length);
        const diff = Math.max(
          ...a.flatMap((r, i) => r.scores.map((s, j) => Math.abs(s - (b[i]?.scores[j] ?? 0)))),
        );
        expect(diff).toBeLessThan(1e-5);
      } finally {
        image.dispose();
        asSaved.dispose();
        asGraph.dispose();
      }
    },
    120_000,
  );

  itNative(
    nativeTitle('NATIVE_SAVED_MODELS=false runs the graph model instead'),
    async () => {
      const dir = classifierCopy('switched-off');
      await writeNativeSavedModel(dir, python as TfPython);
      const before = process.env.NATIVE_SAVED_MODELS;
      process.env.NATIVE_SAVED_MODELS = 'false';
      try {
        const runner = await loadModelRunner(await readManifest(dir));
        expect(runner.form).toBe('graph model');
        runner.dispose();
      } finally {
        if (before === undefined) delete process.env.NATIVE_SAVED_MODELS;
        else process.env.NATIVE_SAVED_MODELS = before;
      }
    },
    60_000,
  );
});

describe('the start-up log', () => {
  const itNative = python && onNative ? it : it.skip;
  itNative(
    python && onNative
      ? 'says how each model of a pipeline runs'
      : `says how each model of a pipeline runs (SKIPPED: ${python ? 'native tier only' : found.why})`,
    async () => {
      const models = path.join(tmp, 'models');
      fs.cpSync(path.join(CLASSIFIER, '..'), models, { recursive: true });
      await writeNativeSavedModel(path.join(models, 'moth-nonmoth-classifier'), python as TfPython);
      const lines: Record<string, unknown>[] = [];
      const logger = pino(
        { level: 'info' },
        { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) },
      );
      const config = defaultConfig({
        inferenceThread: 'main',
        tfjsBackend: 'tensorflow',
        modelsDir: models,
        enabledPipelines: ['tfjs_synthetic_moths_2026'],
      });
      const svc = await buildService(config, logger);
      try {
        await svc.engine.whenReady('tfjs_synthetic_moths_2026');
        const ready = lines.find(
          (l) => l.msg === 'pipeline tfjs_synthetic_moths_2026 compiled and warmed up',
        );
        expect(ready?.models).toEqual({
          tfjs_synthetic_moth_detector_2026: 'graph model',
          tfjs_synthetic_moth_nonmoth_classifier_2026: 'graph model as a native SavedModel',
          tfjs_synthetic_species_classifier_2026: 'graph model',
        });
      } finally {
        await svc.close();
      }
    },
    120_000,
  );
});

describe('what cannot be written says why', () => {
  itWithPython(
    skipped('an op TensorFlow does not have: the node and the op are named, nothing is written'),
    async () => {
      const dir = classifierCopy('unknown-op');
      const modelJson = readJson(path.join(dir, 'model.json')) as {
        modelTopology: { node: { name: string; op: string }[] };
      };
      const node = modelJson.modelTopology.node.find((n) => n.op === 'Relu');
      if (!node) throw new Error('the fixture has no Relu node');
      node.op = 'ReluButNotQuite';
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
      await expect(writeNativeSavedModel(dir, python as TfPython)).rejects.toThrow(
        new NativeSavedModelError(
          `${dir}: TensorFlow cannot take this graph: node ${node.name}: TensorFlow has no op ReluButNotQuite`,
        ),
      );
      expect(fs.existsSync(path.join(dir, 'saved_model'))).toBe(false);
      expect(readJson(path.join(dir, 'manifest.json')).native_saved_model).toBeUndefined();
    },
    60_000,
  );

  it('a SavedModel directory is refused before any Python runs', async () => {
    const dir = classifierCopy('saved');
    const base = readJson(path.join(dir, 'manifest.json'));
    fs.writeFileSync(
      path.join(dir, 'manifest.json'),
      JSON.stringify({ ...base, format: 'tf-saved-model', model_path: '.' }),
    );
    const fake: TfPython = { python: '/nonexistent/python', tensorflow: '', source: 'test' };
    await expect(writeNativeSavedModel(dir, fake)).rejects.toThrow(
      new NativeSavedModelError(
        `${dir}: format "tf-saved-model" is a SavedModel already; only graph models need a native SavedModel`,
      ),
    );
  });
});
