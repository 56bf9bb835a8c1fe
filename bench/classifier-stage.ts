/**
 * The classifier stage alone (docs/benchmarks.md#scaling-on-the-wasm-path, comparison 2): a ResNet-50 at 128
 * px with random weights, batch 32, generated here (test/convert/models.ts; never committed) and converted
 * with our converter, run
 *   - on tfjs-wasm in k = 1..N inference threads (each a worker thread with its own backend and model copy,
 *     as INFERENCE_THREADS runs them), all computing at once;
 *   - on tfjs-wasm in one thread with the threaded SIMD build and k XNNPACK threads (WASM_THREADS=k);
 *   - on native TensorFlow (tfjs-node built by `npm run native`) in one thread, as INFERENCE_THREADS=auto runs it,
 *     with libtensorflow's intra-op pool at k threads (TF_NUM_INTRAOP_THREADS=k, which libtensorflow reads when
 *     it loads, hence a child process per k); the column says why when the addon is not built;
 *   - on onnxruntime-node with k intra-op threads, on the same ONNX file;
 *   - on PyTorch CPU with torch.set_num_threads(k) (scripts/torch-bench.py on Debian's python3-torch, the same
 *     torchvision layout; the column is skipped with a note when torch cannot be imported).
 * Reports crops/s, ratios to PyTorch, and the RSS each tfjs thread adds with ResNet-50 loaded.
 *
 * Settings (environment): BENCH_STAGE_THREADS (N, default the cores available), BENCH_STAGE_SECONDS (timed
 * seconds per configuration, default 6; at least 3 batches), BENCH_STAGE_BATCH (default 32), BENCH_STAGE_SIZE
 * (default 128), BENCH_PYTHON (default /usr/bin/python3). Run alone: `node dist/bench/classifier-stage.js`.
 */
import { execFile } from 'child_process';
import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { Worker, isMainThread, parentPort, workerData } from 'worker_threads';
import { resnet50 } from '../test/convert/models';
import { convertOnnxToModelDir } from '../src/convert/model-dir';
import { availableCores } from '../src/util/available-cores';
import { benchChild, machine, nativeUnavailable, RESULT_MARKER, root } from './harness';

const execFileAsync = promisify(execFile);
const env = (name: string, def: string): string => process.env[name] ?? def;

interface StageJob {
  modelDir: string;
  batch: number;
  size: number;
  seconds: number;
  /** XNNPACK threads in each tfjs thread (WASM_THREADS): 1 is the single-threaded build. */
  wasmThreads: number;
}

/** What a timed loop measured: crops per second, and how many batches it ran. */
interface Timed {
  cropsPerSecond: number;
  batches: number;
}

/** Calls `step` for at least `seconds` and 3 batches, after one untimed warm-up call. */
async function timeLoop(step: () => Promise<void>, batch: number, seconds: number): Promise<Timed> {
  await step();
  let batches = 0;
  const t0 = performance.now();
  while (batches < 3 || performance.now() - t0 < seconds * 1000) {
    await step();
    batches++;
  }
  return { cropsPerSecond: (batches * batch) / ((performance.now() - t0) / 1000), batches };
}

// ---- inside a tfjs worker thread ---------------------------------------------------------------------------

/**
 * Loads the converted model on `backend` and warms it up; `step` runs one batch of `[batch, size, size, 3]`
 * NHWC float32 crops (the layout the service feeds its classifiers) and reads the result back.
 */
async function loadStage(
  job: StageJob,
  backend: 'wasm' | 'tensorflow',
): Promise<{ step: () => Promise<void>; dispose: () => void }> {
  const tf = await import('@tensorflow/tfjs');
  const { initBackend } = await import('../src/tf/backend');
  const { loadGraphModelFromDir } = await import('../src/models/graph-model-loader');
  await initBackend(backend, { wasmThreads: job.wasmThreads });
  const model = await loadGraphModelFromDir(job.modelDir);
  const x = tf.randomUniform([job.batch, job.size, job.size, 3]);
  const step = async (): Promise<void> => {
    const y = model.execute(x) as import('@tensorflow/tfjs').Tensor;
    await y.data();
    y.dispose();
  };
  await step();
  return {
    step,
    dispose: () => {
      x.dispose();
      model.dispose();
    },
  };
}

/** One tfjs inference thread: load, warm, say ready, wait for go, run the timed loop, report. */
async function tfjsThread(job: StageJob): Promise<void> {
  const port = parentPort!;
  const stage = await loadStage(job, 'wasm');
  port.postMessage({ type: 'ready' });
  await new Promise((r) => port.once('message', r));
  const timed = await timeLoop(stage.step, job.batch, job.seconds);
  stage.dispose();
  port.postMessage({ type: 'done', timed });
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === 'tfjs-stage') {
  void tfjsThread((workerData as { job: StageJob }).job).catch((err: Error) => {
    parentPort!.postMessage({ type: 'error', message: err.message });
  });
}

// ---- in a native child process ------------------------------------------------------------------------------

/** tfjs-node in this (child) process, libtensorflow's threads as the environment set them: timed loop. */
async function nativeChild(job: StageJob): Promise<Timed> {
  const stage = await loadStage(job, 'tensorflow');
  return timeLoop(stage.step, job.batch, job.seconds);
}

// ---- main thread -------------------------------------------------------------------------------------------

/** Native TensorFlow with k intra-op threads (a child process each: the pool is sized when TF loads). */
async function nativeThreads(job: StageJob, k: number): Promise<Timed> {
  return benchChild<Timed>('classifier-stage', {
    BENCH_STAGE_NATIVE_JOB: JSON.stringify(job),
    TF_NUM_INTRAOP_THREADS: String(k),
  });
}

/** Starts this file as a worker thread (compiled JS, or TypeScript through ts-node from sources). */
function spawnThread(job: StageJob): Worker {
  const data = { role: 'tfjs-stage', job };
  if (path.extname(__filename) === '.ts') {
    const boot = `require('ts-node').register({ transpileOnly: true }); require(${JSON.stringify(__filename)});`;
    return new Worker(boot, { eval: true, workerData: data });
  }
  return new Worker(__filename, { workerData: data });
}

const rss = (): number => process.memoryUsage.rss() / 2 ** 20;

/** k tfjs-wasm threads computing at once; total crops/s and the RSS they added once loaded. */
async function tfjsThreads(job: StageJob, k: number): Promise<Timed & { rssPerThreadMiB: number }> {
  const before = rss();
  const threads = Array.from({ length: k }, () => spawnThread(job));
  const next = (w: Worker): Promise<{ type: string; timed?: Timed; message?: string }> =>
    new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
  try {
    const ready = await Promise.all(threads.map(next));
    const failed = ready.find((m) => m.type === 'error');
    if (failed) throw new Error(`tfjs thread: ${failed.message}`);
    const loaded = rss();
    const done = threads.map(next);
    for (const w of threads) w.postMessage('go');
    const results = await Promise.all(done);
    const timed = results.map((m) => {
      if (!m.timed) throw new Error(`tfjs thread: ${m.message}`);
      return m.timed;
    });
    return {
      cropsPerSecond: timed.reduce((s, t) => s + t.cropsPerSecond, 0),
      batches: timed.reduce((s, t) => s + t.batches, 0),
      rssPerThreadMiB: (loaded - before) / k,
    };
  } finally {
    await Promise.all(threads.map((w) => w.terminate()));
  }
}

/** onnxruntime-node with k intra-op threads on the ONNX file. */
async function ortThreads(onnxPath: string, job: StageJob, k: number): Promise<Timed> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  const session = await ort.InferenceSession.create(onnxPath, {
    intraOpNumThreads: k,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  try {
    const data = new Float32Array(job.batch * 3 * job.size * job.size).map(() => Math.random());
    const feeds = {
      [session.inputNames[0]]: new ort.Tensor('float32', data, [job.batch, 3, job.size, job.size]),
    };
    return await timeLoop(
      async () => {
        await session.run(feeds);
      },
      job.batch,
      job.seconds,
    );
  } finally {
    await session.release();
  }
}

/** PyTorch CPU through scripts/torch-bench.py; null with the reason when torch is not there. */
async function torchThreads(job: StageJob, k: number): Promise<Timed | { skipped: string }> {
  const python = env('BENCH_PYTHON', '/usr/bin/python3');
  const args = [path.join(root, 'scripts', 'torch-bench.py'), '--threads', String(k)];
  args.push('--batch', String(job.batch), '--size', String(job.size), '--seconds', String(job.seconds));
  try {
    const { stdout } = await execFileAsync(python, args, { timeout: 600_000 });
    const out = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Timed & { skipped?: string };
    return out.skipped ? { skipped: out.skipped } : out;
  } catch (err) {
    return { skipped: `${python} scripts/torch-bench.py failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

export interface StageRow {
  threads: number;
  tfjsWasm: number;
  tfjsWasmThreadedBuild: number;
  /** tfjs-node, one inference thread, k intra-op threads; null when the native backend is not built. */
  tfjsNative: number | null;
  ort: number;
  torch: number | null;
  tfjsRssPerThreadMiB: number;
}

export interface StageReport {
  batch: number;
  size: number;
  rows: StageRow[];
  torchNote: string | null;
  /** Why the native column is empty, or null. */
  nativeNote: string | null;
  lines: string[];
}

export async function runClassifierStageBench(): Promise<StageReport> {
  const n = Number(env('BENCH_STAGE_THREADS', String(Math.max(2, availableCores()))));
  const batch = Number(env('BENCH_STAGE_BATCH', '32'));
  const size = Number(env('BENCH_STAGE_SIZE', '128'));
  const seconds = Number(env('BENCH_STAGE_SECONDS', '6'));
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'bench-resnet50-'));
  try {
    process.stderr.write(`generating and converting ResNet-50 (${size} px, random weights) in ${tmp}...\n`);
    const onnxPath = path.join(tmp, 'resnet50.onnx');
    await fsp.writeFile(onnxPath, resnet50({ classes: 1000, size }));
    const modelDir = path.join(tmp, 'tfjs');
    await convertOnnxToModelDir({
      onnxPath,
      outDir: modelDir,
      algorithm: { key: 'bench-resnet50', name: 'ResNet-50 (bench, random weights)', version: 1 },
      labels: Array.from({ length: 1000 }, (_, i) => `class ${i}`),
      taxonRank: 'SPECIES',
    });
    const job: StageJob = { modelDir, batch, size, seconds, wasmThreads: 1 };
    const rows: StageRow[] = [];
    let torchNote: string | null = null;
    const nativeNote = nativeUnavailable();
    for (let k = 1; k <= n; k++) {
      const tfjs = await tfjsThreads(job, k);
      // One inference thread on k cores: the wasm backend's threaded SIMD build (WASM_THREADS=k).
      const xnn = k > 1 ? await tfjsThreads({ ...job, wasmThreads: k }, 1) : tfjs;
      const native = nativeNote === null ? await nativeThreads(job, k) : null;
      const ort = await ortThreads(onnxPath, job, k);
      const torch = await torchThreads(job, k);
      if ('skipped' in torch) torchNote = torch.skipped;
      const row: StageRow = {
        threads: k,
        tfjsWasm: tfjs.cropsPerSecond,
        tfjsWasmThreadedBuild: xnn.cropsPerSecond,
        tfjsNative: native?.cropsPerSecond ?? null,
        ort: ort.cropsPerSecond,
        torch: 'skipped' in torch ? null : torch.cropsPerSecond,
        tfjsRssPerThreadMiB: tfjs.rssPerThreadMiB,
      };
      rows.push(row);
      process.stderr.write(`  ${k} thread(s): ${JSON.stringify(row)}\n`);
    }
    const best = (r: StageRow): number => Math.max(r.tfjsWasm, r.tfjsWasmThreadedBuild);
    const f = (v: number | null): string => (v === null ? '-' : v.toFixed(1));
    const ratio = (a: number | null, b: number | null): string => (a && b ? `${(a / b).toFixed(2)}x` : '-');
    const lines = [
      `classifier stage: ResNet-50 ${size} px, batch ${batch}, random weights; crops/s (all threads together)`,
      '  threads | tfjs-wasm (k inference threads) | tfjs-wasm (1 thread, WASM_THREADS=k) | tfjs-node native (1 thread, k TF intra-op) | onnxruntime-node (k intra-op) | PyTorch CPU (k threads) | best wasm/PyTorch | native/PyTorch | native/ORT | tfjs-wasm RSS per thread',
      ...rows.map(
        (r) =>
          `  ${r.threads} | ${f(r.tfjsWasm)} | ${f(r.tfjsWasmThreadedBuild)} | ${f(r.tfjsNative)} | ${f(r.ort)} | ${f(r.torch)} | ${ratio(best(r), r.torch)} | ${ratio(r.tfjsNative, r.torch)} | ${ratio(r.tfjsNative, r.ort)} | ${r.tfjsRssPerThreadMiB.toFixed(0)} MiB`,
      ),
      ...(torchNote ? [`  PyTorch column skipped: ${torchNote}`] : []),
      ...(nativeNote ? [`  native column skipped: ${nativeNote}`] : []),
      `  targets: tfjs-wasm >= 0.5x PyTorch, native >= 1x PyTorch, on the same number of cores`,
    ];
    return { batch, size, rows, torchNote, nativeNote, lines };
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

if (isMainThread && require.main === module && process.env.BENCH_STAGE_NATIVE_JOB) {
  nativeChild(JSON.parse(process.env.BENCH_STAGE_NATIVE_JOB) as StageJob).then(
    (timed) => process.stdout.write(`${RESULT_MARKER}${JSON.stringify(timed)}\n`),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
} else if (isMainThread && require.main === module) {
  runClassifierStageBench().then(
    (r) => process.stdout.write(`${JSON.stringify(machine())}\n${r.lines.join('\n')}\n`),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
