/**
 * The contract every algorithm implements (the seed's `compile()` / `run()` pair, typed).
 *
 * An algorithm describes itself for /info (`descriptor`), loads and warms its model once in `compile()`,
 * runs in `run()`, and frees its memory in `dispose()`. Detectors turn images into boxes; classifiers turn
 * image regions into full score vectors in category-map order.
 */
import type { AlgorithmConfigResponse, BoundingBox, RequestConfig } from '../contract/types';
import type { PipelineImage } from '../images/pipeline-image';
import type { Rng } from '../util/rng';

/** Options every run gets: the request's config (already validated) and a random source for stubs. */
export interface RunOptions {
  config: RequestConfig;
  /** Deterministic when the request gives `config.seed`. */
  rng: Rng;
  /** Images or crops per model call, from the pipeline's stage settings and `config`. */
  batchSize: number;
}

export interface Algorithm {
  readonly descriptor: AlgorithmConfigResponse;
  /** False when the algorithm only needs `width`/`height` (no decode). */
  readonly needsPixels: boolean;
  /** Loads the model and runs it once on an input of its real shape. Idempotent. */
  compile(): Promise<void>;
  /** Frees model memory. */
  dispose(): void;
  /** How its model runs once compiled ("graph model", "graph model as a native SavedModel", ...), if it says. */
  modelForm?(): string | null;
}

/** One box found by a detector, in original-image pixels. */
export interface DetectedBox {
  bbox: BoundingBox;
  score: number;
  /** Seconds of model time attributed to this box's image, or null when not measured. */
  inferenceTime: number | null;
  /**
   * The detector's own class for the box, when its manifest reports class labels: the full score vector in the
   * order of `Detector.labels`' category map (argmax = the class).
   */
  label?: { scores: number[] };
}

export interface Detector extends Algorithm {
  readonly kind: 'detector';
  /**
   * When the detector reports its own class labels: the algorithm its classifications are made under, with
   * the category map (a detector itself must describe itself with a null map:
   * docs/antenna-protocol.md#registration-rules).
   */
  readonly labels?: AlgorithmConfigResponse | null;
  /** One list of boxes per input image, in input order. Boxes lie inside the image. */
  run(images: PipelineImage[], options: RunOptions): Promise<DetectedBox[][]>;
}

/** A region to classify: a box on an image (the whole image for a downloaded crop). */
export interface Region {
  image: PipelineImage;
  bbox: BoundingBox;
}

/** A classifier's answer for one region. `scores` is the full vector in category-map order. */
export interface ClassifierResult {
  scores: number[];
  /** Raw pre-softmax vector in the same order, `[]` when the algorithm has none. */
  logits: number[];
  inferenceTime: number | null;
}

export interface Classifier extends Algorithm {
  readonly kind: 'classifier';
  /** One result per region, in input order. */
  run(regions: Region[], options: RunOptions): Promise<ClassifierResult[]>;
}
