/**
 * The service as `npm start` builds it (prepareProcess, buildService with its default exit on a native thread
 * death), listening on HOST:PORT, with one hook for tests that run it as a child process with an IPC channel:
 * after the message `arm`, it tells the parent `running` once the inference thread has started a job, and once
 * another job also waits in that thread's queue it terminates the thread, the way a crash or the process
 * killing it ends it, and tells the parent `killed`. What follows is the service's own doing.
 */
import { buildService, prepareProcess } from '../../src/bootstrap';
import type { WorkerEngine } from '../../src/runtime/worker-engine';

async function main(): Promise<void> {
  const { config, logger } = prepareProcess();
  const svc = await buildService(config, logger);
  svc.app.listen(config.port, config.host);
  process.on('message', (message) => {
    if (message !== 'arm' || !svc.inferenceThreads) return;
    const thread = svc.inferenceThreads['members'][0].engine as WorkerEngine;
    let told = false;
    const poll = setInterval(() => {
      const jobs = [...thread['pending'].values()];
      if (!jobs.some((p) => p.started)) return;
      if (!told) process.send?.('running');
      told = true;
      if (!jobs.some((p) => !p.started)) return;
      clearInterval(poll);
      void thread['worker']?.terminate().then(() => process.send?.('killed'));
    }, 5);
  });
}

main().catch((err: Error) => {
  process.stderr.write(`startup failed: ${err.message}\n`);
  process.exit(1);
});
