/**
 * Posts result batches to `POST /jobs/{id}/result/` and keeps each one in memory until Antenna has accepted it.
 * A post that fails for a reason a retry can fix (no answer, timeout, 5xx, 503) is re-sent later with backoff
 * and the same bytes (CONTRACT §6.6, §8 item 36). Posts go out one at a time, in order.
 *
 * A 400 means Antenna could not read an item (every item was validated locally, so this is a contract drift):
 * the batch is re-posted item by item, so the good results still land, and an item that Antenna still rejects
 * is replaced by an error result for its image. Nothing is silently dropped: the only results given up are those
 * of a job that no longer exists (404), and those still pending when the shutdown grace period ends (logged).
 */
import type { Logger } from '../util/logger';
import { AntennaApiError, type AntennaClient } from './antenna-client';
import { Backoff, sleep, type BackoffOptions } from './backoff';
import { errorItem } from './results';
import type { ClientInfo, ResultItem } from './types';

export interface ResultOutboxOptions {
  client: AntennaClient;
  logger: Logger;
  backoff: BackoffOptions;
  clientInfo: ClientInfo;
}

interface PendingPost {
  jobId: number | string;
  items: ResultItem[];
  /** Serialised once, so every retry sends the same bytes. */
  body: string;
}

export class ResultOutbox {
  private readonly queue: PendingPost[] = [];
  private pump: Promise<void> | null = null;
  private readonly giveUp = new AbortController();
  private readonly backoff: Backoff;
  private waiters: { test: () => boolean; resolve: () => void }[] = [];

  constructor(private readonly options: ResultOutboxOptions) {
    this.backoff = new Backoff(options.backoff);
  }

  /** Results queued or being posted. */
  get pendingResults(): number {
    return this.queue.reduce((n, p) => n + p.items.length, 0);
  }

  /** Posts queued or in flight. */
  get size(): number {
    return this.queue.length;
  }

  /** Queues one batch's results for posting. */
  enqueue(jobId: number | string, items: ResultItem[]): void {
    if (items.length === 0) return;
    this.queue.push(this.post(jobId, items));
    this.kick();
  }

  /** Resolves once at most `max` posts are pending, or when `signal` aborts. */
  waitForRoom(max: number, signal?: AbortSignal): Promise<void> {
    return this.waitFor(() => this.queue.length <= max, signal);
  }

  /**
   * Waits until every queued result is accepted, for at most `timeoutMs`. Past it, stops retrying and logs what
   * is left (those tasks come back from Antenna after its visibility timeout). Resolves true when all were posted.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    try {
      await this.waitFor(() => this.queue.length === 0, deadline.signal);
    } finally {
      clearTimeout(timer);
    }
    if (this.queue.length === 0) return true;
    this.giveUp.abort();
    await this.pump;
    this.options.logger.error(
      {
        posts: this.queue.length,
        results: this.pendingResults,
        jobs: [...new Set(this.queue.map((p) => p.jobId))],
      },
      `shutdown grace period over: ${this.pendingResults} results were not posted; Antenna will hand their tasks out again`,
    );
    return false;
  }

  private post(jobId: number | string, items: ResultItem[]): PendingPost {
    return { jobId, items, body: JSON.stringify({ results: items, client_info: this.options.clientInfo }) };
  }

  private waitFor(test: () => boolean, signal?: AbortSignal): Promise<void> {
    if (test() || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        test,
        resolve: () => {
          signal?.removeEventListener('abort', waiter.resolve);
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve();
        },
      };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', waiter.resolve, { once: true });
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) if (w.test()) w.resolve();
  }

  private kick(): void {
    this.pump ??= this.run().finally(() => {
      this.pump = null;
      this.notify();
    });
  }

  private async run(): Promise<void> {
    const { logger, client } = this.options;
    while (this.queue.length > 0 && !this.giveUp.signal.aborted) {
      const head = this.queue[0];
      try {
        await client.postResults(head.jobId, head.body, this.giveUp.signal);
        this.queue.shift();
        this.backoff.reset();
        this.notify();
        continue;
      } catch (err) {
        if (this.giveUp.signal.aborted) return;
        const e =
          err instanceof AntennaApiError ? err : new AntennaApiError('network', null, null, String(err));
        if (e.transient || e.status === 401 || e.status === 403) {
          const delay = this.backoff.next();
          logger.warn(
            {
              job: head.jobId,
              results: head.items.length,
              attempt: this.backoff.failures,
              retryInMs: Math.round(delay),
              error: e.message,
            },
            `posting ${head.items.length} results for job ${head.jobId} failed; retrying with the same body`,
          );
          await sleep(delay, this.giveUp.signal);
          continue;
        }
        this.queue.shift();
        this.queue.unshift(...this.onRejected(head, e));
        this.notify();
      }
    }
  }

  /** What replaces a post that Antenna refused for good (4xx other than 401/403). */
  private onRejected(post: PendingPost, err: AntennaApiError): PendingPost[] {
    const { logger } = this.options;
    if (err.status === 404) {
      logger.warn(
        { job: post.jobId, results: post.items.length, error: err.message },
        `job ${post.jobId} no longer exists; its ${post.items.length} results are dropped`,
      );
      return [];
    }
    if (post.items.length > 1) {
      logger.error(
        { job: post.jobId, results: post.items.length, error: err.message },
        `Antenna rejected a batch of ${post.items.length} results; posting them one by one`,
      );
      return post.items.map((item) => this.post(post.jobId, [item]));
    }
    const [item] = post.items;
    if ('error' in item.result) {
      logger.error(
        { job: post.jobId, replySubject: item.reply_subject, error: err.message },
        `Antenna rejected the error result for image ${item.result.image_id}; it is dropped`,
      );
      return [];
    }
    const image = item.result.source_images[0];
    logger.error(
      { job: post.jobId, image: image.id, error: err.message },
      `Antenna rejected the result for image ${image.id}; posting an error result instead`,
    );
    const replacement = errorItem(
      { id: image.id, image_id: image.id, image_url: image.url, reply_subject: item.reply_subject },
      `image ${image.id}: Antenna rejected the result: ${err.message}`.slice(0, 1000),
    );
    return [this.post(post.jobId, [replacement])];
  }
}
