/**
 * `tfjs_synthetic_moths_2026`: the default model pipeline, shaped like ADC's production pipelines
 * (CONTRACT §7): a detector, then a moth/non-moth filter (`terminal: false`) on every box, then a species
 * classifier (`terminal: true`) only on boxes the filter calls "moth". Its three models are TF.js graph models
 * in MODELS_DIR, made by `npm run build-models`; each is described entirely by its manifest.
 */
import * as path from 'path';
import { CropClassifier } from '../algorithms/crop-classifier';
import { loadManifestAlgorithm } from '../algorithms/load-manifest-algorithm';
import { ObjectDetector } from '../algorithms/object-detector';
import { definePipeline } from './definition';
import { Pipeline } from './pipeline';

/** Loads a model directory and checks it holds the kind of algorithm this stage needs. */
async function load<T>(dir: string, kind: new (...args: never[]) => T): Promise<T> {
  const algorithm = await loadManifestAlgorithm(dir);
  if (!(algorithm instanceof kind)) throw new Error(`${dir} holds a ${algorithm.kind}, not the ${kind.name} this stage needs`);
  return algorithm;
}

export const mothSpeciesPipeline = definePipeline('tfjs_synthetic_moths_2026', async (ctx) => {
  const [detector, filter, species] = await Promise.all([
    load(path.join(ctx.modelsDir, 'moth-detector'), ObjectDetector),
    load(path.join(ctx.modelsDir, 'moth-nonmoth-classifier'), CropClassifier),
    load(path.join(ctx.modelsDir, 'species-classifier'), CropClassifier),
  ]);
  return new Pipeline(
    {
      name: 'TF.js Synthetic Moth Species 2026',
      slug: 'tfjs_synthetic_moths_2026',
      version: 1,
      description:
        'Detects insects on a light sheet, separates moths from other objects, and identifies moth species. ' +
        'Demo models trained on synthetic images by this service; replace the model directories with real ones.',
    },
    detector,
    [
      { algorithm: filter, terminal: false },
      // Like ADC: only boxes whose filter label is "moth" get a species.
      { algorithm: species, terminal: true, appliesTo: (earlier) => earlier[0]?.classification === 'moth' },
    ],
    ctx.batches,
  );
});
