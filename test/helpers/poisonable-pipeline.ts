/**
 * A test pipeline whose detector can break the backend the way a wasm heap overflow, or native TF running out
 * of memory, does (docs/memory.md#when-the-backend-breaks-anyway).
 */
import * as tf from '@tensorflow/tfjs';
import type { DetectedBox, Detector } from '../../src/algorithms/algorithm';
import { ConstantClassifier } from '../../src/algorithms/constant-classifier';
import { StubAlgorithm } from '../../src/algorithms/stub-algorithm';
import type { PipelineImage } from '../../src/images/pipeline-image';
import { definePipeline } from '../../src/pipelines/definition';
import { Pipeline } from '../../src/pipelines/pipeline';
import { testBackend } from './backend';
import { testDetectorDescriptor } from './stub-detector';

/**
 * What the test backend throws once it is unusable: the wasm heap overflowed, or libtensorflow could not
 * allocate (its message as tfjs-node passes it on). The engine treats both as fatal to the backend.
 */
export const BROKEN =
  testBackend() === 'tensorflow'
    ? 'OOM when allocating tensor with shape[1,3000,2000,3] and type float on /job:localhost/replica:0/task:0/device:CPU:0 by allocator cpu'
    : 'RuntimeError: memory access out of bounds';

/**
 * Decodes every image and finds one box on it. An image whose id starts with "poison" breaks the backend
 * instance it runs on, the way a wasm heap overflow or a native OOM does: every later call on that instance
 * fails too, until the engine replaces the backend.
 */
export class PoisonableDetector extends StubAlgorithm implements Detector {
  static poisoned: unknown = null;
  static seen: string[][] = [];
  /** tf.memory().numBytes once a run's images are decoded: what the budget bounds. */
  static decodedBytes: number[] = [];
  readonly kind = 'detector';
  override readonly needsPixels = true;
  constructor() {
    super(testDetectorDescriptor('poisonable'));
  }
  async run(images: PipelineImage[]): Promise<DetectedBox[][]> {
    if (PoisonableDetector.poisoned === tf.backend()) throw new Error(BROKEN);
    PoisonableDetector.seen.push(images.map((i) => i.id));
    await Promise.all(images.map((i) => i.tensor()));
    PoisonableDetector.decodedBytes.push(tf.memory().numBytes);
    if (images.some((i) => i.id.startsWith('poison'))) {
      PoisonableDetector.poisoned = tf.backend();
      throw new Error(BROKEN);
    }
    return images.map((img) => [
      { bbox: { x1: 0, y1: 0, x2: img.width / 2, y2: img.height / 2 }, score: 1, inferenceTime: null },
    ]);
  }
}

/** Slug `rec`: the poisonable detector, then the constant classifier. */
export const poisonablePipeline = definePipeline('rec', (ctx) =>
  Promise.resolve(
    new Pipeline(
      { name: 'rec', slug: 'rec', version: 1, description: null },
      new PoisonableDetector(),
      [{ algorithm: new ConstantClassifier(), terminal: true }],
      ctx.batches,
    ),
  ),
);
