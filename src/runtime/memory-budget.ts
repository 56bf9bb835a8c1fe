/**
 * How many decoded pixels the engine lets into one pipeline run (docs/memory.md).
 *
 * tfjs has no uint8 dtype, so a decoded image is an int32 `[H, W, 3]` tensor: 12 bytes per pixel, held until
 * the image's detections and crops are taken. While the detector resizes it (and the classifier crops from it)
 * the backend makes one float32 working copy of that image: 12 bytes per pixel more, freed when the op ends.
 * So a batch of images costs 12 B/px for all of them plus 12 B/px for the largest, and it is admitted only
 * while that fits the budget.
 */
import * as os from 'os';

/** Bytes per pixel of a decoded RGB image held as int32. */
export const DECODED_BYTES_PER_PIXEL = 12;
/** Bytes per pixel of the float32 copy one image gets while it is resized or cropped. */
export const WORKING_BYTES_PER_PIXEL = 12;

const MIB = 1024 * 1024;

/**
 * The budget when INFERENCE_MEMORY_BUDGET_MB is 0 (auto), from the backend that holds the tensors:
 * wasm's heap ends at 4 GiB (a 32-bit address space), of which 3 GiB go to images and the rest to the models,
 * kernel scratch and fragmentation; cpu and native TF hold tensors in process memory, of which images get a
 * quarter.
 */
export function defaultBudgetBytes(backend: string, totalMemory = os.totalmem()): number {
  if (backend === 'wasm') return 3072 * MIB;
  return Math.floor(totalMemory / 4);
}

/** The budget in bytes: the setting when it is set (MiB), else the backend's default. */
export function budgetBytes(settingMb: number, backend: string): number {
  return settingMb > 0 ? settingMb * MIB : defaultBudgetBytes(backend);
}

/** Peak bytes of one pipeline run over images of these pixel counts. */
export function batchCost(pixels: readonly number[]): number {
  if (pixels.length === 0) return 0;
  const total = pixels.reduce((a, b) => a + b, 0);
  return total * DECODED_BYTES_PER_PIXEL + Math.max(...pixels) * WORKING_BYTES_PER_PIXEL;
}

/** Megabytes (MiB) with one decimal, for messages. */
export const mib = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`;

export interface BatchPlan<T> {
  /** Consecutive runs, in input order, each within `maxImages` and the budget. */
  batches: T[][];
  /** Items that do not fit the budget even alone, with their cost in bytes. */
  tooLarge: { item: T; bytes: number }[];
}

/**
 * Splits `items` into consecutive batches of at most `maxImages` whose `batchCost` fits `budget`. An item
 * that cannot fit alone is set aside; the others keep their order.
 */
export function planBatches<T>(
  items: readonly T[],
  pixelsOf: (item: T) => number,
  maxImages: number,
  budget: number,
): BatchPlan<T> {
  const plan: BatchPlan<T> = { batches: [], tooLarge: [] };
  let current: T[] = [];
  let pixels: number[] = [];
  for (const item of items) {
    const px = pixelsOf(item);
    const alone = batchCost([px]);
    if (alone > budget) {
      plan.tooLarge.push({ item, bytes: alone });
      continue;
    }
    if (current.length >= maxImages || batchCost([...pixels, px]) > budget) {
      plan.batches.push(current);
      current = [];
      pixels = [];
    }
    current.push(item);
    pixels.push(px);
  }
  if (current.length > 0) plan.batches.push(current);
  return plan;
}
