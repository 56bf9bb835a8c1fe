/**
 * What to do when the inference thread dies: the seam between WorkerEngine (which notices) and the process.
 *
 * - wasm and cpu: start a new thread, after a back-off that doubles with each crash in a row (capped), so a
 *   thread that dies at start-up (a broken pipelines.json) is not respawned several times a second forever.
 * - native TF (tfjs-node, tfjs-node-gpu): exit the process non-zero after draining what can be drained, and
 *   let the container restart it. Node unloads a worker's addons when it exits, and a second worker thread may
 *   fail to load tfjs-node again (tensorflow/tfjs#8388), so a thread restart is not trusted there.
 */
import type { BackendChoice, BackendPreference } from '../tf/backend';

export type RecoveryAction =
  { kind: 'restart-thread'; delayMs: number } | { kind: 'exit-process'; code: number };

export interface CrashInfo {
  /** The backend the dead thread reported; null when it died before choosing one. */
  backend: BackendChoice | null;
  /** TFJS_BACKEND, for a thread that died before reporting its choice. */
  preference: BackendPreference;
  /** Crashes in a row, this one included (1 for the first). */
  consecutive: number;
}

export type RecoveryPolicy = (crash: CrashInfo) => RecoveryAction;

export interface BackoffOptions {
  /** Delay before the first restart. */
  baseMs: number;
  /** Longest delay between restarts. */
  capMs: number;
}

/** The native TF backend, chosen or (for a thread that died before choosing) asked for. */
export function isNativeBackend(crash: Pick<CrashInfo, 'backend' | 'preference'>): boolean {
  return crash.backend ? crash.backend.backend === 'tensorflow' : crash.preference === 'tensorflow';
}

/** Exit the process on native TF; otherwise restart the thread after `baseMs × 2^(n−1)`, at most `capMs`. */
export function defaultRecovery(
  { baseMs, capMs }: BackoffOptions = { baseMs: 500, capMs: 30_000 },
): RecoveryPolicy {
  return (crash) =>
    isNativeBackend(crash)
      ? { kind: 'exit-process', code: 1 }
      : { kind: 'restart-thread', delayMs: Math.min(capMs, baseMs * 2 ** (crash.consecutive - 1)) };
}
