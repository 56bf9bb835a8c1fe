/**
 * `random-detection-random-species`: the reference service's random pipeline
 * (docs/antenna-protocol.md#random-detection-random-species). A request's `config.seed` makes it
 * reproducible. Like the reference, the species stage runs whatever the binary says.
 */
import { randomBinaryClassifier, randomSpeciesClassifier } from '../algorithms/random-classifier';
import { RandomDetector } from '../algorithms/random-detector';
import { definePipeline } from './definition';
import { Pipeline } from './pipeline';

export const randomDetectionRandomSpeciesPipeline = definePipeline('random-detection-random-species', (ctx) =>
  Promise.resolve(
    new Pipeline(
      {
        name: 'Random Detection Random Species Pipeline',
        slug: 'random-detection-random-species',
        version: 1,
        description: 'A pipeline that returns a random bbox with a random classification.',
      },
      new RandomDetector(),
      [
        { algorithm: randomBinaryClassifier(), terminal: false },
        { algorithm: randomSpeciesClassifier(), terminal: true },
      ],
      ctx.batches,
    ),
  ),
);
