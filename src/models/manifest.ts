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

/** Memory layout of the image input: channels last (TF) or channels first (PyTorch/ONNX exports). */
export type InputLayout = 'NHWC' | 'NCHW';

/**
 * The input's batch dimension: `dynamic` takes any batch; `single` is fixed at 1 (one image per call);
 * `none` has no batch dimension at all (`[H, W, 3]` or `[3, H, W]`, e.g. torchvision detection exports).
 */
export type BatchMode = 'dynamic' | 'single' | 'none';

/**
 * `stretch`: resize to width×height ignoring aspect. `letterbox`: keep aspect, pad bottom/right.
 * `letterbox-center`: keep aspect, pad evenly on both sides (ultralytics). `shorter-side`: keep aspect, the
 * shorter side to `min_size` unless the longer would pass `max_size`, sizes floored (torchvision's detection
 * transform; detectors only). `none`: feed the decoded image at its own size (the graph resizes and normalises;
 * detectors only).
 */
export type ResizeMode = 'stretch' | 'letterbox' | 'letterbox-center' | 'shorter-side' | 'none';

/**
 * The input tensor's dtype. `float32`: pixels are normalised (scale, mean, std). `uint8` and `int32`: the 0..255
 * values are fed as whole numbers with no normalisation, as TF Object Detection API exports take them (uint8).
 */
export type InputDtype = 'float32' | 'uint8' | 'int32';

/** Pixel values the model expects. Applied in this order: colour order, scale, mean/std (float inputs only). */
export interface PixelNormalization {
  /** Channel order the model expects. Decoded images are RGB. */
  color_order: 'RGB' | 'BGR';
  /** Default `float32`. */
  dtype?: InputDtype;
  /** Multiplier applied to 0..255 pixel values first (1/255 for [0,1] models, 1 for [0,255]). Float inputs only. */
  scale?: number;
  /** Per-channel mean and std applied after scaling, in the model's channel order. Float inputs only. */
  mean?: [number, number, number];
  std?: [number, number, number];
  /** Input tensor name, when the model has several or the signature key differs. */
  name?: string;
}

/** True when the input takes whole 0..255 values as they are (uint8 or int32), with no normalisation. */
export const integerInput = (input: PixelNormalization): boolean =>
  input.dtype === 'uint8' || input.dtype === 'int32';

/**
 * How `stretch` brings a crop to the model's size:
 * - `bilinear` (default): one tf.image.cropAndResize per image, sampling the box's exact (fractional) extent;
 * - `bilinear-antialias`: the box's whole pixels resized as PyTorch's `interpolate(antialias=True)` does a float
 *   tensor (torchvision's `Resize(antialias=True)` after `ToTensor`);
 * - `pil-bilinear`: the box's whole pixels resized as Pillow's `resize(BILINEAR)` does an 8-bit image
 *   (torchvision's `Resize` before `ToTensor`), rounded to whole values.
 * The last two cut the box as `PIL.Image.crop` of its integer coordinates does, with no padding.
 */
export type CropInterpolation = 'bilinear' | 'bilinear-antialias' | 'pil-bilinear';

/**
 * A classifier's crops, fed as NHWC batches: `stretch` brings each box to width×height (aspect not kept) by
 * `interpolation`; `none` cuts each box at its own whole-pixel size (for graphs that resize inside), and only
 * crops of one size share a call.
 */
export interface ClassifierInput extends PixelNormalization {
  /** Model input width and height in pixels. Required with `stretch`; with `none` they size the warm-up crop. */
  width?: number;
  height?: number;
  resize: 'stretch' | 'none';
  /** With `stretch`; default `bilinear`. */
  interpolation?: CropInterpolation;
}

/**
 * How a detector's image is resized (not used with `resize: none`):
 * - `bilinear`: `tf.image.resizeBilinear` with half-pixel centres (OpenCV's INTER_LINEAR up to rounding);
 * - `torch-bilinear`: PyTorch ≥ 2's CPU `interpolate(mode="bilinear", align_corners=False)` reproduced to float32
 *   rounding: source positions in float32 with a fused multiply-add (torchvision's detection transform);
 * - `torch1-bilinear`: the same filter as PyTorch 1.x computes it, with source positions in float64.
 * Default `torch-bilinear` with `resize: shorter-side` (torchvision's transform), else `bilinear`.
 */
export type DetectorInterpolation = 'bilinear' | 'torch-bilinear' | 'torch1-bilinear';

/** How a detector's input is built from a decoded image. */
export interface DetectorInput extends PixelNormalization {
  /** Model input size in pixels. Required unless `resize` is `none`, where it only sizes the warm-up image. */
  width?: number;
  height?: number;
  resize: ResizeMode;
  /** `shorter-side`: the shorter side's target and the longer side's limit, in pixels (torchvision: 800, 1333). */
  min_size?: number;
  max_size?: number;
  /** Default `torch-bilinear` with `shorter-side`, else `bilinear` (see DetectorInterpolation). */
  interpolation?: DetectorInterpolation;
  /** Letterbox padding in 0..255 pixel units, before scale, mean and std (ultralytics uses 114). Default 0. */
  pad_value?: number;
  /** Default `NHWC`. */
  layout?: InputLayout;
  /** Default: read from the graph's input shape (rank 3 → `none`, batch fixed at 1 → `single`, else `dynamic`). */
  batch?: BatchMode;
}

/** Either kind's input. */
export type ManifestInput = ClassifierInput | DetectorInput;

/**
 * One packed output tensor holding every detection's numbers: `[B, K, D]` rows (e.g. CenterNet
 * x1,y1,x2,y2,score,class) or, with `channels_first`, `[B, D, K]` (ultralytics `[1, 4+nc, N]`). Column indices
 * count along D.
 */
export interface PackedOutput {
  /** Output name of the packed tensor. */
  tensor: string;
  /** `true` for `[B, D, K]`. Default false. */
  channels_first?: boolean;
  /** First of the four box columns. */
  box: number;
  /** Column of the box score; exclusive with `class_scores`. */
  score?: number;
  /** Column of the class id; exclusive with `class_scores`. */
  class?: number;
  /** First of the per-class score columns (through the last column): score = max, class = argmax. */
  class_scores?: number;
}

/** The highest column a packed layout names (the first class-score column counts); D must exceed it. */
export function lastPackedColumn(p: PackedOutput): number {
  return Math.max(p.box + 3, p.score ?? 0, p.class ?? 0, p.class_scores ?? 0);
}

/**
 * Detector outputs: either separate tensors (`boxes` `[B, K, 4]`, `scores` `[B, K]` or per-class `[B, K, C]`,
 * optional `classes` `[B, K]`) or one `packed` tensor. Without a batch dimension the leading B is absent.
 */
export interface DetectorOutput {
  /** Output names (signature keys or node names) of the separate box and score tensors. */
  boxes?: string;
  scores?: string;
  /** Optional class-id tensor; used only when the manifest has `class_labels`, otherwise ignored as in ADC. */
  classes?: string;
  packed?: PackedOutput;
  /**
   * Optional `[B]` tensor of valid rows per image (TF Object Detection API `num_detections`): rows at or past it
   * are padding and are never read.
   */
  num_detections?: string;
  /** Box layout inside the last dimension. */
  box_format: 'yxyx' | 'xyxy' | 'xywh' | 'cxcywh';
  /** `normalized`: fractions of the model input; `pixels`: pixels of the model input (source pixels with `none`). */
  coordinates: 'normalized' | 'pixels';
  /** `in-graph`: the graph already ran NMS, the service runs none. Default `service`. */
  nms?: 'service' | 'in-graph';
  /** Service NMS per class (boxes of different classes never suppress each other), as ultralytics does. */
  nms_per_class?: boolean;
  /** Defaults the service applies; per-request `config` may override threshold and cap (see request_overrides). */
  score_threshold: number;
  /** `true`: keep scores strictly above the threshold (ADC's `score > 0.8`). Default false: at or above. */
  score_threshold_strict?: boolean;
  /**
   * `false`: the request's `detection_threshold` and `max_detections` are ignored, for a service whose answers
   * must not depend on what a client sends (ADC's detector). Default true.
   */
  request_overrides?: boolean;
  /** Service NMS only (an error with `nms: in-graph`). */
  iou_threshold?: number;
  max_detections: number;
}

/**
 * The detector's own class labels. Without this block class outputs are ignored, as in ADC. With it, `report`
 * attaches to each detection a classification from the detector (under a companion algorithm that carries the
 * category map in /info), and `keep` drops every other class.
 */
export interface DetectorClassLabels {
  /** Category map file in Antenna's format, relative to the directory; index i is class id i. */
  category_map: string;
  report: boolean;
  /** Labels to keep; detections of other classes are dropped before NMS. */
  keep?: string[];
  /**
   * The class id the model gives the category map's first entry (class ids, not per-class score columns). Default
   * 0; the TF Object Detection API numbers classes from 1, so its label list ["insect", "other"] names ids 1 and 2.
   */
  first_id?: number;
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
  /**
   * A graph model's own graph written as a SavedModel (`npm run convert -- native`), relative to the directory.
   * The native backend runs it as one TensorFlow graph instead of op by op; other backends use `model_path`.
   */
  native_saved_model?: string;
  algorithm: ManifestAlgorithm;
}

export interface DetectorManifest extends ManifestBase {
  kind: 'detector';
  input: DetectorInput;
  output: DetectorOutput;
  class_labels?: DetectorClassLabels;
}

export interface ClassifierManifest extends ManifestBase {
  kind: 'classifier';
  input: ClassifierInput;
  output: ClassifierOutput;
  /** Category map file in Antenna's format, relative to the directory. */
  category_map: string;
}

export type ModelManifest = DetectorManifest | ClassifierManifest;

const taskTypes: TaskType[] = ['detection', 'localization', 'segmentation', 'classification', 'tagging'];

const algorithmSchema = {
  type: 'object',
  required: ['key', 'name', 'version', 'version_name', 'description', 'uri', 'task_type'],
  additionalProperties: false,
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

const pixelProperties = {
  color_order: { type: 'string', enum: ['RGB', 'BGR'] },
  dtype: { type: 'string', enum: ['float32', 'uint8', 'int32'] },
  scale: { type: 'number', exclusiveMinimum: 0 },
  mean: triple,
  std: triple,
  name: { type: 'string' },
} as const;

// A classifier crops and feeds NHWC batches: every other input field would be ignored. scale, mean and std are
// required for float inputs only, and width and height with stretch only (inputProblems).
const classifierInputSchema = {
  type: 'object',
  required: ['color_order', 'resize'],
  additionalProperties: false,
  properties: {
    width: { type: 'integer', minimum: 1 },
    height: { type: 'integer', minimum: 1 },
    resize: { type: 'string', enum: ['stretch', 'none'] },
    interpolation: { type: 'string', enum: ['bilinear', 'bilinear-antialias', 'pil-bilinear'] },
    ...pixelProperties,
  },
} as const;

const detectorInputSchema = {
  type: 'object',
  required: ['color_order', 'resize'],
  additionalProperties: false,
  properties: {
    width: { type: 'integer', minimum: 1 },
    height: { type: 'integer', minimum: 1 },
    resize: { type: 'string', enum: ['stretch', 'letterbox', 'letterbox-center', 'shorter-side', 'none'] },
    min_size: { type: 'integer', minimum: 1 },
    max_size: { type: 'integer', minimum: 1 },
    interpolation: { type: 'string', enum: ['bilinear', 'torch-bilinear', 'torch1-bilinear'] },
    pad_value: { type: 'number', minimum: 0, maximum: 255 },
    layout: { type: 'string', enum: ['NHWC', 'NCHW'] },
    batch: { type: 'string', enum: ['dynamic', 'single', 'none'] },
    ...pixelProperties,
  },
} as const;

const column = { type: 'integer', minimum: 0 } as const;

const detectorOutputSchema = {
  type: 'object',
  required: ['box_format', 'coordinates', 'score_threshold', 'max_detections'],
  additionalProperties: false,
  properties: {
    boxes: { type: 'string', minLength: 1 },
    scores: { type: 'string', minLength: 1 },
    classes: { type: 'string', minLength: 1 },
    num_detections: { type: 'string', minLength: 1 },
    packed: {
      type: 'object',
      required: ['tensor', 'box'],
      additionalProperties: false,
      properties: {
        tensor: { type: 'string', minLength: 1 },
        channels_first: { type: 'boolean' },
        box: column,
        score: column,
        class: column,
        class_scores: column,
      },
    },
    box_format: { type: 'string', enum: ['yxyx', 'xyxy', 'xywh', 'cxcywh'] },
    coordinates: { type: 'string', enum: ['normalized', 'pixels'] },
    nms: { type: 'string', enum: ['service', 'in-graph'] },
    nms_per_class: { type: 'boolean' },
    score_threshold: { type: 'number', minimum: 0, maximum: 1 },
    score_threshold_strict: { type: 'boolean' },
    request_overrides: { type: 'boolean' },
    iou_threshold: { type: 'number', minimum: 0, maximum: 1 },
    max_detections: { type: 'integer', minimum: 1 },
  },
} as const;

const common = {
  format: { type: 'string', enum: ['tfjs-graph-model', 'tf-saved-model'] },
  model_path: { type: 'string', minLength: 1 },
  saved_model: {
    type: 'object',
    required: ['tags', 'signature'],
    additionalProperties: false,
    properties: { tags: { type: 'array', items: { type: 'string' } }, signature: { type: 'string' } },
  },
  native_saved_model: { type: 'string', minLength: 1 },
  algorithm: algorithmSchema,
} as const;

// One schema per kind, chosen by `kind` first: a oneOf over both would report every branch's errors.
const detectorSchema = {
  type: 'object',
  required: ['kind', 'format', 'model_path', 'algorithm', 'input', 'output'],
  additionalProperties: false,
  properties: {
    kind: { const: 'detector' },
    ...common,
    input: detectorInputSchema,
    output: detectorOutputSchema,
    class_labels: {
      type: 'object',
      required: ['category_map', 'report'],
      additionalProperties: false,
      properties: {
        category_map: { type: 'string', minLength: 1 },
        report: { type: 'boolean' },
        keep: { type: 'array', items: { type: 'string' }, minItems: 1 },
        first_id: { type: 'integer', minimum: 0 },
      },
    },
  },
} as const;

const classifierSchema = {
  type: 'object',
  required: ['kind', 'format', 'model_path', 'algorithm', 'input', 'output', 'category_map'],
  additionalProperties: false,
  properties: {
    kind: { const: 'classifier' },
    ...common,
    input: classifierInputSchema,
    output: {
      type: 'object',
      required: ['kind'],
      additionalProperties: false,
      properties: { name: { type: 'string' }, kind: { type: 'string', enum: ['logits', 'probabilities'] } },
    },
    category_map: { type: 'string', minLength: 1 },
  },
} as const;

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
const validateDetector = ajv.compile<DetectorManifest>(detectorSchema);
const validateClassifier = ajv.compile<ClassifierManifest>(classifierSchema);
const validateCategoryMap = ajv.compile<AlgorithmCategoryMap>(categoryMapSchema);

/** A manifest with its directory and its loaded category map (a classifier's, or a detector's `class_labels`). */
export interface LoadedManifest {
  dir: string;
  manifest: ModelManifest;
  categoryMap: AlgorithmCategoryMap | null;
}

/** Thrown when a model directory is unusable; the message names the file and the problem. */
export class ManifestError extends Error {}

/** Checks the category-map invariants Antenna relies on (docs/antenna-protocol.md#category-maps). */
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

/**
 * Input rules both kinds share: normalisation is for float inputs only (an integer input is fed as it is), and
 * a size is needed unless the model takes images at their own size.
 */
export function inputProblems(input: ManifestInput): string[] {
  const problems: string[] = [];
  const fields = (['scale', 'mean', 'std'] as const).filter((f) => input[f] !== undefined);
  if (integerInput(input)) {
    if (fields.length > 0) {
      problems.push(
        `input.${fields.join(', input.')}: input.dtype "${input.dtype}" feeds the 0..255 values as they are, ` +
          'with no normalisation; remove them',
      );
    }
  } else {
    const missing = (['scale', 'mean', 'std'] as const).filter((f) => input[f] === undefined);
    if (missing.length > 0) {
      problems.push(
        `input.${missing.join(', input.')} required for a float input (or set input.dtype "uint8" or "int32" ` +
          'for a model that takes whole 0..255 values)',
      );
    }
  }
  if (
    input.resize !== 'none' &&
    input.resize !== 'shorter-side' &&
    (input.width === undefined || input.height === undefined)
  ) {
    problems.push(`input.width and input.height are required with resize "${input.resize}"`);
  }
  if ((input.width === undefined) !== (input.height === undefined)) {
    problems.push('input.width and input.height go together');
  }
  return problems;
}

/**
 * Rules JSON Schema cannot say well: combinations of detector fields. Returns the problems, each naming the
 * field; a field the service would ignore is a problem too, so that a manifest never promises what is not done.
 */
export function detectorManifestProblems(m: DetectorManifest): string[] {
  const { input, output } = m;
  const problems = inputProblems(input);
  if (input.pad_value !== undefined && input.resize !== 'letterbox' && input.resize !== 'letterbox-center') {
    problems.push(`input.pad_value is only used by letterbox resizing, but resize is "${input.resize}"`);
  }
  if (input.interpolation !== undefined && input.resize === 'none') {
    problems.push('input.interpolation: not used with resize "none" (the image is fed at its own size)');
  }
  const sides = (['min_size', 'max_size'] as const).filter((f) => input[f] !== undefined);
  if (input.resize === 'shorter-side') {
    if (sides.length !== 2) problems.push('input.min_size and input.max_size are required with resize "shorter-side"');
    if (input.width !== undefined) {
      problems.push('input.width and input.height are not used with resize "shorter-side" (min_size and max_size are)');
    }
  } else if (sides.length > 0) {
    problems.push(`input.${sides.join(', input.')}: only used with resize "shorter-side", but resize is "${input.resize}"`);
  }

  const separate = output.boxes !== undefined || output.scores !== undefined || output.classes !== undefined;
  if (separate && output.packed) {
    problems.push('output: give either boxes/scores(/classes) or packed, not both');
  } else if (!output.packed && (output.boxes === undefined || output.scores === undefined)) {
    problems.push('output: give boxes and scores (separate tensors) or packed (one tensor)');
  }
  const p = output.packed;
  if (p) {
    if ((p.score === undefined) === (p.class_scores === undefined)) {
      problems.push('output.packed: give exactly one of score (one score column) and class_scores (per-class columns)');
    }
    if (p.class !== undefined && p.class_scores !== undefined) {
      problems.push('output.packed.class: the class is the argmax of class_scores; give one of them');
    }
    const used = [p.box, p.box + 1, p.box + 2, p.box + 3, p.score, p.class].filter(
      (c): c is number => c !== undefined,
    );
    if (new Set(used).size !== used.length) problems.push('output.packed: box, score and class columns overlap');
    if (p.class_scores !== undefined && used.some((c) => c >= p.class_scores!)) {
      problems.push('output.packed.class_scores: the per-class columns run to the end, after every other column');
    }
  }
  const nms = output.nms ?? 'service';
  if (nms === 'in-graph' && output.iou_threshold !== undefined) {
    problems.push('output.iou_threshold is ignored with nms "in-graph" (the graph already ran NMS); remove it');
  }
  const classSource =
    output.classes !== undefined ||
    p?.class !== undefined ||
    p?.class_scores !== undefined ||
    (output.scores !== undefined && !output.packed); // separate scores may be per class: checked at warm-up
  if (output.nms_per_class && nms === 'in-graph') {
    problems.push('output.nms_per_class is ignored with nms "in-graph" (the graph already ran NMS); remove it');
  } else if (output.nms_per_class && !classSource) {
    problems.push('output.nms_per_class: the outputs give no class (set output.classes, packed.class or packed.class_scores)');
  }
  if (nms === 'service' && output.iou_threshold === undefined) {
    problems.push('output.iou_threshold is required when the service runs NMS (nms "service")');
  }
  const labels = m.class_labels;
  if (labels) {
    if (!classSource) {
      problems.push('class_labels: the outputs give no class (set output.classes, packed.class or packed.class_scores)');
    }
    if (!labels.report && labels.keep === undefined) {
      problems.push('class_labels would be ignored: set report to true or give keep');
    }
    if ((labels.first_id ?? 0) !== 0 && output.classes === undefined && p?.class === undefined) {
      problems.push(
        'class_labels.first_id offsets class ids, but the outputs give none (set output.classes or packed.class); ' +
          'per-class score columns are read in category-map order',
      );
    }
  }
  return problems;
}

async function readCategoryMap(dir: string, file: string): Promise<AlgorithmCategoryMap> {
  const mapFile = path.join(dir, file);
  let map: AlgorithmCategoryMap;
  try {
    map = JSON.parse(await fsp.readFile(mapFile, 'utf8')) as AlgorithmCategoryMap;
  } catch (err) {
    throw new ManifestError(`${mapFile}: ${(err as Error).message}`);
  }
  checkCategoryMap(map, mapFile);
  // /info always sends every key of the map (docs/antenna-protocol.md#transport), so optional ones left out
  // of the file become null.
  return { ...map, version: map.version ?? null, description: map.description ?? null, uri: map.uri ?? null };
}

const schemaErrors = (errors: typeof validateDetector.errors): string =>
  (errors ?? [])
    .map((e) => {
      const where = e.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(top level)';
      const extra = (e.params as { additionalProperty?: string }).additionalProperty;
      return extra !== undefined
        ? `${where === '(top level)' ? '' : `${where}.`}${extra} is not a field the service reads for this kind of model`
        : `${where} ${e.message ?? 'is invalid'}`;
    })
    .join('; ');

/** Problems every kind shares. */
function commonProblems(m: ModelManifest): string[] {
  return m.native_saved_model !== undefined && m.format !== 'tfjs-graph-model'
    ? [
        'native_saved_model: only for format "tfjs-graph-model" (it is that graph written as a SavedModel); ' +
          `this model is already a SavedModel (format "${m.format}")`,
      ]
    : [];
}

/** Validates a parsed manifest; throws ManifestError naming `where` and every bad field. */
export function validateManifestJson(raw: unknown, where: string): ModelManifest {
  const kind = (raw as { kind?: unknown } | null)?.kind;
  if (kind === 'detector') {
    if (!validateDetector(raw)) throw new ManifestError(`${where}: ${schemaErrors(validateDetector.errors)}`);
    const problems = [...commonProblems(raw), ...detectorManifestProblems(raw)];
    if (problems.length > 0) throw new ManifestError(`${where}: ${problems.join('; ')}`);
    return raw;
  }
  if (kind === 'classifier') {
    if (!validateClassifier(raw)) throw new ManifestError(`${where}: ${schemaErrors(validateClassifier.errors)}`);
    const problems = [...commonProblems(raw), ...inputProblems(raw.input)];
    if (raw.input.interpolation !== undefined && raw.input.resize !== 'stretch') {
      problems.push(
        `input.interpolation: only used with resize "stretch" (it says how a crop is brought to the input size), ` +
          `but resize is "${raw.input.resize}"`,
      );
    }
    if (problems.length > 0) throw new ManifestError(`${where}: ${problems.join('; ')}`);
    return raw;
  }
  throw new ManifestError(`${where}: kind must be "detector" or "classifier", got ${JSON.stringify(kind)}`);
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
  const manifest = validateManifestJson(raw, file);
  let categoryMap: AlgorithmCategoryMap | null = null;
  if (manifest.kind === 'classifier') {
    categoryMap = await readCategoryMap(dir, manifest.category_map);
  } else if (manifest.class_labels) {
    categoryMap = await readCategoryMap(dir, manifest.class_labels.category_map);
    const unknown = (manifest.class_labels.keep ?? []).filter((l) => !categoryMap?.labels.includes(l));
    if (unknown.length > 0) {
      throw new ManifestError(
        `${file}: class_labels.keep names ${unknown.map((l) => `"${l}"`).join(', ')}, which the category map ` +
          `does not have (it has ${categoryMap.labels.length} labels: ${categoryMap.labels.slice(0, 10).join(', ')})`,
      );
    }
  }
  return { dir, manifest, categoryMap };
}
