/**
 * `constant`: the reference service's fixed-box pipeline (docs/antenna-protocol.md#constant). Reads only
 * image headers.
 */
import { ConstantClassifier } from '../algorithms/constant-classifier';
import { ConstantDetector } from '../algorithms/constant-detector';
import { definePipeline } from './definition';
import { Pipeline } from './pipeline';

export const constantPipeline = definePipeline('constant', (ctx) =>
  Promise.resolve(
    new Pipeline(
      {
        name: 'Constant Pipeline',
        slug: 'constant',
        version: 1,
        description:
          'A pipeline that always returns a detection in the same position with a fixed classification.',
      },
      new ConstantDetector(),
      [{ algorithm: new ConstantClassifier(), terminal: true }],
      ctx.batches,
    ),
  ),
);
