/**
 * Downloads one image: http(s) with the URL policy, timeouts, retries and size cap, or a `data:image/` URL.
 * Returns the bytes with their header (format and size) so oversize images are refused before decoding.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { ImageError } from '../errors';
import { NotAnImageError, readImageHeader } from './sniff';
import type { ImageBytes } from './bytes-image';
import { UrlDeniedError, type UrlPolicy } from './url-policy';

export interface FetchOptions {
  policy: UrlPolicy;
  timeoutMs: number;
  attempts: number;
  maxBytes: number;
  maxPixels: number;
  maxRedirects: number;
  userAgent: string;
  /** Base of the exponential backoff between attempts (ms). Tests shorten it. */
  backoffMs?: number;
}

/** Connection errors worth another try (the server may be restarting); timeouts and denials are not. */
const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
]);

class RetryableError extends Error {}

function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  let e: unknown = err;
  while (e && chain.length < 5) {
    chain.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return chain;
}

const errCode = (err: unknown): string | undefined =>
  causeChain(err)
    .map((e) => (e as { code?: string }).code)
    .find((c) => typeof c === 'string');

/** Sleeps `ms`, with up to 25% jitter so retries from many requests do not align; ends early on `signal`. */
const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms * (1 + Math.random() * 0.25));
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * Longest http(s) URL we try: presigned URLs are a few KB, and servers refuse much longer ones anyway. The
 * request schema lets URLs be as long as the body (for data: URLs), so this cap fails only the one image.
 */
export const HTTP_URL_MAX_LENGTH = 65536;

const DATA_URL = /^data:(image\/[a-z0-9.+-]+)?(;[a-z0-9=.+-]+)*;base64,/i;

function decodeDataUrl(url: string, maxBytes: number): Uint8Array {
  const m = DATA_URL.exec(url);
  if (!m || !m[1])
    throw new ImageError('IMAGE_URL_INVALID', 'data: URLs must be data:image/<type>;base64,<data>');
  const payload = url.slice(m[0].length);
  if ((payload.length * 3) / 4 > maxBytes) {
    throw new ImageError('IMAGE_TOO_LARGE', `image is larger than IMAGE_MAX_BYTES (${maxBytes} bytes)`);
  }
  return new Uint8Array(Buffer.from(payload, 'base64'));
}

/** Drops a response body we will not read; destroying an undici body emits an error we must swallow. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** Reads a body up to `maxBytes`, aborting the transfer past it. */
async function readCapped(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > maxBytes) {
      discard(body);
      throw new ImageError('IMAGE_TOO_LARGE', `image is larger than IMAGE_MAX_BYTES (${maxBytes} bytes)`);
    }
    chunks.push(buf);
  }
  const out = Buffer.concat(chunks, total);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Downloads image bytes and headers. One instance per process: it owns the connection pool. */
export class ImageFetcher {
  private readonly dispatcher: Agent;
  /**
   * Aborted at the end of the shutdown grace period: every download in progress stops, so a slow image server
   * cannot keep the process alive past SHUTDOWN_GRACE_MS.
   */
  private readonly stopAll = new AbortController();

  constructor(readonly options: FetchOptions) {
    this.dispatcher = new Agent({
      connect: { lookup: options.policy.lookup, timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
  }

  /**
   * Aborts every download in progress (and any retry or new one): each fails at once with
   * IMAGE_DOWNLOAD_FAILED "aborted: the service is shutting down", so its request can still be answered.
   * Called by the server when the shutdown grace period ends.
   */
  abortAll(): void {
    this.stopAll.abort();
  }

  private abortedError(): ImageError {
    return new ImageError('IMAGE_DOWNLOAD_FAILED', 'download aborted: the service is shutting down');
  }

  /** Fetches `url` and reads its header. Throws ImageError with a code and a message naming the cause. */
  async fetch(id: string, url: string): Promise<ImageBytes> {
    if (this.stopAll.signal.aborted && !url.startsWith('data:')) throw this.abortedError();
    const bytes = url.startsWith('data:')
      ? decodeDataUrl(url, this.options.maxBytes)
      : await this.download(url);
    let header;
    try {
      header = readImageHeader(bytes);
    } catch (err) {
      if (err instanceof NotAnImageError) throw new ImageError('IMAGE_NOT_AN_IMAGE', err.message);
      throw err;
    }
    const pixels = header.width * header.height;
    if (pixels > this.options.maxPixels) {
      throw new ImageError(
        'IMAGE_TOO_MANY_PIXELS',
        `${header.width}x${header.height} is ${pixels} pixels, more than IMAGE_MAX_PIXELS (${this.options.maxPixels})`,
      );
    }
    return { id, url, bytes, header };
  }

  /** http(s) download with retries on connection errors and 5xx. */
  private async download(url: string): Promise<Uint8Array> {
    const attempts = this.options.attempts;
    const backoff = this.options.backoffMs ?? 500;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(url);
      } catch (err) {
        if (!(err instanceof RetryableError) || attempt >= attempts) {
          if (err instanceof RetryableError) {
            throw new ImageError('IMAGE_DOWNLOAD_FAILED', `${err.message} (after ${attempts} attempts)`);
          }
          throw err;
        }
        await sleep(backoff * 2 ** (attempt - 1), this.stopAll.signal);
        if (this.stopAll.signal.aborted) throw this.abortedError();
      }
    }
  }

  /** One attempt, following up to `maxRedirects` redirects, each re-checked by the URL policy. */
  private async attempt(startUrl: string): Promise<Uint8Array> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const signal = AbortSignal.any([timeout, this.stopAll.signal]);
    let url = startUrl;
    for (let redirects = 0; ; redirects++) {
      const parsed = this.parse(url);
      try {
        this.options.policy.checkHost(parsed.hostname);
      } catch (err) {
        throw new ImageError('IMAGE_URL_DENIED', (err as Error).message);
      }
      let res: Dispatcher.ResponseData;
      try {
        res = await request(parsed, {
          method: 'GET',
          dispatcher: this.dispatcher,
          signal,
          // No Authorization: presigned URLs carry their signature in the query string
          // (docs/antenna-protocol.md#downloading-images).
          headers: { 'user-agent': this.options.userAgent, accept: 'image/*,*/*;q=0.8' },
        });
      } catch (err) {
        throw this.classify(err, signal);
      }
      const { statusCode, headers } = res;
      if (statusCode >= 300 && statusCode < 400 && headers.location) {
        discard(res.body);
        if (redirects >= this.options.maxRedirects) {
          throw new ImageError('IMAGE_DOWNLOAD_FAILED', `more than ${this.options.maxRedirects} redirects`);
        }
        url = new URL(String(headers.location), parsed).toString();
        continue;
      }
      if (statusCode < 200 || statusCode >= 300) {
        discard(res.body);
        const message = `HTTP ${statusCode} from ${parsed.host}`;
        if (statusCode >= 500) throw new RetryableError(message);
        throw new ImageError('IMAGE_DOWNLOAD_FAILED', message);
      }
      const length = Number(headers['content-length']);
      if (Number.isFinite(length) && length > this.options.maxBytes) {
        discard(res.body);
        throw new ImageError(
          'IMAGE_TOO_LARGE',
          `image is ${length} bytes, more than IMAGE_MAX_BYTES (${this.options.maxBytes})`,
        );
      }
      try {
        return await readCapped(res.body, this.options.maxBytes);
      } catch (err) {
        if (err instanceof ImageError) throw err;
        throw this.classify(err, signal);
      }
    }
  }

  private parse(url: string): URL {
    if (url.length > HTTP_URL_MAX_LENGTH) {
      throw new ImageError(
        'IMAGE_URL_INVALID',
        `http(s) URL is ${url.length} characters, more than ${HTTP_URL_MAX_LENGTH}`,
      );
    }
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ImageError('IMAGE_URL_INVALID', 'not a valid URL');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new ImageError(
        'IMAGE_URL_INVALID',
        `unsupported URL scheme ${parsed.protocol} (http, https or data:image only)`,
      );
    }
    return parsed;
  }

  /** Maps a transport error to an ImageError, or a RetryableError for transient connection failures. */
  private classify(err: unknown, signal: AbortSignal): Error {
    const chain = causeChain(err);
    if (chain.some((e) => e instanceof UrlDeniedError)) {
      const denied = chain.find((e) => e instanceof UrlDeniedError) as UrlDeniedError;
      return new ImageError('IMAGE_URL_DENIED', denied.message);
    }
    if (this.stopAll.signal.aborted) return this.abortedError();
    const code = errCode(err);
    if (signal.aborted || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      return new ImageError('IMAGE_TIMEOUT', `no complete answer within ${this.options.timeoutMs} ms`);
    }
    const message = `connection failed: ${code ?? (err as Error).message}`;
    if (code && RETRYABLE_CODES.has(code)) return new RetryableError(message);
    return new ImageError('IMAGE_DOWNLOAD_FAILED', message);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
