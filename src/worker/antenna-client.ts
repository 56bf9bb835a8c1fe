/**
 * HTTP client for Antenna's `/api/v2` pull-mode API (docs/antenna-protocol.md#pull-mode). Adds the
 * Authorization header to every call, always uses trailing slashes, follows redirects itself (keeping the
 * credentials only on Antenna's own origin), and turns every failure into an AntennaApiError that says
 * whether a retry may help.
 *
 * Timeouts are classified in one place, by how far the call had got when its limit ran out: `connect`
 * (Antenna never saw the request), `answer` (sent, no status: Antenna may have acted on it) or `body` (Antenna
 * answered with a status, its body did not arrive); docs/pull-mode.md#timeouts-of-antenna-calls says what
 * follows from each. One timer, the call's limit, covers the whole call, redirects included. undici's own
 * header and body timers are off, so they cannot classify the same timeout another way, and its connect
 * timer can only fire while connecting.
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
  /** Whole-call limit (connect, headers and body), ms; also the longest a connection may take to open. */
  timeoutMs: number;
  userAgent: string;
  maxRedirects?: number;
}

/** What went wrong: no answer at all, a non-2xx answer, or a 2xx body the worker cannot read. */
export type AntennaFailure = 'network' | 'http' | 'protocol';

/**
 * How far a call had got when its limit ran out: not yet connected (`connect`: Antenna never saw the request),
 * sent but no status line (`answer`: Antenna may have acted on it), or a status but not the whole body
 * (`body`: Antenna answered, and the status says how).
 */
export type TimeoutKind = 'connect' | 'answer' | 'body';

export class AntennaApiError extends Error {
  constructor(
    readonly kind: AntennaFailure,
    readonly status: number | null,
    /** The parsed JSON body (or its text) of a non-2xx answer, for logs and for recognising known 400s. */
    readonly body: unknown,
    message: string,
    /** Set when the call's limit ran out; an `answer` timeout may have been acted on by Antenna. */
    readonly timeout: TimeoutKind | null = null,
  ) {
    super(message);
  }

  /**
   * Worth retrying unchanged later: no answer (a connect or answer timeout included), 408, 429, any 5xx, or an
   * unreadable 2xx (a body timeout after a 2xx included). A body timeout after another status follows that
   * status.
   */
  get transient(): boolean {
    if (this.kind !== 'http' || this.status === null) return true;
    return this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

export interface ApiResponse {
  status: number;
  body: unknown;
  /**
   * Set when a call that accepts any 2xx body could not read it: a short rendering of a body that is not JSON,
   * or, with `timeout: 'body'`, why it did not arrive.
   */
  unreadable?: string;
  /** `body`: the 2xx arrived, its body not within the call's limit (a call that accepts any 2xx body only). */
  timeout?: 'body';
}

/** Per-call options of `AntennaClient.call`. */
export interface CallOptions {
  /** Overrides the client's whole-call limit (result POSTs carry bodies of many MB). */
  timeoutMs?: number;
  /** A 2xx is success whatever its body: a non-JSON body is returned with `unreadable` instead of thrown. */
  anyBody?: boolean;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

const isOk = (status: number): boolean => status >= 200 && status < 300;

/** A short, single-line rendering of a response body for error messages. */
function snippet(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const line = (text ?? '').replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/** undici's code for a connect timer that ran out: its only timer left on (see the header). */
const CONNECT_TIMEOUT = 'UND_ERR_CONNECT_TIMEOUT';

/**
 * The one timeout classification: a call whose own limit ran out (`limit` aborted) or whose connection timed
 * out, and that the caller did not abort, timed out in the phase it was in. Null for any other failure.
 */
function timeoutOf(
  err: unknown,
  phase: TimeoutKind,
  limit: AbortSignal,
  caller: AbortSignal | undefined,
): TimeoutKind | null {
  if (caller?.aborted) return null;
  return limit.aborted || causeCode(err) === CONNECT_TIMEOUT ? phase : null;
}

/**
 * Tells `onSent` when undici hands the request to a connected socket: from then on Antenna may have it. Every
 * other callback goes through unchanged.
 */
function noticeSent(onSent: () => void): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) =>
    dispatch(opts, {
      onRequestStart: (controller, context: unknown) => {
        onSent();
        handler.onRequestStart?.(controller, context);
      },
      onRequestUpgrade: (controller, status, headers, socket) =>
        handler.onRequestUpgrade?.(controller, status, headers, socket),
      onResponseStart: (controller, status, headers, message) =>
        handler.onResponseStart?.(controller, status, headers, message),
      onResponseData: (controller, chunk) => handler.onResponseData?.(controller, chunk),
      onResponseEnd: (controller, trailers) => handler.onResponseEnd?.(controller, trailers),
      onResponseError: (controller, error) => handler.onResponseError?.(controller, error),
    });
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
    // 0 turns undici's header and body timers off: the call's own limit is the one clock (see the header).
    this.agent = new Agent({ headersTimeout: 0, bodyTimeout: 0, connect: { timeout: options.timeoutMs } });
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
    const limit = AbortSignal.timeout(limitMs);
    const combined = signal ? AbortSignal.any([limit, signal]) : limit;
    const what = `${method} ${start.pathname}`;
    let phase: TimeoutKind = 'connect';
    const dispatcher = this.agent.compose(
      noticeSent(() => {
        phase = 'answer';
      }),
    );
    /** The one error for a failure in `phase`, with the answer's status once there is one. */
    const failure = (err: unknown, status: number | null): AntennaApiError => {
      const timeout = timeoutOf(err, phase, limit, signal);
      if (timeout === 'connect') {
        // Whichever limit is shorter runs out first: the call's, or the connect timer (the client's limit).
        const ms = Math.min(limitMs, this.options.timeoutMs);
        return new AntennaApiError('network', null, null, `${what}: no connection within ${ms} ms`, timeout);
      }
      if (timeout === 'answer') {
        return new AntennaApiError('network', null, null, `${what}: no answer within ${limitMs} ms`, timeout);
      }
      if (timeout === 'body' && status !== null) {
        return new AntennaApiError(
          isOk(status) ? 'protocol' : 'http',
          status,
          null,
          `${what}: HTTP ${status}, but its body did not arrive within ${limitMs} ms`,
          timeout,
        );
      }
      const reason = signal?.aborted ? 'aborted' : causeCode(err);
      return new AntennaApiError(
        'network',
        null,
        null,
        status === null ? `${what}: ${reason}` : `${what}: body not received (${reason})`,
      );
    };
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
      phase = 'connect';
      try {
        res = await request(url, { method: verb, headers, body: payload, dispatcher, signal: combined });
      } catch (err) {
        throw failure(err, null);
      }
      phase = 'body';
      const location = res.headers.location;
      if (REDIRECTS.has(res.statusCode) && typeof location === 'string') {
        try {
          await res.body.dump();
        } catch (err) {
          throw failure(err, res.statusCode);
        }
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
        const e = failure(err, res.statusCode);
        // Antenna answered 2xx: for a call that takes any 2xx body, that is the answer, body or not.
        if (e.timeout === 'body' && isOk(res.statusCode) && opts.anyBody) {
          return { status: res.statusCode, body: null, unreadable: e.message, timeout: 'body' };
        }
        throw e;
      }
      let parsed: unknown = text;
      try {
        parsed = text === '' ? null : JSON.parse(text);
      } catch {
        // Not JSON (a proxy error page, a Django 500): keep the text for the message.
      }
      if (!isOk(res.statusCode)) {
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
