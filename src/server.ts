/**
 * `npm start`: load the configuration, build the service, listen on HOST:PORT, and shut down gracefully on
 * SIGTERM/SIGINT (/readyz turns 503, in-flight requests finish within SHUTDOWN_GRACE_MS, exit 0).
 */
import type { Server } from 'http';
import { buildService, VERSION } from './bootstrap';
import { loadConfig, type Config } from './config';
import { createLogger } from './util/logger';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  if (config.tfForceGpuAllowGrowth !== null) process.env.TF_FORCE_GPU_ALLOW_GROWTH = config.tfForceGpuAllowGrowth;
  const logger = createLogger(config.logLevel);
  const svc = await buildService(config, logger);
  const server: Server = svc.app.listen(config.port, config.host, () => {
    logger.info(
      { host: config.host, port: config.port, version: VERSION, pipelines: svc.info.pipelines.map((p) => p.slug) },
      `listening on http://${config.host}:${config.port}`,
    );
  });
  // Antenna sends /process with no timeout; a slow pipeline must not be cut off by Node's defaults.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    svc.lifecycle.shuttingDown = true;
    logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down: /readyz is 503, finishing in-flight requests');
    const force = setTimeout(() => {
      logger.warn('grace period over; closing remaining connections');
      server.closeAllConnections();
    }, config.shutdownGraceMs);
    force.unref();
    server.close(() => {
      void svc.close().finally(() => {
        logger.info('stopped');
        process.exit(0);
      });
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

void main();
