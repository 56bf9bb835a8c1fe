/**
 * A generic, manifest-driven crop classifier: any TF.js graph model (or SavedModel on tfjs-node) that maps
 * `[B, H, W, 3]` crops to `[B, C]` logits or probabilities in category-map order.
 *
 * With `resize: stretch`, all regions of an image are cut in ONE `tf.image.cropAndResize` call straight from the
 * decoded tensor (bilinear, aspect ratio not kept), normalised, then classified in batches of `batchSize`; or,
 * with `interpolation` `bilinear-antialias` or `pil-bilinear`, each region's whole pixels are resampled as
 * PyTorch or Pillow does it, for models trained on crops made that way (ADC's). With `resize: none` (a graph that resizes inside), each region is cut at its own whole-pixel size
 * and crops of one size are batched together.
 */
import * as tf from '@tensorflow/tfjs';
import type { AlgorithmCategoryMap, AlgorithmConfigResponse } from '../contract/types';
import type { PipelineImage } from '../images/pipeline-image';
import type { ClassifierManifest, LoadedManifest } from '../models/manifest';
import type { Classifier, ClassifierResult, Region, RunOptions } from './algorithm';
import { describeManifest } from './descriptor';
import { cropBoxToNormalized } from './geometry/crop-box';
import { wholePixelCrop } from './geometry/whole-pixel-crop';
import { resampleCrop, type ResampleMethod } from './resample';
import { loadAndWarmUp, type ModelRunner } from './model-runner';
import { normalizePixels } from './preprocess';
import { softmax } from './softmax';

/** Crops of one shape, in batches: the region index of each row, and the rows as normalised tensors. */
interface CropGroup {
  order: number[];
  /** Rows `start` to `start + count` as one `[count, h, w, 3]` normalised batch, which the caller disposes. */
  batch(start: number, count: number): Promise<tf.Tensor4D>;
  dispose(): void;
}

/** A group whose crops are all cut already, as one `[n, h, w, 3]` tensor the group owns. */
const tensorGroup = (crops: tf.Tensor4D, order: number[]): CropGroup => ({
  order,
  batch: (start, count) => Promise.resolve(tf.slice(crops, [start, 0, 0, 0], [count, -1, -1, -1])),
  dispose: () => crops.dispose(),
});

/** Crops per model call when the caller passes no usable batch size. */
export const DEFAULT_CLASSIFIER_BATCH_SIZE = 32;

export class CropClassifier implements Classifier {
  readonly kind = 'classifier' as const;
  readonly needsPixels = true;
  readonly descriptor: AlgorithmConfigResponse;
  private readonly manifest: ClassifierManifest;
  private readonly categoryMap: AlgorithmCategoryMap;
  private runner: ModelRunner | null = null;

  /** What runs the model once compiled ("graph model", "SavedModel", ...; ModelRunner.form), else null. */
  modelForm(): string | null {
    return this.runner?.form ?? null;
  }
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
    const { resize, interpolation = 'bilinear' } = this.manifest.input;
    const groups =
      resize === 'none'
        ? await this.cropsBySize(regions)
        : interpolation === 'bilinear'
          ? [await this.cropsResized(regions)]
          : [this.cropsResampled(regions, interpolation)];
    try {
      const results: ClassifierResult[] = new Array<ClassifierResult>(regions.length);
      for (const group of groups) await this.classifyGroup(runner, group, batchSize, results);
      return results;
    } finally {
      for (const group of groups) group.dispose();
    }
  }

  /** Classifies one group of equal-sized crops in batches, writing each result at its region's index. */
  private async classifyGroup(
    runner: ModelRunner,
    group: CropGroup,
    batchSize: number,
    results: ClassifierResult[],
  ): Promise<void> {
    const { order } = group;
    for (let start = 0; start < order.length; start += batchSize) {
      const count = Math.min(batchSize, order.length - start);
      const batch = await group.batch(start, count);
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
  }

  /** `resize: stretch`: every region cut to the input size, one cropAndResize per image, as one group. */
  private async cropsResized(regions: Region[]): Promise<CropGroup> {
    // Group regions by image, keeping each region's position in the answer.
    const byImage = new Map<PipelineImage, number[]>();
    regions.forEach((region, i) => {
      const list = byImage.get(region.image);
      if (list) list.push(i);
      else byImage.set(region.image, [i]);
    });
    const order: number[] = []; // row of the crops → region index
    const perImage: tf.Tensor4D[] = [];
    let crops: tf.Tensor4D | null = null;
    try {
      for (const [image, indices] of byImage) {
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
      return tensorGroup(crops, order);
    } finally {
      // Keeps only what is returned: a failed decode leaves the earlier images' crops behind.
      tf.dispose(perImage.filter((t) => t !== crops));
    }
  }

  /**
   * `resize: none`: every region cut at its own whole-pixel size (the graph resizes), one group per crop size,
   * since a batch needs one shape.
   */
  private async cropsBySize(regions: Region[]): Promise<CropGroup[]> {
    const bySize = new Map<string, { order: number[]; crops: tf.Tensor4D[] }>();
    const groups: CropGroup[] = [];
    try {
      for (let i = 0; i < regions.length; i++) {
        const { image, bbox } = regions[i];
        const pixels = await image.tensor();
        this.checkImage(pixels, image);
        const c = wholePixelCrop(bbox, image.width, image.height);
        // [1, h, w, 3] normalised; the slice is a new tensor, the image keeps its own
        const crop = tf.tidy(() =>
          normalizePixels(
            tf.expandDims<tf.Tensor4D>(tf.slice(pixels, [c.y, c.x, 0], [c.height, c.width, 3])),
            this.manifest.input,
          ),
        );
        const key = `${c.height}x${c.width}`;
        const group = bySize.get(key) ?? { order: [], crops: [] };
        bySize.set(key, group);
        group.order.push(i);
        group.crops.push(crop);
      }
      for (const { order, crops } of bySize.values()) {
        groups.push(tensorGroup(crops.length === 1 ? crops[0] : tf.concat(crops), order));
      }
      return groups;
    } catch (err) {
      for (const group of groups) group.dispose();
      tf.dispose([...bySize.values()].flatMap((g) => g.crops));
      throw err;
    } finally {
      for (const { crops } of bySize.values()) if (crops.length > 1) tf.dispose(crops);
    }
  }

  /**
   * `interpolation: bilinear-antialias | pil-bilinear`: each region's whole pixels, as `PIL.Image.crop` of the
   * integer box cuts them, resampled as PyTorch or Pillow would (./resample.ts). Each batch is cut when it is
   * classified, so that 500 crops at 300 px never sit in memory together.
   */
  private cropsResampled(regions: Region[], method: ResampleMethod): CropGroup {
    // Validation requires the size with resize "stretch" (inputProblems).
    const { width = 1, height = 1 } = this.manifest.input;
    const cropSize = width * height * 3;
    return {
      order: regions.map((_, i) => i),
      batch: async (start, count) => {
        const values = new Float32Array(count * cropSize); // [count, height, width, 3], 0..255
        for (let r = 0; r < count; r++) {
          const { image, bbox } = regions[start + r];
          const pixels = await image.tensor();
          this.checkImage(pixels, image);
          const c = wholePixelCrop(bbox, image.width, image.height);
          const slice = tf.slice(pixels, [c.y, c.x, 0], [c.height, c.width, 3]); // [h, w, 3] int32
          let crop: Int32Array;
          try {
            crop = (await slice.data()) as Int32Array;
          } finally {
            slice.dispose();
          }
          values.set(resampleCrop(crop, c.width, c.height, width, height, method), r * cropSize);
        }
        return tf.tidy(() =>
          normalizePixels(tf.tensor4d(values, [count, height, width, 3]), this.manifest.input),
        );
      },
      dispose: () => undefined,
    };
  }

  private checkImage(pixels: tf.Tensor3D, image: PipelineImage): void {
    const [h, w] = pixels.shape;
    if (h !== image.height || w !== image.width) {
      throw new Error(
        `image ${image.id}: tensor is ${w}x${h} but the image says ${image.width}x${image.height}`,
      );
    }
  }

  /** One cropAndResize for all regions of one image: `[n, inputH, inputW, 3]`, normalised. */
  private cropImage(pixels: tf.Tensor3D, regions: Region[], image: PipelineImage): tf.Tensor4D {
    // Validation requires the size with resize "stretch" (inputProblems).
    const { width = 1, height = 1 } = this.manifest.input;
    this.checkImage(pixels, image);
    const [h, w] = pixels.shape;
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
