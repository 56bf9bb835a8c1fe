/**
 * The fake Antenna behaves as Antenna does in pull mode (docs/antenna-protocol.md#pull-mode), checked with the
 * real payloads of Antenna's own tests (fixtures antenna_tests.*) and the status codes Antenna answers, so the
 * worker tests lean on a faithful fake.
 */
import { FakeAntenna } from '../helpers/fake-antenna';

const TOKEN = 'fake-test-token';
let fake: FakeAntenna;

beforeEach(async () => {
  fake = await FakeAntenna.start({ token: TOKEN, visibilityTimeoutMs: 100 });
  fake.addJob({ id: 42, pipelineSlug: 'constant', images: [{ id: '1', url: 'http://img/1.jpg' }] });
});

afterEach(() => fake.close());

async function call(
  method: string,
  path: string,
  body?: unknown,
  auth: string | null = `Token ${TOKEN}`,
): Promise<{ status: number; body: unknown; location: string | null }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (auth !== null) headers.authorization = auth;
  const res = await fetch(`${fake.apiUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    redirect: 'manual',
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, location: res.headers.get('location') };
}

// antenna_tests.result_endpoint_payloads.invalid_400.json
const invalid400: Record<string, unknown> = {
  'missing_reply_subject (400)': { results: [{ result: { pipeline: 'test' } }] },
  'missing_result (400)': { results: [{ reply_subject: 'test.reply' }] },
  'bare_list_not_accepted (400)': [{ reply_subject: 'test.reply', result: { pipeline: 'test' } }],
};
// antenna_tests.result_endpoint_payload.success_stub.json and .error.json
const successStub = {
  results: [
    {
      reply_subject: 'test.reply.1',
      result: {
        pipeline: 'test-pipeline',
        algorithms: {},
        total_time: 1.5,
        source_images: [],
        detections: [],
        errors: null,
      },
    },
  ],
};
const errorPayload = {
  results: [
    { reply_subject: 'test.reply.error.1', result: { error: 'Image processing timeout', image_id: '1' } },
  ],
};

test('401 without a token and with a wrong one', async () => {
  expect(await call('GET', '/jobs/', undefined, null)).toMatchObject({
    status: 401,
    body: { detail: 'Authentication credentials were not provided.' },
  });
  expect(await call('GET', '/jobs/', undefined, 'Token nope')).toMatchObject({
    status: 401,
    body: { detail: 'Invalid token.' },
  });
});

test('a missing trailing slash is a 301 to the slashed path, query kept', async () => {
  const res = await call('GET', '/jobs?ids_only=1');
  expect([res.status, res.location]).toEqual([301, '/api/v2/jobs/?ids_only=1']);
});

test('ids_only lists one random job per call with the total count and a next link', async () => {
  fake.addJob({ id: 43, pipelineSlug: 'constant', images: [{ id: '2', url: 'http://img/2.jpg' }] });
  fake.addJob({ id: 44, pipelineSlug: 'other', images: [{ id: '3', url: 'http://img/3.jpg' }] });
  const res = await call(
    'GET',
    '/jobs/?pipeline__slug__in=constant&ids_only=1&incomplete_only=1&dispatch_mode=async_api',
  );
  expect(res.status).toBe(200);
  const body = res.body as { count: number; next: string | null; results: { id: number }[] };
  expect(body.count).toBe(2);
  expect(body.next).toContain('offset=1');
  expect(body.results).toHaveLength(1);
  expect([42, 43]).toContain(body.results[0].id);
});

test('/tasks/ validates batch_size like DRF and answers an empty list when nothing is available', async () => {
  expect(await call('POST', '/jobs/42/tasks/', { batch_size: 0 })).toMatchObject({
    status: 400,
    body: { batch_size: ['Ensure this value is greater than or equal to 1.'] },
  });
  expect(await call('POST', '/jobs/42/tasks/', { batch_size: null })).toMatchObject({
    status: 400,
    body: { batch_size: ['This field may not be null.'] },
  });
  const first = await call('POST', '/jobs/42/tasks/', { batch_size: '5' });
  expect((first.body as { tasks: unknown[] }).tasks).toEqual([
    {
      id: '1',
      image_id: '1',
      image_url: 'http://img/1.jpg',
      reply_subject: expect.stringMatching(/^\$JS\.ACK\.job_42\./) as string,
    },
  ]);
  expect(await call('POST', '/jobs/42/tasks/', { batch_size: 5 })).toEqual({
    status: 200,
    body: { tasks: [] },
    location: null,
  });
  expect(await call('POST', '/jobs/999/tasks/', { batch_size: 5 })).toMatchObject({ status: 404 });
});

test('an unacknowledged task is delivered again after the visibility timeout, at most twice', async () => {
  const subjects: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await call('POST', '/jobs/42/tasks/', { batch_size: 1 });
    subjects.push(...(res.body as { tasks: { reply_subject: string }[] }).tasks.map((t) => t.reply_subject));
    await new Promise((r) => setTimeout(r, 150));
  }
  expect(subjects).toHaveLength(2);
  expect(new Set(subjects).size).toBe(2);
  expect(fake.isComplete(42)).toBe(true);
});

test('503 on /tasks/ and /result/ while the queue is unavailable', async () => {
  fake.unavailable = true;
  expect(await call('POST', '/jobs/42/tasks/', { batch_size: 1 })).toMatchObject({
    status: 503,
    body: { error: 'Task queue temporarily unavailable' },
  });
  expect(await call('POST', '/jobs/42/result/', errorPayload)).toMatchObject({
    status: 503,
    body: { status: 'error', job_id: 42, detail: 'Task queue temporarily unavailable' },
  });
});

test.each(Object.entries(invalid400))(
  '/result/ rejects %s with 400 and queues nothing',
  async (_, payload) => {
    expect((await call('POST', '/jobs/42/result/', payload)).status).toBe(400);
    expect(fake.accepted).toEqual([]);
  },
);

test('/result/ rejects the whole request when one item fits neither shape', async () => {
  const bad = {
    results: [...errorPayload.results, { reply_subject: 'r2', result: { pipeline: 'constant' } }],
  };
  expect((await call('POST', '/jobs/42/result/', bad)).status).toBe(400);
  expect(fake.accepted).toEqual([]);
});

test.each([
  ['success stub', successStub],
  ['error result', errorPayload],
])("/result/ accepts Antenna's own %s payload", async (_, payload) => {
  const res = await call('POST', '/jobs/42/result/', payload);
  expect(res).toMatchObject({ status: 200, body: { status: 'accepted', job_id: 42, results_queued: 1 } });
});

test('registration answers 201, and a non-JSON 500 for a classifier without a category map', async () => {
  const algorithm = {
    name: 'c',
    key: 'c',
    description: null,
    task_type: 'classification',
    version: 1,
    version_name: null,
    uri: null,
  };
  const ok = {
    processing_service_name: 'w',
    pipelines: [{ slug: 'p', algorithms: [{ ...algorithm, category_map: { data: [], labels: [] } }] }],
  };
  expect(await call('POST', '/projects/1/pipelines/', ok)).toMatchObject({
    status: 201,
    body: { success: true },
  });
  expect(await call('POST', '/projects/1/pipelines/', ok)).toMatchObject({ status: 201 });
  const broken = {
    processing_service_name: 'w',
    pipelines: [{ slug: 'p', algorithms: [{ ...algorithm, category_map: null }] }],
  };
  const res = await call('POST', '/projects/1/pipelines/', broken);
  expect(res.status).toBe(500);
  expect(typeof res.body).toBe('string');
});
