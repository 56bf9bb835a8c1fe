/**
 * Works out a detector manifest from a converted graph's input and outputs, ultralytics metadata and the CLI's
 * flags. Pure, so every known export layout is unit-tested without a converter run:
 * - torchvision detection (`images` `[3, H, W]`, no batch, dynamic size; outputs boxes `[N, 4]` xyxy source pixels,
 *   labels `[N]`, scores `[N]`; NMS in the graph) → resize `none`, separate outputs, in-graph NMS;
 * - ultralytics (`[1, 3, 640, 640]`; one output `[1, 4+nc, N]` cx,cy,w,h input pixels then class scores) →
 *   letterbox-center with 114 grey, packed channels-first output, service NMS;
 * - packed rows `[B, K, 6+]` (x1,y1,x2,y2,score,class: ultralytics end-to-end exports, CenterNet-style heads).
 */
import type { AlgorithmCategoryMap } from '../contract/types';
import type {
  BatchMode,
  DetectorManifest,
  DetectorOutput,
  InputLayout,
  ManifestAlgorithm,
  ResizeMode,
} from '../models/manifest';
import { ConversionError } from './onnx/convert-onnx';
import type { UltralyticsMetadata } from './ultralytics-metadata';

/** The facts of a converted graph the plan needs (a subset of OnnxConversion; later fields read if present). */
export interface ConvertedGraphFacts {
  /** `shape` is the converted graph's input shape (-1 for dynamic dims); `layout` when the converter reports it. */
  input: { name: string; shape: number[]; layout?: string };
  outputs: { key: string; onnxName: string; shape: number[]; dtype?: string }[];
}

/** Flags a maintainer may pass; everything else comes from the graph and the metadata. */
export interface DetectorPlanOptions {
  algorithm: Omit<ManifestAlgorithm, 'task_type'>;
  /** Class labels (from --labels or ultralytics `names`); null when none are known. */
  labels: AlgorithmCategoryMap | null;
  ultralytics: UltralyticsMetadata | null;
  /** True when the ONNX graph contains NonMaxSuppression (anywhere, branches included). */
  graphHasNms: boolean;
  resize?: ResizeMode;
  /** `shorter-side`: the shorter side's target and the longer side's limit (default torchvision's 800 and 1333). */
  minSize?: number;
  maxSize?: number;
  /** 0..255 pixel units. */
  padValue?: number;
  scale?: number;
  mean?: [number, number, number];
  std?: [number, number, number];
  scoreThreshold?: number;
  /** Keep only scores strictly above the threshold (output.score_threshold_strict). */
  scoreThresholdStrict?: boolean;
  /** `false`: the request's threshold and cap are ignored (output.request_overrides). */
  requestOverrides?: boolean;
  iouThreshold?: number;
  maxDetections?: number;
  boxFormat?: DetectorOutput['box_format'];
  nms?: 'service' | 'in-graph';
  /** Service NMS per class; default true for ultralytics exports (their `agnostic=False`), else class-agnostic. */
  nmsPerClass?: boolean;
  /** Default true when labels are known. */
  reportClasses?: boolean;
  keepClasses?: string[];
}

/** Where H, W and C sit in the converted input, its layout and its batch mode. */
export function inputFacts(input: ConvertedGraphFacts['input']): {
  layout: InputLayout;
  batch: BatchMode;
  height: number;
  width: number;
} {
  const s = input.shape;
  const declared = input.layout?.toUpperCase();
  if (s.length === 4) {
    const nchw = declared ? declared.startsWith('NCHW') : s[1] === 3 && s[3] !== 3;
    const [h, w] = nchw ? [s[2], s[3]] : [s[1], s[2]];
    return { layout: nchw ? 'NCHW' : 'NHWC', batch: s[0] === 1 ? 'single' : 'dynamic', height: h, width: w };
  }
  if (s.length === 3) {
    const chw = declared
      ? declared.startsWith('CHW') || declared.startsWith('NCHW')
      : s[0] === 3 && s[2] !== 3;
    const [h, w] = chw ? [s[1], s[2]] : [s[0], s[1]];
    return { layout: chw ? 'NCHW' : 'NHWC', batch: 'none', height: h, width: w };
  }
  throw new ConversionError(
    `input "${input.name}" has shape [${s.join(',')}]; a detector input is rank 3 or 4`,
  );
}

type Outputs = ConvertedGraphFacts['outputs'];

/** Separate box / score / class outputs: by name, then by shape and dtype, then in torchvision's order. */
function separateOutputs(outputs: Outputs): { boxes: string; scores: string; classes?: string } {
  const byName = (re: RegExp): Outputs[number] | undefined => outputs.find((o) => re.test(o.onnxName));
  const boxes =
    byName(/box/i) ?? outputs.find((o) => o.shape[o.shape.length - 1] === 4 && o.shape.length >= 2);
  if (!boxes) {
    throw new ConversionError(
      `no box output among ${outputs.map((o) => `"${o.onnxName}" [${o.shape.join(',')}]`).join(', ')}; ` +
        'write output.boxes in manifest.json by hand (models/README.md)',
    );
  }
  const rest = outputs.filter((o) => o !== boxes);
  const isInt = (o: Outputs[number]): boolean => o.dtype !== undefined && /int/i.test(o.dtype);
  let scores = byName(/score|conf|prob/i) ?? rest.find((o) => o.dtype !== undefined && !isInt(o));
  let classes = byName(/label|class/i) ?? rest.find((o) => isInt(o));
  // torchvision returns boxes, labels, scores in that order.
  if (!scores && !classes && rest.length === 2) [classes, scores] = rest;
  scores ??= rest.find((o) => o !== classes);
  if (!scores) throw new ConversionError(`no score output besides the boxes "${boxes.onnxName}"`);
  if (classes === scores) classes = undefined;
  return classes
    ? { boxes: boxes.key, scores: scores.key, classes: classes.key }
    : { boxes: boxes.key, scores: scores.key };
}

/** The manifest for a converted detector, plus notes for the maintainer (defaults that were guessed). */
export function planDetectorManifest(
  graph: ConvertedGraphFacts,
  options: DetectorPlanOptions,
): { manifest: DetectorManifest; notes: string[] } {
  const notes: string[] = [];
  const yolo = options.ultralytics;
  const { layout, batch, height, width } = inputFacts(graph.input);
  const dynamicSize = !(height > 0 && width > 0);
  const resize: ResizeMode = options.resize ?? (dynamicSize ? 'none' : yolo ? 'letterbox-center' : 'stretch');
  // `none` and `shorter-side` give every image its own input size, which only a dynamic input takes.
  const ownSize = resize === 'none' || resize === 'shorter-side';
  if (dynamicSize && !ownSize) {
    throw new ConversionError(
      `the input has a dynamic size; resize "${resize}" needs a fixed one (pass --input-size) or use --resize none`,
    );
  }
  if (!dynamicSize && ownSize) {
    throw new ConversionError(
      `--resize ${resize} gives each image its own input size, but the input is fixed at ${height}×${width}`,
    );
  }
  const letterbox = resize === 'letterbox' || resize === 'letterbox-center';

  // Outputs.
  let output: Omit<DetectorOutput, 'score_threshold' | 'iou_threshold' | 'max_detections'>;
  let classCount: number | null = null; // per-class score columns, when known
  let hasClassSource: boolean;
  let maxFromGraph: number | null = null;
  const single = graph.outputs.length === 1 ? graph.outputs[0] : null;
  const batchedRank = batch === 'none' ? 2 : 3;
  if (single && single.shape.length === batchedRank) {
    const [a, b] = single.shape.slice(-2);
    const channelsFirst = (a > 0 && b > 0 && a < b) || (yolo !== null && !(b > 0 && b <= 7 && a > b));
    if (channelsFirst) {
      classCount = a > 0 ? a - 4 : null;
      output = {
        packed: { tensor: single.key, channels_first: true, box: 0, class_scores: 4 },
        box_format: options.boxFormat ?? 'cxcywh',
        coordinates: 'pixels',
        nms: options.nms ?? (options.graphHasNms ? 'in-graph' : 'service'),
      };
      maxFromGraph = b > 0 ? b : null;
    } else {
      if (b > 0 && b < 6) {
        throw new ConversionError(
          `output "${single.onnxName}" [${single.shape.join(',')}] has ${b} columns; packed rows need ` +
            'x1,y1,x2,y2,score,class (6)',
        );
      }
      output = {
        packed: { tensor: single.key, box: 0, score: 4, class: 5 },
        box_format: options.boxFormat ?? 'xyxy',
        coordinates: 'pixels',
        // ultralytics' row exports (nms=True, YOLOv10/26 end-to-end) are already de-duplicated.
        nms: options.nms ?? (options.graphHasNms || yolo ? 'in-graph' : 'service'),
      };
      maxFromGraph = a > 0 ? a : null;
    }
    hasClassSource = true;
  } else if (graph.outputs.length >= 2) {
    const names = separateOutputs(graph.outputs);
    const scores = graph.outputs.find((o) => o.key === names.scores);
    const perClass = scores !== undefined && scores.shape.length === batchedRank;
    if (perClass)
      classCount = scores.shape[scores.shape.length - 1] > 0 ? scores.shape[scores.shape.length - 1] : null;
    hasClassSource = names.classes !== undefined || perClass;
    output = {
      ...names,
      box_format: options.boxFormat ?? 'xyxy',
      coordinates: 'pixels',
      nms: options.nms ?? (options.graphHasNms ? 'in-graph' : 'service'),
    };
  } else {
    throw new ConversionError(
      `cannot tell the detector layout from outputs ${graph.outputs
        .map((o) => `"${o.onnxName}" [${o.shape.join(',')}]`)
        .join(', ')}; write manifest.json by hand (models/README.md)`,
    );
  }
  if (output.nms === 'in-graph')
    notes.push('NMS runs in the graph; the service runs none (output.nms "in-graph")');
  const perClass = output.nms !== 'in-graph' && hasClassSource && (options.nmsPerClass ?? yolo !== null);
  if (options.nmsPerClass && !perClass) {
    throw new ConversionError(
      output.nms === 'in-graph'
        ? '--nms-classes per-class needs service NMS, but NMS runs in the graph'
        : '--nms-classes per-class needs a class output, and the model gives none',
    );
  }
  if (perClass) output.nms_per_class = true;

  // Class labels.
  const labels = options.labels;
  const report = options.reportClasses ?? labels !== null;
  let classLabels: DetectorManifest['class_labels'];
  if (labels && (report || options.keepClasses)) {
    if (!hasClassSource)
      throw new ConversionError('labels were given, but the model outputs no class for its boxes');
    if (classCount !== null && classCount !== labels.labels.length) {
      throw new ConversionError(
        `the model gives ${classCount} class scores per box, but there are ${labels.labels.length} labels`,
      );
    }
    classLabels = { category_map: 'category_map.json', report };
    if (options.keepClasses) classLabels.keep = options.keepClasses;
  } else if (options.keepClasses) {
    throw new ConversionError(
      '--keep-classes needs class labels (--labels, or ultralytics names in the file)',
    );
  }

  const scale = options.scale ?? 1 / 255;
  const strict = options.scoreThresholdStrict ?? (yolo ? true : undefined);
  const manifest: DetectorManifest = {
    kind: 'detector',
    format: 'tfjs-graph-model',
    model_path: 'model.json',
    algorithm: { ...options.algorithm, task_type: 'localization' },
    input: {
      ...(dynamicSize ? {} : { width, height }),
      resize,
      ...(resize === 'shorter-side'
        ? { min_size: options.minSize ?? 800, max_size: options.maxSize ?? 1333 }
        : {}),
      ...(letterbox ? { pad_value: options.padValue ?? (yolo ? 114 : 0) } : {}),
      layout,
      batch,
      color_order: 'RGB',
      scale,
      mean: options.mean ?? [0, 0, 0],
      std: options.std ?? [1, 1, 1],
      name: graph.input.name,
    },
    output: {
      ...output,
      score_threshold: options.scoreThreshold ?? (yolo ? 0.25 : 0.5),
      // ultralytics keeps `conf > conf_thres` (non_max_suppression), strictly.
      ...(strict !== undefined ? { score_threshold_strict: strict } : {}),
      ...(options.requestOverrides !== undefined ? { request_overrides: options.requestOverrides } : {}),
      ...(output.nms === 'in-graph' ? {} : { iou_threshold: options.iouThreshold ?? (yolo ? 0.7 : 0.5) }),
      max_detections: options.maxDetections ?? (yolo ? 300 : Math.min(maxFromGraph ?? 500, 500)),
    },
    ...(classLabels ? { class_labels: classLabels } : {}),
  };
  if (output.nms === 'in-graph' && options.iouThreshold !== undefined) {
    notes.push('--iou-threshold is ignored: NMS runs in the graph');
  }
  return { manifest, notes };
}
