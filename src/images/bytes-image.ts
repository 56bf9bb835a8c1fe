/**
 * The PipelineImage behind every request: downloaded bytes plus their header, decoded on first use.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ImageHeader } from './sniff';
import type { PipelineImage } from './pipeline-image';
import { DecodeError, type ImageDecoder } from './decode';

export interface ImageBytes {
  id: string;
  url: string;
  bytes: Uint8Array;
  header: ImageHeader;
}

/** Wraps bytes as a PipelineImage whose pixels `decoder` produces once, on demand. */
export function createPipelineImage(source: ImageBytes, decoder: ImageDecoder): PipelineImage {
  let pending: Promise<tf.Tensor3D> | null = null;
  let decoded: tf.Tensor3D | null = null;
  let disposed = false;
  return {
    id: source.id,
    url: source.url,
    format: source.header.format,
    width: source.header.width,
    height: source.header.height,
    tensor() {
      if (disposed) return Promise.reject(new Error(`image ${source.id} was already disposed`));
      pending ??= decoder.decode(source.bytes).then((t) => {
        if (disposed) {
          t.dispose();
          throw new Error(`image ${source.id} was disposed while decoding`);
        }
        // The header and the decoded grid must agree, or boxes would refer to different pixels.
        const [h, w] = t.shape;
        if (w !== source.header.width || h !== source.header.height) {
          t.dispose();
          throw new DecodeError(
            `decoded size ${w}x${h} differs from the header's ${source.header.width}x${source.header.height}`,
          );
        }
        decoded = t;
        return t;
      });
      return pending;
    },
    dispose() {
      disposed = true;
      decoded?.dispose();
      decoded = null;
    },
  };
}
