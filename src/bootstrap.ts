/**
 * Wires configuration, registry, engine, intake and HTTP app together. Shared by the HTTP server, the pull
 * worker and the tests, so all three run the same service.
 */
import * as path from 'path';
import type Koa from 'koa';
import { loadConfig, type Config } from './config';
import type { PipelineConfigResponse, ProcessingServiceInfoResponse } from './contract/types';
import { compileRequestValidator, createAjv, type RequestValidator } from './contract/validators';
import { createApp, whenDrained, type Lifecycle } from './http/app';
import type { AppState } from './http/middleware';
import { ImageFetcher } from './images/fetch-image';
import { UrlPolicy } from './images/url-policy';
import type { PipelineContext, PipelineDefinition } from './pipelines/definition';
import { registeredPipelines, selectPipelines } from './pipelines/registry';
import { LocalEngine, type InferenceEngine } from './runtime/engine';
import { EnginePool, autoThreads } from './runtime/engine-pool';
import { EngineRouter, type EngineRoute } from './runtime/engine-router';
import { Metrics } from './runtime/metrics';
import { WorkerEngine, type WorkerEngineEvent } from './runtime/worker-engine';
import { ProcessingService } from './service/processing-service';
import { EXIT_NOT_ON_GPU, gpuRequirementFailure } from './tf/backend';
import { applyTensorFlowEnv } from './tf/tensorflow-env';
import { loadDotEnv, type DotEnvResult } from './util/dotenv';
import { createLogger, type Logger } from './util/logger';
import { packageVersion, projectRoot } from './util/paths';

export const VERSION = packageVersion();

export interface Service {
  app: Koa<AppState>;
  engine: InferenceEngine;
  /** The inference threads (INFERENCE_THREADS); null when no model pipeline runs in a worker thread. */
  inferenceThreads: EnginePool | null;
  service: ProcessingService;
  fetcher: ImageFetcher;
  info: ProcessingServiceInfoResponse;
  metrics: Metrics | null;
  lifecycle: Lifecycle;
  close(): Promise<void>;
}

export interface BuildOptions {
  /** Defaults to the real registry (code plus MODELS_DIR/pipelines.json); tests may pass their own (in-thread engine only). */
  registry?: readonly PipelineDefinition[];
  /** Fetch backoff base in ms (tests shorten it). */
  backoffMs?: number;
  /**
   * Called once when the process must stop (REQUIRE_GPU=true and TensorFlow is not on a GPU). Default: log the
   * message as fatal and exit with status 3, so the container restarts or fails visibly.
   */
  onFatal?: (message: string) => void;
  /**
   * Ends the process when the inference thread dies on native TF (crash-recovery.ts). Default: /readyz turns
   * 503, in-flight requests get SHUTDOWN_GRACE_MS to finish, then `process.exit(code)`.
   */
  exitProcess?: (code: number, reason: string) => void;
}

/**
 * The prologue of every entry point (`npm start`, `npm run worker`): read `.env` from the working directory
 * when there is one (the environment wins over it), read and validate the configuration (`check` may add
 * entry-specific checks), exiting with status 2 and the message when it is invalid; pass TF settings to
 * libtensorflow; create the logger.
 */
export function prepareProcess(check: (config: Config) => void = () => undefined): {
  config: Config;
  logger: Logger;
} {
  let config: Config;
  let dotEnv: DotEnvResult | null;
  try {
    dotEnv = loadDotEnv(path.resolve('.env'));
    config = loadConfig();
    check(config);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  applyTensorFlowEnv(config);
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  if (dotEnv) {
    logger.info(
      { applied: dotEnv.applied, fromEnvironment: dotEnv.shadowed },
      `read ${dotEnv.applied.length} settings from ${dotEnv.file} (the environment wins over it)`,
    );
  }
  return { config, logger };
}

/** Logs what the engine reports: the backend choice and why, each pipeline's load result, crashes and rebuilds. */
export function logEngineEvent(logger: Logger, event: WorkerEngineEvent, thread?: number): void {
  // With several inference threads every line names its thread.
  if (thread !== undefined) logger = logger.child({ thread });
  if (event.type === 'backend') {
    logger.info(
      {
        backend: event.choice.backend,
        package: event.choice.package,
        gpu: event.choice.gpu,
        tensorflow: event.choice.tensorflow,
        decoder: event.decoder,
        reasons: event.choice.reasons,
      },
      `TensorFlow.js backend: ${event.choice.backend} (${event.choice.package}` +
        `${event.choice.tensorflow ? `, TensorFlow ${event.choice.tensorflow}` : ''})`,
    );
  } else if (event.type === 'state') {
    if (event.state.state === 'failed') {
      logger.error(
        { pipeline: event.slug, error: event.state.error },
        `pipeline ${event.slug} failed to load; it stays out of /readyz`,
      );
    } else if (event.state.state === 'ready') {
      // `models`: how each model runs, e.g. "graph model as a native SavedModel" where one was written for it.
      logger.info(
        { pipeline: event.slug, seconds: event.seconds, models: event.models },
        `pipeline ${event.slug} compiled and warmed up`,
      );
    }
  } else if (event.type === 'rebuild') {
    logger.error(
      { cause: event.cause, pipelines: event.slugs },
      'the TensorFlow backend became unusable; rebuilding it and reloading the models (out of /readyz until warm)',
    );
  } else {
    const next =
      event.action.kind === 'exit-process'
        ? 'exiting the process so that it is restarted (native TF cannot reload in a new thread)'
        : `starting a new thread in ${event.action.delayMs} ms`;
    logger.error(
      { reason: event.reason, failed: event.failed, requeued: event.requeued, action: event.action },
      `inference thread died (${event.reason}); ${event.failed} running job(s) failed, ${event.requeued} queued job(s) kept; ${next}`,
    );
  }
}

/**
 * The default `exitProcess`: /readyz turns 503 and new work is refused, in-flight requests get `graceMs` to
 * finish, then the process exits with `code`.
 */
export function drainThenExit(
  lifecycle: Lifecycle,
  graceMs: number,
  logger: Logger,
  exit: (code: number) => void = (code) => process.exit(code),
): (code: number, reason: string) => void {
  return (code, reason) => {
    lifecycle.shuttingDown = true;
    logger.fatal(
      { reason, code, inFlight: lifecycle.inFlight },
      'inference thread lost on native TF; finishing in-flight requests, then exiting for a restart',
    );
    void whenDrained(lifecycle, Date.now() + graceMs, 50).then(() => exit(code));
  };
}

/**
 * Builds the service that `npm start`, `npm run worker` and the tests run, in the steps below, top to bottom:
 * describe the pipelines for /info, watch the engine's events (REQUIRE_GPU), start the engines, then the image
 * intake, the processing service and the HTTP app. Nothing listens: the caller does.
 */
export async function buildService(
  config: Config,
  logger: Logger,
  options: BuildOptions = {},
): Promise<Service> {
  const context = pipelineContext(config);
  const registry = options.registry ?? registeredPipelines(context.modelsDir);
  const { definitions, modelFree, info } = await describeService(config, registry, context, logger);
  const lifecycle: Lifecycle = { shuttingDown: false, inFlight: 0 };
  const onEvent = engineEventHandler(config, logger, options.onFatal ?? exitNotOnGpu(logger));
  const { engine, pool } = startEngines(definitions, modelFree, {
    config,
    context,
    logger,
    onEvent,
    // A registry of the caller's own is only known to this thread, so it cannot go to an inference thread.
    threads: config.inferenceThread === 'worker' && !options.registry,
    exitProcess: options.exitProcess ?? drainThenExit(lifecycle, config.shutdownGraceMs, logger),
  });
  const fetcher = createImageFetcher(config, options.backoffMs);
  const service = new ProcessingService({
    engine,
    fetcher,
    downloadConcurrency: config.imageDownloadConcurrency,
    strictImageErrors: config.strictImageErrors,
  });
  const validator = requestValidator(config, info);
  const metrics = config.metricsEnabled ? new Metrics(engine, true, () => pool?.threadStats() ?? []) : null;
  const app = createApp({
    config,
    logger,
    engine,
    service,
    info,
    validator,
    metrics,
    lifecycle,
    version: VERSION,
  });
  return {
    app,
    engine,
    inferenceThreads: pool,
    service,
    fetcher,
    info,
    metrics,
    lifecycle,
    async close() {
      await engine.close();
      await fetcher.close();
    },
  };
}

/** Where pipelines find their models (MODELS_DIR, absolute) and their default batch sizes. */
export function pipelineContext(config: Config): PipelineContext {
  return {
    modelsDir: path.resolve(projectRoot(), config.modelsDir),
    batches: { detectorBatchSize: config.detectorBatchSize, classifierBatchSize: config.classifierBatchSize },
  };
}

/** The pipelines served and the /info body. */
export interface DescribedService {
  /** ENABLED_PIPELINES of the registry, less those that could not describe themselves. */
  definitions: PipelineDefinition[];
  /** Slugs of the pipelines that run no model (they need no TensorFlow). */
  modelFree: Set<string>;
  info: ProcessingServiceInfoResponse;
}

/**
 * Selects ENABLED_PIPELINES from `registry` and describes each for /info. A pipeline that cannot even describe
 * itself is logged and left out; when none is left the service cannot serve anything, so this throws.
 */
export async function describeService(
  config: Config,
  registry: readonly PipelineDefinition[],
  context: PipelineContext,
  logger: Logger,
): Promise<DescribedService> {
  const selected = selectPipelines(config.enabledPipelines, registry);
  const definitions: PipelineDefinition[] = [];
  const described: PipelineConfigResponse[] = [];
  const modelFree = new Set<string>();
  for (const d of selected) {
    try {
      const pipeline = await d.create(context);
      described.push(pipeline.describe());
      definitions.push(d);
      if (pipeline.modelFree) modelFree.add(d.slug);
    } catch (err) {
      logger.error(
        { pipeline: d.slug, error: (err as Error).message },
        `pipeline ${d.slug} cannot be described; it is left out of /info`,
      );
    }
  }
  if (described.length === 0) {
    throw new Error(
      `no pipeline could be described (enabled: ${selected.map((d) => d.slug).join(', ') || 'none'}); see the errors above`,
    );
  }
  return {
    definitions,
    modelFree,
    info: { name: config.serviceName, description: config.serviceDescription, pipelines: described },
  };
}

/** The default `onFatal`: log the message as fatal and exit with status 3, so the container restarts or fails visibly. */
function exitNotOnGpu(logger: Logger): (message: string) => void {
  return (message) => {
    logger.fatal({ exitCode: EXIT_NOT_ON_GPU }, message);
    process.exit(EXIT_NOT_ON_GPU);
  };
}

/**
 * What the service does with each engine event: log it (logEngineEvent) and, with REQUIRE_GPU=true, call
 * `onFatal` once when the backend is not on a GPU or failed to initialise. The backend is chosen in the
 * inference thread; its choice, or its failure (reported as a pipeline that failed with "backend: ..."),
 * arrives here.
 */
export function engineEventHandler(
  config: Pick<Config, 'requireGpu'>,
  logger: Logger,
  onFatal: (message: string) => void,
): (event: WorkerEngineEvent, thread?: number) => void {
  let stopped = false;
  return (e, thread) => {
    logEngineEvent(logger, e, thread);
    if (!config.requireGpu || stopped) return;
    const failure =
      e.type === 'backend'
        ? gpuRequirementFailure({ choice: e.choice })
        : e.type === 'state' && e.state.state === 'failed' && e.state.error.startsWith('backend: ')
          ? gpuRequirementFailure({ error: e.state.error.slice('backend: '.length) })
          : null;
    if (failure !== null) {
      stopped = true;
      onFatal(failure);
    }
  };
}

/** What starting the engines needs besides the pipelines. */
export interface EngineSetup {
  config: Config;
  context: PipelineContext;
  logger: Logger;
  onEvent: (event: WorkerEngineEvent, thread?: number) => void;
  /** Run model pipelines in INFERENCE_THREADS worker threads; false: everything on this thread. */
  threads: boolean;
  /** Ends the process when an inference thread dies on native TF (crash-recovery.ts). */
  exitProcess: (code: number, reason: string) => void;
}

/**
 * The engine the service runs pipelines on. With inference threads, model-free pipelines stay on this thread,
 * so an inference thread crash never touches them (docs/memory.md#when-the-inference-thread-dies), and model
 * pipelines go to the thread pool; a router sends each request to the engine of its pipeline. Without, one
 * engine on this thread runs every pipeline. `pool` is the thread pool, null when there is none.
 */
export function startEngines(
  definitions: PipelineDefinition[],
  modelFree: ReadonlySet<string>,
  setup: EngineSetup,
): { engine: InferenceEngine; pool: EnginePool | null } {
  if (!setup.threads) return { engine: startLocalEngine(definitions, true, setup), pool: null };
  const free = definitions.filter((d) => modelFree.has(d.slug));
  const models = definitions.filter((d) => !modelFree.has(d.slug));
  const routes: EngineRoute[] = [];
  if (free.length > 0)
    routes.push({ engine: startLocalEngine(free, false, setup), slugs: free.map((d) => d.slug) });
  let pool: EnginePool | null = null;
  if (models.length > 0) {
    const slugs = models.map((d) => d.slug);
    pool = startInferenceThreads(slugs, setup);
    routes.push({ engine: pool, slugs });
  }
  return {
    engine: new EngineRouter(
      routes,
      definitions.map((d) => d.slug),
    ),
    pool,
  };
}

/** An engine on this thread, started; `withTf: false` for model-free pipelines, which need no backend. */
function startLocalEngine(
  definitions: PipelineDefinition[],
  withTf: boolean,
  setup: EngineSetup,
): LocalEngine {
  const { config } = setup;
  const engine = new LocalEngine({
    definitions,
    context: setup.context,
    backend: withTf ? config.tfjsBackend : null,
    decoder: config.imageDecoder,
    memoryBudgetMb: config.inferenceMemoryBudgetMb,
    wasmThreads: config.wasmThreads,
    onEvent: setup.onEvent,
  });
  void engine.start();
  return engine;
}

/**
 * INFERENCE_THREADS inference threads, each with its own backend and models (engine-pool.ts); `auto` sizes the
 * pool from thread 0's backend, and the size is logged once known.
 */
function startInferenceThreads(slugs: string[], setup: EngineSetup): EnginePool {
  const { config, logger } = setup;
  const init = {
    slugs,
    context: setup.context,
    backend: config.tfjsBackend,
    decoder: config.imageDecoder,
    memoryBudgetMb: config.inferenceMemoryBudgetMb,
    wasmThreads: config.wasmThreads,
  };
  const threads = config.inferenceThreads;
  const pool = new EnginePool({
    slugs,
    threads: threads === 'auto' ? (backend) => autoThreads(backend, undefined, config.wasmThreads) : threads,
    spawn: (_index, threadEvents) =>
      new WorkerEngine(init, { onEvent: threadEvents, exitProcess: setup.exitProcess }),
    onEvent: (thread, e) => setup.onEvent(e, thread),
  });
  void pool
    .whenSized()
    .then(() =>
      logger.info({ threads: pool.size(), setting: threads }, `${pool.size()} inference thread(s)`),
    );
  return pool;
}

/** Image downloads under the URL policy and limits of the configuration (`backoffMs`: tests shorten it). */
function createImageFetcher(config: Config, backoffMs?: number): ImageFetcher {
  return new ImageFetcher({
    policy: new UrlPolicy({
      mode: config.imageUrlPolicy,
      allow: config.imageUrlAllow,
      deny: config.imageUrlDeny,
    }),
    timeoutMs: config.imageDownloadTimeoutMs,
    attempts: config.imageDownloadAttempts,
    maxBytes: config.imageMaxBytes,
    maxPixels: config.imageMaxPixels,
    maxRedirects: config.imageMaxRedirects,
    userAgent: config.userAgent,
    backoffMs,
  });
}

/** The /process request schema, with the served slugs (so an unknown one is a 422 that lists them). */
function requestValidator(config: Config, info: ProcessingServiceInfoResponse): RequestValidator {
  return compileRequestValidator(createAjv(), {
    slugs: info.pipelines.map((p) => p.slug),
    maxImages: config.maxImagesPerRequest,
    maxUrlLength: config.maxBodyBytes,
  });
}
