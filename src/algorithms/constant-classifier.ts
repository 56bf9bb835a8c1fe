/**
 * The reference service's "Constant classifier" (docs/antenna-protocol.md#constant): always "Moth" with
 * scores [0.9] and no logits.
 */
import type { Classifier, ClassifierResult, Region } from './algorithm';
import { StubAlgorithm, referenceDescriptor } from './stub-algorithm';

export class ConstantClassifier extends StubAlgorithm implements Classifier {
  readonly kind = 'classifier';

  constructor() {
    super(
      referenceDescriptor({
        name: 'Constant classifier',
        key: 'constant-classifier',
        description: "Always return a classification of 'Moth'",
        task_type: 'classification',
        category_map: {
          data: [{ index: 0, gbif_key: '1234', label: 'Moth', source: 'manual', taxon_rank: 'SUPERFAMILY' }],
          labels: ['Moth'],
          version: 'v1',
          description: "A classifier that always returns 'Moth'",
          uri: 'https://huggingface.co/RolnickLab/constant-classifier',
        },
      }),
    );
  }

  run(regions: Region[]): Promise<ClassifierResult[]> {
    return Promise.resolve(regions.map(() => ({ scores: [0.9], logits: [], inferenceTime: null })));
  }
}
