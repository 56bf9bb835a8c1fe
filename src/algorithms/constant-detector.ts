/**
 * The reference service's "Constant Detector" (docs/antenna-protocol.md#constant): one box per image at
 * x1 = ⌊W/8⌋, y1 = ⌊H/8⌋, x2 = x1 + ⌊W/4⌋, y2 = y1 + ⌊H/4⌋. Needs only the header's size.
 */
import type { DetectedBox, Detector } from './algorithm';
import type { PipelineImage } from '../images/pipeline-image';
import { StubAlgorithm, referenceDescriptor } from './stub-algorithm';

export class ConstantDetector extends StubAlgorithm implements Detector {
  readonly kind = 'detector';

  constructor() {
    super(
      referenceDescriptor({
        name: 'Constant Detector',
        key: 'constant-detector',
        description: 'Return a fixed bounding box at a fixed location within the image bounds.',
        task_type: 'detection',
        category_map: null,
      }),
    );
  }

  run(images: PipelineImage[]): Promise<DetectedBox[][]> {
    return Promise.resolve(
      images.map(({ width, height }) => {
        const x1 = Math.floor(width / 8);
        const y1 = Math.floor(height / 8);
        const bbox = { x1, y1, x2: x1 + Math.floor(width / 4), y2: y1 + Math.floor(height / 4) };
        // The reference reports 0.01 s for every detection.
        return [{ bbox, score: 1, inferenceTime: 0.01 }];
      }),
    );
  }
}
