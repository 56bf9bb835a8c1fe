/**
 * The model manifest: `manifest.json` in every model directory. It tells the generic detector and classifier
 * everything they need, so a new model with a known layout is a new directory and a registry line, no code.
 * The schema is documented field by field in models/README.md.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import Ajv from 'ajv';
import { categoryMapDataSchema } from '../contract/schemas';
import type { AlgorithmCategoryMap, TaskType } from '../contract/types';

/** How pixels are prepared before the model sees them. Applied in this order: colour order, scale, mean/std. */
export interface ManifestInput {
  /** Model input width and height in pixels. */
  width: number;
  height: number;
  /** Channel order the model expects. Decoded images are RGB. */
  color_order: 'RGB' | 'BGR';
  /** `stretch`: resize to width×height ignoring aspect. `letterbox`: keep aspect, pad bottom/right with `pad_value`. */
  resize: 'stretch' | 'letterbox';
  /** Multiplier applied to 0..255 pixel values first (1/255 for [0,1] models, 1 for [0,255]). */
  scale: number;
  /** Per-channel mean and std applied after scaling, in the model's channel order. */
  mean: [number, number, number];
  std: [number, number, number];
  /** Pixel value (after scale, mean and std) used for letterbox padding. Default 0. */
  pad_value?: number;
  /** Input tensor name, when the model has several or the signature key differs. */
  name?: string;
}

/** Detector outputs: one box tensor [B, K, 4] and one score tensor [B, K]. */
export interface DetectorOutput {
  /** Output names (signature keys or node names) of the box and score tensors. */
  boxes: string;
  scores: string;
  /** Optional class-id tensor [B, K]; the detector's class labels are ignored, as in ADC. */
  classes?: string;
  /** Box layout inside the last dimension. */
  box_format: 'yxyx' | 'xyxy' | 'xywh' | 'cxcywh';
  /** `normalized`: fractions of the model input; `pixels`: pixels of the model input. */
  coordinates: 'normalized' | 'pixels';
  /** Defaults the service applies; per-request `config` may override them. */
  score_threshold: number;
  iou_threshold: number;
  max_detections: number;
}

/** Classifier output: one tensor [B, C] in category-map order. */
export interface ClassifierOutput {
  /** Output name; default the model's only output. */
  name?: string;
  /** `logits`: softmax is applied by the service. `probabilities`: used as scores; logits are reported as ln(p). */
  kind: 'logits' | 'probabilities';
}

/** Identity of the algorithm, as reported in /info. */
export interface ManifestAlgorithm {
  key: string;
  name: string;
  version: number;
  version_name: string | null;
  description: string | null;
  uri: string | null;
  task_type: TaskType;
}

interface ManifestBase {
  /** `tfjs-graph-model`: model.json + shards, every backend. `tf-saved-model`: needs tfjs-node(-gpu). */
  format: 'tfjs-graph-model' | 'tf-saved-model';
  /** Model path relative to the directory: model.json, or the SavedModel directory (default "."). */
  model_path: string;
  /** SavedModel tags and signature (defaults ["serve"] and "serving_default"). */
  saved_model?: { tags: string[]; signature: string };
  algorithm: ManifestAlgorithm;
  input: ManifestInput;
}

export interface DetectorManifest extends ManifestBase {
  kind: 'detector';
  output: DetectorOutput;
}

export interface ClassifierManifest extends ManifestBase {
  kind: 'classifier';
  output: ClassifierOutput;
  /** Category map file in Antenna's format, relative to the directory. */
  category_map: string;
}

export type ModelManifest = DetectorManifest | ClassifierManifest;

const taskTypes: TaskType[] = ['detection', 'localization', 'segmentation', 'classification', 'tagging'];

const algorithmSchema = {
  type: 'object',
  required: ['key', 'name', 'version', 'version_name', 'description', 'uri', 'task_type'],
  properties: {
    key: { type: 'string', pattern: '^[a-z0-9_-]{1,255}$' },
    name: { type: 'string', minLength: 1, maxLength: 255 },
    version: { type: 'integer', minimum: 1 },
    version_name: { type: 'string', maxLength: 255, nullable: true },
    description: { type: 'string', nullable: true },
    uri: { type: 'string', maxLength: 255, nullable: true },
    task_type: { type: 'string', enum: taskTypes },
  },
} as const;

const triple = { type: 'array', items: { type: 'number' }, minItems: 3, maxItems: 3 } as const;

const inputSchema = {
  type: 'object',
  required: ['width', 'height', 'color_order', 'resize', 'scale', 'mean', 'std'],
  properties: {
    width: { type: 'integer', minimum: 1 },
    height: { type: 'integer', minimum: 1 },
    color_order: { type: 'string', enum: ['RGB', 'BGR'] },
    resize: { type: 'string', enum: ['stretch', 'letterbox'] },
    scale: { type: 'number', exclusiveMinimum: 0 },
    mean: triple,
    std: triple,
    pad_value: { type: 'number', nullable: true },
    name: { type: 'string', nullable: true },
  },
} as const;

const common = {
  format: { type: 'string', enum: ['tfjs-graph-model', 'tf-saved-model'] },
  model_path: { type: 'string', minLength: 1 },
  saved_model: {
    type: 'object',
    nullable: true,
    required: ['tags', 'signature'],
    properties: { tags: { type: 'array', items: { type: 'string' } }, signature: { type: 'string' } },
  },
  algorithm: algorithmSchema,
  input: inputSchema,
} as const;

const manifestSchema = {
  oneOf: [
    {
      type: 'object',
      required: ['kind', 'format', 'model_path', 'algorithm', 'input', 'output'],
      properties: {
        kind: { const: 'detector' },
        ...common,
        output: {
          type: 'object',
          required: ['boxes', 'scores', 'box_format', 'coordinates', 'score_threshold', 'iou_threshold', 'max_detections'],
          properties: {
            boxes: { type: 'string' },
            scores: { type: 'string' },
            classes: { type: 'string' },
            box_format: { type: 'string', enum: ['yxyx', 'xyxy', 'xywh', 'cxcywh'] },
            coordinates: { type: 'string', enum: ['normalized', 'pixels'] },
            score_threshold: { type: 'number', minimum: 0, maximum: 1 },
            iou_threshold: { type: 'number', minimum: 0, maximum: 1 },
            max_detections: { type: 'integer', minimum: 1 },
          },
        },
      },
    },
    {
      type: 'object',
      required: ['kind', 'format', 'model_path', 'algorithm', 'input', 'output', 'category_map'],
      properties: {
        kind: { const: 'classifier' },
        ...common,
        output: {
          type: 'object',
          required: ['kind'],
          properties: { name: { type: 'string' }, kind: { type: 'string', enum: ['logits', 'probabilities'] } },
        },
        category_map: { type: 'string', minLength: 1 },
      },
    },
  ],
};

/** A category-map file: `version`, `description` and `uri` may be left out (read as null). */
const categoryMapSchema = {
  type: 'object',
  required: ['data', 'labels'],
  properties: {
    data: categoryMapDataSchema,
    labels: { type: 'array', items: { type: 'string' } },
    version: { type: 'string', nullable: true },
    description: { type: 'string', nullable: true },
    uri: { type: 'string', nullable: true },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: false });
const validateManifest = ajv.compile<ModelManifest>(manifestSchema);
const validateCategoryMap = ajv.compile<AlgorithmCategoryMap>(categoryMapSchema);

/** A manifest with its directory and (for classifiers) its loaded category map. */
export interface LoadedManifest {
  dir: string;
  manifest: ModelManifest;
  categoryMap: AlgorithmCategoryMap | null;
}

/** Thrown when a model directory is unusable; the message names the file and the problem. */
export class ManifestError extends Error {}

/** Checks the category-map invariants Antenna relies on (CONTRACT §2.5, §8 item 3). */
export function checkCategoryMap(map: AlgorithmCategoryMap, where: string): void {
  if (!validateCategoryMap(map)) {
    throw new ManifestError(`${where}: ${ajv.errorsText(validateCategoryMap.errors)}`);
  }
  if (map.labels.length !== map.data.length) {
    throw new ManifestError(`${where}: labels has ${map.labels.length} entries but data has ${map.data.length}`);
  }
  map.data.forEach((entry, i) => {
    if (entry.index !== i) throw new ManifestError(`${where}: data[${i}].index is ${entry.index}, expected ${i}`);
    if (entry.label !== map.labels[i]) {
      throw new ManifestError(`${where}: data[${i}].label "${entry.label}" differs from labels[${i}] "${map.labels[i]}"`);
    }
  });
}

/** Reads and validates `dir/manifest.json` and its category map. Nothing is loaded into TF here. */
export async function readManifest(dir: string): Promise<LoadedManifest> {
  const file = path.join(dir, 'manifest.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch (err) {
    throw new ManifestError(`${file}: ${(err as Error).message}`);
  }
  if (!validateManifest(raw)) {
    throw new ManifestError(`${file}: ${ajv.errorsText(validateManifest.errors)}`);
  }
  const manifest = raw;
  let categoryMap: AlgorithmCategoryMap | null = null;
  if (manifest.kind === 'classifier') {
    const mapFile = path.join(dir, manifest.category_map);
    try {
      categoryMap = JSON.parse(await fsp.readFile(mapFile, 'utf8')) as AlgorithmCategoryMap;
    } catch (err) {
      throw new ManifestError(`${mapFile}: ${(err as Error).message}`);
    }
    checkCategoryMap(categoryMap, mapFile);
    // /info always sends every key of the map (CONTRACT §2.1), so optional ones left out of the file become null.
    categoryMap = {
      ...categoryMap,
      version: categoryMap.version ?? null,
      description: categoryMap.description ?? null,
      uri: categoryMap.uri ?? null,
    };
  }
  return { dir, manifest, categoryMap };
}
