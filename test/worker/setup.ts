/** Shared setup of the worker tests: the real service (constant pipeline, in-thread), captured logs, options. */
import pino from 'pino';
import { buildService, type Service } from '../../src/bootstrap';
import { defaultConfig } from '../../src/config';
import type { Logger } from '../../src/util/logger';
import { pullWorkerOptions, type PullWorkerOptions } from '../../src/worker';
import type { FakeAntenna } from '../helpers/fake-antenna';

export const TOKEN = 'tok_4f1d9c0a7b3e5d2f8a6c1e9b0d7f3a5c';

/** A pino logger at `trace` that keeps every line, with the service's redaction rules. */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino(
    {
      level: 'trace',
      redact: ['headers.authorization', 'authorization', 'token', 'config.apiToken', '*.apiToken'],
    },
    { write: (line: string) => void lines.push(line) },
  );
  return { logger, lines };
}

/** The service as `npm run worker` builds it, with the `constant` pipeline only (no model files needed). */
export async function constantService(logger: Logger): Promise<Service> {
  const config = defaultConfig({
    logLevel: 'silent',
    inferenceThread: 'main',
    tfjsBackend: 'cpu',
    enabledPipelines: ['constant'],
    imageDownloadTimeoutMs: 2000,
    metricsEnabled: false,
  });
  const svc = await buildService(config, logger, { backoffMs: 5 });
  await svc.engine.whenReady('constant');
  return svc;
}

/** Worker options from the real configuration mapping, with test-speed timings. */
export function testOptions(
  fake: FakeAntenna,
  overrides: Partial<PullWorkerOptions> = {},
): PullWorkerOptions {
  const config = defaultConfig({
    antennaApiUrl: fake.apiUrl,
    antennaApiToken: TOKEN,
    antennaProjectIds: ['1', '2'],
    antennaServiceName: 'TF.js worker (test-host)',
    workerBatchSize: 8,
  });
  return {
    ...pullWorkerOptions(config),
    pollIntervalMs: 20,
    backoff: { baseMs: 5, capMs: 50 },
    requestTimeoutMs: 5000,
    shutdownGraceMs: 5000,
    ...overrides,
  };
}
