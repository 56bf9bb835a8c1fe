/** Pull mode (CONTRACT §6): the worker that serves Antenna's job queue over the same service as `/process`. */
import type { Service } from '../bootstrap';
import type { Config } from '../config';
import type { Logger } from '../util/logger';
import { pullWorkerOptions, type PullWorkerOptions } from './options';
import { PullWorker } from './pull-worker';

export { PullWorker } from './pull-worker';
export type { PullWorkerOptions } from './options';
export { pullWorkerOptions } from './options';

/** A worker over a built service, configured from `config` (overrides are for tests). */
export function createPullWorker(
  svc: Service,
  config: Config,
  logger: Logger,
  overrides: Partial<PullWorkerOptions> = {},
): PullWorker {
  return new PullWorker(
    { ...pullWorkerOptions(config), ...overrides },
    { service: svc.service, engine: svc.engine, info: svc.info, logger },
  );
}
