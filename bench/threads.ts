/**
 * INFERENCE_THREADS=1 against =N on the default pipeline (docs/benchmarks.md#scaling-on-the-wasm-path,
 * comparison 1): the real server, the shipped 4K samples, `BENCH_CONCURRENCY` clients in flight (default 4),
 * the two settings alternating (1, N, 1, N, ...) so that a load change on a shared machine hits both alike.
 * Reports images/s per run, the median per setting, their ratio, and the RSS cost of each thread beyond the
 * first.
 *
 * Settings (environment): BENCH_PIPELINE (default tfjs_synthetic_moths_2026), BENCH_THREADS (N, default the
 * cores available), BENCH_THREAD_REQUESTS (measured requests per run, default 24), BENCH_THREAD_ROUNDS
 * (default 2), BENCH_CONCURRENCY (default 4), BENCH_SAMPLES (default samples/), TFJS_BACKEND (default wasm),
 * BENCH_THREAD_WASM (default 1: also run 1 thread with WASM_THREADS=N, the threaded wasm build; 0 skips).
 * Run alone: `node dist/bench/threads.js`.
 */
import * as path from 'path';
import { availableCores } from '../src/util/available-cores';
import {
  drive,
  fourKSamples,
  machine,
  median,
  metricSeries,
  processOne,
  root,
  serveFiles,
  startServer,
} from './harness';

const env = (name: string, def: string): string => process.env[name] ?? def;

export interface ThreadsRun {
  threads: number;
  /** WASM_THREADS: XNNPACK threads per inference thread (1: the single-threaded build). */
  wasmThreads: number;
  imagesPerSecond: number;
  /** RSS once every thread is warm, before any request: the fixed cost (runtime, models) of the threads. */
  rssReadyMiB: number;
  /** RSS after the measured requests: plus the working set of the images in flight. */
  rssMiB: number;
}

export interface ThreadsReport {
  pipeline: string;
  backend: string;
  clients: number;
  requestsPerRun: number;
  runs: ThreadsRun[];
  /** Median images/s with N threads over median with 1. */
  ratio: number;
  /** Median images/s with 1 thread of the threaded build (WASM_THREADS=N) over median with 1; null if not run. */
  wasmThreadsRatio: number | null;
  /** (median warm RSS with N threads − with 1) / (N − 1), MiB: what each extra thread costs before any work. */
  rssPerExtraThreadMiB: number;
  lines: string[];
}

/** Waits until each of `threads` threads has every pipeline warm (the pool serves as soon as one has). */
export async function allThreadsWarm(base: string, threads: number): Promise<void> {
  const t0 = performance.now();
  for (;;) {
    const ready = await metricSeries(base, 'inference_thread_pipelines_ready');
    if (ready.size === threads && [...ready.values()].every((v) => v >= 1)) return;
    if (performance.now() - t0 > 180_000) throw new Error(`${threads} threads not warm after 180 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function runThreadsBench(): Promise<ThreadsReport> {
  const pipeline = env('BENCH_PIPELINE', 'tfjs_synthetic_moths_2026');
  const backend = env('TFJS_BACKEND', 'wasm');
  const n = Number(env('BENCH_THREADS', String(Math.max(2, availableCores()))));
  const requests = Number(env('BENCH_THREAD_REQUESTS', '24'));
  const rounds = Number(env('BENCH_THREAD_ROUNDS', '2'));
  const clients = Number(env('BENCH_CONCURRENCY', '4'));
  const samples = await serveFiles(await fourKSamples(path.resolve(root, env('BENCH_SAMPLES', 'samples'))));
  // INFERENCE_THREADS × WASM_THREADS: 1×1 (before threads), N×1 (the default), 1×N (the threaded wasm build).
  const settings: [number, number][] = [
    [1, 1],
    [n, 1],
  ];
  if (backend === 'wasm' && env('BENCH_THREAD_WASM', '1') !== '0') settings.push([1, n]);
  const runs: ThreadsRun[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [threads, wasmThreads] of settings) {
        const server = await startServer({
          ENABLED_PIPELINES: pipeline,
          TFJS_BACKEND: backend,
          INFERENCE_THREADS: String(threads),
          WASM_THREADS: String(wasmThreads),
        });
        try {
          await allThreadsWarm(server.base, threads);
          const ready = (await metricSeries(server.base, 'process_resident_memory_bytes')).get('') ?? NaN;
          const url = (i: number): string => samples.urls[i % samples.urls.length];
          // Unmeasured: two requests per thread, so every thread has run the pipeline once.
          await drive(2 * threads, clients, (i) => processOne(server.base, pipeline, `w${i}`, url(i)));
          const wall = await drive(requests, clients, (i) =>
            processOne(server.base, pipeline, `r${i}`, url(i)),
          );
          const rss = (await metricSeries(server.base, 'process_resident_memory_bytes')).get('') ?? NaN;
          const run = {
            threads,
            wasmThreads,
            imagesPerSecond: requests / wall,
            rssReadyMiB: ready / 2 ** 20,
            rssMiB: rss / 2 ** 20,
          };
          runs.push(run);
          process.stderr.write(
            `  INFERENCE_THREADS ${threads} WASM_THREADS ${wasmThreads}: ${run.imagesPerSecond.toFixed(2)} images/s, RSS ${run.rssReadyMiB.toFixed(0)} MiB ready, ${run.rssMiB.toFixed(0)} MiB after\n`,
          );
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    samples.close();
  }
  const pick = (t: number, w: number): ThreadsRun[] =>
    runs.filter((r) => r.threads === t && r.wasmThreads === w);
  const of = (t: number, w: number, k: 'imagesPerSecond' | 'rssReadyMiB' | 'rssMiB'): number =>
    median(pick(t, w).map((r) => r[k]));
  const list = (t: number, w: number): string =>
    pick(t, w)
      .map((r) => r.imagesPerSecond.toFixed(2))
      .join(', ');
  const ratio = of(n, 1, 'imagesPerSecond') / of(1, 1, 'imagesPerSecond');
  const wasmThreadsRatio =
    pick(1, n).length > 0 ? of(1, n, 'imagesPerSecond') / of(1, 1, 'imagesPerSecond') : null;
  const rssPerExtraThreadMiB = (of(n, 1, 'rssReadyMiB') - of(1, 1, 'rssReadyMiB')) / (n - 1);
  const lines = [
    `INFERENCE_THREADS 1 vs ${n}: ${pipeline} on ${backend}, 4K samples, ${clients} clients, ${requests} requests per run, ${rounds} rounds alternating`,
    `  images/s: 1 thread ${list(1, 1)}; ${n} threads ${list(n, 1)}`,
    `  median ${of(1, 1, 'imagesPerSecond').toFixed(2)} -> ${of(n, 1, 'imagesPerSecond').toFixed(2)} images/s = ${ratio.toFixed(2)}x (target >= 1.7x from 1 to 2 threads on 2 cores)`,
    ...(wasmThreadsRatio === null
      ? []
      : [
          `  1 thread with WASM_THREADS=${n} (threaded SIMD build): ${list(1, n)} images/s, median ${of(1, n, 'imagesPerSecond').toFixed(2)} = ${wasmThreadsRatio.toFixed(2)}x`,
        ]),
    `  RSS warm, before requests: ${of(1, 1, 'rssReadyMiB').toFixed(0)} MiB with 1 thread, ${of(n, 1, 'rssReadyMiB').toFixed(0)} MiB with ${n}: ${rssPerExtraThreadMiB.toFixed(0)} MiB per extra thread`,
    `  RSS after the run (plus the images in flight, which the threads share out): ${of(1, 1, 'rssMiB').toFixed(0)} MiB with 1 thread, ${of(n, 1, 'rssMiB').toFixed(0)} MiB with ${n}`,
  ];
  return {
    pipeline,
    backend,
    clients,
    requestsPerRun: requests,
    runs,
    ratio,
    wasmThreadsRatio,
    rssPerExtraThreadMiB,
    lines,
  };
}

if (require.main === module) {
  runThreadsBench().then(
    (r) => process.stdout.write(`${JSON.stringify(machine())}\n${r.lines.join('\n')}\n`),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
