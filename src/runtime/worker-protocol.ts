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
  /**
   * `fromImages`: `result.detections` was left out because every one of them already crossed in an `image`
   * message; it is the concatenation of those images' detections, in this order of image ids. This spares a
   * second copy of large score vectors (29,176-class classifiers) across the thread boundary.
   */
  | { type: 'result'; id: number; result: EngineResult; stats: EngineStats; fromImages?: string[] }
  | { type: 'error'; id: number; message: string; unavailable: boolean; stats: EngineStats }
  | { type: 'closed' };

/**
 * The image ids whose reported detections, concatenated in this order, are exactly `detections` (each image's
 * detections are contiguous in a result), or null when they are not. `reported`: detections sent per image id.
 */
export function detectionsFromImages(
  detections: readonly { source_image_id: string }[],
  reported: ReadonlyMap<string, number>,
): string[] | null {
  const order: string[] = [];
  let i = 0;
  while (i < detections.length) {
    const id = detections[i].source_image_id;
    const count = reported.get(id);
    if (count === undefined || count === 0 || order.includes(id)) return null;
    for (let k = 0; k < count; k++) if (detections[i + k]?.source_image_id !== id) return null;
    order.push(id);
    i += count;
  }
  return order;
}
