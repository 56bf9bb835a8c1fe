/**
 * Wires configuration, registry, engine, intake and HTTP app together. Shared by the HTTP server, the pull
 * worker and the tests, so all three run the same service.
 */
import * as path from 'path';
import type Koa from 'koa';
import { loadConfig, type Config } from './config';
import type { PipelineConfigResponse, ProcessingServiceInfoResponse } from './contract/types';
import { compileRequestValidator, createAjv } from './contract/validators';
import { createApp, type Lifecycle } from './http/app';
import type { AppState } from './http/middleware';
import { ImageFetcher } from './images/fetch-image';
import { UrlPolicy } from './images/url-policy';
import type { PipelineContext, PipelineDefinition } from './pipelines/definition';
import { registeredPipelines, selectPipelines } from './pipelines/registry';
import { LocalEngine, type EngineEvent, type InferenceEngine } from './runtime/engine';
import { EnginePool, autoThreads, type ThreadEvent } from './runtime/engine-pool';
import { Metrics } from './runtime/metrics';
import { WorkerEngine } from './runtime/worker-engine';
import { ProcessingService } from './service/processing-service';
import { createLogger, type Logger } from './util/logger';
import { packageVersion, projectRoot } from './util/paths';

export const VERSION = packageVersion();

export interface Service {
  app: Koa<AppState>;
  engine: InferenceEngine;
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
}

/**
 * The prologue of every entry point (`npm start`, `npm run worker`): read and validate the configuration
 * (`check` may add entry-specific checks), exiting with status 2 and the message when it is invalid; pass TF
 * settings to libtensorflow; create the logger.
 */
export function prepareProcess(check: (config: Config) => void = () => undefined): {
  config: Config;
  logger: Logger;
} {
  let config: Config;
  try {
    config = loadConfig();
    check(config);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  if (config.tfForceGpuAllowGrowth !== null)
    process.env.TF_FORCE_GPU_ALLOW_GROWTH = config.tfForceGpuAllowGrowth;
  return { config, logger: createLogger(config.logLevel) };
}

/** Logs what the engine reports: the backend choice and why, each pipeline's load result. */
export function logEngineEvent(logger: Logger, event: ThreadEvent, thread?: number): void {
  // With several inference threads every line names its thread; thread 0's backend line is the one to read.
  if (thread !== undefined) logger = logger.child({ thread });
  if (event.type === 'backend') {
    logger.info(
      {
        backend: event.choice.backend,
        package: event.choice.package,
        gpu: event.choice.gpu,
        decoder: event.decoder,
        reasons: event.choice.reasons,
      },
      `TensorFlow.js backend: ${event.choice.backend} (${event.choice.package})`,
    );
  } else if (event.type === 'state') {
    if (event.state.state === 'failed') {
      logger.error(
        { pipeline: event.slug, error: event.state.error },
        `pipeline ${event.slug} failed to load; it stays out of /readyz`,
      );
    } else if (event.state.state === 'ready') {
      logger.info(
        { pipeline: event.slug, seconds: event.seconds },
        `pipeline ${event.slug} compiled and warmed up`,
      );
    }
  } else {
    logger.error({ code: event.code }, 'inference worker exited; starting a new one');
  }
}

/** Describes each selected pipeline for /info. A pipeline that cannot even describe itself is left out. */
async function describePipelines(
  definitions: PipelineDefinition[],
  ctx: PipelineContext,
  logger: Logger,
): Promise<{ definitions: PipelineDefinition[]; described: PipelineConfigResponse[] }> {
  const kept: PipelineDefinition[] = [];
  const described: PipelineConfigResponse[] = [];
  for (const d of definitions) {
    try {
      const pipeline = await d.create(ctx);
      described.push(pipeline.describe());
      kept.push(d);
    } catch (err) {
      logger.error(
        { pipeline: d.slug, error: (err as Error).message },
        `pipeline ${d.slug} cannot be described; it is left out of /info`,
      );
    }
  }
  return { definitions: kept, described };
}

export async function buildService(
  config: Config,
  logger: Logger,
  options: BuildOptions = {},
): Promise<Service> {
  const context: PipelineContext = {
    modelsDir: path.resolve(projectRoot(), config.modelsDir),
    batches: { detectorBatchSize: config.detectorBatchSize, classifierBatchSize: config.classifierBatchSize },
  };
  const registry = options.registry ?? registeredPipelines(context.modelsDir);
  const selected = selectPipelines(config.enabledPipelines, registry);
  const { definitions, described } = await describePipelines(selected, context, logger);
  if (described.length === 0) {
    throw new Error(
      `no pipeline could be described (enabled: ${selected.map((d) => d.slug).join(', ') || 'none'}); see the errors above`,
    );
  }
  const info: ProcessingServiceInfoResponse = {
    name: config.serviceName,
    description: config.serviceDescription,
    pipelines: described,
  };

  const onEvent = (e: EngineEvent): void => logEngineEvent(logger, e);
  let engine: InferenceEngine;
  if (config.inferenceThread === 'worker' && !options.registry) {
    const init = {
      slugs: definitions.map((d) => d.slug),
      context,
      backend: config.tfjsBackend,
      decoder: config.imageDecoder,
      wasmThreads: config.wasmThreads,
    };
    const threads = config.inferenceThreads;
    const pool = new EnginePool({
      slugs: init.slugs,
      threads:
        threads === 'auto' ? (backend) => autoThreads(backend, undefined, config.wasmThreads) : threads,
      spawn: (_index, threadEvents) => new WorkerEngine(init, threadEvents),
      onEvent: (thread, e) => logEngineEvent(logger, e, thread),
    });
    void pool
      .whenSized()
      .then(() =>
        logger.info({ threads: pool.size(), setting: threads }, `${pool.size()} inference thread(s)`),
      );
    engine = pool;
  } else {
    const local = new LocalEngine({
      definitions,
      context,
      backend: config.tfjsBackend,
      decoder: config.imageDecoder,
      wasmThreads: config.wasmThreads,
      onEvent,
    });
    void local.start();
    engine = local;
  }

  const fetcher = new ImageFetcher({
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
    backoffMs: options.backoffMs,
  });
  const service = new ProcessingService({
    engine,
    fetcher,
    downloadConcurrency: config.imageDownloadConcurrency,
    strictImageErrors: config.strictImageErrors,
  });
  const validator = compileRequestValidator(createAjv(), {
    slugs: described.map((p) => p.slug),
    maxImages: config.maxImagesPerRequest,
  });
  const metrics = config.metricsEnabled ? new Metrics(engine) : null;
  const lifecycle: Lifecycle = { shuttingDown: false, inFlight: 0 };
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
