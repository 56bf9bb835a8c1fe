/**
 * The inference thread dying on the real native backend (docs/memory.md, "When the inference thread dies"):
 * libtensorflow cannot be trusted to load again in a new thread, so the service answers what it can and the
 * process exits non-zero for its supervisor to restart. The server runs as a child process on tfjs-node with one
 * inference thread (test/helpers/crashable-server.ts terminates that thread while it runs one job and holds
 * another); a model-free request is in flight meanwhile.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as path from 'path';
import { freePort } from '../../bench/harness';
import { itWithNative } from '../helpers/backend';
import { startImageServer, type ImageServer } from '../helpers/image-server';

const ROOT = path.join(__dirname, '..', '..');
const MODEL = 'tfjs_synthetic_moths_2026';

describe('the inference thread dies on native TF', () => {
  let images: ImageServer;
  let child: ChildProcess | null = null;
  let logs = '';

  beforeAll(async () => {
    images = await startImageServer();
  });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await images.close();
  });

  itWithNative(
    'the running job fails, the queued one is unavailable, an in-flight request finishes, then the process exits 1',
    async () => {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      child = spawn(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'test', 'helpers', 'crashable-server.ts')],
        {
          cwd: ROOT,
          env: {
            ...process.env,
            TFJS_BACKEND: 'tensorflow',
            INFERENCE_THREAD: 'worker',
            INFERENCE_THREADS: '1',
            ENABLED_PIPELINES: `constant,${MODEL}`,
            SHUTDOWN_GRACE_MS: '30000',
            HOST: '127.0.0.1',
            PORT: String(port),
            LOG_LEVEL: 'info',
          },
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        },
      );
      const server = child;
      server.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
      server.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
      const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
        server.once('exit', (code) => resolve({ code, at: Date.now() })),
      );
      const heard = (what: string): Promise<void> =>
        new Promise((resolve) => {
          const on = (m: unknown): void => {
            if (m !== what) return;
            server.off('message', on);
            resolve();
          };
          server.on('message', on);
        });
      const post = (pipeline: string, urls: string[], config = {}): Promise<Response> =>
        fetch(`${base}/process`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            pipeline,
            source_images: urls.map((url, i) => ({ id: String(i), url: images.url(url) })),
            config,
          }),
        });

      for (let i = 0; ; i++) {
        const ready = await fetch(`${base}/readyz`).then(
          async (r) => ((await r.json()) as { status: string[] }).status,
          (): string[] => [],
        );
        if (ready.includes(MODEL)) break;
        if (i > 1200 || server.exitCode !== null) throw new Error(`the server did not get ready:\n${logs}`);
        await new Promise((r) => setTimeout(r, 100));
      }

      const running = heard('running');
      const killed = heard('killed');
      server.send('arm');
      // Eight 6-megapixel images: two detector runs, long enough for the next requests to arrive meanwhile.
      const first = post(
        MODEL,
        Array.from({ length: 8 }, (_, i) => `/img/${3000 + i}x2000.jpg`),
      );
      await running;
      // A model-free request whose download takes 3 s: in flight when the thread dies.
      const inFlight = post('constant', ['/delay/3000.jpg']);
      // A different config is never merged into the running batch: this job waits in the thread's queue.
      const queued = post(MODEL, ['/img/320x240.jpg'], { max_detections: 5 });
      await killed;

      const readyz = await fetch(`${base}/readyz`);
      expect([readyz.status, await readyz.json()]).toEqual([503, { status: [] }]);
      const late = await post('constant', ['/img/320x240.jpg']);
      expect([late.status, ((await late.json()) as { code: string }).code]).toEqual([503, 'SHUTTING_DOWN']);

      const [a, b] = await Promise.all([first, queued]);
      expect([a.status, await a.json()]).toEqual([
        500,
        expect.objectContaining({
          code: 'PIPELINE_FAILED',
          detail: expect.stringContaining(
            'the inference thread crashed while running this job: exited with code 1',
          ) as unknown,
        }),
      ]);
      expect([b.status, await b.json()]).toEqual([
        503,
        expect.objectContaining({
          code: 'PIPELINE_UNAVAILABLE',
          detail: `pipeline ${MODEL} is unavailable: the inference thread crashed (exited with code 1); the process restarts`,
        }),
      ]);

      const c = await inFlight;
      const answeredAt = Date.now();
      expect(c.status).toBe(200);
      expect(((await c.json()) as { source_images: { id: string }[] }).source_images).toEqual([
        { id: '0', url: images.url('/delay/3000.jpg') },
      ]);
      // Drained, it exits 1 at once rather than at the end of the 30 s grace period.
      const { code, at } = await exited;
      expect(code).toBe(1);
      expect(at - answeredAt).toBeLessThan(5000);

      const lines = logs
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: number; msg: string; [k: string]: unknown });
      expect(lines.find((l) => l.msg.startsWith('TensorFlow.js backend: '))).toMatchObject({
        backend: 'tensorflow',
        package: '@tensorflow/tfjs-node',
        tensorflow: expect.stringMatching(/^\d+\.\d+\.\d+/) as unknown,
      });
      // One line from the thread's events, one from the exit. pino flushes a fatal line synchronously, so it
      // can overtake the error line written just before it.
      expect(
        lines
          .filter((l) => l.level >= 50)
          .map((l) => l.msg)
          .sort(),
      ).toEqual([
        'inference thread died (exited with code 1); 1 running job(s) failed, 0 queued job(s) kept; exiting the process so that it is restarted (native TF cannot reload in a new thread)',
        'inference thread lost on native TF; finishing in-flight requests, then exiting for a restart',
      ]);
      expect(logs).not.toContain('already registered');
    },
    180_000,
  );
});
