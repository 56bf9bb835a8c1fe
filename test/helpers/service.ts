/** Builds the real service in-thread for HTTP tests, with a silent logger. */
import { buildService, type BuildOptions, type Service } from '../../src/bootstrap';
import { defaultConfig, type Config } from '../../src/config';
import { createLogger } from '../../src/util/logger';
import { testBackend } from './backend';

export async function testService(
  overrides: Partial<Config> = {},
  options: BuildOptions = {},
): Promise<Service> {
  const config = defaultConfig({
    logLevel: 'silent',
    inferenceThread: 'main',
    tfjsBackend: testBackend(),
    enabledPipelines: ['constant', 'random-detection-random-species'],
    metricsEnabled: true,
    imageDownloadTimeoutMs: 2000,
    ...overrides,
  });
  const svc = await buildService(config, createLogger('silent'), { backoffMs: 10, ...options });
  // Wait until every pipeline has settled (ready or failed).
  await Promise.all(svc.info.pipelines.map((p) => svc.engine.whenReady(p.slug).catch(() => undefined)));
  return svc;
}
