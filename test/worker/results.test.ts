/**
 * Splitting one pipeline response into one result per task, and the local result schema
 * (docs/antenna-protocol.md#posting-results).
 */
import type { PipelineResultsResponse } from '../../src/contract/types';
import { createAjv } from '../../src/contract/validators';
import { errorItem, splitResponse } from '../../src/worker/results';
import { compilePullValidators } from '../../src/worker/schemas';
import type { PullSuccessResult, PullTask, ResultItem } from '../../src/worker/types';

const validators = compilePullValidators(createAjv());

const task = (imageId: string, n: number): PullTask => ({
  id: imageId,
  image_id: imageId,
  image_url: `https://minio.example.org/${imageId}.jpg?sig=${n}`,
  reply_subject: `$JS.ACK.job_42.job-42-consumer.1.${n}.1.1753250687123456789.0`,
});

const detection = (imageId: string, x1: number): PipelineResultsResponse['detections'][number] => ({
  source_image_id: imageId,
  bbox: { x1, y1: 10, x2: x1 + 50, y2: 60 },
  inference_time: 0.01,
  algorithm: { name: 'Constant Detector', key: 'constant-detector' },
  timestamp: '2026-07-22T23:04:47.133456+00:00',
  crop_image_url: null,
  classifications: [],
});

const response: PipelineResultsResponse = {
  pipeline: 'constant',
  total_time: 0.9,
  algorithms: {},
  source_images: [
    { id: '101', url: 'https://minio.example.org/101.jpg?sig=1' },
    { id: '103', url: 'https://minio.example.org/103.jpg?sig=3' },
  ],
  detections: [detection('101', 1), detection('103', 2), detection('101', 3)],
  errors: [
    {
      image_id: '102',
      url: 'x',
      code: 'IMAGE_DOWNLOAD_FAILED',
      error: 'image 102: HTTP 404 from minio.example.org',
    },
  ],
};

test('each task gets its own image, url and detections; a failed image gets {error, image_id}', () => {
  const tasks = [task('101', 1), task('102', 2), task('103', 3)];
  const items = splitResponse(tasks, response);
  expect(items).toEqual([
    {
      reply_subject: tasks[0].reply_subject,
      result: {
        pipeline: 'constant',
        total_time: 0.3,
        algorithms: {},
        source_images: [{ id: '101', url: tasks[0].image_url }],
        detections: [detection('101', 1), detection('101', 3)],
      },
    },
    {
      reply_subject: tasks[1].reply_subject,
      result: { error: 'image 102: HTTP 404 from minio.example.org', image_id: '102' },
    },
    {
      reply_subject: tasks[2].reply_subject,
      result: {
        pipeline: 'constant',
        total_time: 0.3,
        algorithms: {},
        source_images: [{ id: '103', url: tasks[2].image_url }],
        detections: [detection('103', 2)],
      },
    },
  ]);
  for (const item of items) expect(validators.resultItemProblem(item)).toBeNull();
});

test('two tasks for one image (a redelivery) each get a result with their own reply_subject and url', () => {
  const tasks = [task('101', 1), task('101', 9)];
  const items = splitResponse(tasks, response);
  expect(items.map((i) => i.reply_subject)).toEqual([tasks[0].reply_subject, tasks[1].reply_subject]);
  expect(items.map((i) => ('source_images' in i.result ? i.result.source_images[0].url : null))).toEqual([
    tasks[0].image_url,
    tasks[1].image_url,
  ]);
  const [a, b] = items.map((i) => i.result as PullSuccessResult);
  expect([a.total_time, a.detections]).toEqual([0.9, b.detections]);
});

test('an image missing from both source_images and errors is still reported as an error', () => {
  const [item] = splitResponse([task('999', 1)], response);
  expect(item.result).toEqual({ error: 'image 999: not processed by pipeline constant', image_id: '999' });
});

test.each<[string, (r: Record<string, unknown>) => void]>([
  ['no source image', (r) => (r.source_images = [])],
  [
    'two source images',
    (r) =>
      (r.source_images = [
        { id: '1', url: 'a' },
        { id: '2', url: 'b' },
      ]),
  ],
  ['no total_time', (r) => delete r.total_time],
  ['an unknown key', (r) => (r.extra = 1)],
  ['a detection of another image', (r) => (r.detections = [detection('102', 1)])],
  [
    'a classification without scores',
    (r) => (r.detections = [{ ...detection('101', 1), classifications: [{ classification: 'moth' }] }]),
  ],
])('the local schema refuses a success result with %s', (_, mutate) => {
  const [item] = splitResponse([task('101', 1)], response);
  const result = structuredClone(item.result) as unknown as Record<string, unknown>;
  mutate(result);
  expect(validators.resultItemProblem({ ...item, result } as unknown as ResultItem)).not.toBeNull();
});

test('the local schema accepts error results and refuses one without image_id or message', () => {
  const t = task('7', 1);
  expect(validators.resultItemProblem(errorItem(t, 'image 7: HTTP 404'))).toBeNull();
  expect(validators.resultItemProblem(errorItem(t, ''))).not.toBeNull();
  expect(
    validators.resultItemProblem({
      reply_subject: 'x',
      result: { error: 'e', image_id: null },
    } as unknown as ResultItem),
  ).not.toBeNull();
});
