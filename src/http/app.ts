/**
 * `createApp(deps)` builds the Koa app and never listens; src/server.ts does. HTTP tests drive
 * `supertest(app.callback())` on a fresh app each time.
 */
import Koa from 'koa';
import { Router, type RouterMiddleware } from '@koa/router';
import { HttpMethodEnum, koaBody } from 'koa-body';
import compress from 'koa-compress';
import type { Config } from '../config';
import type { ProcessingServiceInfoResponse } from '../contract/types';
import type { RequestValidator } from '../contract/validators';
import type { InferenceEngine } from '../runtime/engine';
import type { Metrics } from '../runtime/metrics';
import type { ProcessingService } from '../service/processing-service';
import type { Logger } from '../util/logger';
import { mountDocs } from './docs';
import { ServiceError } from '../errors';
import { errorHandler, requestContext, type AppState } from './middleware';
import { buildOpenApi } from './openapi';
import { failureSummary, processLogMessage } from './process-log';
import { jsonReadable } from '../util/json-stream';

/** Shutdown state shared by the server and the app. */
export interface Lifecycle {
  shuttingDown: boolean;
  /** /process requests being handled now; the server waits for 0 before closing. */
  inFlight: number;
  /**
   * Aborted by the server when the shutdown grace period ends: requests still waiting for their pipeline are
   * answered 503 SHUTTING_DOWN at once instead of being cut off with the connection. Created by createApp.
   */
  abandon?: AbortController;
}

/**
 * Resolves once no /process request is in flight, or at `deadline` (a `Date.now()` time) with some still
 * running; checks every `pollMs`. Both ways of stopping (a signal, a lost native-TF thread) drain through it.
 */
export function whenDrained(lifecycle: Lifecycle, deadline: number, pollMs: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (lifecycle.inFlight > 0 && Date.now() < deadline) setTimeout(check, pollMs);
      else resolve();
    };
    check();
  });
}

/** `work`, or a SHUTTING_DOWN error as soon as `signal` aborts (the work itself is left to finish or fail). */
async function unlessAbandoned<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  let onAbort = (): void => undefined;
  const abandoned = new Promise<never>((_, reject) => {
    onAbort = () =>
      reject(
        new ServiceError(
          'SHUTTING_DOWN',
          'the service stopped before this request finished (shutdown grace period over)',
        ),
      );
  });
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  // A failure that comes after the 503 was sent has nobody to go to.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, abandoned]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

export interface AppDeps {
  config: Pick<Config, 'maxBodyBytes' | 'serviceName' | 'serviceDescription'>;
  logger: Logger;
  engine: InferenceEngine;
  service: ProcessingService;
  /** Built once at startup from the registry; /info serves it as is. */
  info: ProcessingServiceInfoResponse;
  validator: RequestValidator;
  metrics: Metrics | null;
  /** Set by the server on SIGTERM: /readyz turns 503 and /process refuses new work. */
  lifecycle: Lifecycle;
  version: string;
}

export function createApp(deps: AppDeps): Koa<AppState> {
  const app = new Koa<AppState>();
  app.proxy = true;
  // Errors are answered by errorHandler; Koa's default handler would print stack traces to stderr.
  app.silent = true;
  const router = new Router<AppState>();
  const abandon = (deps.lifecycle.abandon ??= new AbortController());

  // Serialised once: /info may carry category maps of 29,176 labels and must answer well inside 6 s.
  const infoJson = JSON.stringify(deps.info);
  const openApiJson = JSON.stringify(
    buildOpenApi({
      title: deps.config.serviceName,
      description: deps.config.serviceDescription,
      version: deps.version,
      request: deps.validator,
    }),
  );

  router.get('/', (ctx) => {
    ctx.status = 307;
    ctx.redirect('/docs');
  });
  router.get('/info', (ctx) => {
    ctx.type = 'json';
    ctx.body = infoJson;
  });
  router.get('/livez', (ctx) => {
    ctx.body = { status: true };
  });
  router.get('/readyz', (ctx) => {
    const ready = deps.lifecycle.shuttingDown ? [] : deps.engine.readySlugs();
    ctx.status = ready.length > 0 ? 200 : 503;
    ctx.body = { status: ready };
  });
  router.get('/openapi.json', (ctx) => {
    ctx.type = 'json';
    ctx.body = openApiJson;
  });
  if (deps.metrics) {
    const metrics = deps.metrics;
    router.get('/metrics', async (ctx) => {
      ctx.type = metrics.registry.contentType;
      ctx.body = await metrics.registry.metrics();
    });
  }
  mountDocs(router, deps.config.serviceName);

  const processHandler: RouterMiddleware<AppState> = async (ctx) => {
    if (deps.lifecycle.shuttingDown) throw new ServiceError('SHUTTING_DOWN', 'the service is shutting down');
    if (!ctx.is('application/json')) {
      throw new ServiceError('UNSUPPORTED_MEDIA_TYPE', 'POST /process needs Content-Type: application/json');
    }
    const checked = deps.validator.validate(ctx.request.body);
    if (!checked.ok) {
      const badSlug = checked.details.some(
        (d) => d.type === 'literal_error' && d.loc.join('.') === 'body.pipeline',
      );
      throw new ServiceError(badSlug ? 'UNKNOWN_PIPELINE' : 'VALIDATION_FAILED', checked.details);
    }
    const request = checked.value;
    // In flight until the last byte of the response is written (or the client goes away): the server waits
    // for 0 before it closes connections, and a streamed body is still being written after this handler returns.
    deps.lifecycle.inFlight++;
    let released = false;
    const release = (): void => {
      if (!released) deps.lifecycle.inFlight--;
      released = true;
    };
    let outcome;
    try {
      outcome = await unlessAbandoned(deps.service.process(request), abandon.signal);
    } catch (err) {
      release();
      throw err;
    }
    const { response, timings, batchImages } = outcome;
    // Stage timings for clients and the benchmark, in the standard Server-Timing header (milliseconds). The
    // body is streamed after the headers, so `serialize` is only in the metrics and the log line.
    ctx.set(
      'Server-Timing',
      Object.entries(timings)
        .map(([stage, s]) => `${stage};dur=${(s * 1000).toFixed(1)}`)
        .concat(`batch;desc=${batchImages}`)
        .join(', '),
    );
    const failed = response.errors?.length ?? 0;
    deps.metrics?.observeStages(timings);
    deps.metrics?.images.inc({ pipeline: request.pipeline, outcome: 'ok' }, response.source_images.length);
    if (failed > 0) deps.metrics?.images.inc({ pipeline: request.pipeline, outcome: 'failed' }, failed);
    deps.metrics?.detections.inc({ pipeline: request.pipeline }, response.detections.length);
    if (batchImages > 0) deps.metrics?.batchSize.observe(batchImages);
    for (const e of response.errors ?? []) deps.metrics?.downloadFailures.inc({ reason: e.code });
    const log = ctx.state.log;
    const onSerialized = (serialize: number): void => {
      deps.metrics?.observeStages({ serialize });
      const stageTimings = { ...timings, serialize };
      log.info(
        {
          pipeline: request.pipeline,
          images: request.source_images.length,
          processed: response.source_images.length,
          failed,
          detections: response.detections.length,
          batchImages,
          timings: Object.fromEntries(
            Object.entries(stageTimings).map(([k, v]) => [k, Number(v.toFixed(4))]),
          ),
          ...(failed > 0 ? failureSummary(response.errors) : {}),
          summary: processLogMessage(request.pipeline, request.source_images.length, response.errors),
        },
        'process',
      );
    };
    // Streamed one detection at a time: a 29,176-class response is hundreds of MB as one string
    // (docs/benchmarks.md#29176-class-responses).
    ctx.type = 'json';
    const body = jsonReadable(response, {
      streamed: 'detections',
      onSerialized,
    });
    ctx.res.once('close', () => {
      body.destroy();
      release();
    });
    ctx.body = body;
  };
  router.post('/process', processHandler);
  // ADC also answers /process/ (docs/antenna-protocol.md#mount-at-the-root); harmless and friendly to
  // hand-written URLs.
  router.post('/process/', processHandler);

  app.use(requestContext(deps.logger, deps.metrics));
  app.use(errorHandler());
  app.use(compress({ threshold: 1024, br: false }));
  app.use(
    koaBody({
      json: true,
      text: false,
      urlencoded: false,
      multipart: false,
      jsonLimit: deps.config.maxBodyBytes,
      parsedMethods: [HttpMethodEnum.POST],
      onError: (err) => {
        throw err;
      },
    }),
  );
  app.use(router.routes());
  // Not `throw: true`: the thrown error would lose the Allow header; errorHandler turns the 405 into our body.
  app.use(router.allowedMethods());
  return app;
}
