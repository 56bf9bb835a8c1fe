/**
 * HTTP client for Antenna's `/api/v2` pull-mode API (docs/antenna-protocol.md#pull-mode). Adds the
 * Authorization header to every call, always uses trailing slashes, follows redirects itself (keeping the
 * credentials only on Antenna's own origin), and turns every failure into an AntennaApiError that says
 * whether a retry may help.
 *
 * The token lives only in a private field and the header; no message, error or log line contains it.
 */
import { Agent, request, type Dispatcher } from 'undici';
import type { ClientInfo, RegisterPipelinesRequest } from './types';

export interface AntennaClientOptions {
  /** e.g. `https://antenna.example.org/api/v2` (with or without a trailing slash). */
  baseUrl: string;
  token: string;
  /**
   * `Token` today, `Api-Key` for Antenna releases that add it (docs/antenna-protocol.md#auth-and-formats).
   */
  authScheme: string;
  /** Whole-call limit (connect, headers and body), ms. */
  timeoutMs: number;
  userAgent: string;
  maxRedirects?: number;
}

/** What went wrong: no answer at all, a non-2xx answer, or a 2xx body the worker cannot read. */
export type AntennaFailure = 'network' | 'http' | 'protocol';

export class AntennaApiError extends Error {
  constructor(
    readonly kind: AntennaFailure,
    readonly status: number | null,
    /** The parsed JSON body (or its text) of a non-2xx answer, for logs and for recognising known 400s. */
    readonly body: unknown,
    message: string,
    /** No answer within the time limit: the request may still have reached Antenna and been acted on. */
    readonly timedOut = false,
  ) {
    super(message);
  }

  /** Worth retrying unchanged later: no answer, a timeout, 408, 429, any 5xx, or an unreadable 2xx. */
  get transient(): boolean {
    if (this.kind !== 'http' || this.status === null) return true;
    return this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

export interface ApiResponse {
  status: number;
  body: unknown;
  /** Set (to a short rendering of the text) when a call that accepts any 2xx body got one that is not JSON. */
  unreadable?: string;
}

/** Per-call options of `AntennaClient.call`. */
export interface CallOptions {
  /** Overrides the client's whole-call limit (result POSTs carry bodies of many MB). */
  timeoutMs?: number;
  /** A 2xx is success whatever its body: a non-JSON body is returned with `unreadable` instead of thrown. */
  anyBody?: boolean;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** A short, single-line rendering of a response body for error messages. */
function snippet(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const line = (text ?? '').replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

function causeCode(err: unknown): string {
  let e: unknown = err;
  for (let i = 0; i < 5 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return (err as Error).message;
}

export class AntennaClient {
  private readonly agent: Agent;
  private readonly base: URL;
  private readonly authorization: string;

  constructor(private readonly options: AntennaClientOptions) {
    const base = new URL(options.baseUrl);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new Error(`ANTENNA_API_URL must be an http(s) URL, got ${base.protocol}`);
    }
    base.search = '';
    base.hash = '';
    this.base = base;
    this.authorization = `${options.authScheme} ${options.token}`;
    this.agent = new Agent({
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connect: { timeout: options.timeoutMs },
    });
  }

  /** Absolute URL of `segments` under the base, always with the trailing slash (no 301 round trip). */
  url(segments: (string | number)[], query?: Record<string, string>): URL {
    const u = new URL(this.base.toString());
    u.pathname = `${this.base.pathname.replace(/\/+$/, '')}/${segments.map((s) => encodeURIComponent(String(s))).join('/')}/`;
    if (query) u.search = new URLSearchParams(query).toString();
    return u;
  }

  /** docs/antenna-protocol.md#registering-pipelines: 201 on success; idempotent. */
  registerPipelines(
    projectId: string,
    body: RegisterPipelinesRequest,
    signal?: AbortSignal,
  ): Promise<ApiResponse> {
    return this.call('POST', this.url(['projects', projectId, 'pipelines']), JSON.stringify(body), signal);
  }

  /** docs/antenna-protocol.md#finding-jobs: one random matching job per call (`next` is never followed). */
  listJobs(slugs: string[], signal?: AbortSignal): Promise<ApiResponse> {
    return this.call(
      'GET',
      this.url(['jobs'], {
        pipeline__slug__in: slugs.join(','),
        ids_only: '1',
        incomplete_only: '1',
        dispatch_mode: 'async_api',
      }),
      undefined,
      signal,
    );
  }

  /**
   * docs/antenna-protocol.md#reserving-tasks: reserves up to `batchSize` tasks. Takes no abort signal: an
   * answer lost on the way would leave its tasks reserved until Antenna's visibility timeout.
   */
  reserveTasks(jobId: number | string, batchSize: number, clientInfo: ClientInfo): Promise<ApiResponse> {
    return this.call(
      'POST',
      this.url(['jobs', jobId, 'tasks']),
      JSON.stringify({ batch_size: Math.trunc(batchSize), client_info: clientInfo }),
    );
  }

  /**
   * docs/antenna-protocol.md#posting-results: `body` is the serialised `{"results": [...]}`, so a retry
   * re-sends the same bytes. Any 2xx means Antenna took the results, whatever its body says (re-posting on
   * an unreadable 2xx once stored 7 copies); `timeoutMs` is sized for bodies of many MB.
   */
  postResults(
    jobId: number | string,
    body: string,
    signal?: AbortSignal,
    timeoutMs?: number,
  ): Promise<ApiResponse> {
    return this.call('POST', this.url(['jobs', jobId, 'result']), body, signal, { timeoutMs, anyBody: true });
  }

  /**
   * One call, following redirects. Resolves with any 2xx answer; throws AntennaApiError otherwise.
   * 301/302/307/308 re-send the same method and body (Antenna's 301 only appends a slash); 303 switches to GET.
   */
  async call(
    method: 'GET' | 'POST',
    start: URL,
    body?: string,
    signal?: AbortSignal,
    opts: CallOptions = {},
  ): Promise<ApiResponse> {
    const limitMs = opts.timeoutMs ?? this.options.timeoutMs;
    const timeout = AbortSignal.timeout(limitMs);
    const combined = signal ? AbortSignal.any([timeout, signal]) : timeout;
    const what = `${method} ${start.pathname}`;
    let url = start;
    let payload = body;
    let verb = method;
    for (let redirects = 0; ; redirects++) {
      const headers: Record<string, string> = {
        accept: 'application/json',
        'user-agent': this.options.userAgent,
      };
      // Credentials only ever go to Antenna's own origin, also after a redirect.
      if (url.origin === this.base.origin) headers.authorization = this.authorization;
      if (payload !== undefined) headers['content-type'] = 'application/json';
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: verb,
          headers,
          body: payload,
          dispatcher: this.agent,
          signal: combined,
          // The agent's limits are the client's default; a longer per-call limit must reach undici too.
          headersTimeout: limitMs,
          bodyTimeout: limitMs,
        });
      } catch (err) {
        const code = causeCode(err);
        const timedOut =
          (timeout.aborted || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') &&
          !signal?.aborted;
        const reason = timedOut
          ? `no answer within ${limitMs} ms`
          : signal?.aborted
            ? 'aborted'
            : causeCode(err);
        throw new AntennaApiError('network', null, null, `${what}: ${reason}`, timedOut);
      }
      const location = res.headers.location;
      if (REDIRECTS.has(res.statusCode) && typeof location === 'string') {
        await res.body.dump();
        if (redirects >= (this.options.maxRedirects ?? 5)) {
          throw new AntennaApiError(
            'http',
            res.statusCode,
            null,
            `${what}: more than ${this.options.maxRedirects ?? 5} redirects`,
          );
        }
        url = new URL(location, url);
        if (res.statusCode === 303) {
          verb = 'GET';
          payload = undefined;
        }
        continue;
      }
      let text: string;
      try {
        text = await res.body.text();
      } catch (err) {
        const timedOut = timeout.aborted && !signal?.aborted;
        throw new AntennaApiError(
          'network',
          null,
          null,
          `${what}: body not received (${timedOut ? `no answer within ${limitMs} ms` : causeCode(err)})`,
          timedOut,
        );
      }
      let parsed: unknown = text;
      try {
        parsed = text === '' ? null : JSON.parse(text);
      } catch {
        // Not JSON (a proxy error page, a Django 500): keep the text for the message.
      }
      if (res.statusCode < 200 || res.statusCode >= 300) {
        throw new AntennaApiError(
          'http',
          res.statusCode,
          parsed,
          `${what}: HTTP ${res.statusCode} ${snippet(parsed)}`.trim(),
        );
      }
      if (typeof parsed === 'string') {
        if (opts.anyBody) return { status: res.statusCode, body: parsed, unreadable: snippet(parsed) };
        throw new AntennaApiError(
          'protocol',
          res.statusCode,
          parsed,
          `${what}: HTTP ${res.statusCode} body is not JSON: ${snippet(parsed)}`,
        );
      }
      return { status: res.statusCode, body: parsed };
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
