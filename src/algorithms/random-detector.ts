/**
 * The reference service's "Random Detector" (docs/antenna-protocol.md#random-detection-random-species): one
 * box per image from uniform integers with inclusive bounds: m = ⌊min(W,H)/8⌋, w ∈ [m, ⌊W/2⌋],
 * h ∈ [m, ⌊H/2⌋], x1 ∈ [0, W−w], y1 ∈ [0, H−h].
 */
import type { DetectedBox, Detector, RunOptions } from './algorithm';
import type { PipelineImage } from '../images/pipeline-image';
import { StubAlgorithm, referenceDescriptor } from './stub-algorithm';

export class RandomDetector extends StubAlgorithm implements Detector {
  readonly kind = 'detector';

  constructor() {
    super(
      referenceDescriptor({
        name: 'Random Detector',
        key: 'random-detector',
        description: 'Return bounding boxes at random locations within the image bounds.',
        task_type: 'detection',
        category_map: null,
      }),
    );
  }

  run(images: PipelineImage[], { rng }: RunOptions): Promise<DetectedBox[][]> {
    return Promise.resolve(
      images.map(({ width, height }) => {
        const m = Math.floor(Math.min(width, height) / 8);
        const w = rng.int(m, Math.max(m, Math.floor(width / 2)));
        const h = rng.int(m, Math.max(m, Math.floor(height / 2)));
        const x1 = rng.int(0, Math.max(0, width - w));
        const y1 = rng.int(0, Math.max(0, height - h));
        return [{ bbox: { x1, y1, x2: x1 + w, y2: y1 + h }, score: 1, inferenceTime: 0.01 }];
      }),
    );
  }
}
