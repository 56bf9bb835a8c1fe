/**
 * A `[B]` count of valid rows (TF Object Detection API `num_detections`): rows at or past it are padding and are
 * never read, whatever they hold; a count of the wrong shape is an error naming the field.
 */
import { detectorOutputNames, readDetections, type OutputData } from '../../src/algorithms/detector-outputs';
import type { DetectorOutput } from '../../src/models/manifest';

const OUTPUT: DetectorOutput = {
  boxes: 'detection_boxes',
  scores: 'detection_scores',
  classes: 'detection_classes',
  num_detections: 'num_detections',
  box_format: 'yxyx',
  coordinates: 'normalized',
  nms: 'in-graph',
  score_threshold: 0,
  max_detections: 3,
};

/** Two images, three rows each: every row a real-looking box scoring 0.9, 0.8, 0.7, classes 1, 2, 1. */
const rows = (counts: number[]): OutputData[] => [
  { values: Array.from({ length: 24 }, (_, i) => [0.1, 0.2, 0.5, 0.6][i % 4]), shape: [2, 3, 4] },
  { values: [0.9, 0.8, 0.7, 0.9, 0.8, 0.7], shape: [2, 3] },
  { values: [1, 2, 1, 1, 2, 1], shape: [2, 3] },
  { values: counts, shape: [2] },
];

it('asks for num_detections last', () => {
  expect(detectorOutputNames(OUTPUT, true)).toEqual([
    'detection_boxes',
    'detection_scores',
    'detection_classes',
    'num_detections',
  ]);
  expect(detectorOutputNames(OUTPUT, false)).toEqual([
    'detection_boxes',
    'detection_scores',
    'num_detections',
  ]);
});

it('reads only the rows before each image count, even when the padding would pass the threshold', () => {
  const found = readDetections(OUTPUT, rows([2, 0]), {
    batch: 2,
    batched: true,
    scoreThreshold: 0,
    classes: true,
  });
  expect(found.map((image) => image.map((r) => [r.score, r.classId]))).toEqual([
    [
      [0.9, 1],
      [0.8, 2],
    ],
    [],
  ]);
});

it('a count of the wrong shape, or not a count, names output.num_detections', () => {
  const bad = rows([2, 0]);
  bad[3] = { values: [2], shape: [1] };
  expect(() =>
    readDetections(OUTPUT, bad, { batch: 2, batched: true, scoreThreshold: 0, classes: true }),
  ).toThrow('expected output.num_detections "num_detections" [2]; got [1]');
  expect(() =>
    readDetections(OUTPUT, rows([NaN, 1]), { batch: 2, batched: true, scoreThreshold: 0, classes: true }),
  ).toThrow('output.num_detections "num_detections" gave NaN rows for image 0');
});
