/**
 * An image as pipelines see it: identity, header facts and lazily decoded pixels.
 *
 * The header (format, width, height) is read when the bytes arrive, so pipelines that need no pixels
 * (`constant`) never decode. Pixels are decoded at most once and owned by the image until `dispose()`. The
 * engine that creates an image is the only one that disposes it, as soon as its pipeline run ends;
 * pipelines and algorithms only read it.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ImageFormat } from './sniff';

export interface PipelineImage {
  /** Antenna's image id, echoed verbatim. */
  readonly id: string;
  readonly url: string;
  readonly format: ImageFormat;
  /** Stored pixel grid (no EXIF rotation). */
  readonly width: number;
  readonly height: number;
  /**
   * Decoded RGB pixels, `[H, W, 3]`, dtype int32 (the smallest tfjs has), values 0..255: 12 bytes per pixel
   * (docs/memory.md). Decoded on first call and cached.
   * The image owns the tensor: callers must not dispose it.
   */
  tensor(): Promise<tf.Tensor3D>;
  /** Frees the decoded tensor, if any. Safe to call twice. */
  dispose(): void;
}
