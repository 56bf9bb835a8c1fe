/**
 * Result posting: same bytes on retry, never dropped, splitting of a rejected batch
 * (docs/antenna-protocol.md#posting-results).
 */
import pino from 'pino';
import { AntennaClient } from '../../src/worker/antenna-client';
import { ResultOutbox } from '../../src/worker/result-outbox';
import type { ResultItem } from '../../src/worker/types';
import { FakeAntenna } from '../helpers/fake-antenna';

const TOKEN = 'outbox-token';
const clientInfo = { hostname: 'h', software: 's', version: '0', platform: 'p' };
const logger = pino({ level: 'silent' });
let fake: FakeAntenna;
let client: AntennaClient;

async function setup(
  options: Partial<Parameters<typeof FakeAntenna.start>[0]> = {},
): Promise<{ outbox: ResultOutbox; subjects: string[] }> {
  fake = await FakeAntenna.start({ token: TOKEN, ...options });
  fake.addJob({
    id: 42,
    pipelineSlug: 'constant',
    images: ['1', '2', '3'].map((id) => ({ id, url: `http://img/${id}.jpg` })),
  });
  client = new AntennaClient({
    baseUrl: fake.apiUrl,
    token: TOKEN,
    authScheme: 'Token',
    timeoutMs: 2000,
    userAgent: 'test',
  });
  const res = await client.reserveTasks(42, 3, clientInfo);
  const subjects = (res.body as { tasks: { reply_subject: string }[] }).tasks.map((t) => t.reply_subject);
  return {
    outbox: new ResultOutbox({ client, logger, backoff: { baseMs: 5, capMs: 20 }, clientInfo }),
    subjects,
  };
}

afterEach(async () => {
  await client.close();
  await fake.close();
});

const success = (subject: string, id: string): ResultItem => ({
  reply_subject: subject,
  result: {
    pipeline: 'constant',
    total_time: 0.1,
    algorithms: {},
    source_images: [{ id, url: `http://img/${id}.jpg` }],
    detections: [],
  },
});

test('a 503 is retried with the same bytes until accepted', async () => {
  const { outbox, subjects } = await setup({ fault: (e, n) => (e === 'result' && n <= 3 ? 503 : null) });
  outbox.enqueue(42, [
    success(subjects[0], '1'),
    { reply_subject: subjects[1], result: { error: 'image 2: HTTP 404', image_id: '2' } },
  ]);
  expect(await outbox.drain(5000)).toBe(true);
  expect(fake.resultPosts.map((p) => p.status)).toEqual([503, 503, 503, 200]);
  expect(new Set(fake.resultPosts.map((p) => p.raw)).size).toBe(1);
  expect(JSON.parse(fake.resultPosts[0].raw)).toEqual({
    results: [
      success(subjects[0], '1'),
      { reply_subject: subjects[1], result: { error: 'image 2: HTTP 404', image_id: '2' } },
    ],
    client_info: clientInfo,
  });
});

test('a batch Antenna rejects is re-posted item by item; the item it still rejects becomes an error result', async () => {
  const { outbox, subjects } = await setup();
  const bad = success(subjects[1], '2');
  (bad.result as unknown as Record<string, unknown>).total_time = 'slow'; // fits neither of Antenna's shapes
  outbox.enqueue(42, [success(subjects[0], '1'), bad, success(subjects[2], '3')]);
  expect(await outbox.drain(5000)).toBe(true);
  expect(fake.resultPosts.map((p) => p.status)).toEqual([400, 200, 400, 200, 200]);
  expect(fake.accepted.map((a) => [a.imageId, 'error' in a.result])).toEqual([
    ['1', false],
    ['2', true],
    ['3', false],
  ]);
  expect(fake.accepted[1].result.error).toMatch(
    /^image 2: Antenna rejected the result: POST \/api\/v2\/jobs\/42\/result\/: HTTP 400/,
  );
  expect(fake.ackedCount(42)).toBe(3);
});

test('results of a job that no longer exists (404) are dropped', async () => {
  const { outbox, subjects } = await setup();
  outbox.enqueue(999, [success(subjects[0], '1')]);
  expect(await outbox.drain(5000)).toBe(true);
  expect(fake.resultPosts.map((p) => p.status)).toEqual([404]);
});

test('while Antenna stays down, drain gives up at its deadline and reports false', async () => {
  const { outbox, subjects } = await setup();
  fake.unavailable = true;
  outbox.enqueue(42, [success(subjects[0], '1')]);
  const t0 = Date.now();
  expect(await outbox.drain(200)).toBe(false);
  expect(Date.now() - t0).toBeLessThan(1000);
  expect(fake.resultPosts.length).toBeGreaterThan(1);
  expect(fake.resultPosts.every((p) => p.status === 503)).toBe(true);
  expect(outbox.pendingResults).toBe(1);
});
