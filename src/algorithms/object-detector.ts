/**
 * A generic, manifest-driven object detector: any TF.js graph model (or SavedModel on tfjs-node) whose outputs
 * are boxes `[B, K, 4]` and scores `[B, K]`, described by a detector manifest (models/README.md).
 *
 * Stages per batch: resize (stretch or letterbox) and normalise → model → per image: score threshold → decode
 * boxes → map back to source pixels → clamp → drop zero-area boxes → NMS → cap.
 */
import * as tf from '@tensorflow/tfjs';
import type { AlgorithmConfigResponse, BoundingBox, RequestConfig } from '../contract/types';
import type { PipelineImage } from '../images/pipeline-image';
import type { DetectorManifest, LoadedManifest } from '../models/manifest';
import type { DetectedBox, Detector, RunOptions } from './algorithm';
import { describeManifest } from './descriptor';
import { boxArea } from './geometry/box-area';
import { clampBox } from './geometry/clamp-box';
import { decodeBox } from './geometry/decode-box';
import { mapBoxToSource } from './geometry/map-box-to-source';
import { computeResizeGeometry, type ResizeGeometry } from './geometry/resize-geometry';
import { loadAndWarmUp, type ModelRunner } from './model-runner';
import { prepareDetectorInput } from './preprocess';

/** Used when neither the request nor the manifest sets a cap. */
export const DEFAULT_MAX_DETECTIONS = 500;

/** The thresholds one run applies: request `config` first, then the manifest's defaults. */
export interface DetectionSettings {
  /** Boxes with score ≥ this are kept (inclusive, unlike ADC's strict `>`). */
  scoreThreshold: number;
  iouThreshold: number;
  maxDetections: number;
}

/** Resolves the per-request settings: `config.detection_threshold` and `config.max_detections` win. */
export function detectionSettings(manifest: DetectorManifest, config: RequestConfig): DetectionSettings {
  return {
    scoreThreshold: config.detection_threshold ?? manifest.output.score_threshold,
    iouThreshold: manifest.output.iou_threshold,
    maxDetections: config.max_detections ?? manifest.output.max_detections ?? DEFAULT_MAX_DETECTIONS,
  };
}

export class ObjectDetector implements Detector {
  readonly kind = 'detector' as const;
  readonly needsPixels = true;
  readonly descriptor: AlgorithmConfigResponse;
  private readonly manifest: DetectorManifest;
  private runner: ModelRunner | null = null;
  private compiling: Promise<void> | null = null;

  constructor(private readonly loaded: LoadedManifest) {
    if (loaded.manifest.kind !== 'detector') {
      throw new Error(`${loaded.dir}: manifest kind is "${loaded.manifest.kind}", expected "detector"`);
    }
    this.manifest = loaded.manifest;
    this.descriptor = describeManifest(loaded);
  }

  /** Loads the model and runs it once on a blank input of the real shape. Concurrent calls share one load. */
  compile(): Promise<void> {
    this.compiling ??= this.load().catch((err: unknown) => {
      this.compiling = null; // allow a retry
      throw err;
    });
    return this.compiling;
  }

  private async load(): Promise<void> {
    this.runner = await loadAndWarmUp(
      this.loaded,
      [this.manifest.output.boxes, this.manifest.output.scores],
      (outputs) => this.checkOutputs(outputs, 1),
    );
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
    const batchSize = Math.max(1, Math.floor(options.batchSize) || 1);
    const results: DetectedBox[][] = [];
    for (let start = 0; start < images.length; start += batchSize) {
      results.push(...(await this.runBatch(runner, images.slice(start, start + batchSize), settings)));
    }
    return results;
  }

  private async runBatch(
    runner: ModelRunner,
    images: PipelineImage[],
    settings: DetectionSettings,
  ): Promise<DetectedBox[][]> {
    const { input, output } = this.manifest;
    const pixels = await Promise.all(images.map((image) => image.tensor())); // owned by the images
    const geometries = images.map((image) =>
      computeResizeGeometry(image.width, image.height, input.width, input.height, input.resize),
    );
    // [b, inputH, inputW, 3] normalised
    const batch = tf.tidy(() =>
      tf.stack(pixels.map((p, i) => prepareDetectorInput(p, input, geometries[i]))),
    );
    let boxes: Float32Array | Int32Array | Uint8Array;
    let scores: Float32Array | Int32Array | Uint8Array;
    let k: number;
    const started = performance.now();
    try {
      const outputs = await runner.run(batch, [output.boxes, output.scores]);
      try {
        k = this.checkOutputs(outputs, images.length);
        [boxes, scores] = await Promise.all([outputs[0].data<'float32'>(), outputs[1].data<'float32'>()]);
      } finally {
        tf.dispose(outputs);
      }
    } finally {
      batch.dispose();
    }
    const seconds = (performance.now() - started) / 1000 / images.length;
    const perImage: DetectedBox[][] = [];
    for (let i = 0; i < images.length; i++) {
      const kept = await this.postprocess(boxes, scores, i, k, geometries[i], settings);
      perImage.push(kept.map((d) => ({ ...d, inferenceTime: seconds })));
    }
    return perImage;
  }

  /** Checks `[b, K, 4]` boxes and `[b, K]` scores; returns K. The caller disposes the outputs. */
  private checkOutputs(outputs: tf.Tensor[], b: number): number {
    const [boxes, scores] = outputs;
    const k = Number(scores.shape[1]); // NaN for a rank-1 tensor, which fails the checks below
    const ok =
      boxes.rank === 3 &&
      scores.rank === 2 &&
      boxes.shape[0] === b &&
      scores.shape[0] === b &&
      boxes.shape[2] === 4 &&
      boxes.shape[1] === k;
    if (!ok) {
      throw new Error(
        `detector ${this.descriptor.key}: expected boxes [${b}, K, 4] and scores [${b}, K], ` +
          `got [${boxes.shape.join(', ')}] and [${scores.shape.join(', ')}]`,
      );
    }
    return k;
  }

  /** Threshold, decode, map back, clamp, drop empty boxes, then NMS in source pixels and cap. */
  private async postprocess(
    boxes: ArrayLike<number>,
    scores: ArrayLike<number>,
    image: number,
    k: number,
    geometry: ResizeGeometry,
    settings: DetectionSettings,
  ): Promise<Omit<DetectedBox, 'inferenceTime'>[]> {
    const { input, output } = this.manifest;
    const candidates: { bbox: BoundingBox; score: number }[] = [];
    for (let j = 0; j < k; j++) {
      const score = scores[image * k + j];
      if (!(score >= settings.scoreThreshold)) continue; // also drops NaN
      const o = (image * k + j) * 4;
      const raw = decodeBox(
        [boxes[o], boxes[o + 1], boxes[o + 2], boxes[o + 3]],
        output.box_format,
        output.coordinates,
        input.width,
        input.height,
      );
      const bbox = clampBox(mapBoxToSource(raw, geometry), geometry.sourceWidth, geometry.sourceHeight);
      if (boxArea(bbox) > 0) candidates.push({ bbox, score });
    }
    if (candidates.length === 0) return [];
    // NMS on [n, 4] y1,x1,y2,x2 in source pixels, so IoU is measured where the boxes will be used.
    const boxTensor = tf.tensor2d(
      candidates.map(({ bbox }) => [bbox.y1, bbox.x1, bbox.y2, bbox.x2]),
      [candidates.length, 4],
    );
    const scoreTensor = tf.tensor1d(candidates.map((c) => c.score));
    let keep: Int32Array | Float32Array | Uint8Array;
    try {
      const selected = await tf.image.nonMaxSuppressionAsync(
        boxTensor,
        scoreTensor,
        settings.maxDetections,
        settings.iouThreshold,
      );
      try {
        keep = await selected.data();
      } finally {
        selected.dispose();
      }
    } finally {
      boxTensor.dispose();
      scoreTensor.dispose();
    }
    return Array.from(keep, (idx) => candidates[idx]);
  }
}
