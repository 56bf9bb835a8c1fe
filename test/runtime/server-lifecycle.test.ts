/**
 * The real server process: listens on PORT, and on SIGTERM turns /readyz to 503, finishes in-flight
 * requests and exits 0.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import { testBackend } from '../helpers/backend';
import { startImageServer, type ImageServer } from '../helpers/image-server';

const root = path.join(__dirname, '..', '..');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(url: string, status: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).status === status) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer ${status} in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The real server from sources on `port`, with `env` over this process's; its output collects in `out.logs`. */
async function startServer(
  port: number,
  env: Record<string, string>,
  out: { logs: string },
): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', path.join(root, 'src', 'server.ts')],
    {
      cwd: root,
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        TFJS_BACKEND: testBackend(),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.on('data', (d: Buffer) => (out.logs += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out.logs += d.toString()));
  await waitFor(`http://127.0.0.1:${port}/readyz`, 200);
  return child;
}

describe('server process', () => {
  let images: ImageServer;
  let child: ChildProcess;
  let port: number;
  const out = { logs: '' };

  beforeAll(async () => {
    images = await startImageServer();
    port = await freePort();
    child = await startServer(
      port,
      // A model pipeline too: only those load TensorFlow (in the inference thread); constant needs none.
      { ENABLED_PIPELINES: 'constant,tfjs_synthetic_moths_2026', SHUTDOWN_GRACE_MS: '10000' },
      out,
    );
  }, 60_000);

  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await images.close();
  });

  test('logs the chosen backend and why, and one line per /process', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/process`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        pipeline: 'constant',
        source_images: [{ id: '1', url: images.url('/img/640x480.jpg') }],
      }),
    });
    expect(res.status).toBe(200);
    // The log line reaches our pipe a moment after the response.
    for (
      let i = 0;
      i < 400 && !(out.logs.includes('"msg":"process"') && out.logs.includes('TensorFlow.js backend'));
      i++
    )
      await new Promise((r) => setTimeout(r, 50));
    const lines = out.logs
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(
      lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('TensorFlow.js backend: ')),
    ).toMatchObject({ backend: testBackend(), reasons: expect.any(Array) });
    expect(lines.find((l) => l.msg === 'process')).toMatchObject({
      pipeline: 'constant',
      images: 1,
      detections: 1,
      requestId: expect.any(String),
    });
  }, 30_000);

  test('SIGTERM: /readyz 503, the in-flight request finishes, exit code 0', async () => {
    const inflight = fetch(`http://127.0.0.1:${port}/process`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        pipeline: 'constant',
        source_images: [{ id: 'slow', url: images.url('/delay/1500.jpg') }],
      }),
    });
    await new Promise((r) => setTimeout(r, 300));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`, { headers: { connection: 'close' } });
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: [] });
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { source_images: unknown[] }).source_images).toHaveLength(1);
    expect(await exited).toBe(0);
  }, 30_000);
});

/** Serves a "JPEG" one byte per second, forever: a download that only its own timeout would end. */
async function startDripServer(): Promise<{ url: string; close(): Promise<void> }> {
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': '1000000' });
    res.write(Buffer.from([0xff]));
    const t = setInterval(() => res.write(Buffer.from([0xd8])), 1000);
    timers.add(t);
    res.on('close', () => clearInterval(t));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/drip.jpg`,
    close: () =>
      new Promise((r) => {
        timers.forEach(clearInterval);
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('server process: shutdown with a stalled download', () => {
  let images: ImageServer;
  let drip: Awaited<ReturnType<typeof startDripServer>>;
  let child: ChildProcess;
  let port: number;
  const out = { logs: '' };

  beforeAll(async () => {
    [images, drip, port] = await Promise.all([startImageServer(), startDripServer(), freePort()]);
    child = await startServer(
      port,
      { ENABLED_PIPELINES: 'constant', SHUTDOWN_GRACE_MS: '5000', IMAGE_DOWNLOAD_TIMEOUT_MS: '30000' },
      out,
    );
  }, 60_000);

  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await Promise.all([images.close(), drip.close()]);
  });

  test('SHUTDOWN_GRACE_MS=5000: the download is aborted at 5 s, the request answered, exit within 6 s', async () => {
    const inflight = fetch(`http://127.0.0.1:${port}/process`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        pipeline: 'constant',
        source_images: [
          { id: 'ok', url: images.url('/img/640x480.jpg') },
          { id: 'stuck', url: drip.url },
        ],
      }),
    });
    await new Promise((r) => setTimeout(r, 500));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const t0 = Date.now();
    child.kill('SIGTERM');
    const res = await inflight;
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      source_images: { id: string }[];
      errors: { image_id: string; code: string; error: string }[] | null;
    };
    expect(body.source_images.map((s) => s.id)).toEqual(['ok']);
    expect(body.errors).toEqual([
      {
        image_id: 'stuck',
        url: drip.url,
        code: 'IMAGE_DOWNLOAD_FAILED',
        error: 'image stuck: download aborted: the service is shutting down',
      },
    ]);
    expect(await exited).toBe(0);
    const seconds = (Date.now() - t0) / 1000;
    // Answered after the grace period, not before (it was waiting on the download) and gone within grace + 1 s.
    expect(seconds).toBeGreaterThan(4.9);
    expect(seconds).toBeLessThan(6);
    expect(out.logs).toContain('grace period over: aborting downloads and pipeline waits');
  }, 30_000);
});
