/**
 * Posts results to `POST /jobs/{id}/result/` and keeps each one in memory until Antenna has accepted it.
 * A post that fails for a reason a retry can fix (no answer, timeout, 5xx, 503) is re-sent later with backoff
 * and the same bytes (docs/antenna-protocol.md#posting-results). Posts go out one at a time, in order.
 *
 * Bodies stay under `maxBodyBytes` (WORKER_RESULT_MAX_MB; Antenna refuses 100 MB): results are serialised one
 * at a time and packed into a post until the next one would not fit. One image whose result alone is larger
 * (a 29,176-class classifier adds ~0.5 MB per detection) is split into several results for the same task,
 * each with part of its detections, rather than failed (docs/pull-mode.md#robustness). Each result is
 * serialised once, cut around its detections, so it is sized while it is serialised: the split reuses the
 * detections' text, and a result that waits for the next post keeps its text. Only the post in hand and the
 * result at the head of the queue (or the parts of the one being split) exist as text; the rest waits as
 * objects.
 *
 * Any 2xx is success, whatever its body (an unreadable one is logged at warn: re-posting on a non-JSON 2xx
 * once stored 7 copies of one result); so is a 2xx whose body does not arrive in time. A post that got no
 * answer in time may have been stored anyway: the line that reports it says its re-post may be a duplicate
 * (Antenna's `save_results` dedupes replays). docs/pull-mode.md#timeouts-of-antenna-calls has every kind of
 * timeout and what follows from it.
 *
 * A 400 means Antenna could not read an item (every item was validated locally, so this is a contract drift):
 * the batch is re-posted item by item, so the good results still land, and an item that Antenna still rejects
 * is replaced by an error result for its image. Nothing is silently dropped: the only results given up are those
 * of a job that no longer exists (404), and those still pending when the shutdown grace period ends (logged).
 */
import { settings } from '../config';
import { jsonParts, jsonPartsText, type JsonParts } from '../util/json-stream';
import type { Logger } from '../util/logger';
import { AntennaApiError, type AntennaClient } from './antenna-client';
import { Backoff, sleep, type BackoffOptions } from './backoff';
import { errorItem } from './results';
import type { ClientInfo, PullSuccessResult, ResultItem } from './types';

/**
 * Default largest body: WORKER_RESULT_MAX_MB's default, far below Antenna's 100 MB limit
 * (docs/antenna-protocol.md#auth-and-formats).
 */
export const DEFAULT_RESULT_MAX_BYTES = settings.workerResultMaxMb.default * 1024 * 1024;

export interface ResultOutboxOptions {
  client: AntennaClient;
  logger: Logger;
  backoff: BackoffOptions;
  clientInfo: ClientInfo;
  /** Largest POST body in bytes (one detection larger than this still goes out, alone). */
  maxBodyBytes?: number;
  /** Whole-call limit of one result POST; defaults to the client's. */
  postTimeoutMs?: number;
}

/** A result item's JSON text, cut around its detections, with the byte size of each piece. */
interface ItemText extends JsonParts {
  /** Bytes of each element (detection). */
  sizes: number[];
  /** Bytes of the whole text. */
  bytes: number;
}

/** A result waiting to be posted, and its text once it has been serialised (never twice). */
interface Queued {
  item: ResultItem;
  text: ItemText | null;
}

/** Results of one batch not yet packed into a post. */
interface QueuedBatch {
  jobId: number | string;
  /** The caller's batch these results belong to: later results of it join this entry while it waits. */
  group: object | null;
  entries: Queued[];
  /** After a 400: each item in a post of its own, to find the one Antenna cannot read. */
  onePerPost: boolean;
}

interface PendingPost {
  jobId: number | string;
  items: ResultItem[];
  /** Serialised once, so every retry sends the same bytes. */
  body: string;
}

const isSuccess = (item: ResultItem): item is ResultItem & { result: PullSuccessResult } =>
  !('error' in item.result);

/** The text of `whole` with only the detections at `at` (the text of one part of a split result). */
function pick(whole: Omit<ItemText, 'bytes'>, at: number[]): ItemText {
  const sizes = at.map((i) => whole.sizes[i]);
  return {
    head: whole.head,
    elements: at.map((i) => whole.elements[i]),
    tail: whole.tail,
    sizes,
    bytes:
      Buffer.byteLength(whole.head) +
      Buffer.byteLength(whole.tail) +
      sizes.reduce((a, b) => a + b, 0) +
      Math.max(0, at.length - 1),
  };
}

/**
 * One result item as JSON, its detections serialised one at a time (yielding between them) and kept apart, so
 * that an item too large for a post can be split without serialising them again.
 */
async function itemText(item: ResultItem): Promise<ItemText> {
  const head = `{"reply_subject":${JSON.stringify(item.reply_subject)},"result":`;
  const result = isSuccess(item)
    ? await jsonParts(item.result, 'detections')
    : { head: JSON.stringify(item.result), elements: [], tail: '' };
  const sizes = result.elements.map((e) => Buffer.byteLength(e));
  const whole = { head: head + result.head, elements: result.elements, tail: `${result.tail}}`, sizes };
  return pick(
    whole,
    sizes.map((_, i) => i),
  );
}

export class ResultOutbox {
  private readonly queue: QueuedBatch[] = [];
  private current: PendingPost | null = null;
  private pump: Promise<void> | null = null;
  private readonly giveUp = new AbortController();
  private readonly backoff: Backoff;
  private readonly maxBodyBytes: number;
  private waiters: { test: () => boolean; resolve: () => void }[] = [];

  constructor(private readonly options: ResultOutboxOptions) {
    this.backoff = new Backoff(options.backoff);
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_RESULT_MAX_BYTES;
  }

  /** Results queued or being posted. */
  get pendingResults(): number {
    return this.queue.reduce((n, b) => n + b.entries.length, 0) + (this.current?.items.length ?? 0);
  }

  /** Batches queued, plus the post in flight. */
  get size(): number {
    return this.queue.length + (this.current ? 1 : 0);
  }

  /**
   * Queues results for posting. Results given the same `group` (one worker batch, delivered image by image)
   * join the queued entry of that group while it still waits, so they share posts and count as one batch in
   * `size`; the first of them is posted at once when nothing else is pending.
   */
  enqueue(jobId: number | string, items: ResultItem[], group: object | null = null): void {
    if (items.length === 0) return;
    const entries = items.map((item) => ({ item, text: null }));
    const last = this.queue[this.queue.length - 1];
    if (group !== null && last?.group === group && last.jobId === jobId && !last.onePerPost) {
      last.entries.push(...entries);
    } else {
      this.queue.push({ jobId, group, entries, onePerPost: false });
    }
    this.kick();
  }

  /** Resolves once at most `max` batches are pending, or when `signal` aborts. */
  waitForRoom(max: number, signal?: AbortSignal): Promise<void> {
    return this.waitFor(() => this.size <= max, signal);
  }

  /**
   * Waits until every queued result is accepted, for at most `timeoutMs`. Past it, stops retrying and logs what
   * is left (those tasks come back from Antenna after its visibility timeout). Resolves true when all were posted.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    try {
      await this.waitFor(() => this.size === 0, deadline.signal);
    } finally {
      clearTimeout(timer);
    }
    if (this.size === 0) return true;
    this.giveUp.abort();
    await this.pump;
    const jobs = [
      ...new Set([...this.queue.map((b) => b.jobId), ...(this.current ? [this.current.jobId] : [])]),
    ];
    this.options.logger.error(
      { posts: this.size, results: this.pendingResults, jobs },
      `shutdown grace period over: ${this.pendingResults} results were not posted; Antenna will hand their tasks out again`,
    );
    return false;
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

  /**
   * Packs the next post from the head batch: whole results while they fit `maxBodyBytes` (at least one), or the
   * first part of a result too large on its own.
   */
  private async nextPost(): Promise<PendingPost | null> {
    const batch = this.queue[0];
    if (!batch) return null;
    const tail = `],"client_info":${JSON.stringify(this.options.clientInfo)}}`;
    const head = '{"results":[';
    let bytes = head.length + Buffer.byteLength(tail);
    const items: ResultItem[] = [];
    const texts: string[] = [];
    while (batch.entries.length > 0) {
      const entry = batch.entries[0];
      // Kept on the entry: a result that does not fit this post waits for the next with its text.
      const text = (entry.text ??= await itemText(entry.item));
      const size = text.bytes + (items.length > 0 ? 1 : 0);
      if (items.length > 0 && bytes + size > this.maxBodyBytes) break;
      if (items.length === 0 && bytes + size > this.maxBodyBytes && isSuccess(entry.item)) {
        const parts = this.split(entry.item, text, this.maxBodyBytes - bytes, batch.jobId);
        if (parts.length > 1) {
          batch.entries.splice(0, 1, ...parts);
          continue;
        }
      }
      items.push(entry.item);
      texts.push(jsonPartsText(text));
      bytes += size;
      batch.entries.shift();
      if (batch.onePerPost) break;
    }
    if (batch.entries.length === 0) this.queue.shift();
    return {
      jobId: batch.jobId,
      items,
      body: `${head}${texts.join(',')}${tail}`,
    };
  }

  /**
   * Splits one image's result into results for the same task with consecutive runs of its detections, each
   * under `budget` bytes where a single detection allows it, from the text `item` was serialised to: each
   * part's text is cut from it, never serialised again. Returns one entry, `item` as it is, when it cannot be
   * split.
   */
  private split(
    item: ResultItem & { result: PullSuccessResult },
    text: ItemText,
    budget: number,
    jobId: number | string,
  ): Queued[] {
    const { detections } = item.result;
    const totalBytes = text.bytes;
    if (detections.length < 2) {
      this.options.logger.warn(
        {
          job: jobId,
          image: item.result.source_images[0].id,
          bytes: totalBytes,
          maxBytes: this.maxBodyBytes,
        },
        `result for image ${item.result.source_images[0].id} is larger than WORKER_RESULT_MAX_MB and cannot be split; posting it as it is`,
      );
      return [{ item, text }];
    }
    // Each detection costs its text and a comma; the shell is the result with no detections.
    const shell = Buffer.byteLength(text.head) + Buffer.byteLength(text.tail);
    const groups: number[][] = [[]];
    let used = shell;
    text.sizes.forEach((bytes, i) => {
      const size = bytes + 1;
      const group = groups[groups.length - 1];
      if (group.length > 0 && used + size > budget) {
        groups.push([i]);
        used = shell + size;
      } else {
        group.push(i);
        used += size;
      }
    });
    this.options.logger.warn(
      {
        job: jobId,
        image: item.result.source_images[0].id,
        bytes: totalBytes,
        maxBytes: this.maxBodyBytes,
        parts: groups.length,
      },
      `result for image ${item.result.source_images[0].id} (${detections.length} detections, ${totalBytes} bytes) is larger than WORKER_RESULT_MAX_MB; posting it in ${groups.length} parts`,
    );
    return groups.map((group) => ({
      item: { ...item, result: { ...item.result, detections: group.map((i) => detections[i]) } },
      text: pick(text, group),
    }));
  }

  private async run(): Promise<void> {
    const { logger, client } = this.options;
    while (!this.giveUp.signal.aborted) {
      this.current ??= await this.nextPost();
      const post = this.current;
      if (!post) return;
      try {
        const res = await client.postResults(
          post.jobId,
          post.body,
          this.giveUp.signal,
          this.options.postTimeoutMs,
        );
        if (res.unreadable !== undefined) {
          logger.warn(
            { job: post.jobId, results: post.items.length, status: res.status, body: res.unreadable },
            res.timeout === 'body'
              ? `Antenna answered the results for job ${post.jobId} with HTTP ${res.status}, but its body did not arrive in time; taken as accepted`
              : `Antenna answered the results for job ${post.jobId} with HTTP ${res.status} and a body that is not JSON; taken as accepted`,
          );
        }
        this.current = null;
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
              job: post.jobId,
              results: post.items.length,
              attempt: this.backoff.failures,
              retryInMs: Math.round(delay),
              error: e.message,
              timeout: e.timeout ?? undefined,
            },
            // A post that got no answer may have been stored: its re-post may be a duplicate.
            e.timeout === 'answer'
              ? `posting ${post.items.length} results for job ${post.jobId} got no answer in time; re-posting the same body, possibly a duplicate (Antenna dedupes replays)`
              : `posting ${post.items.length} results for job ${post.jobId} failed; retrying with the same body`,
          );
          await sleep(delay, this.giveUp.signal);
          continue;
        }
        this.current = null;
        this.queue.unshift(...this.onRejected(post, e));
        this.notify();
      }
    }
  }

  /** What replaces a post that Antenna refused for good (4xx other than 401/403). */
  private onRejected(post: PendingPost, err: AntennaApiError): QueuedBatch[] {
    const { logger } = this.options;
    const batch = (items: ResultItem[]): QueuedBatch[] => [
      {
        jobId: post.jobId,
        group: null,
        entries: items.map((item) => ({ item, text: null })),
        onePerPost: true,
      },
    ];
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
      return batch(post.items);
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
    return batch([replacement]);
  }
}
