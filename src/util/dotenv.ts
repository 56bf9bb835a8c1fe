/**
 * `.env` for `npm start` and `npm run worker`, read the way docker compose reads it for the container, so
 * `cp .env.example .env` works with and without Docker. The environment wins over the file:
 * `PORT=3000 npm start` beats a `PORT` in `.env`. Parsing is Node's own (`util.parseEnv`, the parser behind
 * `node --env-file`), so quoting and comments follow Node's documented rules and need no dependency.
 */
import * as fs from 'fs';
import { parseEnv } from 'util';

/** What `loadDotEnv` did, for the startup log. */
export interface DotEnvResult {
  file: string;
  /** Keys taken from the file, sorted. */
  applied: string[];
  /** Keys in the file that the environment already set (the environment won). */
  shadowed: string[];
}

/**
 * Copies the settings of `file` into `env` where `env` does not set them. Returns null when the file does not
 * exist; any other read error is thrown, since a `.env` that cannot be read should not be silently ignored.
 */
export function loadDotEnv(file: string, env: NodeJS.ProcessEnv = process.env): DotEnvResult | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  const applied: string[] = [];
  const shadowed: string[] = [];
  // parseEnv's key order is not the file's; sorted, the startup log reads the same on every run.
  const entries = Object.entries(parseEnv(text)).sort(([a], [b]) => a.localeCompare(b));
  for (const [key, value] of entries) {
    if (value === undefined) continue;
    if (env[key] === undefined) {
      env[key] = value;
      applied.push(key);
    } else {
      shadowed.push(key);
    }
  }
  return { file, applied, shadowed };
}
