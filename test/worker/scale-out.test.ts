/**
 * Pull mode is the scale-out path (docs/scale-out.md#pull-mode-the-scale-out-path): any number of worker
 * processes pull from the same Antenna job with no coordination of ours; Antenna's queue hands each task to
 * one of them. Two `npm run worker` processes serve one job of the fake Antenna: every task is answered
 * exactly once, and both workers answered some of them.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as path from 'path';
import { FakeAntenna } from '../helpers/fake-antenna';
import { startImageServer, type ImageServer } from '../helpers/image-server';

const root = path.join(__dirname, '..', '..');
const TOKEN = 'scale-out-token-5d1f0a93';
const TASKS = 32;
const JOB = 91;

let images: ImageServer;
let fake: FakeAntenna;
const children: ChildProcess[] = [];

beforeAll(async () => {
  images = await startImageServer();
  fake = await FakeAntenna.start({ token: TOKEN });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await fake.close();
  await images.close();
});

/** Starts one worker process; its image downloads carry `name` as User-Agent, which tells the workers apart. */
function startWorker(name: string): {
  child: ChildProcess;
  exited: Promise<number | null>;
  logs: () => string;
} {
  let logs = '';
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', path.join(root, 'src', 'worker-main.ts')],
    {
      cwd: root,
      env: {
        ...process.env,
        LOG_LEVEL: 'info',
        ENABLED_PIPELINES: 'constant',
        TFJS_BACKEND: 'cpu',
        INFERENCE_THREADS: '1',
        ANTENNA_API_URL: fake.apiUrl,
        ANTENNA_API_TOKEN: TOKEN,
        ANTENNA_PROJECT_IDS: '3',
        WORKER_BATCH_SIZE: '4',
        WORKER_POLL_INTERVAL_S: '1',
        IMAGE_USER_AGENT: name,
        SHUTDOWN_GRACE_MS: '10000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
  children.push(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, logs: () => logs };
}

test('two pull workers share one job: every task answered exactly once, split between them', async () => {
  const workers = [startWorker('scale-out-worker-A'), startWorker('scale-out-worker-B')];
  // The job appears only once both workers have registered, so neither can drain it before the other starts.
  await fake.waitFor(
    () => fake.registrations.length >= 2 || workers.some((w) => w.child.exitCode !== null),
    60_000,
  );
  expect(workers.map((w) => w.child.exitCode)).toEqual([null, null]);
  // Each image answers after 250 ms, so one worker alone could not take every batch before the other polls.
  const ids = Array.from({ length: TASKS }, (_, i) => String(700 + i));
  fake.addJob({
    id: JOB,
    pipelineSlug: 'constant',
    images: ids.map((id) => ({ id, url: images.url(`/delay/250.jpg?task=${id}`) })),
  });
  await fake.waitFor(() => fake.isComplete(JOB), 90_000);
  for (const w of workers) w.child.kill('SIGTERM');
  expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);

  // Exactly once: one accepted result per task, none twice, nothing Antenna would save wrongly.
  const accepted = fake.accepted.filter((a) => a.jobId === JOB).map((a) => a.imageId);
  expect([...accepted].sort()).toEqual(ids);
  expect(fake.problems).toEqual([]);

  // Split: who downloaded each task's image (the User-Agent of the download).
  const byWorker = new Map<string, Set<string>>();
  for (const r of images.requests) {
    const task = /[?&]task=(\d+)/.exec(r.path)?.[1];
    if (!task) continue;
    const ua = String(r.headers['user-agent']);
    byWorker.set(ua, (byWorker.get(ua) ?? new Set()).add(task));
  }
  const a = byWorker.get('scale-out-worker-A') ?? new Set();
  const b = byWorker.get('scale-out-worker-B') ?? new Set();
  expect(a.size).toBeGreaterThan(0);
  expect(b.size).toBeGreaterThan(0);
  expect(a.size + b.size).toBe(TASKS); // no task was delivered to both
  expect(new Set([...a, ...b]).size).toBe(TASKS);
  for (const w of workers) expect(w.logs()).not.toContain(TOKEN);
}, 180_000);
