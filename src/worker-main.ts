/**
 * `npm run worker`: the pull-mode worker on its own (docs/antenna-protocol.md#pull-mode). Builds the same
 * service as `npm start` (same configuration, pipelines and engine), waits for the pipelines, registers them
 * with each project in ANTENNA_PROJECT_IDS and serves Antenna's job queue. SIGTERM/SIGINT: stop reserving,
 * finish the batch in hand, post its results (within SHUTDOWN_GRACE_MS), exit 0.
 */
import { buildService, prepareProcess } from './bootstrap';
import { ConfigError } from './config';
import { createPullWorker, pullWorkerOptions } from './worker';

async function main(): Promise<void> {
  const { config, logger } = prepareProcess((c) => pullWorkerOptions(c));
  const svc = await buildService(config, logger);
  let worker;
  try {
    worker = createPullWorker(svc, config, logger);
  } catch (err) {
    logger.fatal({ error: (err as Error).message }, 'cannot start the pull worker');
    await svc.close();
    process.exit(err instanceof ConfigError ? 2 : 1);
  }
  logger.info({ api: config.antennaApiUrl, projects: config.antennaProjectIds }, 'pull worker starting');

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down the pull worker');
    void worker
      .stop()
      .then(() => svc.close())
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  worker.start().catch(async (err: unknown) => {
    logger.fatal({ error: (err as Error).message }, 'pull worker failed');
    await worker.stop();
    await svc.close();
    process.exit(1);
  });
}

main().catch((err: Error) => {
  // Startup errors (bad ENABLED_PIPELINES, unreadable models, ...) end the process with a readable message.
  process.stderr.write(`pull worker startup failed: ${err.message}\n`);
  process.exit(1);
});
