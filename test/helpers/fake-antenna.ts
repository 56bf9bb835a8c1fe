/**
 * A fake of Antenna's pull-mode API (docs/antenna-protocol.md#pull-mode) on 127.0.0.1 with an ephemeral port, for the worker tests.
 * It implements the quirks a worker must survive:
 *   - token auth on every call (401 without a header or with a wrong token), checked after
 *   - the trailing-slash 301 redirect (Django's APPEND_SLASH),
 *   - `GET /jobs/?ids_only=1`: one random matching job per call, with the total `count` and a `next` link,
 *   - `POST /jobs/{id}/tasks/`: DRF-style `batch_size` validation, `{"tasks": []}` when nothing is available,
 *     400 for sync jobs and jobs without a pipeline, 503 while the queue is "unavailable",
 *   - redelivery of tasks not acknowledged within the visibility timeout, at most `maxDeliveries` times,
 *   - `POST /jobs/{id}/result/`: Antenna's validation (400 for a bare array, a missing `reply_subject` or
 *     `result`, or an item that fits neither the success nor the error shape; the whole request then queues
 *     nothing), acknowledgement of accepted results,
 *   - `POST /projects/{id}/pipelines/`: 201, or a non-JSON 500 for a classifier without a category map.
 * Faults (e.g. a 503 on the 3rd `/result/` call) are injected with `fault`. Everything it saw is recorded for
 * assertions, and `problems` lists accepted results Antenna would save wrongly
 * (docs/antenna-protocol.md#result-envelope, #processed-images).
 */
import { randomUUID } from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';

export type Endpoint = 'register' | 'jobs' | 'tasks' | 'result';

export interface FakeAntennaOptions {
  token: string;
  /** Authorization scheme expected before the token. */
  scheme?: string;
  /** How long a delivered task stays reserved (Antenna: 300 s). */
  visibilityTimeoutMs?: number;
  /** Deliveries per task, the first included (Antenna: 2). */
  maxDeliveries?: number;
  /** Status to answer instead of the real one for the `call`-th request (1-based) to `endpoint`, or null. */
  fault?: (endpoint: Endpoint, call: number) => number | null;
  /** List jobs of any dispatch mode (an Antenna that ignores `dispatch_mode`), to reach the 400 of sync jobs. */
  ignoreDispatchMode?: boolean;
  /**
   * How the `call`-th `/result/` POST (1-based) that Antenna accepts is answered: after `delayMs` (the results
   * are stored at once, as Antenna queues them before it answers), with a non-JSON 200 body, and/or with the
   * status line and the first half of the body at once and the rest `holdBodyMs` later.
   */
  resultAnswer?: (call: number) => { delayMs?: number; nonJson?: boolean; holdBodyMs?: number } | null;
}

export interface FakeJobInput {
  id: number;
  pipelineSlug: string | null;
  images: { id: string; url: string }[];
  dispatchMode?: 'async_api' | 'sync_api';
}

interface TaskState {
  imageId: string;
  url: string;
  seq: number;
  deliveries: number;
  reservedUntil: number;
  acked: boolean;
  replySubjects: string[];
}

interface JobState {
  id: number;
  pipelineSlug: string | null;
  dispatchMode: 'async_api' | 'sync_api';
  tasks: TaskState[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  status: number;
  authorization: string | undefined;
}

export interface AcceptedResult {
  jobId: number;
  replySubject: string;
  imageId: string;
  result: Record<string, unknown>;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';

/** Antenna's success shape (pydantic PipelineResultsResponse, loosely). */
function fitsSuccess(r: Json): boolean {
  if (!isString(r.pipeline) || typeof r.total_time !== 'number') return false;
  if (!Array.isArray(r.source_images) || !Array.isArray(r.detections)) return false;
  if (!r.source_images.every((s) => isObject(s) && isString(s.id) && isString(s.url))) return false;
  return r.detections.every(
    (d) =>
      isObject(d) &&
      isString(d.source_image_id) &&
      isString(d.timestamp) &&
      isObject(d.algorithm) &&
      isString(d.algorithm.name) &&
      isString(d.algorithm.key) &&
      (d.bbox === null || d.bbox === undefined || isObject(d.bbox)) &&
      (d.classifications === undefined ||
        (Array.isArray(d.classifications) &&
          d.classifications.every(
            (c) =>
              isObject(c) && isString(c.classification) && isString(c.timestamp) && isObject(c.algorithm),
          ))),
  );
}

/** Antenna's error shape. */
const fitsError = (r: Json): boolean => isString(r.error) && (r.image_id === null || isString(r.image_id));

/** DRF IntegerField: ints, "5" and 5.0 pass; the message of the first failure otherwise. */
function batchSizeProblem(body: Json): string | number {
  if (!('batch_size' in body)) return 'This field is required.';
  const v = body.batch_size;
  if (v === null) return 'This field may not be null.';
  const n = typeof v === 'number' ? v : isString(v) && /^\s*-?\d+(\.0*)?\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n)) return 'A valid integer is required.';
  if (n < 1) return 'Ensure this value is greater than or equal to 1.';
  return n;
}

export class FakeAntenna {
  /** Every request, in order. */
  readonly requests: RecordedRequest[] = [];
  /** Registration bodies, as parsed JSON, with their project id. */
  readonly registrations: { projectId: string; body: Json }[] = [];
  /** `/tasks/` request bodies. */
  readonly taskRequests: Json[] = [];
  /** Every `/result/` POST, raw, with the status it got. */
  readonly resultPosts: { jobId: number; raw: string; status: number }[] = [];
  /** Results accepted (answered 200), one entry per item. */
  readonly accepted: AcceptedResult[] = [];
  /** Accepted results Antenna would save wrongly or not match to a task. */
  readonly problems: string[] = [];
  /** While true, `/tasks/` and `/result/` answer 503. */
  unavailable = false;

  private readonly jobs = new Map<number, JobState>();
  private readonly calls = new Map<Endpoint, number>();
  private acceptedPosts = 0;
  private server!: http.Server;
  private base = '';

  private constructor(private readonly options: FakeAntennaOptions) {}

  static async start(options: FakeAntennaOptions): Promise<FakeAntenna> {
    const fake = new FakeAntenna(options);
    fake.server = http.createServer((req, res) => fake.handle(req, res));
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.base = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  /** The API base, as ANTENNA_API_URL. */
  get apiUrl(): string {
    return `${this.base}/api/v2`;
  }

  addJob(input: FakeJobInput): void {
    this.jobs.set(input.id, {
      id: input.id,
      pipelineSlug: input.pipelineSlug,
      dispatchMode: input.dispatchMode ?? 'async_api',
      tasks: input.images.map((img, i) => ({
        imageId: img.id,
        url: img.url,
        seq: i + 1,
        deliveries: 0,
        reservedUntil: 0,
        acked: false,
        replySubjects: [],
      })),
    });
  }

  /** True when every task is acknowledged, or out of deliveries and no longer reserved. */
  isComplete(jobId: number): boolean {
    const job = this.jobs.get(jobId);
    if (!job) return true;
    const now = Date.now();
    const max = this.options.maxDeliveries ?? 2;
    return job.tasks.every((t) => t.acked || (t.deliveries >= max && t.reservedUntil <= now));
  }

  /** Tasks acknowledged so far. */
  ackedCount(jobId: number): number {
    return this.jobs.get(jobId)?.tasks.filter((t) => t.acked).length ?? 0;
  }

  /** Deliveries of each task of a job, in task order. */
  deliveries(jobId: number): number[] {
    return (this.jobs.get(jobId)?.tasks ?? []).map((t) => t.deliveries);
  }

  /** Accepted results per reply subject. */
  acceptedPerReplySubject(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const a of this.accepted) counts.set(a.replySubject, (counts.get(a.replySubject) ?? 0) + 1);
    return counts;
  }

  /** Every reply subject handed out. */
  handedOut(jobId: number): string[] {
    return (this.jobs.get(jobId)?.tasks ?? []).flatMap((t) => t.replySubjects);
  }

  /** Calls seen so far per endpoint. */
  callCount(endpoint: Endpoint): number {
    return this.calls.get(endpoint) ?? 0;
  }

  /** Polls `predicate` every 10 ms until it holds or `timeoutMs` passes. */
  async waitFor(predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
    const t0 = Date.now();
    while (!predicate()) {
      if (Date.now() - t0 > timeoutMs) throw new Error('FakeAntenna.waitFor: timed out');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', this.base);
      const send = (
        status: number,
        body: unknown,
        headers: Record<string, string> = {},
        holdBodyMs = 0,
      ): void => {
        this.requests.push({
          method: req.method ?? '',
          path: url.pathname + url.search,
          status,
          authorization: req.headers.authorization,
        });
        const text = typeof body === 'string' ? body : JSON.stringify(body);
        const type = typeof body === 'string' ? 'text/html; charset=utf-8' : 'application/json';
        res.writeHead(status, { 'content-type': type, ...headers });
        if (holdBodyMs <= 0) return void res.end(text);
        const half = Math.floor(text.length / 2);
        res.write(text.slice(0, half));
        setTimeout(() => res.end(text.slice(half)), holdBodyMs);
      };
      this.route(req, url, Buffer.concat(chunks).toString('utf8'), send);
    });
  }

  private route(
    req: http.IncomingMessage,
    url: URL,
    raw: string,
    send: (status: number, body: unknown, headers?: Record<string, string>, holdBodyMs?: number) => void,
  ): void {
    // Django's APPEND_SLASH answers before authentication.
    if (!url.pathname.endsWith('/')) {
      return send(301, '', { location: `${url.pathname}/${url.search}` });
    }
    const expected = `${this.options.scheme ?? 'Token'} ${this.options.token}`;
    const auth = req.headers.authorization;
    if (auth === undefined)
      return send(
        401,
        { detail: 'Authentication credentials were not provided.' },
        { 'www-authenticate': 'Token' },
      );
    if (auth !== expected) return send(401, { detail: 'Invalid token.' }, { 'www-authenticate': 'Token' });

    const register = /^\/api\/v2\/projects\/(\d+)\/pipelines\/$/.exec(url.pathname);
    const tasks = /^\/api\/v2\/jobs\/(\d+)\/tasks\/$/.exec(url.pathname);
    const result = /^\/api\/v2\/jobs\/(\d+)\/result\/$/.exec(url.pathname);
    const endpoint: Endpoint | null =
      register && req.method === 'POST'
        ? 'register'
        : url.pathname === '/api/v2/jobs/' && req.method === 'GET'
          ? 'jobs'
          : tasks && req.method === 'POST'
            ? 'tasks'
            : result && req.method === 'POST'
              ? 'result'
              : null;
    if (endpoint === null) return send(404, { detail: 'Not found.' });
    const call = (this.calls.get(endpoint) ?? 0) + 1;
    this.calls.set(endpoint, call);
    const jobId = Number((tasks ?? result)?.[1]);
    const faulted = this.options.fault?.(endpoint, call) ?? null;
    const down = this.unavailable && (endpoint === 'tasks' || endpoint === 'result');
    if (faulted !== null || down) {
      const status = faulted ?? 503;
      if (endpoint === 'result') this.resultPosts.push({ jobId, raw, status });
      if (status === 503 && endpoint === 'tasks')
        return send(503, { error: 'Task queue temporarily unavailable' });
      if (status === 503 && endpoint === 'result')
        return send(503, { status: 'error', job_id: jobId, detail: 'Task queue temporarily unavailable' });
      return send(status, status >= 500 ? '<h1>Server Error</h1>' : { detail: 'injected fault' });
    }
    let body: unknown = null;
    if (req.method === 'POST') {
      try {
        body = raw === '' ? {} : JSON.parse(raw);
      } catch {
        return send(400, { detail: 'JSON parse error' });
      }
    }
    switch (endpoint) {
      case 'register':
        return this.register(register![1], body, send);
      case 'jobs':
        return this.listJobs(url, send);
      case 'tasks':
        return this.reserve(jobId, body, send);
      case 'result':
        return this.results(jobId, raw, body, send);
    }
  }

  private register(projectId: string, body: unknown, send: (s: number, b: unknown) => void): void {
    if (!isObject(body) || !isString(body.processing_service_name) || !Array.isArray(body.pipelines ?? [])) {
      return send(400, { processing_service_name: ['This field is required.'] });
    }
    const pipelines = (body.pipelines ?? []) as Json[];
    const mapless = pipelines.some((p) =>
      ((p.algorithms ?? []) as Json[]).some(
        (a) => a.task_type === 'classification' && (a.category_map === null || a.category_map === undefined),
      ),
    );
    if (mapless) return send(500, '<h1>Server Error (500)</h1>');
    this.registrations.push({ projectId, body });
    return send(201, {
      timestamp: new Date().toISOString(),
      success: true,
      error: null,
      pipelines,
      pipelines_created: pipelines.map((p) => p.slug),
      algorithms_created: [],
    });
  }

  private listJobs(url: URL, send: (s: number, b: unknown) => void): void {
    const q = url.searchParams;
    const slugs = (q.get('pipeline__slug__in') ?? '').split(',').filter((s) => s !== '');
    const truthy = (k: string): boolean => ['1', 'true'].includes(q.get(k) ?? '');
    const matches = [...this.jobs.values()].filter(
      (j) =>
        // Antenna can list jobs whose pipeline is unset (docs/antenna-protocol.md#finding-jobs): the worker must
        // skip them.
        (slugs.length === 0 || j.pipelineSlug === null || slugs.includes(j.pipelineSlug)) &&
        (!truthy('incomplete_only') || !this.isComplete(j.id)) &&
        (this.options.ignoreDispatchMode ||
          !q.has('dispatch_mode') ||
          q.get('dispatch_mode') === j.dispatchMode),
    );
    const view = (j: JobState): Json => ({
      id: j.id,
      pipeline_slug: j.pipelineSlug,
      user_permissions: ['update', 'delete', 'run'],
    });
    if (truthy('ids_only') && !q.has('limit')) {
      // The quirk: shuffled, one job per call; `next` must not be followed.
      const pick = matches[Math.floor(Math.random() * matches.length)];
      const next = new URL(url.toString());
      next.searchParams.set('limit', '1');
      next.searchParams.set('offset', '1');
      return send(200, {
        count: matches.length,
        next: matches.length > 1 ? next.toString() : null,
        previous: null,
        results: pick ? [view(pick)] : [],
        user_permissions: ['create'],
      });
    }
    return send(200, {
      count: matches.length,
      next: null,
      previous: null,
      results: matches.map(view),
      user_permissions: ['create'],
    });
  }

  private reserve(jobId: number, body: unknown, send: (s: number, b: unknown) => void): void {
    const job = this.jobs.get(jobId);
    if (!job) return send(404, { detail: 'No Job matches the given query.' });
    if (!isObject(body))
      return send(400, { non_field_errors: ['Invalid data. Expected a dictionary, but got list.'] });
    this.taskRequests.push(body);
    const size = batchSizeProblem(body);
    if (typeof size === 'string') return send(400, { batch_size: [size] });
    if (job.dispatchMode !== 'async_api') return send(400, ['Only async_api jobs have fetchable tasks']);
    if (job.pipelineSlug === null) return send(400, ['This job does not have a pipeline configured']);
    const now = Date.now();
    const max = this.options.maxDeliveries ?? 2;
    const available = job.tasks
      .filter((t) => !t.acked && t.deliveries < max && t.reservedUntil <= now)
      .slice(0, size);
    const out = available.map((t) => {
      t.deliveries++;
      t.reservedUntil = now + (this.options.visibilityTimeoutMs ?? 300_000);
      const pending = job.tasks.filter((x) => !x.acked).length - 1;
      const subject = `$JS.ACK.job_${job.id}.job-${job.id}-consumer.1.${t.seq}.${t.deliveries}.${now}${String(t.seq).padStart(6, '0')}.${pending}`;
      t.replySubjects.push(subject);
      return { id: t.imageId, image_id: t.imageId, image_url: t.url, reply_subject: subject };
    });
    return send(200, { tasks: out });
  }

  private results(
    jobId: number,
    raw: string,
    body: unknown,
    send: (s: number, b: unknown, headers?: Record<string, string>, holdBodyMs?: number) => void,
  ): void {
    const job = this.jobs.get(jobId);
    const reply = (status: number, b: unknown, holdBodyMs = 0): void => {
      this.resultPosts.push({ jobId, raw, status });
      send(status, b, {}, holdBodyMs);
    };
    if (!job) return reply(404, { detail: 'No Job matches the given query.' });
    if (!isObject(body))
      return reply(400, { non_field_errors: ['Invalid data. Expected a dictionary, but got list.'] });
    if (!Array.isArray(body.results)) return reply(400, { results: ['This field is required.'] });
    const items = body.results as unknown[];
    for (const [i, item] of items.entries()) {
      if (!isObject(item) || !isString(item.reply_subject))
        return reply(400, { results: { [i]: { reply_subject: ['This field is required.'] } } });
      if (!isObject(item.result))
        return reply(400, { results: { [i]: { result: ['This field is required.'] } } });
      if (!fitsSuccess(item.result) && !fitsError(item.result))
        return reply(400, { results: { [i]: { result: ['Invalid result.'] } } });
    }
    const queued = (items as { reply_subject: string; result: Json }[]).map((item) => {
      const task = job.tasks.find((t) => t.replySubjects.includes(item.reply_subject));
      const r = item.result;
      const imageId = fitsSuccess(r)
        ? ((r.source_images as Json[])[0]?.id as string | undefined)
        : (r.image_id as string | null);
      if (!task) this.problems.push(`unknown reply_subject ${item.reply_subject}`);
      else {
        task.acked = true;
        if (imageId !== task.imageId)
          this.problems.push(
            `result for ${String(imageId)} posted with the reply_subject of ${task.imageId}`,
          );
        if (fitsSuccess(r)) {
          const images = r.source_images as Json[];
          if (images.length !== 1 || images[0].url !== task.url)
            this.problems.push(`source_images of ${task.imageId} is not [task image]`);
          if (r.pipeline !== job.pipelineSlug)
            this.problems.push(`pipeline ${String(r.pipeline)} is not the job's ${String(job.pipelineSlug)}`);
          if ((r.detections as Json[]).some((d) => d.source_image_id !== task.imageId))
            this.problems.push(`stray detection in ${task.imageId}`);
        }
      }
      this.accepted.push({ jobId, replySubject: item.reply_subject, imageId: String(imageId), result: r });
      return { reply_subject: item.reply_subject, status: 'queued', task_id: randomUUID() };
    });
    const answer = this.options.resultAnswer?.(++this.acceptedPosts);
    const answerBody = answer?.nonJson
      ? '<html><body>OK</body></html>'
      : { status: 'accepted', job_id: jobId, results_queued: queued.length, tasks: queued };
    const hold = answer?.holdBodyMs ?? 0;
    if (answer?.delayMs) setTimeout(() => reply(200, answerBody, hold), answer.delayMs);
    else reply(200, answerBody, hold);
  }
}
