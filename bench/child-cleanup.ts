/**
 * A script that starts a child server must stop it however the script ends: normally, on an error, or on
 * SIGINT/SIGTERM. Node's default on those signals exits without running `finally` blocks, so without this
 * `kill -INT` on `npm run bench` left its server running.
 */
import type { ChildProcess } from 'child_process';

/**
 * Sends SIGTERM to `child` (and runs `also`, e.g. closing a sample server) when this process exits or gets
 * SIGINT/SIGTERM; a signal then ends this process with status 130. Returns the stop function, to call from
 * `finally`; it acts once.
 */
export function stopChildOnExit(
  child: ChildProcess,
  label: string,
  also: () => void = () => undefined,
): () => void {
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    also();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping ${label} (pid ${child.pid ?? '?'})\n`);
      stop();
      process.exit(130);
    });
  }
  process.once('exit', stop);
  return stop;
}
