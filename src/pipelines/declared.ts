/**
 * Pipelines declared in `MODELS_DIR/pipelines.json`: model directories composed into "detector, then
 * classifiers" with no code. A new model with a known layout is a new directory plus an entry in that file;
 * mount both and restart, no rebuild. (Pipelines that need their own `run()` are code: see ./registry.ts.)
 *
 * `"classifiers": []` declares a detector-only pipeline: it returns boxes only (or the detector's own classes).
 * `"detector_classes": ["insect"]` keeps only those classes of a detector whose manifest has `class_labels`.
 *
 * The file's format and its validation are src/models/pipelines-file.ts.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CropClassifier } from '../algorithms/crop-classifier';
import { loadManifestAlgorithm } from '../algorithms/load-manifest-algorithm';
import { ObjectDetector, type ObjectDetectorOptions } from '../algorithms/object-detector';
import { parsePipelinesFile, PIPELINES_FILE, type DeclaredPipeline } from '../models/pipelines-file';
import { definePipeline, type PipelineDefinition } from './definition';
import { Pipeline, type ClassifierStage } from './pipeline';

/** The entry type, where the service's readers have always found it. */
export type { DeclaredPipeline } from '../models/pipelines-file';

/**
 * Loads a model directory and checks it holds the kind of algorithm the stage needs; `detector` options (the
 * pipeline's `detector_classes`) apply to a detector.
 */
async function load<T>(
  dir: string,
  kind: new (...args: never[]) => T,
  detector: ObjectDetectorOptions = {},
): Promise<T> {
  const algorithm = await loadManifestAlgorithm(dir, detector);
  if (!(algorithm instanceof kind))
    throw new Error(`${dir} holds a ${algorithm.kind}, not the ${kind.name} this stage needs`);
  return algorithm;
}

/** The registry entry for one declared pipeline. Model directories are read when the pipeline is created. */
export function declaredPipeline(spec: DeclaredPipeline): PipelineDefinition {
  return definePipeline(spec.slug, async (ctx) => {
    const dir = (model: string): string => path.resolve(ctx.modelsDir, model);
    const [detector, ...classifiers] = await Promise.all([
      load(dir(spec.detector), ObjectDetector, { keepClasses: spec.detector_classes }),
      ...spec.classifiers.map((s) => load(dir(s.model), CropClassifier)),
    ]);
    const stages = spec.classifiers.map((s, i): ClassifierStage => {
      const stage: ClassifierStage = {
        algorithm: classifiers[i],
        terminal: s.terminal,
        batchSize: s.batch_size,
      };
      const condition = s.only_if;
      if (condition) {
        const earlier = spec.classifiers.findIndex((c) => c.model === condition.model);
        if (earlier < 0 || earlier >= i) {
          throw new Error(
            `${spec.slug}: only_if names ${condition.model}, which is not an earlier classifier stage`,
          );
        }
        const key = classifiers[earlier].descriptor.key;
        stage.appliesTo = (done) => {
          const c = done.find((x) => x.algorithm.key === key);
          return c !== undefined && condition.labels.includes(c.classification);
        };
      }
      return stage;
    });
    return new Pipeline(
      { name: spec.name, slug: spec.slug, version: spec.version, description: spec.description ?? null },
      detector,
      stages,
      ctx.batches,
    );
  });
}

/** Reads `modelsDir/pipelines.json`; no file means no declared pipelines. Throws naming the file when invalid. */
export function readDeclaredPipelines(modelsDir: string): PipelineDefinition[] {
  const file = path.join(modelsDir, PIPELINES_FILE);
  if (!fs.existsSync(file)) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  return parsePipelinesFile(raw, file).pipelines.map(declaredPipeline);
}
