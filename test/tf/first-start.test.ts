/**
 * First start on H100/H200: TF 2.9 has no sm_90 kernels, so libtensorflow JIT-compiles its PTX inside the
 * first `require('@tensorflow/tfjs-node-gpu')`, for up to 30 minutes or more. That require runs in the
 * inference thread, so the HTTP thread must keep answering /livez (and /readyz with 503) meanwhile.
 *
 * A fake tfjs-node-gpu (found through NODE_PATH, as none is installed) blocks its thread inside require until
 * the test releases it, then fails as a host without libtensorflow would, so the service falls back to the next
 * backend (tfjs-node where `npm run native` built it, else wasm).
 */
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../..');

const FAKE_MODULE = `
const fs = require('fs');
const path = require('path');
const dir = process.env.FAKE_TF_DIR;
fs.writeFileSync(path.join(dir, 'blocked'), String(process.pid));
// Blocks this thread the way a synchronous PTX JIT compile inside dlopen does.
const cell = new Int32Array(new SharedArrayBuffer(4));
const deadline = Date.now() + 60000;
while (!fs.existsSync(path.join(dir, 'release')) && Date.now() < deadline) Atomics.wait(cell, 0, 0, 20);
throw new Error('fake tfjs-node-gpu: compiled the PTX, but there is no libtensorflow here');
`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** The server's stdout and stderr, shown when a wait times out. */
let logs = '';

async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; server output:\n${logs}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('while the inference thread is stuck in the first native require', () => {
  let dir = '';
  let child: ChildProcess | null = null;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'first-start-'));
    const pkg = path.join(dir, 'node_modules', '@tensorflow', 'tfjs-node-gpu');
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, 'index.js'), FAKE_MODULE);
    // The service requires a native package only when its addon exists (an empty stand-in here: the fake never
    // loads it), as a real install has it.
    fs.writeFileSync(
      path.join(pkg, 'package.json'),
      JSON.stringify({ name: '@tensorflow/tfjs-node-gpu', main: 'index.js', binary: { napi_versions: [8] } }),
    );
    fs.mkdirSync(path.join(pkg, 'lib', 'napi-v8'), { recursive: true });
    fs.writeFileSync(path.join(pkg, 'lib', 'napi-v8', 'tfjs_binding.node'), '');
  });
  afterAll(() => {
    child?.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers /livez 200 and /readyz 503, then becomes ready once the thread is free', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    child = spawn(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'src/server.ts')],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? dir,
          NODE_PATH: path.join(dir, 'node_modules'),
          FAKE_TF_DIR: dir,
          TFJS_BACKEND: 'auto',
          INFERENCE_THREAD: 'worker',
          ENABLED_PIPELINES: 'tfjs_synthetic_moths_2026',
          HOST: '127.0.0.1',
          PORT: String(port),
          LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (logs += d.toString()));

    // The inference thread is now inside require('@tensorflow/tfjs-node-gpu') and cannot run anything.
    await until('the fake module to block', () =>
      Promise.resolve(fs.existsSync(path.join(dir, 'blocked')) ? true : null),
    );
    const livez = await until('the server to listen', async () => {
      const r = await fetch(`${base}/livez`);
      return r.status;
    });
    const readyz = await fetch(`${base}/readyz`);
    const info = await fetch(`${base}/info`);
    const stillBlocked = !fs.existsSync(path.join(dir, 'release'));
    expect({ livez, readyz: readyz.status, info: info.status, stillBlocked }).toEqual({
      livez: 200,
      readyz: 503,
      info: 200,
      stillBlocked: true,
    });

    // The "compile" ends; the thread falls back to the next backend and compiles the pipeline.
    fs.writeFileSync(path.join(dir, 'release'), '');
    const ready = await until('the pipeline to be ready', async () => {
      const r = await fetch(`${base}/readyz`);
      return r.status === 200 ? r.status : null;
    });
    expect(ready).toBe(200);
    // The backend line with the fake's error (stdout may reach us after the /readyz answer).
    const fakeRan = await until('the backend log line', () =>
      Promise.resolve(
        logs.includes('fake tfjs-node-gpu: compiled the PTX, but there is no libtensorflow here')
          ? true
          : null,
      ),
    );
    expect(fakeRan).toBe(true);
  }, 120_000);
});
