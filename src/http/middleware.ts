/**
 * Koa middleware factories: request context (id, child logger, access metrics) and the one error handler.
 */
import { randomUUID } from 'crypto';
import type { Context, Middleware, Next } from 'koa';
import type { Logger } from '../util/logger';
import type { Metrics } from '../runtime/metrics';
import { errorCatalogue, ServiceError, type ErrorCode } from '../errors';

/** State every handler can read from `ctx.state`. */
export interface AppState {
  requestId: string;
  log: Logger;
}

/** Gives each request an id (honouring X-Request-Id), a child logger, and records its metrics. */
export function requestContext(logger: Logger, metrics: Metrics | null): Middleware<AppState> {
  return async function requestContextMiddleware(ctx: Context & { state: AppState }, next: Next) {
    const incoming = ctx.get('x-request-id');
    const requestId = /^[\w.:-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.state.log = logger.child({ requestId });
    ctx.set('X-Request-Id', requestId);
    const t0 = performance.now();
    try {
      await next();
    } finally {
      const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      const labels = { route: String(route), method: ctx.method, status: String(ctx.status) };
      metrics?.httpRequests.inc(labels);
      metrics?.httpDuration.observe(labels, (performance.now() - t0) / 1000);
    }
  };
}

/** Koa and co-body errors that carry a status, mapped to our codes. */
function fromHttpError(err: { status?: number; type?: string; message?: string }): ServiceError | null {
  if (err.type === 'entity.too.large' || err.status === 413) {
    return new ServiceError('PAYLOAD_TOO_LARGE', 'request body is larger than MAX_BODY_BYTES');
  }
  // co-body marks JSON syntax errors with status 400 (and, depending on version, type entity.parse.failed).
  if (err.type === 'entity.parse.failed' || err.type === 'entity.verify.failed' || err.status === 400) {
    return new ServiceError('MALFORMED_JSON', `request body is not valid JSON: ${err.message ?? ''}`.trim());
  }
  const byStatus: Partial<Record<number, ErrorCode>> = {
    404: 'NOT_FOUND',
    405: 'METHOD_NOT_ALLOWED',
    415: 'UNSUPPORTED_MEDIA_TYPE',
  };
  const code = err.status ? byStatus[err.status] : undefined;
  return code ? new ServiceError(code, err.message ?? errorCatalogue[code].meaning) : null;
}

/**
 * The one error handler: every failure becomes `{detail, code}` with the catalogue's status. Unexpected
 * errors are logged with the request id and answered 500 without internals.
 */
export function errorHandler(): Middleware<AppState> {
  return async function errorHandlerMiddleware(ctx: Context & { state: AppState }, next: Next) {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new ServiceError('NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`);
      }
      // The router's allowedMethods() answers a known path with the wrong method (405) or a method no route
      // has (501) by setting the status and the Allow header; both become one 405 body that names the methods.
      if ((ctx.status === 405 || ctx.status === 501) && ctx.body === undefined) {
        const allow = ctx.response.get('Allow');
        throw new ServiceError(
          'METHOD_NOT_ALLOWED',
          `${ctx.method} is not allowed on ${ctx.path}; allowed: ${allow}`,
          { Allow: allow },
        );
      }
    } catch (caught) {
      const err =
        caught instanceof ServiceError
          ? caught
          : (fromHttpError(caught as { status?: number; type?: string; message?: string }) ??
            new ServiceError('INTERNAL_ERROR', `internal error (request id ${ctx.state.requestId})`));
      if (err.code === 'INTERNAL_ERROR') ctx.state.log.error({ err: caught }, 'unhandled error');
      else ctx.state.log.info({ code: err.code, status: err.status }, 'request rejected');
      ctx.status = err.status;
      ctx.set(err.headers);
      ctx.body = err.body();
    }
  };
}
