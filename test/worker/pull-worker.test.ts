/**
 * The pull worker against the fake Antenna (docs/antenna-protocol.md#pull-mode), running the real service with
 * the `constant` pipeline and images from a local HTTP server.
 */
import type { Service } from '../../src/bootstrap';
import { ProcessingService } from '../../src/service/processing-service';
import type { Logger } from '../../src/util/logger';
import { PullWorker } from '../../src/worker';
import { AntennaClient } from '../../src/worker/antenna-client';
import { FakeAntenna, type FakeAntennaOptions } from '../helpers/fake-antenna';
import { startImageServer, type ImageServer } from '../helpers/image-server';
import { captureLogger, constantService, TOKEN, testOptions } from './setup';

let images: ImageServer;
let svc: Service;
let logger: Logger;
let lines: string[];
const fakes: FakeAntenna[] = [];
const workers: PullWorker[] = [];

beforeAll(async () => {
  ({ logger, lines } = captureLogger());
  images = await startImageServer();
  svc = await constantService(logger);
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

afterAll(async () => {
  await svc.close();
  await images.close();
  // The token never reaches a log line, whatever happened in the tests above (401s, 503s, redirects).
  expect(lines.length).toBeGreaterThan(10);
  expect(lines.join('\n')).not.toContain(TOKEN);
  expect(lines.join('\n')).not.toContain('wrong-token-123');
});

async function fake(options: FakeAntennaOptions): Promise<FakeAntenna> {
  const f = await FakeAntenna.start(options);
  fakes.push(f);
  return f;
}

function worker(
  f: FakeAntenna,
  overrides: Parameters<typeof testOptions>[1] = {},
  service: ProcessingService = svc.service,
): PullWorker {
  const w = new PullWorker(testOptions(f, overrides), {
    service,
    engine: svc.engine,
    info: svc.info,
    logger,
  });
  workers.push(w);
  void w.start();
  return w;
}

const good = (n: number): { id: string; url: string } => ({
  id: String(1000 + n),
  url: images.url(`/img/64x48.jpg?n=${n}`),
});
const broken = (n: number): { id: string; url: string } => ({
  id: String(1000 + n),
  url: images.url(`/missing/${n}.jpg`),
});

/** Every reply subject handed out got exactly one accepted result, and nothing else was accepted. */
function expectOneResultPerDelivery(f: FakeAntenna, jobId: number): void {
  const counts = f.acceptedPerReplySubject();
  const handed = f.handedOut(jobId);
  expect(handed.length).toBeGreaterThan(0);
  for (const subject of handed) expect([subject, counts.get(subject)]).toEqual([subject, 1]);
  expect(counts.size).toBe(handed.length);
  expect(f.problems).toEqual([]);
}

test('a job of 50 tasks with broken images and 503s: one accepted result per task, failures as {error, image_id}', async () => {
  const brokenIds = new Set([3, 11, 12, 29, 44]);
  const f = await fake({
    token: TOKEN,
    fault: (endpoint, call) =>
      (endpoint === 'tasks' && [2, 5].includes(call)) || (endpoint === 'result' && [1, 3].includes(call))
        ? 503
        : null,
  });
  const imgs = Array.from({ length: 50 }, (_, i) => (brokenIds.has(i) ? broken(i) : good(i)));
  f.addJob({ id: 42, pipelineSlug: 'constant', images: imgs });
  f.addJob({ id: 43, pipelineSlug: null, images: [good(100)] });
  const w = worker(f);
  await f.waitFor(() => f.isComplete(42));
  await w.stop();

  expectOneResultPerDelivery(f, 42);
  expect(f.deliveries(42).every((d) => d === 1)).toBe(true);
  expect(f.accepted).toHaveLength(50);
  for (const [i, img] of imgs.entries()) {
    const r = f.accepted.find((a) => a.imageId === img.id)!.result;
    if (brokenIds.has(i)) {
      expect(r).toEqual({ error: expect.stringContaining('404') as string, image_id: img.id });
      expect(r.error).toContain(img.id);
    } else {
      expect(r).toMatchObject({
        pipeline: 'constant',
        algorithms: {},
        source_images: [{ id: img.id, url: img.url }],
      });
      expect(r.detections).toEqual([
        expect.objectContaining({ source_image_id: img.id, bbox: expect.any(Object) as object }),
      ]);
      expect(typeof r.total_time).toBe('number');
    }
  }
  // Both injected /result/ 503s were re-posted with the very same bytes, and accepted.
  const failed = f.resultPosts.filter((p) => p.status === 503);
  expect(failed).toHaveLength(2);
  for (const p of failed) expect(f.resultPosts.some((q) => q.status === 200 && q.raw === p.raw)).toBe(true);
  expect(f.resultPosts.filter((p) => p.status === 200).every((p) => !p.raw.startsWith('['))).toBe(true);
  // batch_size is an integer, client_info is sent, the null-slug job is never asked for tasks.
  expect(
    f.taskRequests.every((b) => Number.isInteger(b.batch_size) && typeof b.client_info === 'object'),
  ).toBe(true);
  expect(f.requests.some((r) => r.path.startsWith('/api/v2/jobs/43/'))).toBe(false);
  // Every call carried the credentials and used the trailing slash (no 301 round trips).
  expect(f.requests.every((r) => r.authorization === `Token ${TOKEN}`)).toBe(true);
  expect(f.requests.some((r) => r.status === 301)).toBe(false);
  // `next` is never followed.
  expect(f.requests.some((r) => r.path.includes('offset='))).toBe(false);
});

test('registration sends exactly the /info pipelines to every project, retrying after a failure', async () => {
  const f = await fake({
    token: TOKEN,
    fault: (endpoint, call) => (endpoint === 'register' && call === 1 ? 503 : null),
  });
  const w = worker(f);
  await f.waitFor(() => f.registrations.length === 2);
  await w.stop();
  expect(
    f.requests
      .filter((r) => r.path.includes('/pipelines/'))
      .map((r) => r.status)
      .sort(),
  ).toEqual([201, 201, 503]);
  const expected = JSON.parse(JSON.stringify(svc.info.pipelines)) as unknown;
  expect(f.registrations.map((r) => r.projectId).sort()).toEqual(['1', '2']);
  for (const r of f.registrations) {
    expect(r.body).toEqual({ processing_service_name: 'TF.js worker (test-host)', pipelines: expected });
  }
});

test('stopped mid-job and started again: nothing is lost and nothing is posted twice', async () => {
  const f = await fake({ token: TOKEN });
  // Images answer after 40 ms, so the job is still running when the stop comes.
  const imgs = Array.from({ length: 40 }, (_, i) => ({
    id: String(3000 + i),
    url: images.url(`/delay/40.jpg?n=${i}`),
  }));
  f.addJob({ id: 7, pipelineSlug: 'constant', images: imgs });
  const first = worker(f, { batchSize: 4 });
  await f.waitFor(() => f.ackedCount(7) >= 8);
  // Antenna is briefly unreachable while the worker shuts down: the batch in hand is still posted.
  f.unavailable = true;
  const stopped = first.stop();
  setTimeout(() => (f.unavailable = false), 100);
  await stopped;
  const afterStop = f.ackedCount(7);
  expect(afterStop).toBeLessThan(40);
  expect(f.handedOut(7)).toHaveLength(afterStop); // every reserved task has its result: none waits for redelivery
  expect(lines.some((l) => l.includes('pull worker stopped'))).toBe(true);

  worker(f, { batchSize: 4 });
  await f.waitFor(() => f.isComplete(7));
  expectOneResultPerDelivery(f, 7);
  expect(f.ackedCount(7)).toBe(40);
  expect(f.deliveries(7).every((d) => d === 1)).toBe(true);
});

test('redelivered tasks (visibility timeout) and a duplicate image in one batch each get exactly one result', async () => {
  const f = await fake({ token: TOKEN, visibilityTimeoutMs: 500 });
  const imgs = [good(1), good(2), good(3), good(1)];
  f.addJob({ id: 9, pipelineSlug: 'constant', images: imgs });
  // Another worker reserves two tasks and dies without posting.
  const other = new AntennaClient({
    baseUrl: f.apiUrl,
    token: TOKEN,
    authScheme: 'Token',
    timeoutMs: 2000,
    userAgent: 'dead-worker',
  });
  await other.reserveTasks(9, 2, { hostname: 'x', software: 'x', version: '0', platform: 'x' });
  await other.close();
  const orphaned = f.handedOut(9);
  worker(f);
  await f.waitFor(() => f.isComplete(9));
  expect(f.deliveries(9)).toEqual([2, 2, 1, 1]);
  const counts = f.acceptedPerReplySubject();
  for (const s of orphaned) expect(counts.has(s)).toBe(false);
  const fresh = f.handedOut(9).filter((s) => !orphaned.includes(s));
  expect(fresh).toHaveLength(4);
  for (const s of fresh) expect(counts.get(s)).toBe(1);
  // Both tasks of image 1001 got the same success result (the pipeline is deterministic).
  const of1001 = f.accepted.filter((a) => a.imageId === '1001').map((a) => a.result);
  expect(of1001).toHaveLength(2);
  expect((of1001[0].detections as { bbox: unknown }[])[0].bbox).toEqual(
    (of1001[1].detections as { bbox: unknown }[])[0].bbox,
  );
  expect(f.problems).toEqual([]);
});

test('a batch holding the same image twice (redelivery) posts one result per task', async () => {
  const f = await fake({ token: TOKEN });
  f.addJob({ id: 10, pipelineSlug: 'constant', images: [good(5), good(6), good(5)] });
  const w = worker(f);
  await f.waitFor(() => f.isComplete(10));
  await w.stop();
  expect(f.taskRequests[0].batch_size).toBeGreaterThanOrEqual(3); // so the first batch held all three tasks
  expectOneResultPerDelivery(f, 10);
  const of1005 = f.accepted.filter((a) => a.imageId === '1005');
  expect(of1005).toHaveLength(2);
  expect(of1005[0].replySubject).not.toBe(of1005[1].replySubject);
  expect(of1005.map((a) => (a.result.detections as unknown[]).length)).toEqual([1, 1]);
});

test('a batch the pipeline fails as a whole is re-run image by image, so only the bad image fails', async () => {
  // STRICT_IMAGE_ERRORS turns one broken image into a failure of the whole request.
  const strict = new ProcessingService({
    engine: svc.engine,
    fetcher: svc.fetcher,
    downloadConcurrency: 4,
    strictImageErrors: true,
  });
  const f = await fake({ token: TOKEN });
  f.addJob({ id: 11, pipelineSlug: 'constant', images: [good(1), broken(2), good(3)] });
  const w = worker(f, {}, strict);
  await f.waitFor(() => f.isComplete(11));
  await w.stop();
  expectOneResultPerDelivery(f, 11);
  // The healthy images are posted as soon as they are done; only the bad one runs again, alone.
  expect(f.accepted.map((a) => [a.imageId, 'error' in a.result])).toEqual([
    ['1001', false],
    ['1003', false],
    ['1002', true],
  ]);
  expect(f.accepted[2].result.error).toMatch(/^image 1002: pipeline constant failed: .*404/);
});

test('a batch that risks the visibility timeout is logged and the next batches are smaller', async () => {
  const f = await fake({ token: TOKEN });
  const slow = Array.from({ length: 12 }, (_, i) => ({
    id: String(2000 + i),
    url: images.url(`/delay/250.jpg?n=${i}`),
  }));
  f.addJob({ id: 12, pipelineSlug: 'constant', images: slow });
  const mark = lines.length;
  // A 0.4 s timeout: a batch may use 0.2 s, and one download alone takes 0.25 s.
  const w = worker(f, { batchSize: 8, visibilityTimeoutS: 0.4 });
  await f.waitFor(() => f.isComplete(12));
  await w.stop();
  const warnings = lines
    .slice(mark)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => typeof l.msg === 'string' && l.msg.includes('visibility timeout'));
  expect(warnings[0]).toMatchObject({
    level: 40,
    previousBatchSize: 8,
    batchSize: expect.any(Number) as number,
  });
  expect(warnings[0].batchSize).toBeLessThan(8);
  expect(f.taskRequests.map((b) => b.batch_size).slice(0, 2)).toEqual([8, warnings[0].batchSize]);
});

test('/tasks/ 400 for a job that is not async_api: the job is skipped, others are served', async () => {
  const f = await fake({ token: TOKEN, ignoreDispatchMode: true });
  f.addJob({ id: 1, pipelineSlug: 'constant', dispatchMode: 'sync_api', images: [good(1)] });
  f.addJob({ id: 2, pipelineSlug: 'constant', images: [good(2), good(3)] });
  const w = worker(f);
  const askedJob1 = (): boolean => f.requests.some((r) => r.path === '/api/v2/jobs/1/tasks/');
  await f.waitFor(() => f.isComplete(2) && askedJob1());
  await new Promise((r) => setTimeout(r, 100)); // a few more polls: job 1 stays skipped
  await w.stop();
  expect(f.requests.filter((r) => r.path === '/api/v2/jobs/1/tasks/').map((r) => r.status)).toEqual([400]);
  expect(f.accepted.map((a) => a.imageId).sort()).toEqual(['1002', '1003']);
});

test('a wrong token: every call is refused with 401, the worker backs off and logs the failure without the token', async () => {
  const f = await fake({ token: TOKEN });
  f.addJob({ id: 5, pipelineSlug: 'constant', images: [good(1)] });
  const mark = lines.length;
  const w = worker(f, { token: 'wrong-token-123' });
  await f.waitFor(() => f.requests.filter((r) => r.status === 401).length >= 4);
  await w.stop();
  const logged = lines.slice(mark).join('\n');
  expect(logged).toContain('HTTP 401');
  expect(logged).not.toContain('wrong-token-123');
  expect(f.accepted).toEqual([]);
});
