/**
 * The pull-mode worker (docs/antenna-protocol.md#worker-loop): registers its pipelines with each project, then
 * loops
 *   find a job → reserve a batch of tasks → download and run the pipeline on the whole batch → post one
 *   result per task
 * over the same ProcessingService as `POST /process`. Antenna being down or busy (no answer, 5xx, 503) only
 * slows the loop down (backoff with jitter); results are kept until Antenna accepts them (ResultOutbox).
 *
 * `stop()` stops reserving, lets the batch in hand finish, posts its results within the grace period and
 * resolves; it never abandons a reserved task while Antenna can still be reached.
 */
import type { ProcessingServiceInfoResponse } from '../contract/types';
import { createAjv } from '../contract/validators';
import { ServiceError } from '../errors';
import type { InferenceEngine } from '../runtime/engine';
import type { ProcessingService } from '../service/processing-service';
import type { Logger } from '../util/logger';
import { secondsSince } from '../util/time';
import { AntennaApiError, AntennaClient } from './antenna-client';
import { Backoff, sleep } from './backoff';
import { BatchSizer } from './batch-sizer';
import type { PullWorkerOptions } from './options';
import { ResultOutbox } from './result-outbox';
import { BatchResults } from './batch-results';
import { errorItem } from './results';
import { compilePullValidators, type PullValidators } from './schemas';
import type { JobSummary, PullTask, ResultItem } from './types';

export interface PullWorkerDeps {
  service: ProcessingService;
  engine: InferenceEngine;
  /** The /info body; registration sends its pipelines unchanged. */
  info: ProcessingServiceInfoResponse;
  logger: Logger;
}

/** Per-job progress, for the log line after each batch. */
interface JobProgress {
  done: number;
  failed: number;
  since: number;
}

/** Batches whose results may still be posting while the next batch is reserved and processed. */
const MAX_PENDING_POSTS = 1;
/** How long a job that Antenna refuses to hand tasks out for is left alone. */
const SKIP_MS = 10 * 60_000;
/** Jobs whose progress counters are kept. */
const MAX_TRACKED_JOBS = 100;
/** Registration attempts for a project that answers with a non-retryable error. */
const REGISTER_ATTEMPTS = 3;

/** The engine could not run the work at all (not the images' fault): the inference thread is down or the
 * process is stopping. */
const engineDown = (err: unknown): boolean =>
  err instanceof ServiceError && (err.code === 'PIPELINE_UNAVAILABLE' || err.code === 'SHUTTING_DOWN');

/**
 * 400 answers of `/tasks/` that mean "this job is not for a pull worker"
 * (docs/antenna-protocol.md#reserving-tasks).
 */
const isSkippable = (err: AntennaApiError): boolean => err.status === 400 || err.status === 404;

export class PullWorker {
  private readonly client: AntennaClient;
  private readonly outbox: ResultOutbox;
  private readonly sizer: BatchSizer;
  private readonly validators: PullValidators;
  private readonly stopSignal = new AbortController();
  private readonly skipped = new Map<string, number>();
  private readonly progress = new Map<string, JobProgress>();
  private readonly logger: Logger;
  private loop: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;

  constructor(
    private readonly options: PullWorkerOptions,
    private readonly deps: PullWorkerDeps,
  ) {
    this.logger = deps.logger.child({ component: 'pull-worker' });
    const served = deps.info.pipelines.map((p) => p.slug);
    const unknown = options.pipelines.filter((s) => !served.includes(s));
    if (unknown.length > 0) {
      throw new Error(
        `WORKER_PIPELINES names pipelines this service does not serve: ${unknown.join(', ')} (served: ${served.join(', ')})`,
      );
    }
    this.client = new AntennaClient({
      baseUrl: options.apiUrl,
      token: options.token,
      authScheme: options.authScheme,
      timeoutMs: options.requestTimeoutMs,
      userAgent: options.userAgent,
    });
    this.outbox = new ResultOutbox({
      client: this.client,
      logger: this.logger,
      backoff: options.backoff,
      clientInfo: options.clientInfo,
      maxBodyBytes: options.resultMaxBytes,
      postTimeoutMs: options.resultTimeoutMs,
    });
    this.sizer = new BatchSizer({
      maxSize: options.batchSize,
      visibilityTimeoutS: options.visibilityTimeoutS,
    });
    this.validators = compilePullValidators(createAjv());
  }

  /** Starts the loop in the background. `done` settles when it ends (after `stop()`, or a fatal setup error). */
  start(): Promise<void> {
    this.loop ??= this.run();
    return this.loop;
  }

  /** Stops reserving tasks, finishes the batch in hand, posts pending results (within the grace period). */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const t0 = performance.now();
      this.logger.info(
        { pendingResults: this.outbox.pendingResults },
        'pull worker stopping: finishing the batch in hand',
      );
      this.stopSignal.abort();
      await this.loop?.catch(() => undefined);
      const left = Math.max(1000, this.options.shutdownGraceMs - (performance.now() - t0));
      await this.outbox.drain(left);
      await this.client.close();
      this.logger.info('pull worker stopped');
    })();
    return this.stopping;
  }

  private get stopped(): boolean {
    return this.stopSignal.signal.aborted;
  }

  private async run(): Promise<void> {
    const slugs = await this.readyPipelines();
    if (this.stopped) return;
    await this.registerAll(slugs);
    const polls = new Backoff(this.options.backoff);
    while (!this.stopped) {
      let job: JobSummary | null;
      try {
        job = await this.findJob(slugs);
        polls.reset();
      } catch (err) {
        if (this.stopped) break;
        const delay = polls.next();
        this.logger.warn(
          { error: (err as Error).message, retryInMs: Math.round(delay) },
          'looking for jobs failed; backing off',
        );
        await sleep(delay, this.stopSignal.signal);
        continue;
      }
      const handled = job ? await this.drainJob(job) : 0;
      if (handled === 0) await sleep(this.options.pollIntervalMs, this.stopSignal.signal);
    }
  }

  /** Waits for the served pipelines to compile; keeps those that load. Throws when none does. */
  private async readyPipelines(): Promise<string[]> {
    const wanted =
      this.options.pipelines.length > 0
        ? this.options.pipelines
        : this.deps.info.pipelines.map((p) => p.slug);
    const stop = new Promise<void>((resolve) =>
      this.stopSignal.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    const states = await Promise.race([
      Promise.allSettled(wanted.map((s) => this.deps.engine.whenReady(s))),
      stop,
    ]);
    if (!states) return [];
    const ready = wanted.filter((_, i) => states[i].status === 'fulfilled');
    states.forEach((s, i) => {
      if (s.status === 'rejected')
        this.logger.error(
          { pipeline: wanted[i], error: String(s.reason) },
          `pipeline ${wanted[i]} is not served`,
        );
    });
    if (ready.length === 0)
      throw new Error(`none of the pipelines ${wanted.join(', ')} loaded; the pull worker cannot serve`);
    this.logger.info({ pipelines: ready }, `pull worker serving ${ready.join(', ')}`);
    return ready;
  }

  /**
   * docs/antenna-protocol.md#registering-pipelines: idempotent; once per project at startup, retried with
   * backoff.
   */
  private async registerAll(slugs: string[]): Promise<void> {
    const pipelines = this.deps.info.pipelines.filter((p) => slugs.includes(p.slug));
    const body = { processing_service_name: this.options.serviceName, pipelines };
    if (this.options.projectIds.length === 0) {
      this.logger.warn('ANTENNA_PROJECT_IDS is empty: no pipelines are registered (jobs are still served)');
    }
    await Promise.all(
      this.options.projectIds.map(async (project) => {
        const backoff = new Backoff(this.options.backoff);
        for (let attempt = 1; !this.stopped; attempt++) {
          try {
            const res = await this.client.registerPipelines(project, body, this.stopSignal.signal);
            this.logger.info(
              { project, status: res.status, pipelines: slugs, serviceName: body.processing_service_name },
              `registered ${slugs.length} pipelines with project ${project}`,
            );
            return;
          } catch (err) {
            if (this.stopped) return;
            const permanent = err instanceof AntennaApiError && !err.transient;
            if (permanent && attempt >= REGISTER_ATTEMPTS) {
              this.logger.error(
                { project, error: (err as Error).message },
                `registration with project ${project} failed; giving up on it`,
              );
              return;
            }
            const delay = backoff.next();
            this.logger.warn(
              { project, attempt, retryInMs: Math.round(delay), error: (err as Error).message },
              'registration failed; retrying',
            );
            await sleep(delay, this.stopSignal.signal);
          }
        }
      }),
    );
  }

  /**
   * One random incomplete job (docs/antenna-protocol.md#finding-jobs); `next` is never followed. Null when
   * there is none to serve.
   */
  private async findJob(slugs: string[]): Promise<JobSummary | null> {
    const res = await this.client.listJobs(slugs, this.stopSignal.signal);
    if (!this.validators.jobsList(res.body)) {
      throw new AntennaApiError('protocol', res.status, res.body, 'GET /jobs/: unexpected body');
    }
    const now = Date.now();
    for (const [id, until] of this.skipped) if (until < now) this.skipped.delete(id);
    const job = res.body.results.find(
      (j) => j.pipeline_slug !== null && slugs.includes(j.pipeline_slug) && !this.skipped.has(String(j.id)),
    );
    if (!job && res.body.results.length > 0)
      this.logger.debug({ jobs: res.body.results }, 'listed job is not served here; skipped');
    return job ?? null;
  }

  /** Reserves and processes batches of `job` until it has none left. Returns the number of tasks handled. */
  private async drainJob(job: JobSummary): Promise<number> {
    const backoff = new Backoff(this.options.backoff);
    let handled = 0;
    while (!this.stopped) {
      await this.outbox.waitForRoom(MAX_PENDING_POSTS, this.stopSignal.signal);
      if (this.stopped) break;
      let tasks: PullTask[];
      try {
        tasks = await this.reserve(job);
        backoff.reset();
      } catch (err) {
        const e = err as AntennaApiError;
        if (e.kind === 'http' && isSkippable(e)) {
          this.skipped.set(String(job.id), Date.now() + SKIP_MS);
          this.logger.warn(
            { job: job.id, status: e.status, error: e.message },
            `job ${job.id} has no tasks for pull workers; skipping it`,
          );
          return handled;
        }
        const delay = backoff.next();
        const level = e.status === 401 || e.status === 403 ? 'error' : 'warn';
        this.logger[level](
          { job: job.id, retryInMs: Math.round(delay), error: e.message },
          `reserving tasks of job ${job.id} failed; backing off`,
        );
        await sleep(delay, this.stopSignal.signal);
        if (e.status === 401 || e.status === 403) return handled;
        continue;
      }
      if (tasks.length === 0) break;
      // The batch in hand is finished even when a stop was requested meanwhile: its tasks are reserved.
      await this.runBatch(job, tasks);
      handled += tasks.length;
    }
    return handled;
  }

  /**
   * docs/antenna-protocol.md#reserving-tasks. Malformed tasks are logged and left to Antenna's redelivery.
   */
  private async reserve(job: JobSummary): Promise<PullTask[]> {
    const res = await this.client.reserveTasks(job.id, this.sizer.size, this.options.clientInfo);
    if (!this.validators.tasksResponse(res.body)) {
      throw new AntennaApiError(
        'protocol',
        res.status,
        res.body,
        `POST /jobs/${job.id}/tasks/: unexpected body`,
      );
    }
    const tasks: PullTask[] = [];
    for (const t of res.body.tasks) {
      if (this.validators.task(t)) tasks.push(t);
      else
        this.logger.error(
          { job: job.id, task: t },
          'task without a usable reply_subject, image_id or image_url; ignored',
        );
    }
    return tasks;
  }

  /**
   * Runs one batch through the pipeline and queues one result per task, each as soon as its image is done:
   * the first results are on their way to Antenna while the rest of the batch still runs.
   * Never throws. Tasks that could not run because the engine was down (inference thread restarting, process
   * exiting) get no result: Antenna hands them out again after the visibility timeout, so healthy images are
   * never reported failed for it.
   */
  private async runBatch(job: JobSummary, tasks: PullTask[]): Promise<void> {
    const t0 = performance.now();
    const batch: BatchResults = new BatchResults(tasks, (answers) => {
      const checked = answers.map(({ task, item }) => this.checked(item, task, job));
      // One group per batch: its results share posts, and the batch counts once in the outbox's size.
      this.outbox.enqueue(job.id, checked, batch);
      return checked;
    });
    try {
      // One request for the whole batch, so detection and classification batch across its images.
      await this.process(job, tasks, batch);
    } catch (err) {
      const message = (err as Error).message;
      const left = batch.unanswered();
      if (engineDown(err)) {
        this.leaveForRedelivery(job, left, message);
        this.finishBatch(job, batch, t0);
        return;
      }
      this.logger.error(
        { job: job.id, pipeline: job.pipeline_slug, error: message, unanswered: left.length },
        `pipeline ${job.pipeline_slug} failed on a batch of ${tasks.length}; running its ${left.length} unfinished images one by one`,
      );
      // Isolate the image that broke the batch (or STRICT_IMAGE_ERRORS turning one failure into a 500), so
      // the others still get their results. Images already answered are not run again.
      const down: PullTask[] = [];
      let downMessage = '';
      for (const task of left) {
        if (batch.answered(task)) continue; // a duplicate image of the batch, answered with its twin
        try {
          await this.process(job, [task], batch);
        } catch (e) {
          if (engineDown(e)) {
            down.push(task);
            downMessage = (e as Error).message;
            continue;
          }
          batch.answer([
            {
              task,
              item: errorItem(
                task,
                `image ${task.image_id}: pipeline ${job.pipeline_slug} failed: ${(e as Error).message}`,
              ),
            },
          ]);
        }
      }
      if (down.length > 0) this.leaveForRedelivery(job, down, downMessage);
    }
    this.finishBatch(job, batch, t0);
  }

  private finishBatch(job: JobSummary, batch: BatchResults, t0: number): void {
    if (batch.items.length > 0) this.report(job, batch.items, secondsSince(t0));
  }

  private leaveForRedelivery(job: JobSummary, tasks: PullTask[], reason: string): void {
    this.logger.warn(
      { job: job.id, pipeline: job.pipeline_slug, tasks: tasks.length, error: reason },
      `pipeline ${job.pipeline_slug} is unavailable for now; ${tasks.length} task(s) left for Antenna to hand out again`,
    );
  }

  /**
   * One ProcessingService call for `tasks` (no config, no existing detections:
   * docs/antenna-protocol.md#reserving-tasks). Each image's result is answered as soon as the image is done;
   * tasks the call returned without hearing of (an engine that does not report per image) are answered from
   * the whole response.
   */
  private async process(job: JobSummary, tasks: PullTask[], batch: BatchResults): Promise<void> {
    let heard = 0;
    const { response } = await this.deps.service.process(
      {
        pipeline: job.pipeline_slug as string,
        source_images: tasks.map((t) => ({ id: t.image_id, url: t.image_url })),
        config: {},
        detections: [],
      },
      (outcome) => {
        // `total_time`: the pipeline time so far, shared over the images done so far (Antenna only logs it).
        heard++;
        const ok = !('error' in outcome);
        batch.answerImage(outcome.image.id, {
          pipeline: job.pipeline_slug as string,
          total_time: ok ? outcome.seconds / heard : 0,
          algorithms: {},
          source_images: ok ? [outcome.image] : [],
          detections: ok ? outcome.detections : [],
          errors: ok ? null : [outcome.error],
        });
      },
    );
    batch.answerFrom(tasks, response);
  }

  /** Validates one item as Antenna will; a success that would not pass becomes an error result for its image. */
  private checked(item: ResultItem, task: PullTask, job: JobSummary): ResultItem {
    const problem = this.validators.resultItemProblem(item);
    if (problem === null) return item;
    this.logger.error(
      { job: job.id, image: task.image_id, problem },
      `result for image ${task.image_id} fails the result schema`,
    );
    return errorItem(task, `image ${task.image_id}: result failed validation: ${problem}`.slice(0, 1000));
  }

  /** One progress line per batch; adapts the batch size to the visibility timeout. */
  private report(job: JobSummary, items: ResultItem[], seconds: number): void {
    const key = String(job.id);
    const p = this.progress.get(key) ?? { done: 0, failed: 0, since: performance.now() - seconds * 1000 };
    this.progress.delete(key);
    this.progress.set(key, p); // most recent last; only the latest jobs are remembered
    if (this.progress.size > MAX_TRACKED_JOBS)
      this.progress.delete(this.progress.keys().next().value as string);
    const failed = items.filter((i) => 'error' in i.result).length;
    p.done += items.length - failed;
    p.failed += failed;
    const elapsed = (performance.now() - p.since) / 1000;
    const rate = elapsed > 0 ? (p.done + p.failed) / elapsed : 0;
    const obs = this.sizer.record(items.length, seconds);
    this.logger.info(
      {
        job: job.id,
        pipeline: job.pipeline_slug,
        batch: items.length,
        batchOk: items.length - failed,
        batchFailed: failed,
        batchSeconds: Number(seconds.toFixed(3)),
        done: p.done,
        failed: p.failed,
        tasksPerSecond: Number(rate.toFixed(2)),
        batchSize: obs.size,
      },
      `job ${job.id}: ${p.done} done, ${p.failed} failed, ${rate.toFixed(2)} tasks/s`,
    );
    if (obs.size < obs.previousSize || obs.overBudget) {
      this.logger.warn(
        {
          job: job.id,
          batchSeconds: Number(seconds.toFixed(3)),
          budgetSeconds: this.sizer.budgetSeconds,
          visibilityTimeoutS: this.options.visibilityTimeoutS,
          batchSize: obs.size,
          previousBatchSize: obs.previousSize,
        },
        `a batch of ${items.length} took ${seconds.toFixed(1)} s, near Antenna's ${this.options.visibilityTimeoutS} s visibility timeout; batch size ${obs.previousSize} → ${obs.size}`,
      );
    }
  }
}
