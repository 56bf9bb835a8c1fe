/**
 * The inference engine: owns TensorFlow, the compiled pipelines and a FIFO of jobs.
 *
 * `LocalEngine` runs in whatever thread creates it. In the service it lives inside a worker thread
 * (`WorkerEngine` is its main-thread proxy), so native TF, which blocks while it computes, never stalls
 * /readyz or /info. Tests use LocalEngine directly.
 */
import * as tf from '@tensorflow/tfjs';
import type { AlgorithmReference, BoundingBox, DetectionResponse, RequestConfig } from '../contract/types';
import type { ImageBytes } from '../images/bytes-image';
import { createPipelineImage } from '../images/bytes-image';
import { chooseDecoder, type DecoderName, type ImageDecoder } from '../images/decode';
import type { PipelineImage } from '../images/pipeline-image';
import type { PipelineContext, PipelineDefinition } from '../pipelines/definition';
import type { GivenDetection, ImageFailure, Pipeline, StageTimings } from '../pipelines/pipeline';
import { initBackend, type BackendChoice, type BackendPreference } from './backend';

/** A box from the request, with its downloaded crop when `crop_image_url` worked. */
export interface GivenBox {
  imageId: string;
  bbox: BoundingBox;
  algorithm: AlgorithmReference;
  crop: ImageBytes | null;
}

export interface EngineJob {
  pipeline: string;
  images: ImageBytes[];
  given: GivenBox[];
  config: RequestConfig;
}

export interface EngineResult {
  detections: DetectionResponse[];
  failures: ImageFailure[];
  /** Images in the pipeline run that served this job: more than its own when requests were batched together. */
  batchImages: number;
  /** Stage seconds, plus `queue`: time the job waited for the engine. */
  timings: StageTimings & { queue?: number };
}

export type PipelineState = { state: 'loading' } | { state: 'ready' } | { state: 'failed'; error: string };

export interface EngineStats {
  queueDepth: number;
  numTensors: number;
  numBytes: number;
}

export interface InferenceEngine {
  /** Null until the backend is initialised. */
  backend(): BackendChoice | null;
  pipelineState(slug: string): PipelineState | undefined;
  /** Slugs whose every stage is compiled and warmed, in registry order. */
  readySlugs(): string[];
  /** Resolves once `slug` is ready; rejects with the load error if it failed. */
  whenReady(slug: string): Promise<void>;
  run(job: EngineJob): Promise<EngineResult>;
  stats(): EngineStats;
  close(): Promise<void>;
}

export interface EngineOptions {
  definitions: readonly PipelineDefinition[];
  context: PipelineContext;
  backend: BackendPreference;
  decoder: DecoderName | 'auto';
  /** XNNPACK threads of the wasm backend (WASM_THREADS); 1 when absent. */
  wasmThreads?: number;
  /** Called on every backend choice and pipeline state change (for logs). */
  onEvent?: (event: EngineEvent) => void;
}

export type EngineEvent =
  | { type: 'backend'; choice: BackendChoice; decoder: DecoderName }
  | { type: 'state'; slug: string; state: PipelineState; seconds?: number };

/** Thrown by `whenReady`/`run` for a pipeline that failed to load. */
export class PipelineUnavailableError extends Error {}

/** A settable promise per slug, so requests that arrive while loading wait (CONTRACT §4.4: do not 503). */
class Readiness {
  private readonly states = new Map<string, PipelineState>();
  private readonly waiters = new Map<
    string,
    { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void }
  >();

  constructor(slugs: string[]) {
    for (const slug of slugs) {
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => undefined); // a failed load is reported through whenReady, not as unhandled
      this.waiters.set(slug, { promise, resolve, reject });
      this.states.set(slug, { state: 'loading' });
    }
  }

  set(slug: string, state: PipelineState): void {
    this.states.set(slug, state);
    const w = this.waiters.get(slug);
    if (state.state === 'ready') w?.resolve();
    if (state.state === 'failed')
      w?.reject(new PipelineUnavailableError(`pipeline ${slug} failed to load: ${state.error}`));
  }

  get(slug: string): PipelineState | undefined {
    return this.states.get(slug);
  }

  ready(): string[] {
    return [...this.states].filter(([, s]) => s.state === 'ready').map(([slug]) => slug);
  }

  wait(slug: string): Promise<void> {
    const w = this.waiters.get(slug);
    return w ? w.promise : Promise.reject(new PipelineUnavailableError(`pipeline ${slug} is not enabled`));
  }
}

/** A job waiting for the engine. */
interface Waiting {
  job: EngineJob;
  queuedAt: number;
  resolve: (r: EngineResult) => void;
  reject: (e: Error) => void;
}

/** Prefix that keeps image ids of merged jobs apart (two requests may both send image "101"). */
const tag = (k: number, id: string): string => `${k}\u0000${id}`;
const untag = (id: string): [number, string] => {
  const i = id.indexOf('\u0000');
  return [Number(id.slice(0, i)), id.slice(i + 1)];
};

export class LocalEngine implements InferenceEngine {
  private readonly readiness: Readiness;
  private readonly pipelines = new Map<string, Pipeline>();
  /** Jobs run one batch at a time: several 4K images per job already fill memory, concurrency adds nothing. */
  private readonly waiting: Waiting[] = [];
  private running = false;
  private choice: BackendChoice | null = null;
  private decoder: ImageDecoder | null = null;
  private started: Promise<void> | null = null;

  constructor(private readonly options: EngineOptions) {
    this.readiness = new Readiness(options.definitions.map((d) => d.slug));
  }

  /** Initialises the backend, then creates and compiles each pipeline in turn. Never throws: failures are states. */
  start(): Promise<void> {
    this.started ??= this.load();
    return this.started;
  }

  private async load(): Promise<void> {
    const emit = this.options.onEvent ?? (() => undefined);
    try {
      this.choice = await initBackend(this.options.backend, this.options.wasmThreads);
      this.decoder = chooseDecoder(this.options.decoder);
      emit({ type: 'backend', choice: this.choice, decoder: this.decoder.name });
    } catch (err) {
      for (const d of this.options.definitions) {
        const state: PipelineState = { state: 'failed', error: `backend: ${(err as Error).message}` };
        this.readiness.set(d.slug, state);
        emit({ type: 'state', slug: d.slug, state });
      }
      return;
    }
    for (const definition of this.options.definitions) {
      const t0 = performance.now();
      let state: PipelineState;
      try {
        const pipeline = await definition.create(this.options.context);
        await pipeline.compile();
        this.pipelines.set(definition.slug, pipeline);
        state = { state: 'ready' };
      } catch (err) {
        state = { state: 'failed', error: (err as Error).message };
      }
      this.readiness.set(definition.slug, state);
      emit({ type: 'state', slug: definition.slug, state, seconds: (performance.now() - t0) / 1000 });
    }
  }

  backend(): BackendChoice | null {
    return this.choice;
  }

  pipelineState(slug: string): PipelineState | undefined {
    return this.readiness.get(slug);
  }

  readySlugs(): string[] {
    return this.readiness.ready();
  }

  whenReady(slug: string): Promise<void> {
    return this.readiness.wait(slug);
  }

  async run(job: EngineJob): Promise<EngineResult> {
    void this.start();
    await this.whenReady(job.pipeline);
    return new Promise<EngineResult>((resolve, reject) => {
      this.waiting.push({ job, queuedAt: performance.now(), resolve, reject });
      void this.drain();
    });
  }

  /** Runs waiting jobs until none is left, merging compatible ones into one pipeline run. */
  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.waiting.length > 0) {
        const batch = this.takeBatch();
        const started = performance.now();
        try {
          const results = await this.execute(batch.map((w) => w.job));
          batch.forEach((w, k) =>
            w.resolve({
              ...results[k],
              timings: { ...results[k].timings, queue: (started - w.queuedAt) / 1000 },
            }),
          );
        } catch (err) {
          for (const w of batch) w.reject(err as Error);
        }
      }
    } finally {
      this.running = false;
    }
  }

  /**
   * The first waiting job plus later ones that can share its run: same pipeline, same config, no seed
   * (a seeded random stream must not be shared), a pipeline that decodes pixels (batching gains nothing
   * otherwise), up to the detector batch size in images.
   */
  private takeBatch(): Waiting[] {
    const first = this.waiting.shift()!;
    const batch = [first];
    const pipeline = this.pipelines.get(first.job.pipeline);
    const limit = first.job.config.detector_batch_size ?? this.options.context.batches.detectorBatchSize;
    if (!pipeline?.needsPixels || first.job.config.seed !== undefined) return batch;
    const key = JSON.stringify(first.job.config);
    let images = first.job.images.length;
    for (let i = 0; i < this.waiting.length && images < limit;) {
      const w = this.waiting[i];
      const fits = images + w.job.images.length <= limit;
      if (w.job.pipeline === first.job.pipeline && JSON.stringify(w.job.config) === key && fits) {
        batch.push(w);
        images += w.job.images.length;
        this.waiting.splice(i, 1);
      } else {
        i++;
      }
    }
    return batch;
  }

  /** One pipeline run for one or more jobs; results are split back per job. */
  private async execute(jobs: EngineJob[]): Promise<EngineResult[]> {
    const pipeline = this.pipelines.get(jobs[0].pipeline);
    const decoder = this.decoder;
    if (!pipeline || !decoder)
      throw new PipelineUnavailableError(`pipeline ${jobs[0].pipeline} is not loaded`);
    const merged = jobs.length > 1;
    const id = (k: number, imageId: string): string => (merged ? tag(k, imageId) : imageId);
    const images = jobs.flatMap((job, k) =>
      job.images.map((img) => createPipelineImage({ ...img, id: id(k, img.id) }, decoder)),
    );
    const crops: PipelineImage[] = [];
    const given = new Map<string, GivenDetection[]>();
    jobs.forEach((job, k) => {
      for (const box of job.given) {
        const crop = box.crop ? createPipelineImage(box.crop, decoder) : null;
        if (crop) crops.push(crop);
        const key = id(k, box.imageId);
        given.set(key, [...(given.get(key) ?? []), { bbox: box.bbox, algorithm: box.algorithm, crop }]);
      }
    });
    let out;
    try {
      out = await pipeline.run({ images, given, config: jobs[0].config });
    } finally {
      for (const img of [...images, ...crops]) img.dispose();
    }
    const batchImages = images.length;
    if (!merged) return [{ ...out, batchImages }];
    const results: EngineResult[] = jobs.map(() => ({
      detections: [],
      failures: [],
      timings: out.timings,
      batchImages,
    }));
    for (const d of out.detections) {
      const [k, imageId] = untag(d.source_image_id);
      results[k].detections.push({ ...d, source_image_id: imageId });
    }
    for (const f of out.failures) {
      const [k, imageId] = untag(f.imageId);
      results[k].failures.push({ ...f, imageId });
    }
    return results;
  }

  stats(): EngineStats {
    const mem = tf.memory();
    const queueDepth = this.waiting.length + (this.running ? 1 : 0);
    return { queueDepth, numTensors: mem.numTensors, numBytes: mem.numBytes };
  }

  close(): Promise<void> {
    for (const p of this.pipelines.values()) p.dispose();
    this.pipelines.clear();
    return Promise.resolve();
  }
}
