/**
 * Result delivery (docs/pull-mode.md#robustness): each result is posted once (a 2xx is success whatever its
 * body, or when its body does not arrive; a slow answer within WORKER_RESULT_TIMEOUT_S is waited for), a
 * re-post after no answer is logged once as a possible duplicate, and no POST body is larger than
 * WORKER_RESULT_MAX_MB: results are packed up to it and one result larger than it is split by detections,
 * never failed.
 */
import { createHash } from 'crypto';
import type { DetectionResponse } from '../../src/contract/types';
import { AntennaClient } from '../../src/worker/antenna-client';
import { ResultOutbox } from '../../src/worker/result-outbox';
import type { PullSuccessResult, ResultItem } from '../../src/worker/types';
import { FakeAntenna, type FakeAntennaOptions } from '../helpers/fake-antenna';
import { captureLogger } from './setup';

const TOKEN = 'delivery-token';
const clientInfo = { hostname: 'h', software: 's', version: '0', platform: 'p' };
let fake: FakeAntenna;
let client: AntennaClient;

interface Setup {
  outbox: ResultOutbox;
  subjects: string[];
  lines: string[];
}

async function setup(
  fakeOptions: Partial<FakeAntennaOptions>,
  outboxOptions: { maxBodyBytes?: number; postTimeoutMs?: number } = {},
): Promise<Setup> {
  fake = await FakeAntenna.start({ token: TOKEN, ...fakeOptions });
  fake.addJob({
    id: 7,
    pipelineSlug: 'wide',
    images: ['1', '2', '3', '4'].map((id) => ({ id, url: `http://img/${id}.jpg` })),
  });
  // Every other call is held to 300 ms: result POSTs get their own, longer limit.
  client = new AntennaClient({
    baseUrl: fake.apiUrl,
    token: TOKEN,
    authScheme: 'Token',
    timeoutMs: 300,
    userAgent: 't',
  });
  const res = await client.reserveTasks(7, 4, clientInfo);
  const subjects = (res.body as { tasks: { reply_subject: string }[] }).tasks.map((t) => t.reply_subject);
  const { logger, lines } = captureLogger();
  const outbox = new ResultOutbox({
    client,
    logger,
    backoff: { baseMs: 5, capMs: 20 },
    clientInfo,
    ...outboxOptions,
  });
  return { outbox, subjects, lines };
}

afterEach(async () => {
  await client.close();
  await fake.close();
});

/** A detection with one classification over `classes` labels (vectors of float32 values). */
function detection(image: string, i: number, classes: number): DetectionResponse {
  return {
    source_image_id: image,
    bbox: { x1: i, y1: i, x2: i + 10, y2: i + 10 },
    inference_time: 0.01,
    algorithm: { name: 'd', key: 'd' },
    timestamp: '2026-11-30T00:00:00Z',
    crop_image_url: null,
    classifications: [
      {
        classification: 'a',
        labels: null,
        scores: Array.from({ length: classes }, (_, k) => Math.fround(1 / (k + i + 2))),
        logits: Array.from({ length: classes }, (_, k) => Math.fround(-Math.log(k + i + 2))),
        inference_time: 0.01,
        algorithm: { name: 'c', key: 'c' },
        terminal: true,
        timestamp: '2026-11-30T00:00:00Z',
      },
    ],
  };
}

const success = (subject: string, id: string, detections: DetectionResponse[] = []): ResultItem => ({
  reply_subject: subject,
  result: {
    pipeline: 'wide',
    total_time: 0.1,
    algorithms: {},
    source_images: [{ id, url: `http://img/${id}.jpg` }],
    detections,
  },
});

const messages = (lines: string[]): { level: number; msg: string }[] =>
  lines.map((l) => JSON.parse(l) as { level: number; msg: string });

test('a 2xx whose body is not JSON is success: exactly one copy, the body logged at warn', async () => {
  const { outbox, subjects, lines } = await setup({ resultAnswer: () => ({ nonJson: true }) });
  outbox.enqueue(7, [success(subjects[0], '1'), success(subjects[1], '2')]);
  expect(await outbox.drain(5000)).toBe(true);
  expect(fake.resultPosts.map((p) => p.status)).toEqual([200]);
  expect([...fake.acceptedPerReplySubject().values()]).toEqual([1, 1]);
  expect(messages(lines)).toContainEqual(
    expect.objectContaining({
      level: 40,
      msg: 'Antenna answered the results for job 7 with HTTP 200 and a body that is not JSON; taken as accepted',
      body: '<html><body>OK</body></html>',
    }),
  );
});

test('an answer slower than the API timeout but within the result timeout: waited for, posted once', async () => {
  const { outbox, subjects, lines } = await setup(
    { resultAnswer: (call) => (call === 1 ? { delayMs: 1000 } : null) },
    { postTimeoutMs: 5000 },
  );
  outbox.enqueue(7, [success(subjects[0], '1')]);
  expect(await outbox.drain(10_000)).toBe(true);
  expect(fake.resultPosts).toHaveLength(1);
  expect(fake.acceptedPerReplySubject().get(subjects[0])).toBe(1);
  expect(messages(lines).filter((l) => l.level >= 40)).toEqual([]);
});

test('no answer within the result timeout: re-posted with the same bytes, one line says it may be a duplicate', async () => {
  const { outbox, subjects, lines } = await setup(
    { resultAnswer: (call) => (call === 1 ? { delayMs: 1500 } : null) },
    { postTimeoutMs: 400 },
  );
  outbox.enqueue(7, [success(subjects[0], '1')]);
  expect(await outbox.drain(10_000)).toBe(true);
  // The first copy was stored although its answer came too late; the second is the replay Antenna dedupes.
  await fake.waitFor(() => fake.resultPosts.length === 2, 5000);
  expect(new Set(fake.resultPosts.map((p) => p.raw)).size).toBe(1);
  expect(messages(lines).filter((l) => l.level >= 40)).toEqual([
    expect.objectContaining({
      level: 40,
      msg: 'posting 1 results for job 7 got no answer in time; re-posting the same body, possibly a duplicate (Antenna dedupes replays)',
      error: 'POST /api/v2/jobs/7/result/: no answer within 400 ms',
      timeout: 'answer',
    }),
  ]);
});

test('a 2xx whose body does not arrive within the result timeout is success: posted once, one line', async () => {
  const { outbox, subjects, lines } = await setup(
    { resultAnswer: () => ({ holdBodyMs: 1500 }) },
    { postTimeoutMs: 400 },
  );
  outbox.enqueue(7, [success(subjects[0], '1')]);
  expect(await outbox.drain(10_000)).toBe(true);
  expect(fake.resultPosts.map((p) => p.status)).toEqual([200]);
  expect(fake.acceptedPerReplySubject().get(subjects[0])).toBe(1);
  expect(messages(lines).filter((l) => l.level >= 40)).toEqual([
    expect.objectContaining({
      level: 40,
      msg: 'Antenna answered the results for job 7 with HTTP 200, but its body did not arrive in time; taken as accepted',
      body: 'POST /api/v2/jobs/7/result/: HTTP 200, but its body did not arrive within 400 ms',
    }),
  ]);
});

test('results are packed under the body cap, and one result over it is split by detections, never failed', async () => {
  const max = 64 * 1024;
  const { outbox, subjects, lines } = await setup({}, { maxBodyBytes: max });
  // Image 1: 12 detections of ~14 KB each (~170 KB): too large for one post. Images 2-4: small, packed together.
  const big = Array.from({ length: 12 }, (_, i) => detection('1', i, 600));
  outbox.enqueue(7, [
    success(subjects[0], '1', big),
    success(subjects[1], '2', [detection('2', 0, 10)]),
    success(subjects[2], '3'),
    { reply_subject: subjects[3], result: { error: 'image 4: HTTP 404', image_id: '4' } },
  ]);
  expect(await outbox.drain(10_000)).toBe(true);
  expect(fake.resultPosts.every((p) => p.status === 200)).toBe(true);
  for (const p of fake.resultPosts) expect(Buffer.byteLength(p.raw)).toBeLessThanOrEqual(max);
  // Image 1 arrives in parts, all with its task's reply subject, together holding every detection in order,
  // with full vectors equal (as float32) to what the pipeline gave.
  const parts = fake.accepted.filter((a) => a.imageId === '1');
  expect(parts.length).toBeGreaterThanOrEqual(3);
  expect(parts.every((p) => p.replySubject === subjects[0])).toBe(true);
  const got = parts.flatMap((p) => (p.result as unknown as PullSuccessResult).detections);
  expect(got.map((d) => d.bbox.x1)).toEqual(big.map((d) => d.bbox.x1));
  for (const [i, d] of got.entries()) {
    expect(d.classifications[0].scores.map(Math.fround)).toEqual(big[i].classifications[0].scores);
    expect(d.classifications[0].logits!.map(Math.fround)).toEqual(big[i].classifications[0].logits);
  }
  // The three small results share one post (with the last part of image 1, which leaves room for them).
  const small = fake.resultPosts.filter((p) => p.raw.includes(subjects[1]));
  expect(small).toHaveLength(1);
  expect([small[0].raw.includes(subjects[2]), small[0].raw.includes(subjects[3])]).toEqual([true, true]);
  expect(fake.resultPosts).toHaveLength(parts.length);
  expect(fake.accepted.filter((a) => a.imageId !== '1').map((a) => a.imageId)).toEqual(['2', '3', '4']);
  expect(fake.problems).toEqual([]);
  expect(messages(lines)).toContainEqual(
    expect.objectContaining({ level: 40, parts: parts.length, image: '1' }),
  );
});

/** `d` with a getter on `classifications` that counts each read: one read is one serialisation of `d`. */
function counted(d: DetectionResponse, reads: number[], i: number): DetectionResponse {
  const copy = { ...d };
  // Redefining an existing key keeps its place, so the JSON text keeps its key order.
  Object.defineProperty(copy, 'classifications', {
    enumerable: true,
    get() {
      reads[i] = (reads[i] ?? 0) + 1;
      return d.classifications;
    },
  });
  return copy;
}

test('an oversized result is serialised once: each detection read once, the parts the bytes they always were', async () => {
  const max = 64 * 1024;
  const { outbox, subjects } = await setup({}, { maxBodyBytes: max });
  const reads: number[] = [];
  const big = Array.from({ length: 12 }, (_, i) => counted(detection('1', i, 600), reads, i));
  // Image 2 first: image 1 is serialised while packing its post, does not fit, and waits for the next one.
  outbox.enqueue(7, [
    success(subjects[1], '2', [detection('2', 0, 10)]),
    success(subjects[0], '1', big),
    success(subjects[2], '3'),
  ]);
  expect(await outbox.drain(10_000)).toBe(true);
  expect(reads).toEqual(big.map(() => 1));
  // SHA-256 of each POST body as the serialiser wrote them before it sized while serialising (reply subjects,
  // which carry the fake's clock, replaced by their index): image 2 alone, image 1 in three parts, the last
  // with image 3. The split and its bytes are unchanged.
  const bodies = fake.resultPosts.map((p) =>
    subjects.reduce((raw, s, i) => raw.split(s).join(`<subject ${i}>`), p.raw),
  );
  expect(bodies.map((b) => Buffer.byteLength(b))).toEqual([802, 56363, 56443, 56667]);
  expect(bodies.map((b) => createHash('sha256').update(b).digest('hex'))).toEqual([
    'cb1fe675a2c87acf6be0a76dd431479c339f25532936603cc343642dc33e0744',
    '438dfb0a611cc33de94fac09fefc72b5341d6b1ed879995f964617c7f3bed604',
    '26f7ce35ff986a9906ebe20809743fb264c485dcc62879f64238a1c3cdc412f1',
    '8ab1493e14ebab4acc6f7a22cb60dc12a674569f496e1e006a0f74b056c5baa8',
  ]);
});
