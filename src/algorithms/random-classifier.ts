/**
 * The reference service's random classifiers (docs/antenna-protocol.md#random-detection-random-species):
 * logits uniform in [0,1), scores = softmax. One class, two instances: the binary "Moth / Not a moth" filter
 * and the 3-species classifier.
 */
import type { AlgorithmCategoryMap } from '../contract/types';
import type { Classifier, ClassifierResult, Region, RunOptions } from './algorithm';
import { softmax } from './softmax';
import { StubAlgorithm, referenceDescriptor } from './stub-algorithm';

interface RandomClassifierSpec {
  name: string;
  key: string;
  description: string;
  categoryMap: AlgorithmCategoryMap;
}

export class RandomClassifier extends StubAlgorithm implements Classifier {
  readonly kind = 'classifier';

  constructor(spec: RandomClassifierSpec) {
    super(
      referenceDescriptor({
        name: spec.name,
        key: spec.key,
        description: spec.description,
        task_type: 'classification',
        category_map: spec.categoryMap,
      }),
    );
  }

  run(regions: Region[], { rng }: RunOptions): Promise<ClassifierResult[]> {
    const classes = this.descriptor.category_map?.labels.length ?? 0;
    return Promise.resolve(
      regions.map(() => {
        const logits = Array.from({ length: classes }, () => rng.next());
        return { scores: softmax(logits), logits, inferenceTime: null };
      }),
    );
  }
}

const map = (
  entries: [string, string, string][],
  description: string,
  key: string,
): AlgorithmCategoryMap => ({
  data: entries.map(([gbif_key, label, taxon_rank], index) => ({
    index,
    gbif_key,
    label,
    source: 'manual',
    taxon_rank,
  })),
  labels: entries.map(([, label]) => label),
  version: 'v1',
  description,
  uri: `https://huggingface.co/RolnickLab/${key}`,
});

/** "Random binary classifier": Moth / Not a moth. */
export const randomBinaryClassifier = (): RandomClassifier =>
  new RandomClassifier({
    name: 'Random binary classifier',
    key: 'random-binary-classifier',
    description: "Randomly return a classification of 'Moth' or 'Not a moth'",
    categoryMap: map(
      [
        ['1234', 'Moth', 'SUPERFAMILY'],
        ['4543', 'Not a moth', 'ORDER'],
      ],
      'A simple binary classifier',
      'random-binary-classifier',
    ),
  });

/** "Random species classifier": three Vanessa species. */
export const randomSpeciesClassifier = (): RandomClassifier =>
  new RandomClassifier({
    name: 'Random species classifier',
    key: 'random-species-classifier',
    description: 'A random species classifier',
    categoryMap: map(
      [
        ['1234', 'Vanessa atalanta', 'SPECIES'],
        ['4543', 'Vanessa cardui', 'SPECIES'],
        ['7890', 'Vanessa itea', 'SPECIES'],
      ],
      'A simple species classifier',
      'random-species-classifier',
    ),
  });
