/** Messages between WorkerEngine (main thread) and the inference worker thread. */
import type { BackendPreference } from '../tf/backend';
import type { DecoderName } from '../images/decode';
import type { PipelineContext } from '../pipelines/definition';
import type { EngineEvent, EngineJob, EngineResult, EngineStats, ImageDone } from './engine';

export interface WorkerInit {
  /** Registry slugs to load, in order. */
  slugs: string[];
  context: PipelineContext;
  backend: BackendPreference;
  decoder: DecoderName | 'auto';
  /** INFERENCE_MEMORY_BUDGET_MB; 0: sized from the backend. */
  memoryBudgetMb?: number;
  /** XNNPACK threads of the wasm backend (WASM_THREADS); 1 when absent. */
  wasmThreads?: number;
}

export type ToWorker =
  /** `perImage`: the caller listens for each finished image, so the thread sends an `image` message each. */
  { type: 'run'; id: number; job: EngineJob; perImage: boolean } | { type: 'close' };

export type FromWorker =
  | { type: 'event'; event: EngineEvent }
  /** These jobs left the queue and are running: if the thread dies now, they are the ones that fail. */
  | { type: 'started'; ids: number[] }
  /** One image of job `id` is done (sent only for jobs posted with `perImage`). */
  | { type: 'image'; id: number; done: ImageDone }
  | { type: 'result'; id: number; result: EngineResult; stats: EngineStats }
  | { type: 'error'; id: number; message: string; unavailable: boolean; stats: EngineStats }
  | { type: 'closed' };
