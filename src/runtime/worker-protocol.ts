/** Messages between WorkerEngine (main thread) and the inference worker thread. */
import type { BackendPreference } from '../tf/backend';
import type { DecoderName } from '../images/decode';
import type { PipelineContext } from '../pipelines/definition';
import type { EngineEvent, EngineJob, EngineResult, EngineStats } from './engine';

export interface WorkerInit {
  /** Registry slugs to load, in order. */
  slugs: string[];
  context: PipelineContext;
  backend: BackendPreference;
  decoder: DecoderName | 'auto';
  /** INFERENCE_MEMORY_BUDGET_MB; 0: sized from the backend. */
  memoryBudgetMb?: number;
}

export type ToWorker = { type: 'run'; id: number; job: EngineJob } | { type: 'close' };

export type FromWorker =
  | { type: 'event'; event: EngineEvent }
  /** These jobs left the queue and are running: if the thread dies now, they are the ones that fail. */
  | { type: 'started'; ids: number[] }
  | { type: 'result'; id: number; result: EngineResult; stats: EngineStats }
  | { type: 'error'; id: number; message: string; unavailable: boolean; stats: EngineStats }
  | { type: 'closed' };
