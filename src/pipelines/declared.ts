/**
 * Pipelines declared in `MODELS_DIR/pipelines.json`: model directories composed into "detector, then
 * classifiers" with no code. A new model with a known layout is a new directory plus an entry in that file;
 * mount both and restart, no rebuild. (Pipelines that need their own `run()` are code: see ./registry.ts.)
 *
 * `"classifiers": []` declares a detector-only pipeline: it returns boxes only (or the detector's own classes).
 * `"detector_classes": ["insect"]` keeps only those classes of a detector whose manifest has `class_labels`.
 *
 * ```json
 * {"pipelines": [{"slug": "acme_moths_2026", "name": "ACME moths 2026", "version": 1, "description": "...",
 *   "detector": "moth-detector",
 *   "classifiers": [
 *     {"model": "moth-nonmoth-classifier", "terminal": false},
 *     {"model": "species-classifier", "terminal": true, "only_if": {"model": "moth-nonmoth-classifier", "labels": ["moth"]}}]}]}
 * ```
 */
import * as fs from 'fs';
import * as path from 'path';
import Ajv from 'ajv';
import { CropClassifier } from '../algorithms/crop-classifier';
import { loadManifestAlgorithm } from '../algorithms/load-manifest-algorithm';
import { ObjectDetector, type ObjectDetectorOptions } from '../algorithms/object-detector';
import { definePipeline, type PipelineDefinition } from './definition';
import { Pipeline, type ClassifierStage } from './pipeline';

export const PIPELINES_FILE = 'pipelines.json';

export interface DeclaredStage {
  /** Model directory (relative to MODELS_DIR) of a classifier. */
  model: string;
  /** `false` for filters such as moth/non-moth (docs/antenna-protocol.md#classifications). */
  terminal: boolean;
  batch_size?: number;
  /** Run only on detections that an earlier stage (by model directory) labelled with one of `labels`. */
  only_if?: { model: string; labels: string[] };
}

export interface DeclaredPipeline {
  slug: string;
  name: string;
  version: number;
  description?: string | null;
  /** Model directory of the detector. */
  detector: string;
  /** Keep only these detector classes (the detector's manifest must have `class_labels`). */
  detector_classes?: string[];
  classifiers: DeclaredStage[];
}

const schema = {
  type: 'object',
  required: ['pipelines'],
  properties: {
    pipelines: {
      type: 'array',
      items: {
        type: 'object',
        required: ['slug', 'name', 'version', 'detector', 'classifiers'],
        additionalProperties: false,
        properties: {
          slug: { type: 'string', pattern: '^[a-z0-9_-]{1,255}$' },
          name: { type: 'string', minLength: 1, maxLength: 255 },
          version: { type: 'integer', minimum: 1 },
          description: { type: 'string', nullable: true },
          detector: { type: 'string', minLength: 1 },
          detector_classes: { type: 'array', items: { type: 'string' }, minItems: 1 },
          classifiers: {
            type: 'array',
            items: {
              type: 'object',
              required: ['model', 'terminal'],
              additionalProperties: false,
              properties: {
                model: { type: 'string', minLength: 1 },
                terminal: { type: 'boolean' },
                batch_size: { type: 'integer', minimum: 1 },
                only_if: {
                  type: 'object',
                  required: ['model', 'labels'],
                  additionalProperties: false,
                  properties: {
                    model: { type: 'string' },
                    labels: { type: 'array', items: { type: 'string' }, minItems: 1 },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: true, strict: false }).compile<{ pipelines: DeclaredPipeline[] }>(
  schema,
);

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
  if (!validate(raw)) {
    const problems = (validate.errors ?? [])
      .map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`)
      .join('; ');
    throw new Error(`${file}: ${problems}`);
  }
  return raw.pipelines.map(declaredPipeline);
}
