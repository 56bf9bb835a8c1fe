/**
 * A generic, manifest-driven crop classifier: any TF.js graph model (or SavedModel on tfjs-node) that maps
 * `[B, H, W, 3]` crops to `[B, C]` logits or probabilities in category-map order.
 *
 * Per image, all of its regions are cut in ONE `tf.image.cropAndResize` call straight from the decoded tensor
 * (bilinear, aspect ratio not kept, as ADC does), normalised, then classified in batches of `batchSize`.
 */
import * as tf from '@tensorflow/tfjs';
import type { AlgorithmCategoryMap, AlgorithmConfigResponse } from '../contract/types';
import type { PipelineImage } from '../images/pipeline-image';
import type { ClassifierManifest, LoadedManifest } from '../models/manifest';
import type { Classifier, ClassifierResult, Region, RunOptions } from './algorithm';
import { describeManifest } from './descriptor';
import { cropBoxToNormalized } from './geometry/crop-box';
import { loadAndWarmUp, type ModelRunner } from './model-runner';
import { normalizePixels } from './preprocess';
import { softmax } from './softmax';

/** Crops per model call when the caller passes no usable batch size. */
export const DEFAULT_CLASSIFIER_BATCH_SIZE = 32;

export class CropClassifier implements Classifier {
  readonly kind = 'classifier' as const;
  readonly needsPixels = true;
  readonly descriptor: AlgorithmConfigResponse;
  private readonly manifest: ClassifierManifest;
  private readonly categoryMap: AlgorithmCategoryMap;
  private runner: ModelRunner | null = null;
  private compiling: Promise<void> | null = null;

  constructor(private readonly loaded: LoadedManifest) {
    if (loaded.manifest.kind !== 'classifier' || !loaded.categoryMap) {
      throw new Error(
        `${loaded.dir}: manifest kind is "${loaded.manifest.kind}", expected "classifier" with a category map`,
      );
    }
    this.manifest = loaded.manifest;
    this.categoryMap = loaded.categoryMap;
    this.descriptor = describeManifest(loaded);
  }

  /** Labels in output order. */
  get labels(): string[] {
    return this.categoryMap.labels;
  }

  /** Loads the model and classifies one blank crop, checking the output width. Concurrent calls share one load. */
  compile(): Promise<void> {
    this.compiling ??= this.load().catch((err: unknown) => {
      this.compiling = null;
      throw err;
    });
    return this.compiling;
  }

  private async load(): Promise<void> {
    this.runner = await loadAndWarmUp(this.loaded, this.outputNames(), (outputs) =>
      this.checkOutput(outputs, 1),
    );
  }

  /** The manifest's output name, or null for the model's only output. */
  private outputNames(): string[] | null {
    return this.manifest.output.name !== undefined ? [this.manifest.output.name] : null;
  }

  dispose(): void {
    this.runner?.dispose();
    this.runner = null;
    this.compiling = null;
  }

  async run(regions: Region[], options: RunOptions): Promise<ClassifierResult[]> {
    const runner = this.runner;
    if (!runner) throw new Error(`classifier ${this.descriptor.key} is not compiled`);
    if (regions.length === 0) return [];
    const batchSize = Math.max(1, Math.floor(options.batchSize) || DEFAULT_CLASSIFIER_BATCH_SIZE);

    // Group regions by image, keeping each region's position in the answer.
    const groups = new Map<PipelineImage, number[]>();
    regions.forEach((region, i) => {
      const list = groups.get(region.image);
      if (list) list.push(i);
      else groups.set(region.image, [i]);
    });

    const order: number[] = []; // row of `crops` → region index
    const perImage: tf.Tensor4D[] = [];
    let crops: tf.Tensor4D | null = null;
    try {
      for (const [image, indices] of groups) {
        perImage.push(
          this.cropImage(
            await image.tensor(),
            indices.map((i) => regions[i]),
            image,
          ),
        );
        order.push(...indices);
      }
      // [N, inputH, inputW, 3] normalised, rows in `order`
      crops = perImage.length === 1 ? perImage[0] : tf.concat(perImage);
      const results: ClassifierResult[] = new Array<ClassifierResult>(regions.length);
      for (let start = 0; start < order.length; start += batchSize) {
        const count = Math.min(batchSize, order.length - start);
        const batch = tf.slice(crops, [start, 0, 0, 0], [count, -1, -1, -1]);
        const started = performance.now();
        let values: Float32Array;
        try {
          const outputs = await runner.run(batch, this.outputNames());
          try {
            this.checkOutput(outputs, count);
            values = (await outputs[0].data()) as Float32Array;
          } finally {
            tf.dispose(outputs);
          }
        } finally {
          batch.dispose();
        }
        const seconds = (performance.now() - started) / 1000 / count;
        const c = this.categoryMap.labels.length;
        for (let r = 0; r < count; r++) {
          const row = values.subarray(r * c, (r + 1) * c);
          results[order[start + r]] = this.toResult(row, seconds);
        }
      }
      return results;
    } finally {
      tf.dispose(perImage);
      if (crops && !perImage.includes(crops)) crops.dispose();
    }
  }

  /** One cropAndResize for all regions of one image: `[n, inputH, inputW, 3]`, normalised. */
  private cropImage(pixels: tf.Tensor3D, regions: Region[], image: PipelineImage): tf.Tensor4D {
    const { width, height } = this.manifest.input;
    const [h, w] = pixels.shape;
    if (h !== image.height || w !== image.width) {
      throw new Error(
        `image ${image.id}: tensor is ${w}x${h} but the image says ${image.width}x${image.height}`,
      );
    }
    return tf.tidy(() => {
      // [n, 4] y1,x1,y2,x2 normalised with the (H−1)/(W−1) convention of cropAndResize
      const boxes = tf.tensor2d(
        regions.map((r) => cropBoxToNormalized(r.bbox, w, h, width, height)),
        [regions.length, 4],
      );
      const boxIndices = tf.zeros<tf.Rank.R1>([regions.length], 'int32');
      const batched = tf.expandDims<tf.Tensor4D>(pixels, 0); // [1, H, W, 3]; a view, the image keeps ownership
      const cropped = tf.image.cropAndResize(batched, boxes, boxIndices, [height, width], 'bilinear');
      return normalizePixels(cropped, this.manifest.input);
    });
  }

  /** Checks for exactly one `[b, C]` output, C being the category map's length. The caller disposes the tensors. */
  private checkOutput(outputs: tf.Tensor[], b: number): void {
    const c = this.categoryMap.labels.length;
    if (outputs.length !== 1) {
      throw new Error(
        `classifier ${this.descriptor.key}: expected one output, got ${outputs.length}; set output.name`,
      );
    }
    const [output] = outputs;
    if (output.rank !== 2 || output.shape[0] !== b || output.shape[1] !== c) {
      throw new Error(
        `classifier ${this.descriptor.key}: expected output [${b}, ${c}] (category map has ${c} labels), ` +
          `got [${output.shape.join(', ')}]`,
      );
    }
  }

  private toResult(row: Float32Array, seconds: number): ClassifierResult {
    if (this.manifest.output.kind === 'probabilities') {
      // Probabilities are reported as given; logits as ln(p), with p floored so that the JSON stays finite.
      return {
        scores: Array.from(row),
        logits: Array.from(row, (p) => Math.log(Math.max(p, 1e-45))),
        inferenceTime: seconds,
      };
    }
    return { scores: softmax(row), logits: Array.from(row), inferenceTime: seconds };
  }
}
