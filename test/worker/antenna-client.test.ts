/**
 * The Antenna API client: credentials, trailing slashes, redirects and error classification
 * (docs/antenna-protocol.md#auth-and-formats).
 */
import * as http from 'http';
import * as net from 'net';
import type { AddressInfo } from 'net';
import { AntennaApiError, AntennaClient, type AntennaFailure } from '../../src/worker/antenna-client';
import { FakeAntenna } from '../helpers/fake-antenna';

const TOKEN = 'client-test-token-0123456789';
const info = { hostname: 'h', software: 's', version: '0', platform: 'p' };

let fake: FakeAntenna;
let client: AntennaClient;

beforeEach(async () => {
  fake = await FakeAntenna.start({ token: TOKEN });
  client = new AntennaClient({
    baseUrl: `${fake.apiUrl}/`,
    token: TOKEN,
    authScheme: 'Token',
    timeoutMs: 2000,
    userAgent: 'test',
  });
});

afterEach(async () => {
  await client.close();
  await fake.close();
});

/** A server that records the Authorization header it gets and answers with `answer`. */
async function recorder(
  answer: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<{ url: string; seen: (string | undefined)[]; close: () => Promise<void> }> {
  const seen: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers.authorization);
    answer(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise((r) => server.close(() => r())) };
}

test('builds the exact jobs query Antenna documents, with the trailing slash', () => {
  expect(client.url(['jobs'], { pipeline__slug__in: 'a,b', ids_only: '1' }).toString()).toBe(
    `${fake.apiUrl}/jobs/?pipeline__slug__in=a%2Cb&ids_only=1`,
  );
});

test('sends "Authorization: Token <token>" on every call', async () => {
  await client.listJobs(['constant']);
  await client.reserveTasks(1, 3, info).catch(() => undefined);
  expect(fake.requests.map((r) => r.authorization)).toEqual([`Token ${TOKEN}`, `Token ${TOKEN}`]);
});

test('follows the 301 Antenna gives for a missing slash, re-sending method, body and credentials', async () => {
  fake.addJob({ id: 3, pipelineSlug: 'constant', images: [{ id: '1', url: 'http://127.0.0.1:9/1.jpg' }] });
  const start = new URL(`${fake.apiUrl}/jobs/3/tasks`);
  const res = await client.call('POST', start, JSON.stringify({ batch_size: 1 }));
  expect(res.status).toBe(200);
  expect((res.body as { tasks: unknown[] }).tasks).toHaveLength(1);
  expect(fake.requests.map((r) => [r.status, r.authorization])).toEqual([
    [301, `Token ${TOKEN}`],
    [200, `Token ${TOKEN}`],
  ]);
});

test("drops the credentials when a redirect leaves Antenna's origin", async () => {
  const elsewhere = await recorder((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  const antenna = await recorder((_req, res) => {
    res.writeHead(302, { location: `${elsewhere.url}/landing/` });
    res.end();
  });
  const c = new AntennaClient({
    baseUrl: `${antenna.url}/api/v2`,
    token: TOKEN,
    authScheme: 'Api-Key',
    timeoutMs: 2000,
    userAgent: 'test',
  });
  try {
    const res = await c.listJobs(['x']);
    expect(res.body).toEqual({ ok: true });
    expect(antenna.seen).toEqual([`Api-Key ${TOKEN}`]);
    expect(elsewhere.seen).toEqual([undefined]);
  } finally {
    await c.close();
    await antenna.close();
    await elsewhere.close();
  }
});

test.each<[number, boolean]>([
  [503, true],
  [500, true],
  [429, true],
  [400, false],
  [401, false],
  [404, false],
])(
  'HTTP %i is an AntennaApiError with transient=%s and no token in its message',
  async (status, transient) => {
    const server = await recorder((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ detail: `status ${status}` }));
    });
    const c = new AntennaClient({
      baseUrl: `${server.url}/api/v2`,
      token: TOKEN,
      authScheme: 'Token',
      timeoutMs: 2000,
      userAgent: 'test',
    });
    try {
      const err = (await c.listJobs(['x']).catch((e: unknown) => e)) as AntennaApiError;
      expect(err).toBeInstanceOf(AntennaApiError);
      expect([err.status, err.transient, err.body]).toEqual([
        status,
        transient,
        { detail: `status ${status}` },
      ]);
      expect(err.message).toBe(`GET /api/v2/jobs/: HTTP ${status} {"detail":"status ${status}"}`);
      expect(JSON.stringify(err)).not.toContain(TOKEN);
    } finally {
      await c.close();
      await server.close();
    }
  },
);

test('no answer is a transient network error', async () => {
  const server = await recorder(() => undefined);
  const url = server.url;
  await server.close();
  const c = new AntennaClient({
    baseUrl: url,
    token: TOKEN,
    authScheme: 'Token',
    timeoutMs: 500,
    userAgent: 'test',
  });
  try {
    const err = (await c.listJobs(['x']).catch((e: unknown) => e)) as AntennaApiError;
    expect([err.kind, err.status, err.transient]).toEqual(['network', null, true]);
    expect(err.message).toMatch(/^GET \/jobs\/: /);
  } finally {
    await c.close();
  }
});

/** A server whose connections `close()` cuts, so a test can leave answers hanging. */
async function holding(
  onConnection: (socket: net.Socket) => void,
  answer?: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = answer ? http.createServer(answer) : net.createServer();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    onConnection(socket);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

const quickClient = (baseUrl: string): AntennaClient =>
  new AntennaClient({ baseUrl, token: TOKEN, authScheme: 'Token', timeoutMs: 300, userAgent: 'test' });

/** The fields that say which failure it was, and whether to retry. */
const classified = (e: AntennaApiError): unknown[] => [e.kind, e.status, e.timeout, e.transient, e.message];

describe('timeouts: one kind per phase of the call, one error each', () => {
  test('connect: no TLS handshake within the limit; Antenna never saw the request, retry is safe', async () => {
    const received: Buffer[] = [];
    // Accepts TCP and never answers the TLS ClientHello, so the connection never opens.
    const server = await holding((socket) => socket.on('data', (d: Buffer) => received.push(d)));
    const c = quickClient(`https://127.0.0.1:${server.port}/api/v2`);
    try {
      const err = (await c.listJobs(['x']).catch((e: unknown) => e)) as AntennaApiError;
      expect(classified(err)).toEqual([
        'network',
        null,
        'connect',
        true,
        'GET /api/v2/jobs/: no connection within 300 ms',
      ]);
      expect(received.length).toBeGreaterThan(0);
      expect(Buffer.concat(received).includes('GET /')).toBe(false);
    } finally {
      await c.close();
      await server.close();
    }
  });

  test('answer: sent, no status line within the limit; Antenna did store it, so a re-post is a duplicate', async () => {
    const slow = await FakeAntenna.start({ token: TOKEN, resultAnswer: () => ({ delayMs: 1500 }) });
    slow.addJob({ id: 7, pipelineSlug: 'p', images: [{ id: '1', url: 'http://img/1.jpg' }] });
    const c = quickClient(slow.apiUrl);
    try {
      const [task] = ((await c.reserveTasks(7, 1, info)).body as { tasks: { reply_subject: string }[] })
        .tasks;
      const body = JSON.stringify({
        results: [{ reply_subject: task.reply_subject, result: { error: 'e', image_id: '1' } }],
      });
      const err = (await c.postResults(7, body).catch((e: unknown) => e)) as AntennaApiError;
      expect(classified(err)).toEqual([
        'network',
        null,
        'answer',
        true,
        'POST /api/v2/jobs/7/result/: no answer within 300 ms',
      ]);
      expect(slow.accepted.map((a) => a.imageId)).toEqual(['1']);
    } finally {
      await c.close();
      await slow.close();
    }
  });

  /** Answers `status` with its headers and half a body at once; `trickle` sends a byte every 50 ms after that. */
  const halfAnswered = (status: number, trickle: boolean) =>
    holding(
      () => undefined,
      (_req, res) => {
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write('{"results": [');
        if (trickle) setInterval(() => res.write(' '), 50).unref();
      },
    );

  test.each<[string, number, boolean, AntennaFailure, boolean]>([
    ['a 2xx whose body stalls', 200, false, 'protocol', true],
    ['a 2xx whose body trickles past the limit', 200, true, 'protocol', true],
    ['a 503 whose body stalls', 503, false, 'http', true],
    ['a 400 whose body stalls', 400, false, 'http', false],
  ])(
    'body: %s is a body timeout; the status decides the retry',
    async (_name, status, trickle, kind, transient) => {
      const server = await halfAnswered(status, trickle);
      const c = quickClient(`http://127.0.0.1:${server.port}/api/v2`);
      try {
        const err = (await c.listJobs(['x']).catch((e: unknown) => e)) as AntennaApiError;
        expect(classified(err)).toEqual([
          kind,
          status,
          'body',
          transient,
          `GET /api/v2/jobs/: HTTP ${status}, but its body did not arrive within 300 ms`,
        ]);
      } finally {
        await c.close();
        await server.close();
      }
    },
  );

  test('body: a result POST answered 2xx is accepted even when its body does not arrive', async () => {
    const server = await halfAnswered(200, false);
    const c = quickClient(`http://127.0.0.1:${server.port}/api/v2`);
    try {
      await expect(c.postResults(7, '{"results":[]}')).resolves.toEqual({
        status: 200,
        body: null,
        timeout: 'body',
        unreadable: 'POST /api/v2/jobs/7/result/: HTTP 200, but its body did not arrive within 300 ms',
      });
    } finally {
      await c.close();
      await server.close();
    }
  });

  test("the caller's own abort is no timeout", async () => {
    const server = await holding(
      () => undefined,
      () => undefined,
    );
    const c = quickClient(`http://127.0.0.1:${server.port}/api/v2`);
    try {
      const err = (await c
        .listJobs(['x'], AbortSignal.timeout(50))
        .catch((e: unknown) => e)) as AntennaApiError;
      expect(classified(err)).toEqual(['network', null, null, true, 'GET /api/v2/jobs/: aborted']);
    } finally {
      await c.close();
      await server.close();
    }
  });
});
