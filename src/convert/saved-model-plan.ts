/**
 * Reads a SavedModel signature and plans the manifest that serves it unchanged. Recognised with no flags:
 *
 * - **TF2 Object Detection API detectors** (TF2 Detection Model Zoo, TF Hub / Kaggle exports): input
 *   `input_tensor` uint8 `[1, H, W, 3]` of any size; outputs `detection_boxes` (ymin, xmin, ymax, xmax normalised),
 *   `detection_scores`, `detection_classes` (float, 1-based) and `num_detections` (rows past it are padding).
 * - **Keras 3 `model.export()` classifiers**: one float `[N, H, W, 3]` input, one `[N, C]` output. The output is
 *   taken for probabilities when the op computing it is a Softmax (traced through the function calls), else for
 *   logits. Pixels are fed as 0..255 floats: Keras models usually carry their preprocessing inside.
 *
 * Anything else needs flags naming its inputs and outputs; the error lists them with dtypes and shapes.
 * Pure: it sees parsed metadata, never files.
 */
import type { AlgorithmCategoryMap } from '../contract/types';
import type {
  ClassifierManifest,
  DetectorManifest,
  DetectorOutput,
  InputDtype,
  ManifestAlgorithm,
} from '../models/manifest';
import { ConversionError } from './onnx/convert-onnx';
import type { SavedModelInfo, SavedModelTensor } from './saved-model';

/** Where the SavedModel is copied inside the model directory. */
export const SAVED_MODEL_DIR = 'saved_model';

/** The TF Object Detection API's serving signature (exporter_lib_v2, input type `image_tensor`). */
export const OD_API = {
  input: 'input_tensor',
  boxes: 'detection_boxes',
  scores: 'detection_scores',
  classes: 'detection_classes',
  numDetections: 'num_detections',
  /** The exporter adds 1 to the 0-based class of every detection (its `label_id_offset`). */
  firstId: 1,
} as const;

/** Flags that pick or describe the signature; any left out is recognised from it. */
export interface SavedModelPlanOptions {
  kind: 'detector' | 'classifier';
  algorithm: Omit<ManifestAlgorithm, 'task_type'>;
  /** The category map built from `--labels`; a detector without one ignores its classes, as ADC does. */
  labels: AlgorithmCategoryMap | null;
  tags?: string[];
  signature?: string;
  /** Signature key of the image input. */
  input?: string;
  /** Float inputs: `(v · scale − mean) / std`. Default 0..255 as they are (scale 1, mean 0, std 1). */
  scale?: number;
  mean?: [number, number, number];
  std?: [number, number, number];
  /** [height, width] for a classifier with a dynamic input: crops are resized to it instead of fed at own size. */
  inputSize?: [number, number];
  // Classifiers
  output?: string;
  outputKind?: 'logits' | 'probabilities';
  // Detectors
  boxes?: string;
  scores?: string;
  classes?: string;
  numDetections?: string;
  boxFormat?: DetectorOutput['box_format'];
  coordinates?: DetectorOutput['coordinates'];
  firstId?: number;
  nms?: 'service' | 'in-graph';
  scoreThreshold?: number;
  iouThreshold?: number;
  maxDetections?: number;
  keepClasses?: string[];
  reportClasses?: boolean;
}

/** The manifest and what was decided, line by line, for the log. */
export interface SavedModelPlan<M> {
  manifest: M;
  notes: string[];
}

type Signature = SavedModelInfo['metaGraphs'][number]['signatures'][number];

const dims = (t: SavedModelTensor): string => (t.shape ? `[${t.shape.join(', ')}]` : '[?]');
const describe = (list: SavedModelTensor[]): string =>
  list.map((t) => `    ${t.key}  ${t.dtype}  ${dims(t)}`).join('\n') || '    (none)';

const DETECTOR_FLAGS =
  '--input <key> --boxes <key> --scores <key> [--classes <key>] [--num-detections <key>] ' +
  '--box-format yxyx|xyxy|xywh|cxcywh --coordinates normalized|pixels [--first-id <id of the first label>] ' +
  '[--nms in-graph|service]';
const CLASSIFIER_FLAGS =
  '--input <key> --output <key> [--output-kind logits|probabilities] [--input-size HxW] [--scale --mean --std]';

/** The error for a signature the tool does not recognise: what it has, and the flags that would describe it. */
function unknownSignature(kind: 'detector' | 'classifier', sig: Signature, why: string): ConversionError {
  const expected =
    kind === 'detector'
      ? `a TF2 Object Detection API detector (input "${OD_API.input}" uint8 [1, H, W, 3]; outputs ` +
        `${OD_API.boxes}, ${OD_API.scores}, ${OD_API.classes}, ${OD_API.numDetections})`
      : 'a Keras model.export() classifier (one float [N, H, W, 3] input, one [N, classes] output)';
  return new ConversionError(
    `signature "${sig.key}" is not ${expected}: ${why}.\n  inputs:\n${describe(sig.inputs)}\n  outputs:\n` +
      `${describe(sig.outputs)}\n  describe it with: ${kind === 'detector' ? DETECTOR_FLAGS : CLASSIFIER_FLAGS}`,
  );
}

/** The meta graph with exactly `tags` (as tfjs-node picks it) and its signature `name`. */
export function findSignature(info: SavedModelInfo, tags: string[], name: string): Signature {
  const same = (a: string[]): boolean => a.length === tags.length && a.every((t) => tags.includes(t));
  const graph = info.metaGraphs.find((g) => same(g.tags));
  if (!graph) {
    const found = info.metaGraphs.map((g) => `[${g.tags.join(', ')}]`).join(', ') || 'none';
    throw new ConversionError(
      `the SavedModel has no meta graph tagged [${tags.join(', ')}] (it has ${found}); pass --tags`,
    );
  }
  const sig = graph.signatures.find((s) => s.key === name);
  if (!sig) {
    const keys =
      graph.signatures
        .map((s) => s.key)
        .filter((k) => !k.startsWith('__'))
        .join(', ') || 'none';
    throw new ConversionError(`the SavedModel has no signature "${name}" (it has ${keys}); pass --signature`);
  }
  return sig;
}

/** The signature entry a flag names, or an error listing the keys there are. */
function named(list: SavedModelTensor[], key: string, flag: string, sig: Signature): SavedModelTensor {
  const found = list.find((t) => t.key === key);
  if (!found) {
    throw new ConversionError(
      `${flag} "${key}" is not in signature "${sig.key}"; its keys are ${list.map((t) => t.key).join(', ') || 'none'}`,
    );
  }
  return found;
}

/** The image input: the flag's key, else the only input (or `input_tensor` among several). */
function imageInput(sig: Signature, options: SavedModelPlanOptions): SavedModelTensor {
  if (options.input !== undefined) return named(sig.inputs, options.input, '--input', sig);
  const only = sig.inputs.length === 1 ? sig.inputs[0] : sig.inputs.find((t) => t.key === OD_API.input);
  if (!only)
    throw unknownSignature(
      options.kind,
      sig,
      `it has ${sig.inputs.length} inputs; name the image with --input`,
    );
  return only;
}

const INPUT_DTYPES: Record<string, InputDtype> = { float32: 'float32', uint8: 'uint8', int32: 'int32' };

/** The input's dtype as the manifest says it, and its spatial size when fixed; NHWC with 3 channels only. */
function imageFormat(
  sig: Signature,
  input: SavedModelTensor,
  options: SavedModelPlanOptions,
): { dtype: InputDtype; size: [number, number] | null } {
  const dtype = INPUT_DTYPES[input.dtype];
  const s = input.shape;
  if (!dtype || !s || s.length !== 4 || (s[3] !== 3 && s[3] !== -1)) {
    throw unknownSignature(
      options.kind,
      sig,
      `input "${input.key}" is ${input.dtype} ${dims(input)}; the service feeds float32, uint8 or int32 images ` +
        '[batch, height, width, 3]',
    );
  }
  return { dtype, size: s[1] > 0 && s[2] > 0 ? [s[1], s[2]] : null };
}

/** Normalisation for the manifest: none for integer inputs, else the flags or 0..255 as they are. */
function pixels(dtype: InputDtype, options: SavedModelPlanOptions, notes: string[]) {
  if (dtype !== 'float32') {
    if (options.scale !== undefined || options.mean !== undefined || options.std !== undefined) {
      throw new ConversionError(
        `--scale, --mean and --std are for float inputs; this input is ${dtype}, fed as it is`,
      );
    }
    notes.push(`input is ${dtype}: 0..255 pixel values are fed as they are, with no normalisation`);
    return { dtype };
  }
  const flagged = options.scale !== undefined || options.mean !== undefined || options.std !== undefined;
  if (!flagged) {
    notes.push(
      'input is float32: pixels are fed as 0..255, as Keras models with their preprocessing inside take them ' +
        '(--scale, --mean, --std otherwise)',
    );
  }
  return { scale: options.scale ?? 1, mean: options.mean ?? [0, 0, 0], std: options.std ?? [1, 1, 1] };
}

/** Plans a detector manifest: the TF OD API signature, or the outputs the flags name. */
export function planSavedModelDetector(
  info: SavedModelInfo,
  options: SavedModelPlanOptions,
): SavedModelPlan<DetectorManifest> {
  const tags = options.tags ?? ['serve'];
  const signature = options.signature ?? 'serving_default';
  const sig = findSignature(info, tags, signature);
  const notes: string[] = [];
  const has = (key: string): boolean => sig.outputs.some((t) => t.key === key);
  const odApi = [OD_API.boxes, OD_API.scores, OD_API.classes, OD_API.numDetections].every(has);
  const flagged = options.boxes !== undefined || options.scores !== undefined;
  if (!odApi && !flagged) {
    const missing = [OD_API.boxes, OD_API.scores, OD_API.classes, OD_API.numDetections].filter(
      (k) => !has(k),
    );
    throw unknownSignature('detector', sig, `it has no output ${missing.join(', ')}`);
  }
  if (odApi && !flagged) notes.push(`signature "${sig.key}" is the TF2 Object Detection API's`);
  if (!odApi && (options.boxes === undefined || options.scores === undefined)) {
    throw unknownSignature('detector', sig, 'name both --boxes and --scores');
  }
  const input = imageInput(sig, options);
  const { dtype, size } = imageFormat(sig, input, options);
  const boxes = named(sig.outputs, options.boxes ?? OD_API.boxes, '--boxes', sig);
  const scores = named(sig.outputs, options.scores ?? OD_API.scores, '--scores', sig);
  const classes =
    options.classes !== undefined || (odApi && !flagged)
      ? named(sig.outputs, options.classes ?? OD_API.classes, '--classes', sig)
      : undefined;
  const count =
    options.numDetections !== undefined || (odApi && !flagged)
      ? named(sig.outputs, options.numDetections ?? OD_API.numDetections, '--num-detections', sig)
      : undefined;
  if (!odApi || flagged) {
    if (options.boxFormat === undefined || options.coordinates === undefined) {
      throw unknownSignature(
        'detector',
        sig,
        'give --box-format and --coordinates for outputs it does not know',
      );
    }
  }
  const batch = input.shape?.[0] === 1 ? 'single' : 'dynamic';
  // [B, K, 4]: K rows per image, the cap the graph already applies.
  const rows = boxes.shape?.length === 3 && boxes.shape[1] > 0 ? boxes.shape[1] : 100;
  const nms = options.nms ?? (odApi ? 'in-graph' : 'service');
  const resized = size !== null;
  notes.push(
    resized
      ? `input is fixed at ${size[1]}x${size[0]}: images are stretched to it (boxes are fractions of it)`
      : 'input takes any size: images are fed at their own size (resize "none"; the graph resizes)',
  );
  const manifest: DetectorManifest = {
    kind: 'detector',
    format: 'tf-saved-model',
    model_path: SAVED_MODEL_DIR,
    saved_model: { tags, signature },
    algorithm: { ...options.algorithm, task_type: 'localization' },
    input: {
      ...(resized ? { width: size[1], height: size[0] } : {}),
      color_order: 'RGB',
      resize: resized ? 'stretch' : 'none',
      ...pixels(dtype, options, notes),
      batch,
      name: input.key,
    },
    output: {
      boxes: boxes.key,
      scores: scores.key,
      ...(classes ? { classes: classes.key } : {}),
      ...(count ? { num_detections: count.key } : {}),
      box_format: options.boxFormat ?? 'yxyx',
      coordinates: options.coordinates ?? 'normalized',
      nms,
      score_threshold: options.scoreThreshold ?? 0.5,
      ...(nms === 'service' ? { iou_threshold: options.iouThreshold ?? 0.5 } : {}),
      max_detections: options.maxDetections ?? rows,
    },
  };
  if (nms === 'in-graph' && options.iouThreshold !== undefined) {
    throw new ConversionError(
      '--iou-threshold is for service NMS; this graph runs its own (--nms service to change)',
    );
  }
  const report = options.reportClasses ?? true;
  if (options.labels && (report || options.keepClasses)) {
    if (!classes) {
      throw new ConversionError('--labels needs a class-id output: name it with --classes');
    }
    const firstId = options.firstId ?? (odApi && !flagged ? OD_API.firstId : 0);
    manifest.class_labels = {
      category_map: 'category_map.json',
      report,
      ...(options.keepClasses ? { keep: options.keepClasses } : {}),
      ...(firstId !== 0 ? { first_id: firstId } : {}),
    };
    const ids = options.labels.labels.map((l, i) => `${i + firstId} ${l}`);
    notes.push(`class ids: ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}`);
  } else if (!options.labels) {
    notes.push("no --labels: the detector's classes are ignored, as ADC does");
  }
  return { manifest, notes };
}

/** Plans a classifier manifest: one image input, one `[N, C]` output. */
export function planSavedModelClassifier(
  info: SavedModelInfo,
  options: SavedModelPlanOptions & { labels: AlgorithmCategoryMap },
): SavedModelPlan<ClassifierManifest> {
  const tags = options.tags ?? ['serve'];
  const signature = options.signature ?? 'serving_default';
  const sig = findSignature(info, tags, signature);
  const notes: string[] = [];
  const input = imageInput(sig, options);
  const { dtype, size } = imageFormat(sig, input, options);
  let output: SavedModelTensor;
  if (options.output !== undefined) output = named(sig.outputs, options.output, '--output', sig);
  else if (sig.outputs.length === 1) output = sig.outputs[0];
  else
    throw unknownSignature(
      'classifier',
      sig,
      `it has ${sig.outputs.length} outputs; name the scores with --output`,
    );
  const classes = options.labels.labels.length;
  const s = output.shape;
  if (!s || s.length !== 2) {
    throw unknownSignature(
      'classifier',
      sig,
      `output "${output.key}" is ${dims(output)}, not [batch, classes]`,
    );
  }
  if (s[1] > 0 && s[1] !== classes) {
    throw new ConversionError(
      `output "${output.key}" gives ${s[1]} scores per image, but the label file has ${classes} labels`,
    );
  }
  const kind = options.outputKind ?? (output.producer === 'Softmax' ? 'probabilities' : 'logits');
  if (options.outputKind === undefined) {
    notes.push(
      `output "${output.key}" is computed by ${output.producer ?? 'an op the trace lost'}: ${kind}` +
        ' (--output-kind to change)',
    );
  }
  const wanted = size ?? options.inputSize ?? null;
  if (size && options.inputSize && (size[0] !== options.inputSize[0] || size[1] !== options.inputSize[1])) {
    throw new ConversionError(
      `--input-size ${options.inputSize[1]}x${options.inputSize[0]}: the input is fixed at ${size[1]}x${size[0]}`,
    );
  }
  notes.push(
    wanted
      ? `crops are resized to ${wanted[1]}x${wanted[0]} (resize "stretch")`
      : 'input takes any size: each crop is fed at its own whole-pixel size (resize "none"; the graph resizes)',
  );
  const manifest: ClassifierManifest = {
    kind: 'classifier',
    format: 'tf-saved-model',
    model_path: SAVED_MODEL_DIR,
    saved_model: { tags, signature },
    algorithm: { ...options.algorithm, task_type: 'classification' },
    input: {
      ...(wanted ? { width: wanted[1], height: wanted[0] } : {}),
      color_order: 'RGB',
      resize: wanted ? 'stretch' : 'none',
      ...pixels(dtype, options, notes),
      name: input.key,
    },
    output: { name: output.key, kind },
    category_map: 'category_map.json',
  };
  return { manifest, notes };
}
