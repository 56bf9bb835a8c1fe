/**
 * Runs a command to completion for the maintainers' CLIs (`npm run native`, `npm run import-adc`), capturing its
 * output and handing each complete line to a callback as it arrives, for progress.
 */
import { spawn } from 'child_process';

/** What a finished command left. `status` 127: it could not be started (`stderr` then ends with the reason). */
export interface CommandResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Each line of either stream, without its newline; a last line without one is passed at the end. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

/** Runs `command` with `args`; never rejects (the caller reads `status`). */
export function runCommand(
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env });
    const text = { stdout: '', stderr: '' };
    const pending = { stdout: '', stderr: '' };
    const take = (stream: 'stdout' | 'stderr', chunk: string): void => {
      text[stream] += chunk;
      const parts = (pending[stream] + chunk).split('\n');
      pending[stream] = parts.pop() ?? '';
      for (const line of parts) options.onLine?.(line, stream);
    };
    const flush = (stream: 'stdout' | 'stderr'): void => {
      if (pending[stream] !== '') options.onLine?.(pending[stream], stream);
    };
    child.stdout.on('data', (d: Buffer) => take('stdout', d.toString()));
    child.stderr.on('data', (d: Buffer) => take('stderr', d.toString()));
    child.on('error', (err) =>
      resolve({ status: 127, stdout: text.stdout, stderr: text.stderr + err.message }),
    );
    child.on('close', (code) => {
      flush('stdout');
      flush('stderr');
      resolve({ status: code ?? 1, stdout: text.stdout, stderr: text.stderr });
    });
  });
}

/**
 * Runs one step of a setup (making a venv, installing with pip or apt-get), handing each non-blank output line to
 * `detail` as progress. Resolves to null when it succeeded, else to the last three lines of its output joined by
 * " | ": what a failure message quotes.
 */
export async function runSetupStep(
  command: string,
  args: string[],
  detail: (line: string) => void,
  run: typeof runCommand = runCommand,
): Promise<string | null> {
  const r = await run(command, args, { onLine: (l) => l.trim() && detail(l.trim()) });
  if (r.status === 0) return null;
  return `${r.stdout}${r.stderr}`.trim().split('\n').slice(-3).join(' | ');
}
