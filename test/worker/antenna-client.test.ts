/**
 * The Antenna API client: credentials, trailing slashes, redirects and error classification
 * (docs/antenna-protocol.md#auth-and-formats).
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import { AntennaApiError, AntennaClient } from '../../src/worker/antenna-client';
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
