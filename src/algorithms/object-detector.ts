/**
 * A generic, manifest-driven object detector: any TF.js graph model (or SavedModel on tfjs-node) whose outputs a
 * detector manifest can describe (models/README.md): separate box/score(/class) tensors or one packed tensor,
 * NHWC or NCHW input, a dynamic batch, a batch fixed at one or no batch dimension, and stretch, letterbox
 * (top-left or centred) or native-size input.
 *
 * Stages per model call: resize and normalise → model → per image: score threshold → best class → class filter →
 * decode boxes → map back to source pixels → clamp → drop zero-area boxes → NMS (unless in the graph) → cap.
 */
import * as tf from '@tensorflow/tfjs';
import type { AlgorithmConfigResponse, BoundingBox, RequestConfig } from '../contract/types';
import type { PipelineImage } from '../images/pipeline-image';
import type { BatchMode, DetectorManifest, LoadedManifest } from '../models/manifest';
import type { DetectedBox, Detector, RunOptions } from './algorithm';
import { describeDetectorLabels, describeManifest } from './descriptor';
import {
  classScoreCount,
  detectorOutputNames,
  readDetections,
  type OutputData,
  type RawDetection,
} from './detector-outputs';
import { boxArea } from './geometry/box-area';
import { clampBox } from './geometry/clamp-box';
import { decodeBox } from './geometry/decode-box';
import { mapBoxToSource } from './geometry/map-box-to-source';
import { computeResizeGeometry, type ResizeGeometry } from './geometry/resize-geometry';
import { loadAndWarmUp, NATIVE_WARM_UP_SIZE, type ModelRunner } from './model-runner';
import { prepareDetectorInput } from './preprocess';

/** Used when neither the request nor the manifest sets a cap. */
export const DEFAULT_MAX_DETECTIONS = 500;

/** The thresholds one run applies: request `config` first (unless the manifest refuses), then the manifest's. */
export interface DetectionSettings {
  /** Boxes with score ≥ this are kept, or > this with `strictThreshold`. */
  scoreThreshold: number;
  /** The manifest's `score_threshold_strict`: ADC keeps `score > 0.8`. */
  strictThreshold: boolean;
  /** Null when the graph runs NMS itself. */
  iouThreshold: number | null;
  maxDetections: number;
}

/**
 * Resolves the per-request settings: `config.detection_threshold` and `config.max_detections` win, unless the
 * manifest sets `request_overrides: false`.
 */
export function detectionSettings(manifest: DetectorManifest, config: RequestConfig): DetectionSettings {
  const { output } = manifest;
  const inGraph = output.nms === 'in-graph';
  const request = output.request_overrides === false ? {} : config;
  return {
    scoreThreshold: request.detection_threshold ?? output.score_threshold,
    strictThreshold: output.score_threshold_strict === true,
    iouThreshold: inGraph ? null : (output.iou_threshold ?? null),
    maxDetections: request.max_detections ?? output.max_detections ?? DEFAULT_MAX_DETECTIONS,
  };
}

/**
 * The batch mode of a loaded graph: the manifest's, else read from the input shape (rank 3: no batch dim;
 * first dim fixed at 1: one image per call). Throws when the manifest contradicts the graph.
 */
export function resolveBatchMode(
  declared: BatchMode | undefined,
  inputShape: (number | null)[] | null,
): BatchMode {
  const graph: BatchMode | null = !inputShape
    ? null
    : inputShape.length === 3
      ? 'none'
      : inputShape[0] === 1
        ? 'single'
        : 'dynamic';
  if (declared === undefined) return graph ?? 'dynamic';
  const rankOk = !inputShape || (declared === 'none') === (inputShape.length === 3);
  if (!rankOk) {
    throw new Error(
      `input.batch is "${declared}" but the model's input has shape [${(inputShape ?? []).map((d) => d ?? -1).join(', ')}]`,
    );
  }
  return declared;
}

/** Per-pipeline choices that narrow what the manifest allows. */
export interface ObjectDetectorOptions {
  /**
   * Keep only detections of these classes (labels of the manifest's `class_labels` map), replacing the manifest's
   * `class_labels.keep` for this instance: the same detector directory can serve pipelines that want different
   * classes.
   */
  keepClasses?: string[];
}

export class ObjectDetector implements Detector {
  readonly kind = 'detector' as const;
  readonly needsPixels = true;
  readonly descriptor: AlgorithmConfigResponse;
  readonly labels: AlgorithmConfigResponse | null;
  private readonly manifest: DetectorManifest;
  private runner: ModelRunner | null = null;

  /** What runs the model once compiled ("graph model", "SavedModel", ...; ModelRunner.form), else null. */
  modelForm(): string | null {
    return this.runner?.form ?? null;
  }
  private batchMode: BatchMode = 'dynamic';
  private compiling: Promise<void> | null = null;
  private readonly keep: string[] | undefined;

  constructor(
    private readonly loaded: LoadedManifest,
    options: ObjectDetectorOptions = {},
  ) {
    if (loaded.manifest.kind !== 'detector') {
      throw new Error(`${loaded.dir}: manifest kind is "${loaded.manifest.kind}", expected "detector"`);
    }
    this.manifest = loaded.manifest;
    if (options.keepClasses) {
      const labels = this.manifest.class_labels ? (loaded.categoryMap?.labels ?? []) : null;
      if (!labels) {
        throw new Error(
          `${loaded.dir}: a class filter needs the detector's class labels (class_labels in manifest.json)`,
        );
      }
      const unknown = options.keepClasses.filter((c) => !labels.includes(c));
      if (unknown.length > 0) {
        throw new Error(
          `${loaded.dir}: the class filter names ${unknown.map((c) => `"${c}"`).join(', ')}, which the ` +
            `detector's category map does not have (it has ${labels.slice(0, 10).join(', ')}` +
            `${labels.length > 10 ? ', …' : ''})`,
        );
      }
    }
    this.keep = options.keepClasses ?? this.manifest.class_labels?.keep;
    this.descriptor = describeManifest(loaded);
    this.labels = describeDetectorLabels(loaded);
  }

  /** True when the detector's labels are used: the manifest has `class_labels` (reported, filtered or both). */
  private get readsClasses(): boolean {
    return this.manifest.class_labels !== undefined && this.loaded.categoryMap !== null;
  }

  /** True when class ids are read at all: for the labels, or for per-class NMS. */
  private get readsClassIds(): boolean {
    return this.readsClasses || this.perClassNms;
  }

  private get perClassNms(): boolean {
    return this.manifest.output.nms_per_class === true && this.manifest.output.nms !== 'in-graph';
  }

  /** Loads the model and runs it once on a blank image of the real input shape. Concurrent calls share one load. */
  compile(): Promise<void> {
    this.compiling ??= this.load().catch((err: unknown) => {
      this.compiling = null; // allow a retry
      throw err;
    });
    return this.compiling;
  }

  private async load(): Promise<void> {
    const { input } = this.manifest;
    const warmGeometry = this.geometry(
      input.width ?? NATIVE_WARM_UP_SIZE,
      input.height ?? NATIVE_WARM_UP_SIZE,
    );
    this.runner = await loadAndWarmUp(
      this.loaded,
      detectorOutputNames(this.manifest.output, this.readsClassIds),
      (outputs) => this.checkOutputs(outputs),
      (runner) => {
        this.batchMode = resolveBatchMode(input.batch, runner.inputShape);
        return tf.tidy(() =>
          this.toModelInput([
            prepareDetectorInput(
              tf.zeros([warmGeometry.sourceHeight, warmGeometry.sourceWidth, 3]),
              input,
              warmGeometry,
            ),
          ]),
        );
      },
    );
  }

  /** Warm-up check of one image's outputs: shapes and class-score width, by the code that reads them later. */
  private checkOutputs(outputs: tf.Tensor[]): void {
    // Synchronous reads are fine here: once, at load time.
    const data = outputs.map((t) => ({ values: t.dataSync(), shape: t.shape }));
    this.readOutputs(data, 1, Infinity);
  }

  /**
   * Reads one call's outputs into candidate rows per image, checking their shapes against the manifest and the
   * class-score width against the labels; errors name the detector.
   */
  private readOutputs(
    data: OutputData[],
    batch: number,
    scoreThreshold: number,
    strictThreshold = false,
  ): RawDetection[][] {
    const { output } = this.manifest;
    const batched = this.batchMode !== 'none';
    let raw: RawDetection[][];
    try {
      raw = readDetections(output, data, {
        batch,
        batched,
        scoreThreshold,
        strictThreshold,
        classes: this.readsClassIds,
      });
    } catch (err) {
      throw new Error(`detector ${this.descriptor.key}: ${(err as Error).message}`);
    }
    this.checkClassWidth(classScoreCount(output, data, batched));
    return raw;
  }

  dispose(): void {
    this.runner?.dispose();
    this.runner = null;
    this.compiling = null;
  }

  async run(images: PipelineImage[], options: RunOptions): Promise<DetectedBox[][]> {
    const runner = this.runner;
    if (!runner) throw new Error(`detector ${this.descriptor.key} is not compiled`);
    const settings = detectionSettings(this.manifest, options.config);
    const results = new Map<PipelineImage, DetectedBox[]>();
    for (const group of this.plan(images, options.batchSize)) {
      const pixels = await Promise.all(group.map((image) => image.tensor())); // owned by the images
      const geometries = group.map((image) => this.geometry(image.width, image.height));
      const found = await this.infer(runner, pixels, geometries, settings);
      group.forEach((image, i) => results.set(image, found[i]));
    }
    return images.map((image) => results.get(image) ?? []);
  }

  /**
   * Splits the images into model calls: batches of `batchSize` when the batch is dynamic (and, where each image
   * has its own input size, `none` and `shorter-side`, only images of one input size share a call), one image
   * per call when the graph takes one.
   */
  private plan(images: PipelineImage[], batchSize: number): PipelineImage[][] {
    if (this.batchMode !== 'dynamic') return images.map((image) => [image]);
    const size = Math.max(1, Math.floor(batchSize) || 1);
    const groups: PipelineImage[][] = [];
    for (let start = 0; start < images.length; start += size) {
      const chunk = images.slice(start, start + size);
      if (this.manifest.input.resize !== 'none' && this.manifest.input.resize !== 'shorter-side') {
        groups.push(chunk);
        continue;
      }
      const bySize = new Map<string, PipelineImage[]>();
      for (const image of chunk) {
        const g = this.geometry(image.width, image.height);
        const key = `${g.inputWidth}x${g.inputHeight}`;
        bySize.set(key, [...(bySize.get(key) ?? []), image]);
      }
      groups.push(...bySize.values());
    }
    return groups;
  }

  private geometry(width: number, height: number): ResizeGeometry {
    const { input } = this.manifest;
    const limits =
      input.min_size !== undefined && input.max_size !== undefined
        ? { minSize: input.min_size, maxSize: input.max_size }
        : undefined;
    return computeResizeGeometry(
      width,
      height,
      input.width ?? width,
      input.height ?? height,
      input.resize,
      limits,
    );
  }

  /** `[b, H, W, 3]` prepared images → the model's input: NCHW when asked, without the batch dim when it has none. */
  private toModelInput(prepared: tf.Tensor3D[]): tf.Tensor {
    let x: tf.Tensor = tf.stack(prepared); // [b, H, W, 3]
    if (this.manifest.input.layout === 'NCHW') x = tf.transpose(x, [0, 3, 1, 2]); // [b, 3, H, W]
    if (this.batchMode === 'none') x = tf.squeeze(x, [0]); // [H, W, 3] or [3, H, W]
    return x;
  }

  /** One model call on images that share an input shape; returns the boxes per image. */
  private async infer(
    runner: ModelRunner,
    pixels: tf.Tensor3D[],
    geometries: ResizeGeometry[],
    settings: DetectionSettings,
  ): Promise<DetectedBox[][]> {
    const { input, output } = this.manifest;
    const batch = tf.tidy(() =>
      this.toModelInput(pixels.map((p, i) => prepareDetectorInput(p, input, geometries[i]))),
    );
    let data: OutputData[];
    const started = performance.now();
    try {
      const outputs = await runner.run(batch, detectorOutputNames(output, this.readsClassIds));
      try {
        data = await Promise.all(
          outputs.map(async (t) => ({ values: await t.data<'float32'>(), shape: t.shape })),
        );
      } finally {
        tf.dispose(outputs);
      }
    } finally {
      batch.dispose();
    }
    const seconds = (performance.now() - started) / 1000 / pixels.length;
    const raw = this.readOutputs(data, pixels.length, settings.scoreThreshold, settings.strictThreshold);
    const perImage: DetectedBox[][] = [];
    for (let i = 0; i < pixels.length; i++) {
      const kept = await this.postprocess(raw[i], geometries[i], settings);
      perImage.push(kept.map((d) => ({ ...d, inferenceTime: seconds })));
    }
    return perImage;
  }

  /** Per-class score columns must match the category map one to one. */
  private checkClassWidth(width: number | null): void {
    const o = this.manifest.output;
    if (this.readsClassIds && width === null && !o.classes && o.packed?.class === undefined) {
      throw new Error(
        `detector ${this.descriptor.key}: ${this.readsClasses ? 'class_labels' : 'output.nms_per_class'} is set ` +
          'but output.scores gives one score per box and no output.classes is named',
      );
    }
    const map = this.loaded.categoryMap;
    if (!this.readsClasses || !map) return;
    if (width !== null && (this.manifest.class_labels?.first_id ?? 0) !== 0) {
      throw new Error(
        `detector ${this.descriptor.key}: class_labels.first_id offsets class ids, but the model gives ${width} ` +
          'class scores per box, read in category-map order; remove first_id',
      );
    }
    if (width !== null && width !== map.labels.length) {
      throw new Error(
        `detector ${this.descriptor.key}: the model gives ${width} class scores per box but class_labels' ` +
          `category map has ${map.labels.length} labels`,
      );
    }
  }

  /**
   * Class and filter, decode, map back, NMS in source pixels (or sort) and cap, then clamp and drop empty boxes.
   * NMS sees the boxes as the model drew them, as ultralytics' non_max_suppression does: clamped first, boxes
   * that stick out of the image's edge overlap more than they do, and a YOLO on a 1280×721 picture kept 32 of
   * PyTorch's 54.
   */
  private async postprocess(
    rows: RawDetection[],
    geometry: ResizeGeometry,
    settings: DetectionSettings,
  ): Promise<Omit<DetectedBox, 'inferenceTime'>[]> {
    const { output } = this.manifest;
    const keep = this.keep;
    const labels = this.loaded.categoryMap?.labels ?? [];
    const firstId = this.manifest.class_labels?.first_id ?? 0;
    const candidates: Omit<DetectedBox, 'inferenceTime'>[] = [];
    const classOf: number[] = []; // per candidate, for per-class NMS
    for (const row of rows) {
      let label: DetectedBox['label'];
      if (this.readsClasses) {
        // Category-map entry of the class: ids count from first_id (1 in TF Object Detection API exports).
        const id = row.classId === null ? -1 : row.classId - firstId;
        if (!(Number.isInteger(id) && id >= 0 && id < labels.length)) {
          throw new Error(
            `detector ${this.descriptor.key}: the model gave class ${row.classId}, outside class_labels' ` +
              `category map (${labels.length} labels` +
              (firstId !== 0 ? `, ids ${firstId} to ${firstId + labels.length - 1})` : ')'),
          );
        }
        if (keep && !keep.includes(labels[id])) continue;
        if (this.labels) {
          // A graph that gives one class per box has one score: the others are reported as 0 (Antenna wants
          // the full vector in category-map order: docs/antenna-protocol.md#classifications).
          const scores = row.classScores ?? labels.map((_, q) => (q === id ? row.score : 0));
          label = { scores };
        }
      }
      const raw = decodeBox(
        row.box,
        output.box_format,
        output.coordinates,
        geometry.inputWidth,
        geometry.inputHeight,
      );
      const bbox: BoundingBox = mapBoxToSource(raw, geometry);
      candidates.push(label ? { bbox, score: row.score, label } : { bbox, score: row.score });
      classOf.push(row.classId ?? 0);
    }
    // [x1, y1, x2, y2] inside the source, and only boxes with an area.
    const inside = (kept: Omit<DetectedBox, 'inferenceTime'>[]): Omit<DetectedBox, 'inferenceTime'>[] =>
      kept
        .map((c) => ({ ...c, bbox: clampBox(c.bbox, geometry.sourceWidth, geometry.sourceHeight) }))
        .filter((c) => boxArea(c.bbox) > 0);
    if (candidates.length === 0) return [];
    if (settings.iouThreshold === null) {
      // The graph ran NMS: keep its boxes, best first, up to the cap.
      return inside(candidates)
        .sort((a, b) => b.score - a.score)
        .slice(0, settings.maxDetections);
    }
    // NMS on [n, 4] y1,x1,y2,x2 in source pixels, so IoU is measured where the boxes will be used. Per class,
    // each class's boxes are shifted to their own region (ultralytics' `max_wh` offset), so classes never overlap:
    // by more than the span of every corner (the boxes are not clamped yet).
    let [lo, hi] = [0, 0];
    for (const { bbox } of candidates) {
      lo = Math.min(lo, bbox.x1, bbox.y1, bbox.x2, bbox.y2);
      hi = Math.max(hi, bbox.x1, bbox.y1, bbox.x2, bbox.y2);
    }
    const shift = this.perClassNms ? hi - lo + 1 : 0;
    const boxTensor = tf.tensor2d(
      candidates.map(({ bbox }, i) => {
        const d = classOf[i] * shift;
        return [bbox.y1 + d, bbox.x1 + d, bbox.y2 + d, bbox.x2 + d];
      }),
      [candidates.length, 4],
    );
    const scoreTensor = tf.tensor1d(candidates.map((c) => c.score));
    let kept: Int32Array | Float32Array | Uint8Array;
    try {
      // Every survivor: the cap counts the boxes reported, after empty ones are dropped.
      const selected = await tf.image.nonMaxSuppressionAsync(
        boxTensor,
        scoreTensor,
        candidates.length,
        settings.iouThreshold,
      );
      try {
        kept = await selected.data();
      } finally {
        selected.dispose();
      }
    } finally {
      boxTensor.dispose();
      scoreTensor.dispose();
    }
    return inside(Array.from(kept, (idx) => candidates[idx])).slice(0, settings.maxDetections);
  }
}
