/**
 * The real entry points as processes: `npm run worker` (src/worker-main.ts) and `npm start` with
 * START_PULL_WORKER=true (src/server.ts). Each serves a job from the fake Antenna; SIGTERM mid-job stops
 * reserving, posts the batch in hand and exits 0, and the token never reaches the logs.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as path from 'path';
import { FakeAntenna } from '../helpers/fake-antenna';
import { startImageServer, type ImageServer } from '../helpers/image-server';

const root = path.join(__dirname, '..', '..');
const TOKEN = 'process-test-token-8c2e71f0';

let images: ImageServer;
let fake: FakeAntenna;
let child: ChildProcess | null = null;

beforeAll(async () => {
  images = await startImageServer();
});

afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  child = null;
  await fake.close();
});

afterAll(() => images.close());

/** Starts `entry`, serves a 24-task job, SIGTERMs it mid-job; returns its exit code and output. */
async function runAndStop(
  entry: string,
  env: Record<string, string>,
): Promise<{ code: number | null; logs: string }> {
  fake = await FakeAntenna.start({ token: TOKEN });
  // Each image answers after 150 ms, so the job is still running when the signal comes.
  const imgs = Array.from({ length: 24 }, (_, i) => ({
    id: String(500 + i),
    url: images.url(`/delay/150.jpg?n=${i}`),
  }));
  fake.addJob({ id: 77, pipelineSlug: 'constant', images: imgs });
  let logs = '';
  child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(root, 'src', entry)], {
    cwd: root,
    env: {
      ...process.env,
      LOG_LEVEL: 'debug',
      ENABLED_PIPELINES: 'constant',
      TFJS_BACKEND: 'cpu',
      ANTENNA_API_URL: fake.apiUrl,
      ANTENNA_API_TOKEN: TOKEN,
      ANTENNA_PROJECT_IDS: '3',
      WORKER_BATCH_SIZE: '4',
      WORKER_POLL_INTERVAL_S: '1',
      SHUTDOWN_GRACE_MS: '10000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
  const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
  await fake.waitFor(() => fake.ackedCount(77) >= 4 || child?.exitCode !== null, 40_000);
  child.kill('SIGTERM');
  const code = await exited;
  return { code, logs };
}

function expectCleanStop(code: number | null, logs: string): void {
  expect(code).toBe(0);
  expect(fake.registrations.map((r) => r.projectId)).toEqual(['3']);
  const handed = fake.handedOut(77);
  expect(handed.length).toBeGreaterThanOrEqual(4);
  expect(handed.length).toBeLessThan(24); // stopped mid-job
  const counts = fake.acceptedPerReplySubject();
  for (const s of handed) expect(counts.get(s)).toBe(1); // the batch in hand was posted before exit
  expect(fake.problems).toEqual([]);
  expect(logs).toContain('pull worker stopped');
  expect(logs).not.toContain(TOKEN);
}

test('npm run worker: serves the job, SIGTERM posts the batch in hand and exits 0', async () => {
  const { code, logs } = await runAndStop('worker-main.ts', {});
  expectCleanStop(code, logs);
}, 60_000);

test('npm start with START_PULL_WORKER=true runs the worker in the same process', async () => {
  const { code, logs } = await runAndStop('server.ts', {
    START_PULL_WORKER: 'true',
    PORT: '0',
    HOST: '127.0.0.1',
  });
  expectCleanStop(code, logs);
  expect(logs).toContain('listening on');
}, 60_000);
