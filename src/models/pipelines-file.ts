/**
 * The format of `MODELS_DIR/pipelines.json`: model directories composed into "detector, then classifiers". The
 * service reads it (src/pipelines/declared.ts) and the importers write it (`npm run import-adc`), both through
 * `parsePipelinesFile`, so a file an importer writes is one the service accepts.
 *
 * ```json
 * {"pipelines": [{"slug": "acme_moths_2026", "name": "ACME moths 2026", "version": 1, "description": "...",
 *   "detector": "moth-detector",
 *   "classifiers": [
 *     {"model": "moth-nonmoth-classifier", "terminal": false},
 *     {"model": "species-classifier", "terminal": true, "only_if": {"model": "moth-nonmoth-classifier", "labels": ["moth"]}}]}]}
 * ```
 */
import Ajv from 'ajv';

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

/** The whole file. */
export interface PipelinesFile {
  pipelines: DeclaredPipeline[];
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

const validate = new Ajv({ allErrors: true, strict: false }).compile<PipelinesFile>(schema);

/** Checks parsed JSON against the format; throws an Error naming `source` and every problem. */
export function parsePipelinesFile(raw: unknown, source: string): PipelinesFile {
  if (!validate(raw)) {
    const problems = (validate.errors ?? [])
      .map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`)
      .join('; ');
    throw new Error(`${source}: ${problems}`);
  }
  return raw;
}
