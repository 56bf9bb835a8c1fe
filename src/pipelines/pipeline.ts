/**
 * A pipeline: its config for /info, an ordered list of stages (one detector, then classifiers) and a default
 * `run()` that detects in batches, then crops every detection from the decoded image and classifies the crops
 * in batches. Pipelines orchestrate; algorithms compute; box rules live in ./boxes.
 */
import type {
  AlgorithmConfigResponse,
  AlgorithmReference,
  BoundingBox,
  ClassificationResponse,
  DetectionResponse,
  PipelineConfigResponse,
  RequestConfig,
} from '../contract/types';
import type {
  Classifier,
  ClassifierResult,
  DetectedBox,
  Detector,
  Region,
  RunOptions,
} from '../algorithms/algorithm';
import type { PipelineImage } from '../images/pipeline-image';
import type { ImageErrorCode } from '../errors';
import { seededRng, unseededRng, type Rng } from '../util/rng';
import { isoTimestamp, secondsSince } from '../util/time';
import { clampBox, hasArea, truncateBox, uniqueBoxes } from './boxes';

/** Name, slug, version and description, as /info shows them. */
export interface PipelineConfig {
  name: string;
  slug: string;
  version: number;
  description: string | null;
}

/** A classifier stage. Stages run in order; each sees the classifications of earlier stages. */
export interface ClassifierStage {
  algorithm: Classifier;
  /** `false` for intermediate filters such as moth/non-moth (docs/antenna-protocol.md#classifications). */
  terminal: boolean;
  /** Crops per model call; defaults to the pipeline's classifier batch size. */
  batchSize?: number;
  /** Runs this stage only on detections whose earlier classifications pass, e.g. "first stage said moth". */
  appliesTo?: (earlier: ClassificationResponse[]) => boolean;
}

/** Batch sizes a pipeline falls back to when its stages and the request set none. */
export interface BatchDefaults {
  detectorBatchSize: number;
  classifierBatchSize: number;
}

/**
 * A box from the request for re-processing (docs/antenna-protocol.md#re-processing), the one type for it from
 * the service to the pipeline. `Crop` is the form of its downloaded `crop_image_url`: bytes between the
 * service and the engine (`GivenDetection<ImageBytes>`), a PipelineImage that the engine owns once it reaches
 * a pipeline.
 */
export interface GivenDetection<Crop = PipelineImage> {
  /** The source image the box belongs to. */
  imageId: string;
  bbox: BoundingBox;
  /** Echoed on the returned detection, as the reference does. */
  algorithm: AlgorithmReference;
  /** The downloaded `crop_image_url`, classified whole instead of cropping the source; null: crop the source. */
  crop: Crop | null;
}

/**
 * One pipeline run. The caller (the engine) owns the images and crops and disposes them after `run`; the
 * pipeline only reads them.
 */
export interface PipelineInput {
  images: PipelineImage[];
  /** Request boxes per image id. Images with entries here skip the detector. */
  given: Map<string, GivenDetection[]>;
  config: RequestConfig;
  /** The random stream, shared when one request is run in several batches; default: from `config.seed`. */
  rng?: Rng;
  /**
   * Called once per image as soon as it is done (its detections classified, or its failure known), before
   * the run goes on to the next detector chunk. The pull worker posts each result from here,
   * so the first results reach Antenna while the rest of the batch still runs.
   */
  onImageDone?: (done: ImageDone) => void;
}

/** One finished image of a run: its detections, or why it failed (then `detections` is empty). */
export interface ImageDone {
  imageId: string;
  detections: DetectionResponse[];
  failure: ImageFailure | null;
}

/** An image the run could not finish; it is left out of `source_images` and reported in `errors`. */
export interface ImageFailure {
  imageId: string;
  code: ImageErrorCode;
  message: string;
}

/** Seconds spent per stage, summed over the request. */
export type StageTimings = Partial<Record<'decode' | 'detect' | 'classify', number>>;

export interface PipelineOutput {
  /** Reused (request) boxes first, then new boxes (docs/antenna-protocol.md#detections). */
  detections: DetectionResponse[];
  failures: ImageFailure[];
  timings: StageTimings;
}

/** One detection being built: its image, box and classifications so far. */
interface WorkItem {
  image: PipelineImage;
  region: Region;
  reused: boolean;
  detection: DetectionResponse;
}

const reference = (d: AlgorithmConfigResponse): AlgorithmReference => ({ name: d.name, key: d.key });

/** `classification`, `labels`, `scores`, `logits` from a classifier result and its category map. */
export function toClassification(
  descriptor: AlgorithmConfigResponse,
  result: ClassifierResult,
  terminal: boolean,
): ClassificationResponse {
  const labels = descriptor.category_map?.labels ?? [];
  let best = 0;
  for (let i = 1; i < result.scores.length; i++) if (result.scores[i] > result.scores[best]) best = i;
  const label = labels[best];
  if (label === undefined) {
    throw new Error(
      `${descriptor.key} returned ${result.scores.length} scores but its category map has ${labels.length} labels`,
    );
  }
  return {
    classification: label,
    // The reference sends labels only for maps of 2 labels or fewer; large maps would bloat every response.
    labels: labels.length <= 2 ? [...labels] : null,
    scores: result.scores,
    logits: result.logits,
    inference_time: result.inferenceTime,
    algorithm: reference(descriptor),
    terminal,
    timestamp: isoTimestamp(),
  };
}

/** The random stream of a request: seeded by `config.seed` when set, so seeded answers are reproducible. */
export const requestRng = (config: RequestConfig): Rng =>
  config.seed !== undefined ? seededRng(config.seed) : unseededRng();

const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class Pipeline {
  constructor(
    readonly config: PipelineConfig,
    readonly detector: Detector,
    readonly classifiers: ClassifierStage[],
    readonly batches: BatchDefaults,
  ) {}

  get slug(): string {
    return this.config.slug;
  }

  /** True when some stage needs decoded pixels; `constant` needs only the header's size. */
  get needsPixels(): boolean {
    return this.detector.needsPixels || this.classifiers.some((s) => s.algorithm.needsPixels);
  }

  /** True when no stage reads pixels, hence no stage runs a model: such pipelines need no inference thread. */
  get modelFree(): boolean {
    return !this.needsPixels;
  }

  /** The /info entry: detector first, then classifiers in stage order, each key once. */
  describe(): PipelineConfigResponse {
    const seen = new Set<string>();
    // A detector that reports its own classes lists them as their own algorithm, right after the detector.
    const detectorLabels = this.detector.labels ? [this.detector.labels] : [];
    const algorithms = [
      this.detector.descriptor,
      ...detectorLabels,
      ...this.classifiers.map((s) => s.algorithm.descriptor),
    ].filter((d) => !seen.has(d.key) && seen.add(d.key));
    return { ...this.config, algorithms, stages: [] };
  }

  /** How each stage's model runs, by algorithm key (for the start-up log), once compiled. */
  modelForms(): Record<string, string> {
    const forms: Record<string, string> = {};
    for (const algorithm of [this.detector, ...this.classifiers.map((s) => s.algorithm)]) {
      const form = algorithm.modelForm?.();
      if (form) forms[algorithm.descriptor.key] = form;
    }
    return forms;
  }

  /** Loads and warms every stage. Throws on the first failure, naming the algorithm. */
  async compile(): Promise<void> {
    for (const algorithm of [this.detector, ...this.classifiers.map((s) => s.algorithm)]) {
      try {
        await algorithm.compile();
      } catch (err) {
        throw new Error(`${algorithm.descriptor.key}: ${errorMessage(err)}`);
      }
    }
  }

  dispose(): void {
    this.detector.dispose();
    for (const s of this.classifiers) s.algorithm.dispose();
  }

  /**
   * Default run: in chunks of the detector batch size, decode, detect (images without request boxes), then
   * classify every box stage by stage. A failure is pinned to the image that caused it; the rest go on.
   * Images are never disposed here: the engine owns them and sizes each run to its memory budget.
   */
  async run(input: PipelineInput): Promise<PipelineOutput> {
    const rng: Rng = input.rng ?? requestRng(input.config);
    const detectorBatch = input.config.detector_batch_size ?? this.batches.detectorBatchSize;
    const failures = new Map<string, ImageFailure>();
    const timings: StageTimings = {};
    const reused: DetectionResponse[] = [];
    const fresh: DetectionResponse[] = [];
    const fail = (imageId: string, code: ImageErrorCode, err: unknown): void => {
      if (!failures.has(imageId)) failures.set(imageId, { imageId, code, message: errorMessage(err) });
    };

    for (let start = 0; start < input.images.length; start += detectorBatch) {
      const chunk = input.images.slice(start, start + detectorBatch);
      const brokenCrops = new Set<PipelineImage>();
      const usable = await this.decode(chunk, input.given, brokenCrops, timings, fail);
      const toDetect = usable.filter((img) => !input.given.has(img.id));
      const found = await this.detect(
        toDetect,
        { config: input.config, rng, batchSize: detectorBatch },
        timings,
        fail,
      );
      const items = this.workItems(usable, input.given, brokenCrops, found, failures);
      await this.classify(items, input.config, rng, timings, fail);
      const done = new Map(chunk.map((img) => [img.id, [] as DetectionResponse[]]));
      for (const item of items) {
        if (failures.has(item.image.id)) continue;
        (item.reused ? reused : fresh).push(item.detection);
        done.get(item.image.id)?.push(item.detection);
      }
      // The chunk's images are done: batching stays per chunk, delivery becomes per image.
      for (const [imageId, detections] of done) {
        const failure = failures.get(imageId) ?? null;
        input.onImageDone?.({ imageId, detections: failure ? [] : detections, failure });
      }
    }
    return { detections: [...reused, ...fresh], failures: [...failures.values()], timings };
  }

  /**
   * Decodes pixels when a stage needs them; images that fail to decode are reported and skipped, crops that
   * fail to decode are added to `brokenCrops`.
   */
  private async decode(
    images: PipelineImage[],
    given: Map<string, GivenDetection[]>,
    brokenCrops: Set<PipelineImage>,
    timings: StageTimings,
    fail: (id: string, code: ImageErrorCode, err: unknown) => void,
  ): Promise<PipelineImage[]> {
    if (!this.needsPixels) return images;
    const t0 = performance.now();
    const usable: PipelineImage[] = [];
    for (const img of images) {
      try {
        await img.tensor();
        usable.push(img);
      } catch (err) {
        fail(img.id, 'IMAGE_DECODE_FAILED', err);
        continue;
      }
      // A downloaded crop that fails to decode falls back to cropping the source image
      // (docs/antenna-protocol.md#post-process-request).
      for (const g of given.get(img.id) ?? []) {
        if (!g.crop) continue;
        try {
          await g.crop.tensor();
        } catch {
          brokenCrops.add(g.crop);
        }
      }
    }
    timings.decode = (timings.decode ?? 0) + secondsSince(t0);
    return usable;
  }

  /** Batched detection; when a batch fails, images are retried alone so only the culprit fails. */
  private async detect(
    images: PipelineImage[],
    options: RunOptions,
    timings: StageTimings,
    fail: (id: string, code: ImageErrorCode, err: unknown) => void,
  ): Promise<Map<string, DetectedBox[]>> {
    const found = new Map<string, DetectedBox[]>();
    if (images.length === 0) return found;
    const t0 = performance.now();
    try {
      const boxes = await this.detector.run(images, options);
      images.forEach((img, i) => found.set(img.id, boxes[i] ?? []));
    } catch (batchError) {
      for (const img of images) {
        try {
          const [boxes] = await this.detector.run([img], { ...options, batchSize: 1 });
          found.set(img.id, boxes ?? []);
        } catch (err) {
          fail(img.id, 'INFERENCE_FAILED', images.length === 1 ? batchError : err);
        }
      }
    }
    timings.detect = (timings.detect ?? 0) + secondsSince(t0);
    return found;
  }

  /** Turns request boxes and detector boxes into detections to classify, applying the box rules. */
  private workItems(
    images: PipelineImage[],
    given: Map<string, GivenDetection[]>,
    brokenCrops: Set<PipelineImage>,
    found: Map<string, DetectedBox[]>,
    failures: Map<string, ImageFailure>,
  ): WorkItem[] {
    const items: WorkItem[] = [];
    const detectorRef = reference(this.detector.descriptor);
    const detectorLabels = this.detector.labels ?? null;
    for (const image of images) {
      if (failures.has(image.id)) continue;
      const supplied = given.get(image.id);
      const candidates = supplied
        ? supplied.map((g) => ({
            bbox: g.bbox,
            algorithm: g.algorithm,
            crop: g.crop && !brokenCrops.has(g.crop) ? g.crop : null,
            inferenceTime: 0,
            reused: true,
            label: undefined,
          }))
        : (found.get(image.id) ?? []).map((d) => ({
            // Whole pixels, as ADC sends them (Antenna crops image[int(y1):int(y2), int(x1):int(x2)] anyway).
            bbox: truncateBox(clampBox(d.bbox, image.width, image.height)),
            algorithm: detectorRef,
            crop: null,
            inferenceTime: d.inferenceTime,
            reused: false,
            label: d.label,
          }));
      for (const c of uniqueBoxes(candidates.filter((c) => hasArea(c.bbox)))) {
        const region: Region = c.crop
          ? { image: c.crop, bbox: { x1: 0, y1: 0, x2: c.crop.width, y2: c.crop.height } }
          : { image, bbox: clampBox(c.bbox, image.width, image.height) };
        items.push({
          image,
          region,
          reused: c.reused,
          detection: {
            source_image_id: image.id,
            // Reused boxes are echoed with their exact numbers: Antenna matches stored detections by exact
            // box (docs/antenna-protocol.md#detections).
            bbox: c.bbox,
            inference_time: c.inferenceTime,
            algorithm: c.algorithm,
            timestamp: isoTimestamp(),
            crop_image_url: null,
            classifications:
              detectorLabels && c.label ? [this.detectorClassification(detectorLabels, c)] : [],
          },
        });
      }
    }
    return items;
  }

  /**
   * The detector's own class for a box it found: terminal only when no classifier stage follows (a later
   * classifier's answer is then the determination: docs/antenna-protocol.md#classifications).
   */
  private detectorClassification(
    labels: AlgorithmConfigResponse,
    box: { label?: { scores: number[] }; inferenceTime: number | null },
  ): ClassificationResponse {
    const scores = box.label?.scores ?? [];
    return toClassification(
      labels,
      { scores, logits: [], inferenceTime: box.inferenceTime },
      this.classifiers.length === 0,
    );
  }

  /** Runs each classifier stage on the items it applies to, batched across the chunk's images. */
  private async classify(
    items: WorkItem[],
    config: RequestConfig,
    rng: Rng,
    timings: StageTimings,
    fail: (id: string, code: ImageErrorCode, err: unknown) => void,
  ): Promise<void> {
    const t0 = performance.now();
    for (const stage of this.classifiers) {
      const batchSize = config.classifier_batch_size ?? stage.batchSize ?? this.batches.classifierBatchSize;
      const selected = items.filter(
        (it) => !stage.appliesTo || stage.appliesTo(it.detection.classifications),
      );
      if (selected.length === 0) continue;
      // Builds every classification before attaching any, so a bad result leaves no half-classified items.
      const apply = (subset: WorkItem[], results: ClassifierResult[]): void => {
        if (results.length !== subset.length) {
          throw new Error(
            `${stage.algorithm.descriptor.key} returned ${results.length} results for ${subset.length} crops`,
          );
        }
        const built = results.map((r) => toClassification(stage.algorithm.descriptor, r, stage.terminal));
        subset.forEach((it, i) => it.detection.classifications.push(built[i]));
      };
      try {
        apply(
          selected,
          await stage.algorithm.run(
            selected.map((it) => it.region),
            { config, rng, batchSize },
          ),
        );
      } catch {
        // Isolate: classify image by image so one bad image does not sink the others.
        const byImage = new Map<string, WorkItem[]>();
        for (const it of selected) byImage.set(it.image.id, [...(byImage.get(it.image.id) ?? []), it]);
        for (const [imageId, subset] of byImage) {
          try {
            apply(
              subset,
              await stage.algorithm.run(
                subset.map((it) => it.region),
                { config, rng, batchSize },
              ),
            );
          } catch (err) {
            fail(imageId, 'INFERENCE_FAILED', err);
          }
        }
      }
    }
    timings.classify = (timings.classify ?? 0) + secondsSince(t0);
  }
}
