/**
 * What the scaling benches share: the shipped 4K samples served from memory, the real server as a child
 * process (compiled `dist/src/server.js`), one `/process` call, and a Prometheus metric read back.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import { promises as fsp } from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { imageSize } from 'image-size';
import { nativeAddonPath } from '../src/tf/backend';
import { projectRoot } from '../src/util/paths';
import { stopChildOnExit } from './child-cleanup';

export const root = projectRoot();

/** The 4096×2160 JPEGs of `dir` (the shipped samples/). */
export async function fourKSamples(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const f of (await fsp.readdir(dir)).filter((n) => n.endsWith('.jpg')).sort()) {
    const { width, height } = imageSize(await fsp.readFile(path.join(dir, f)));
    if (width === 4096 && height === 2160) out.push(path.join(dir, f));
  }
  if (out.length === 0) throw new Error(`no 4096x2160 JPEGs in ${dir}; run npm run build-models first`);
  return out;
}

/** Serves `files` from memory on 127.0.0.1. */
export async function serveFiles(files: string[]): Promise<{ urls: string[]; close(): void }> {
  const bodies = new Map<string, Buffer>();
  for (const f of files) bodies.set(`/${path.basename(f)}`, await fsp.readFile(f));
  const server = http.createServer((req, res) => {
    const body = bodies.get(req.url ?? '');
    res.writeHead(body ? 200 : 404, { 'content-type': 'image/jpeg' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { urls: [...bodies.keys()].map((p) => `http://127.0.0.1:${port}${p}`), close: () => server.close() };
}

/** A TCP port free on 127.0.0.1 right now (for a child server to listen on). */
export async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

export interface RunningServer {
  base: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `dist/src/server.js` with `env` on a free port and waits for /readyz. With a `label`, the server is
 * also stopped when this process is interrupted (Ctrl-C), start-up included.
 */
export async function startServer(env: Record<string, string>, label?: string): Promise<RunningServer> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [path.join(root, 'dist', 'src', 'server.js')], {
    cwd: root,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const onExit = label === undefined ? null : stopChildOnExit(child, label);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) child.kill('SIGTERM');
    onExit?.();
    await exited;
  };
  const t0 = performance.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode}`);
    const r = await fetch(`${base}/readyz`).catch(() => null);
    if (r?.status === 200) return { base, child, stop };
    if (performance.now() - t0 > 180_000) {
      await stop();
      throw new Error('server did not become ready in 180 s');
    }
    await new Promise((r2) => setTimeout(r2, 200));
  }
}

/** One image through `POST /process`; throws on anything but a 200 with that image. */
export async function processOne(base: string, pipeline: string, id: string, url: string): Promise<void> {
  const res = await fetch(`${base}/process`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ pipeline, source_images: [{ id, url }], detections: [], config: {} }),
  });
  const body = (await res.json()) as { source_images?: unknown[]; errors?: unknown };
  if (res.status !== 200 || body.source_images?.length !== 1)
    throw new Error(`request ${id} failed: HTTP ${res.status} ${JSON.stringify(body.errors)}`);
}

/** The `Server-Timing` header's stages in seconds (`detect;dur=812.3` → `{ detect: 0.8123 }`). */
export function parseServerTiming(header: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of (header ?? '').split(',')) {
    const m = /^\s*([\w-]+);dur=([\d.]+)/.exec(part);
    if (m) out[m[1]] = Number(m[2]) / 1000;
  }
  return out;
}

/** Every series of metric `name` in /metrics, keyed by its label set (`""` when it has none). */
export async function metricSeries(base: string, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? ([\\d.e+-]+|NaN)$`, 'gm')))
    out.set(m[1] ?? '', Number(m[2]));
  return out;
}

/** `clients` loops sending `total` requests between them; returns the wall-clock seconds. */
export async function drive(
  total: number,
  clients: number,
  send: (i: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < total) await send(next++);
    }),
  );
  return (performance.now() - t0) / 1000;
}

/** The `q` quantile of `xs` (the element at rank ⌊q·n⌋, no interpolation); NaN when empty. */
export const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? NaN
    : s.length % 2
      ? s[(s.length - 1) / 2]
      : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The machine, for every report: figures mean nothing without it. */
export function machine(): Record<string, unknown> {
  return {
    cpus: os.cpus().length,
    available: os.availableParallelism(),
    model: os.cpus()[0]?.model,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
    node: process.version,
  };
}

/**
 * Why the native (tfjs-node) column cannot run here, or null when `npm run native` has built tfjs-node's addon
 * in this checkout. The benches print the reason in place of the column.
 */
export function nativeUnavailable(): string | null {
  const addon = nativeAddonPath('@tensorflow/tfjs-node');
  if (addon === null)
    return '@tensorflow/tfjs-node is not installed (`npm run native` installs and builds it)';
  if (!fs.existsSync(addon))
    return `tfjs-node's addon ${addon} is missing: \`npm run native\` has not been run`;
  return null;
}

/** The line a bench child process prints its result on (JSON after the marker). */
export const RESULT_MARKER = 'BENCH_RESULT ';

/**
 * Runs one of the bench scripts (`name`: e.g. `detector`) in a child process with `env` added, the compiled
 * JS next to this file or, from sources, the TypeScript through ts-node. Its output goes to stderr as it comes,
 * except the line marked RESULT_MARKER, whose JSON it resolves with. The child is stopped when this process is
 * interrupted. Rejects with the child's exit code when it prints no result.
 */
export async function benchChild<T>(
  name: string,
  env: Record<string, string>,
  args: string[] = [],
): Promise<T> {
  const ts = path.extname(__filename) === '.ts';
  const file = path.join(__dirname, `${name}${ts ? '.ts' : '.js'}`);
  const child = spawn(
    process.execPath,
    [...(ts ? ['-r', 'ts-node/register/transpile-only'] : []), file, ...args],
    { cwd: root, env: { ...process.env, BENCH_CHILD: '1', ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const stop = stopChildOnExit(child, `the ${name} bench child`);
  let result: T | undefined;
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith(RESULT_MARKER)) result = JSON.parse(line.slice(RESULT_MARKER.length)) as T;
      else process.stderr.write(`    ${line}\n`);
    }
  });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  stop();
  if (result === undefined)
    throw new Error(`bench/${name} (${JSON.stringify(env)}) exited with ${code} and no result`);
  return result;
}
