/**
 * The inference engine: owns TensorFlow, the compiled pipelines, the decoded images and a FIFO of jobs.
 *
 * `LocalEngine` runs in whatever thread creates it. In the service it lives inside a worker thread
 * (`WorkerEngine` is its main-thread proxy), so native TF, which blocks while it computes, never stalls
 * /readyz or /info; model-free pipelines get a LocalEngine without TensorFlow on the main thread. Tests use
 * LocalEngine directly.
 *
 * Memory (docs/memory.md): images are admitted into a pipeline run by pixel count against a budget, an image
 * that cannot fit alone fails with IMAGE_TOO_LARGE_FOR_BACKEND, and each run's images are disposed as soon as
 * the run ends. A failure that leaves the backend unusable (wasm "memory access out of bounds", a native OOM)
 * rebuilds the backend and reloads the models; the images of that run are retried once, one by one.
 */
import * as tf from '@tensorflow/tfjs';
import type { DetectionResponse, RequestConfig } from '../contract/types';
import type { ImageBytes } from '../images/bytes-image';
import { createPipelineImage } from '../images/bytes-image';
import { chooseDecoder, DecodeError, type DecoderName, type ImageDecoder } from '../images/decode';
import type { PipelineImage } from '../images/pipeline-image';
import type { PipelineContext, PipelineDefinition } from '../pipelines/definition';
import {
  requestRng,
  type GivenDetection,
  type ImageDone,
  type ImageFailure,
  type Pipeline,
  type PipelineOutput,
  type StageTimings,
} from '../pipelines/pipeline';
import type { Rng } from '../util/rng';
import { initBackend, type BackendChoice, type BackendPreference } from '../tf/backend';
import { budgetBytes, mib, planBatches } from './memory-budget';
import { PipelineUnavailableError, Readiness, type PipelineState } from './readiness';

export { PipelineUnavailableError, type PipelineState } from './readiness';
export type { ImageDone } from '../pipelines/pipeline';

/**
 * Receives each image of a job as soon as it is done, with the job's own image ids (never those of a job it
 * was batched with). Every image of the job is reported once, failures included, before `run` resolves.
 */
export type ImageDoneListener = (done: ImageDone) => void;

export interface EngineJob {
  pipeline: string;
  images: ImageBytes[];
  /** Request boxes with their downloaded crops (docs/antenna-protocol.md#re-processing). */
  given: GivenDetection<ImageBytes>[];
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

export interface EngineStats {
  queueDepth: number;
  numTensors: number;
  numBytes: number;
}

/** The stats of several engines as one (a pool's threads, a router's engines): every figure summed. */
export function sumStats(all: readonly EngineStats[]): EngineStats {
  const total: EngineStats = { queueDepth: 0, numTensors: 0, numBytes: 0 };
  for (const s of all) {
    total.queueDepth += s.queueDepth;
    total.numTensors += s.numTensors;
    total.numBytes += s.numBytes;
  }
  return total;
}

export interface InferenceEngine {
  /** Null until the backend is initialised (and always for an engine without TensorFlow). */
  backend(): BackendChoice | null;
  pipelineState(slug: string): PipelineState | undefined;
  /** Slugs whose every stage is compiled and warmed, in registry order. */
  readySlugs(): string[];
  /** Resolves once `slug` is ready; rejects with the load error if it failed. */
  whenReady(slug: string): Promise<void>;
  /** Runs `job`; `onImage` hears of each image as soon as it is done (when `run` rejects, only some may be). */
  run(job: EngineJob, onImage?: ImageDoneListener): Promise<EngineResult>;
  stats(): EngineStats;
  close(): Promise<void>;
}

export interface EngineOptions {
  definitions: readonly PipelineDefinition[];
  context: PipelineContext;
  /** null: no TensorFlow at all, for model-free pipelines (`constant`) on the main thread. */
  backend: BackendPreference | null;
  decoder: DecoderName | 'auto';
  /** INFERENCE_MEMORY_BUDGET_MB; 0 or absent: sized from the backend (memory-budget.ts). */
  memoryBudgetMb?: number;
  /** XNNPACK threads of the wasm backend (WASM_THREADS); 1 when absent. */
  wasmThreads?: number;
  /** Called on every backend choice, pipeline state change and rebuild (for logs). */
  onEvent?: (event: EngineEvent) => void;
  /** Called when jobs leave the queue for a run (the inference thread tells the main thread). */
  onBatchStart?: (jobs: EngineJob[]) => void;
}

export type EngineEvent =
  | { type: 'backend'; choice: BackendChoice; decoder: DecoderName }
  | { type: 'state'; slug: string; state: PipelineState; seconds?: number; models?: Record<string, string> }
  /** The backend became unusable and is being rebuilt; its pipelines are out of /readyz until warm again. */
  | { type: 'rebuild'; cause: string; slugs: string[] };

/**
 * Errors after which the backend cannot be trusted: the wasm heap is corrupt or exhausted (every later op
 * fails the same way: docs/memory.md#when-the-backend-breaks-anyway), or native TF ran out of host or device
 * memory.
 */
const FATAL_BACKEND_ERROR =
  /memory access out of bounds|Cannot enlarge memory|Aborted\(|RuntimeError: unreachable|OOM when allocating|Resource ?exhausted|CUDA_ERROR_OUT_OF_MEMORY/i;

/** True when `message` says the backend is no longer usable. */
export function isFatalBackendError(message: string): boolean {
  return FATAL_BACKEND_ERROR.test(message);
}

/**
 * Replaces the active backend with a fresh instance of the same kind (a new wasm module and heap, a new TF
 * eager context). Kernels are set up again on it by `setBackend`. Tensors of the old instance are lost, so
 * everything that holds one must be disposed first.
 */
async function resetBackend(): Promise<void> {
  const name = tf.getBackend();
  const factory = tf.findBackendFactory(name);
  if (!factory) return;
  tf.removeBackend(name);
  tf.registerBackend(name, factory);
  if (!(await tf.setBackend(name))) throw new Error(`the ${name} backend could not be initialised again`);
  await tf.ready();
}

/** Stands in for the decoder of an engine without TensorFlow: its pipelines never decode. */
const noDecoder: ImageDecoder = {
  name: 'sharp',
  decode: () => Promise.reject(new DecodeError('this engine has no TensorFlow backend to decode with')),
};

/** One image of a run with its request boxes, ids already tagged. */
interface Entry {
  source: ImageBytes;
  given: GivenDetection<ImageBytes>[];
}

/** A job waiting for the engine. */
interface Waiting {
  job: EngineJob;
  onImage?: ImageDoneListener;
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
  private budget = Infinity;
  private started: Promise<void> | null = null;
  private readonly emit: (event: EngineEvent) => void;

  constructor(private readonly options: EngineOptions) {
    this.readiness = new Readiness(options.definitions.map((d) => d.slug));
    this.emit = options.onEvent ?? (() => undefined);
  }

  /** Initialises the backend, then creates and compiles each pipeline in turn. Never throws: failures are states. */
  start(): Promise<void> {
    this.started ??= this.load();
    return this.started;
  }

  private async load(): Promise<void> {
    if (this.options.backend === null) {
      this.decoder = noDecoder;
    } else {
      try {
        this.choice = await initBackend(this.options.backend, { wasmThreads: this.options.wasmThreads });
        this.decoder = chooseDecoder(this.options.decoder);
        this.budget = budgetBytes(this.options.memoryBudgetMb ?? 0, this.choice.backend);
        this.emit({ type: 'backend', choice: this.choice, decoder: this.decoder.name });
      } catch (err) {
        this.setAll({ state: 'failed', error: `backend: ${(err as Error).message}` });
        return;
      }
    }
    await this.loadPipelines();
  }

  private setAll(state: PipelineState): void {
    for (const d of this.options.definitions) {
      this.readiness.set(d.slug, state);
      this.emit({ type: 'state', slug: d.slug, state });
    }
  }

  private async loadPipelines(): Promise<void> {
    for (const definition of this.options.definitions) {
      const t0 = performance.now();
      let state: PipelineState;
      let models: Record<string, string> | undefined;
      try {
        const pipeline = await definition.create(this.options.context);
        await pipeline.compile();
        this.pipelines.set(definition.slug, pipeline);
        models = pipeline.modelForms();
        state = { state: 'ready' };
      } catch (err) {
        state = { state: 'failed', error: (err as Error).message };
      }
      this.readiness.set(definition.slug, state);
      this.emit({
        type: 'state',
        slug: definition.slug,
        state,
        seconds: (performance.now() - t0) / 1000,
        ...(models ? { models } : {}),
      });
    }
  }

  /**
   * Throws the backend away and builds it again with every model reloaded. The pipelines are "loading" (out
   * of /readyz; new requests wait) until each is warm again.
   */
  private async rebuild(cause: string): Promise<void> {
    this.emit({ type: 'rebuild', cause, slugs: this.options.definitions.map((d) => d.slug) });
    this.setAll({ state: 'loading' });
    for (const p of this.pipelines.values()) {
      try {
        p.dispose();
      } catch {
        // The old heap may be corrupt; its memory goes with the backend instance anyway.
      }
    }
    this.pipelines.clear();
    try {
      await resetBackend();
    } catch (err) {
      this.setAll({ state: 'failed', error: `backend rebuild: ${(err as Error).message}` });
      return;
    }
    await this.loadPipelines();
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

  async run(job: EngineJob, onImage?: ImageDoneListener): Promise<EngineResult> {
    void this.start();
    await this.whenReady(job.pipeline);
    return new Promise<EngineResult>((resolve, reject) => {
      this.waiting.push({ job, onImage, queuedAt: performance.now(), resolve, reject });
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
          this.options.onBatchStart?.(batch.map((w) => w.job));
          const results = await this.execute(batch);
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
    const limit = this.detectorBatch(first.job.config);
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

  private detectorBatch(config: RequestConfig): number {
    return config.detector_batch_size ?? this.options.context.batches.detectorBatchSize;
  }

  /**
   * One or more jobs as one logical run, split into pipeline runs that fit the memory budget; results are
   * split back per job.
   */
  private async execute(waiting: Waiting[]): Promise<EngineResult[]> {
    const jobs = waiting.map((w) => w.job);
    const slug = jobs[0].pipeline;
    const pipeline = this.pipelines.get(slug);
    if (!pipeline) throw new PipelineUnavailableError(`pipeline ${slug} is not loaded`);
    const config = jobs[0].config;
    const merged = jobs.length > 1;
    const id = (k: number, imageId: string): string => (merged ? tag(k, imageId) : imageId);
    const entries: Entry[] = [];
    jobs.forEach((job, k) => {
      const given = new Map<string, GivenDetection<ImageBytes>[]>();
      for (const g of job.given) given.set(g.imageId, [...(given.get(g.imageId) ?? []), g]);
      for (const img of job.images) {
        entries.push({
          source: { ...img, id: id(k, img.id) },
          given: (given.get(img.id) ?? []).map((g) => ({ ...g, imageId: id(k, g.imageId) })),
        });
      }
    });

    // Each finished image goes to its own job's listener, under the job's own id; each is reported once.
    const reported = new Set<string>();
    const report = (done: ImageDone): void => {
      if (reported.has(done.imageId)) return;
      reported.add(done.imageId);
      const [k, imageId] = merged ? untag(done.imageId) : [0, done.imageId];
      const listener = waiting[k].onImage;
      if (!listener) return;
      const own = (d: DetectionResponse): DetectionResponse => ({ ...d, source_image_id: imageId });
      try {
        listener({
          imageId,
          detections: merged ? done.detections.map(own) : done.detections,
          failure: done.failure && { ...done.failure, imageId },
        });
      } catch {
        // A listener's own failure is its business; the run and the other jobs go on.
      }
    };

    const out = await this.runAll(slug, pipeline.needsPixels, entries, config, report);
    const batchImages = entries.length;
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

  /** Admits `entries` into runs by the memory budget, runs each, and joins their outputs. */
  private async runAll(
    slug: string,
    needsPixels: boolean,
    entries: Entry[],
    config: RequestConfig,
    report: ImageDoneListener,
  ): Promise<PipelineOutput> {
    const rng = requestRng(config);
    const pixels = (e: Entry): number =>
      e.source.header.width * e.source.header.height +
      e.given.reduce((n, g) => n + (g.crop ? g.crop.header.width * g.crop.header.height : 0), 0);
    // Pixel-free pipelines decode nothing: one run, however large the images say they are.
    const plan = needsPixels
      ? planBatches(entries, pixels, this.detectorBatch(config), this.budget)
      : { batches: [entries], tooLarge: [] };
    const failures: ImageFailure[] = plan.tooLarge.map(({ item, bytes }) => ({
      imageId: item.source.id,
      code: 'IMAGE_TOO_LARGE_FOR_BACKEND',
      message:
        `${item.source.header.width}x${item.source.header.height} pixels need ${mib(bytes)} to decode and ` +
        `process, more than the ${this.choice?.backend ?? 'engine'} backend's inference memory budget of ` +
        `${mib(this.budget)} (INFERENCE_MEMORY_BUDGET_MB)`,
    }));
    for (const failure of failures) report({ imageId: failure.imageId, detections: [], failure });
    const detections: DetectionResponse[] = [];
    const timings: StageTimings = {};
    for (const batch of plan.batches) {
      const out = await this.runGuarded(slug, batch, config, rng, report);
      detections.push(...out.detections);
      failures.push(...out.failures);
      for (const [stage, s] of Object.entries(out.timings) as [keyof StageTimings, number][])
        timings[stage] = (timings[stage] ?? 0) + s;
    }
    // Reused (request) boxes first, then new ones, across runs as within one: Antenna attaches
    // classifications in that order (docs/antenna-protocol.md#detections).
    const reusedImages = new Set(entries.filter((e) => e.given.length > 0).map((e) => e.source.id));
    const reused = detections.filter((d) => reusedImages.has(d.source_image_id));
    const fresh = detections.filter((d) => !reusedImages.has(d.source_image_id));
    return { detections: [...reused, ...fresh], failures, timings };
  }

  /**
   * One pipeline run. When it leaves the backend unusable, the engine is rebuilt and the run's images are
   * retried once each, alone, on the fresh engine: only an image that breaks it again fails (and the
   * engine is rebuilt again), so the others are never failed for a neighbour.
   */
  private async runGuarded(
    slug: string,
    batch: Entry[],
    config: RequestConfig,
    rng: Rng,
    report: ImageDoneListener,
  ): Promise<PipelineOutput> {
    type Attempt = Awaited<ReturnType<LocalEngine['attempt']>>;
    const first: Attempt = await this.attempt(slug, batch, config, rng, report);
    if ('output' in first) return first.output;
    await this.rebuild(first.fatal);
    // Images finished before the backend broke are done and already reported: only the others run again.
    const out: PipelineOutput = { detections: [], failures: [], timings: {} };
    const finished = new Set(first.done.map((d) => d.imageId));
    for (const d of first.done) {
      out.detections.push(...d.detections);
      if (d.failure) out.failures.push(d.failure);
    }
    const rest = batch.filter((e) => !finished.has(e.source.id));
    for (const entry of rest) {
      const retry: Attempt =
        batch.length > 1 ? await this.attempt(slug, [entry], config, rng, report) : first;
      if ('output' in retry) {
        out.detections.push(...retry.output.detections);
        out.failures.push(...retry.output.failures);
        continue;
      }
      if (retry !== first) await this.rebuild(retry.fatal);
      const failure: ImageFailure = {
        imageId: entry.source.id,
        code: 'INFERENCE_FAILED',
        message: `the ${this.choice?.backend ?? ''} backend broke on this image and was rebuilt: ${retry.fatal}`,
      };
      out.failures.push(failure);
      report({ imageId: failure.imageId, detections: [], failure });
    }
    return out;
  }

  /**
   * Runs `batch` once; reports a fatal backend error instead of its output, with the images that were done
   * (and reported) before the backend broke. Nothing is reported from a backend once it has broken: its later
   * answers cannot be trusted, and those images run again. The engine disposes the images.
   */
  private async attempt(
    slug: string,
    batch: Entry[],
    config: RequestConfig,
    rng: Rng,
    report: ImageDoneListener,
  ): Promise<{ output: PipelineOutput } | { fatal: string; done: ImageDone[] }> {
    const pipeline = this.pipelines.get(slug);
    const decoder = this.decoder;
    if (!pipeline || !decoder) {
      const state = this.readiness.get(slug);
      const why = state?.state === 'failed' ? `: ${state.error}` : '';
      throw new PipelineUnavailableError(`pipeline ${slug} is not loaded${why}`);
    }
    const images: PipelineImage[] = [];
    const crops: PipelineImage[] = [];
    const given = new Map<string, GivenDetection[]>();
    const done: ImageDone[] = [];
    let broken = false;
    const onImageDone = (d: ImageDone): void => {
      if (broken || (d.failure && isFatalBackendError(d.failure.message))) {
        broken = true;
        return;
      }
      done.push(d);
      report(d);
    };
    try {
      for (const e of batch) {
        images.push(createPipelineImage(e.source, decoder));
        if (e.given.length === 0) continue;
        given.set(
          e.source.id,
          e.given.map((g) => {
            const crop = g.crop ? createPipelineImage(g.crop, decoder) : null;
            if (crop) crops.push(crop);
            return { ...g, crop };
          }),
        );
      }
      const output = await pipeline.run({ images, given, config, rng, onImageDone });
      const fatal = output.failures.find((f) => isFatalBackendError(f.message));
      if (fatal) return { fatal: fatal.message, done };
      // A pipeline with its own run() may not report per image: what it did not report is done now.
      for (const img of images) {
        report({
          imageId: img.id,
          detections: output.detections.filter((d) => d.source_image_id === img.id),
          failure: output.failures.find((f) => f.imageId === img.id) ?? null,
        });
      }
      return { output };
    } catch (err) {
      const message = (err as Error).message;
      if (isFatalBackendError(message)) return { fatal: message, done };
      throw err;
    } finally {
      // The only place images are released: as soon as their detections and crops are taken.
      for (const img of [...images, ...crops]) {
        try {
          img.dispose();
        } catch {
          // A corrupt heap cannot free; the rebuild drops it whole.
        }
      }
    }
  }

  stats(): EngineStats {
    const queueDepth = this.waiting.length + (this.running ? 1 : 0);
    if (this.choice === null) return { queueDepth, numTensors: 0, numBytes: 0 };
    const mem = tf.memory();
    return { queueDepth, numTensors: mem.numTensors, numBytes: mem.numBytes };
  }

  close(): Promise<void> {
    for (const p of this.pipelines.values()) p.dispose();
    this.pipelines.clear();
    return Promise.resolve();
  }
}
