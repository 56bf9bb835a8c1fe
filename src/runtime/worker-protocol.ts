/** Messages between WorkerEngine (main thread) and the inference worker thread. */
import type { BackendPreference } from './backend';
import type { DecoderName } from '../images/decode';
import type { PipelineContext } from '../pipelines/definition';
import type { EngineEvent, EngineJob, EngineResult, EngineStats } from './engine';

export interface WorkerInit {
  /** Registry slugs to load, in order. */
  slugs: string[];
  context: PipelineContext;
  backend: BackendPreference;
  decoder: DecoderName | 'auto';
  /** XNNPACK threads of the wasm backend (WASM_THREADS); 1 when absent. */
  wasmThreads?: number;
}

export type ToWorker = { type: 'run'; id: number; job: EngineJob } | { type: 'close' };

export type FromWorker =
  | { type: 'event'; event: EngineEvent }
  | { type: 'result'; id: number; result: EngineResult; stats: EngineStats }
  | { type: 'error'; id: number; message: string; unavailable: boolean; stats: EngineStats }
  | { type: 'closed' };
