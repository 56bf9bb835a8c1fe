/**
 * Pull mode (docs/antenna-protocol.md#pull-mode): the worker that serves Antenna's job queue over the same
 * service as `/process`.
 */
import type { Config } from '../config';
import type { Logger } from '../util/logger';
import { pullWorkerOptions, type PullWorkerOptions } from './options';
import { PullWorker, type PullWorkerDeps } from './pull-worker';

export { PullWorker } from './pull-worker';
export type { PullWorkerOptions } from './options';
export { pullWorkerOptions } from './options';

/**
 * A worker over a built service, configured from `config` (overrides are for tests). `svc` is bootstrap's
 * `Service` in practice; typed by the three parts used so that this layer does not import the entry layer above it.
 */
export function createPullWorker(
  svc: Pick<PullWorkerDeps, 'service' | 'engine' | 'info'>,
  config: Config,
  logger: Logger,
  overrides: Partial<PullWorkerOptions> = {},
): PullWorker {
  return new PullWorker(
    { ...pullWorkerOptions(config), ...overrides },
    { service: svc.service, engine: svc.engine, info: svc.info, logger },
  );
}
