/**
 * A models directory for the 29,176-class case (docs/benchmarks.md#29176-class-responses): the shipped moth
 * detector and a tiny generated classifier whose output is as wide as the global moth species map. Shared by
 * bench/wide-classifier.ts and test/http/wide-classifier.test.ts; nothing is downloaded.
 */
import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GraphBuilder, attr } from '../src/models/graph-model-writer';
import type { DeclaredPipeline } from '../src/pipelines/declared';

/** Labels in the global moth classifier's species map. */
export const WIDE_CLASSES = 29_176;
export const WIDE_SLUG = 'wide_species_29176';
export const WIDE_CLASSIFIER_KEY = 'wide_species_classifier_29176';

/** Label `i` of the generated map: unique, in index order, like a species list. */
export const wideLabel = (i: number): string => `Species ${String(i).padStart(5, '0')}`;

/**
 * Writes the classifier: `image [B, 64, 64, 3]` → mean over H, W → `[B, 3]` → MatMul `[3, C]` + bias → logits
 * `[B, C]`. Weights come from a fixed xorshift stream, so every run writes the same model.
 */
async function writeWideClassifier(dir: string, classes: number): Promise<void> {
  let s = 0x9e3779b9;
  const next = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296 - 0.5;
  };
  const g = new GraphBuilder();
  const x = g.placeholder('image', [-1, 64, 64, 3]);
  const axes = g.constInt('axes', [2], [1, 2]);
  const mean = g.op('mean', 'Mean', [x, axes], {
    T: attr.type('DT_FLOAT'),
    keep_dims: attr.b(false),
    Tidx: attr.type('DT_INT32'),
  });
  const w = g.constFloat(
    'fc/w',
    [3, classes],
    Float32Array.from({ length: 3 * classes }, () => next() * 8),
  );
  const b = g.constFloat(
    'fc/b',
    [classes],
    Float32Array.from({ length: classes }, () => next() * 4),
  );
  const mm = g.op('fc/matmul', 'MatMul', [mean, w], {
    T: attr.type('DT_FLOAT'),
    transpose_a: attr.b(false),
    transpose_b: attr.b(false),
  });
  g.op('logits', 'BiasAdd', [mm, b], { T: attr.type('DT_FLOAT'), data_format: attr.s('NHWC') });
  g.output('logits', 'logits');
  await g.write(dir);
  const labels = Array.from({ length: classes }, (_, i) => wideLabel(i));
  await fsp.writeFile(
    path.join(dir, 'category_map.json'),
    JSON.stringify({
      data: labels.map((label, index) => ({ index, label, taxon_rank: 'SPECIES' })),
      labels,
      version: 'wide-test',
      description: `${classes} generated labels`,
      uri: null,
    }),
  );
  await fsp.writeFile(
    path.join(dir, 'manifest.json'),
    JSON.stringify({
      kind: 'classifier',
      format: 'tfjs-graph-model',
      model_path: 'model.json',
      algorithm: {
        key: WIDE_CLASSIFIER_KEY,
        name: `Wide Species Classifier ${classes}`,
        version: 1,
        version_name: 'v1',
        description: `Generated test classifier with ${classes} outputs.`,
        uri: null,
        task_type: 'classification',
      },
      input: {
        width: 64,
        height: 64,
        resize: 'stretch',
        color_order: 'RGB',
        scale: 1 / 255,
        mean: [0, 0, 0],
        std: [1, 1, 1],
      },
      output: { name: 'logits', kind: 'logits' },
      category_map: 'category_map.json',
    }),
  );
}

/**
 * A temporary MODELS_DIR: `moth-detector` linked from `shippedModels`, `wide-classifier` generated, and the
 * pipeline spec (not written to pipelines.json: callers pass it to `declaredPipeline`).
 */
export async function wideModelsDir(
  shippedModels: string,
  classes = WIDE_CLASSES,
): Promise<{ dir: string; spec: DeclaredPipeline; remove(): Promise<void> }> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'wide-models-'));
  await fsp.symlink(path.join(shippedModels, 'moth-detector'), path.join(dir, 'moth-detector'));
  await writeWideClassifier(path.join(dir, 'wide-classifier'), classes);
  return {
    dir,
    spec: {
      slug: WIDE_SLUG,
      name: `Moth detector + ${classes}-class species`,
      version: 1,
      detector: 'moth-detector',
      classifiers: [{ model: 'wide-classifier', terminal: true }],
    },
    remove: () => fsp.rm(dir, { recursive: true, force: true }),
  };
}
