/**
 * Model pipelines declared in MODELS_DIR/pipelines.json: no code, validated, composed from model directories.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readDeclaredPipelines } from '../../src/pipelines/declared';
import { registeredPipelines } from '../../src/pipelines/registry';

const models = path.join(__dirname, '..', '..', 'models');
const ctx = (modelsDir: string) => ({ modelsDir, batches: { detectorBatchSize: 2, classifierBatchSize: 8 } });

function tmpModels(pipelines: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'declared-'));
  for (const m of ['moth-detector', 'moth-nonmoth-classifier', 'species-classifier'])
    fs.symlinkSync(path.join(models, m), path.join(dir, m));
  fs.writeFileSync(
    path.join(dir, 'pipelines.json'),
    typeof pipelines === 'string' ? pipelines : JSON.stringify(pipelines),
  );
  return dir;
}

const spec = {
  slug: 'acme_moth_binary_2026',
  name: 'ACME moth binary',
  version: 1,
  detector: 'moth-detector',
  classifiers: [{ model: 'moth-nonmoth-classifier', terminal: true }],
};

describe('pipelines.json', () => {
  test('the shipped file declares the default pipeline after the code pipelines', () => {
    expect(registeredPipelines(models).map((d) => d.slug)).toEqual([
      'constant',
      'random-detection-random-species',
      'tfjs_synthetic_moths_2026',
    ]);
  });

  test('a new entry pointing at existing model directories is a working pipeline, described from manifests', async () => {
    const dir = tmpModels({ pipelines: [spec] });
    const [definition] = readDeclaredPipelines(dir);
    const pipeline = await definition.create(ctx(dir));
    const info = pipeline.describe();
    expect(info).toMatchObject({
      slug: 'acme_moth_binary_2026',
      name: 'ACME moth binary',
      version: 1,
      description: null,
      stages: [],
    });
    expect(info.algorithms.map((a) => [a.key, a.task_type])).toEqual([
      ['tfjs_synthetic_moth_detector_2026', 'localization'],
      ['tfjs_synthetic_moth_nonmoth_classifier_2026', 'classification'],
    ]);
    expect(pipeline.classifiers.map((s) => s.terminal)).toEqual([true]);
  });

  test('only_if gates a stage on an earlier stage’s label', async () => {
    const [definition] = readDeclaredPipelines(models);
    const pipeline = await definition.create(ctx(models));
    const gate = pipeline.classifiers[1].appliesTo!;
    const earlier = (classification: string) => [
      {
        classification,
        labels: null,
        scores: [1],
        logits: [],
        inference_time: null,
        algorithm: { name: 'x', key: 'tfjs_synthetic_moth_nonmoth_classifier_2026' },
        terminal: false,
        timestamp: '',
      },
    ];
    expect(gate(earlier('moth'))).toBe(true);
    expect(gate(earlier('nonmoth'))).toBe(false);
    expect(gate([])).toBe(false);
  });

  test('an invalid file is refused with its path and the problem', () => {
    const dir = tmpModels({ pipelines: [{ ...spec, slug: 'Bad Slug!' }] });
    expect(() => readDeclaredPipelines(dir)).toThrow(
      `${path.join(dir, 'pipelines.json')}: /pipelines/0/slug must match pattern`,
    );
    expect(() => readDeclaredPipelines(tmpModels('{not json'))).toThrow(/pipelines\.json: .*JSON/);
  });

  test('only_if must name an earlier stage; a missing model directory fails at create() naming it', async () => {
    const late = tmpModels({
      pipelines: [
        {
          ...spec,
          classifiers: [
            {
              model: 'moth-nonmoth-classifier',
              terminal: true,
              only_if: { model: 'species-classifier', labels: ['x'] },
            },
          ],
        },
      ],
    });
    await expect(readDeclaredPipelines(late)[0].create(ctx(late))).rejects.toThrow(
      'only_if names species-classifier, which is not an earlier classifier stage',
    );
    const missing = tmpModels({ pipelines: [{ ...spec, detector: 'no-such-model' }] });
    await expect(readDeclaredPipelines(missing)[0].create(ctx(missing))).rejects.toThrow(/no-such-model/);
  });

  test('"classifiers": [] declares a detector-only pipeline', async () => {
    const dir = tmpModels({ pipelines: [{ ...spec, classifiers: [] }] });
    const pipeline = await readDeclaredPipelines(dir)[0].create(ctx(dir));
    expect(pipeline.classifiers).toEqual([]);
    expect(pipeline.describe().algorithms.map((a) => a.key)).toEqual(['tfjs_synthetic_moth_detector_2026']);
  });

  test('detector_classes needs a detector with class_labels', async () => {
    const dir = tmpModels({ pipelines: [{ ...spec, detector_classes: ['moth'] }] });
    await expect(readDeclaredPipelines(dir)[0].create(ctx(dir))).rejects.toThrow(
      "a class filter needs the detector's class labels (class_labels in manifest.json)",
    );
  });

  test('a slug used twice is refused', () => {
    const dir = tmpModels({ pipelines: [{ ...spec, slug: 'constant' }] });
    expect(() => registeredPipelines(dir)).toThrow('pipeline slug constant is registered twice');
  });
});
