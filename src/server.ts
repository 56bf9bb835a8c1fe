/**
 * `npm start`: load the configuration, build the service, listen on HOST:PORT, and shut down gracefully on
 * SIGTERM/SIGINT (/readyz turns 503, in-flight requests finish within SHUTDOWN_GRACE_MS, exit 0).
 */
import type { Server } from 'http';
import { buildService, prepareProcess, VERSION } from './bootstrap';
import { whenDrained } from './http/app';
import { createPullWorker, type PullWorker } from './worker';

async function main(): Promise<void> {
  const { config, logger } = prepareProcess();
  const svc = await buildService(config, logger);
  const server: Server = svc.app.listen(config.port, config.host, () => {
    logger.info(
      {
        host: config.host,
        port: config.port,
        version: VERSION,
        pipelines: svc.info.pipelines.map((p) => p.slug),
      },
      `listening on http://${config.host}:${config.port}`,
    );
  });
  server.on('error', (err) => {
    logger.fatal({ err }, `cannot listen on ${config.host}:${config.port}: ${err.message}`);
    process.exit(1);
  });
  // Antenna sends /process with no timeout; a slow pipeline must not be cut off by Node's defaults.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;

  // START_PULL_WORKER: also serve Antenna's job queue from this process (docs/pull-mode.md).
  let worker: PullWorker | null = null;
  if (config.startPullWorker) {
    try {
      worker = createPullWorker(svc, config, logger);
    } catch (err) {
      logger.fatal(
        { error: (err as Error).message },
        'START_PULL_WORKER is set but the pull worker cannot start',
      );
      process.exit(2);
    }
    worker.start().catch((err: unknown) => {
      logger.error({ error: (err as Error).message }, 'pull worker failed; the HTTP service keeps running');
    });
  }

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    svc.lifecycle.shuttingDown = true;
    logger.info(
      { signal, graceMs: config.shutdownGraceMs },
      'shutting down: /readyz is 503, finishing in-flight requests',
    );
    const graceMs = config.shutdownGraceMs;
    const deadline = Date.now() + graceMs;
    // The promise to an orchestrator: gone within the grace period plus one second, whatever is still stuck
    // (a download at 1 byte/s once kept the process 29 s past SIGTERM).
    const hardStop = setTimeout(() => {
      logger.error(
        { graceMs, inFlight: svc.lifecycle.inFlight },
        'not stopped within the grace period + 1 s; exiting now',
      );
      process.exit(1);
    }, graceMs + 950);
    hardStop.unref();
    // At the end of the grace period: abort downloads (their requests and the pull worker's batch go on with
    // those images failed), then, 300 ms later, stop waiting for the pipeline: requests still waiting get
    // 503 SHUTTING_DOWN instead of a cut connection.
    const abortTimer = setTimeout(() => {
      logger.warn(
        { inFlight: svc.lifecycle.inFlight },
        'grace period over: aborting downloads and pipeline waits, answering what can be answered',
      );
      svc.fetcher.abortAll();
      setTimeout(() => svc.lifecycle.abandon?.abort(), 300).unref();
    }, graceMs);
    abortTimer.unref();
    // The pull worker stops reserving now and posts the results of its batch in hand before the engine closes.
    const workerStopped = worker ? worker.stop() : Promise.resolve();
    const exit = (): void => {
      void workerStopped
        .then(() => svc.close())
        .finally(() => {
          logger.info('stopped');
          process.exit(0);
        });
    };
    // Keep listening (so /readyz can say 503) until in-flight /process requests are done, or their answers
    // after the aborts at the end of the grace period are written (up to 0.6 s more).
    void whenDrained(svc.lifecycle, deadline + 600, 20).then(() => {
      if (svc.lifecycle.inFlight > 0)
        logger.warn({ inFlight: svc.lifecycle.inFlight }, 'grace period over; closing connections');
      server.close(exit);
      server.closeAllConnections();
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: Error) => {
  // Startup errors (bad ENABLED_PIPELINES, port in use, ...) end the process with a readable message.
  process.stderr.write(`startup failed: ${err.message}\n`);
  process.exit(1);
});
