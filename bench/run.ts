/**
 * `npm run bench`: drives the real server (a child process) with the 4096×2160 samples served from a local
 * HTTP server, the way Antenna does (one image per request, sequentially) and with concurrency, and reports
 * throughput, latency, per-stage time (from the Server-Timing header), memory and /readyz latency under load.
 *
 * Settings (environment): BENCH_PIPELINE (default tfjs_synthetic_moths_2026), BENCH_REQUESTS (sequential
 * requests, default 300: RSS is flat after the first ~100, and the whole `npm run bench` stays near a quarter
 * of an hour; 1000 was the old default), BENCH_CONCURRENT_REQUESTS (default 40), BENCH_CONCURRENCY (default 4),
 * BENCH_SAMPLES (glob-free directory, default samples/), TFJS_BACKEND (default wasm).
 */
import { spawn } from 'child_process';
import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { stopChildOnExit } from './child-cleanup';
import { fourKSamples, freePort, parseServerTiming, quantile, root } from './harness';
import { Progress, formatDuration } from './progress';
import { serveDirectory } from './sample-server';
import { runAdcBench } from './adc';
import { runBackendBenches } from './backends';
import { runScalingBenches } from './scaling';

const env = (name: string, def: string): string => process.env[name] ?? def;
const PIPELINE = env('BENCH_PIPELINE', 'tfjs_synthetic_moths_2026');
const SEQUENTIAL = Number(env('BENCH_REQUESTS', '300'));
const CONCURRENT = Number(env('BENCH_CONCURRENT_REQUESTS', '40'));
const CONCURRENCY = Number(env('BENCH_CONCURRENCY', '4'));
const SAMPLES = path.resolve(root, env('BENCH_SAMPLES', 'samples'));

const median = (xs: number[]): number => quantile(xs, 0.5);
const ms = (s: number): string => `${(s * 1000).toFixed(1)} ms`;

interface Sample {
  latency: number;
  stages: Record<string, number>;
  images: number;
  /** Images in the pipeline run that served the request (cross-request batching). */
  batch: number;
}

async function processOne(base: string, id: string, url: string): Promise<Sample> {
  const t0 = performance.now();
  const res = await fetch(`${base}/process`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip' },
    body: JSON.stringify({ pipeline: PIPELINE, source_images: [{ id, url }], detections: [], config: {} }),
  });
  const body = (await res.json()) as { source_images: unknown[]; errors: unknown };
  const latency = (performance.now() - t0) / 1000;
  if (res.status !== 200 || body.source_images.length !== 1) {
    throw new Error(`request ${id} failed: HTTP ${res.status} ${JSON.stringify(body.errors)}`);
  }
  const timing = res.headers.get('server-timing');
  const batch = Number(/batch;desc=(\d+)/.exec(timing ?? '')?.[1] ?? 1);
  return { latency, stages: parseServerTiming(timing), images: 1, batch };
}

async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Polls /readyz every 50 ms while `during` runs; returns the latencies. */
async function probeReadyz(base: string, during: Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  let done = false;
  void during.finally(() => (done = true));
  while (!done) {
    const t0 = performance.now();
    await fetch(`${base}/readyz`);
    latencies.push((performance.now() - t0) / 1000);
    await new Promise((r) => setTimeout(r, 50));
  }
  return latencies;
}

function summarise(name: string, samples: Sample[], wall: number): Record<string, unknown> {
  const stageNames = ['download', 'queue', 'decode', 'detect', 'classify', 'serialize'];
  return {
    name,
    requests: samples.length,
    imagesPerSecond: samples.reduce((n, s) => n + s.images, 0) / wall,
    p50: median(samples.map((s) => s.latency)),
    p95: quantile(
      samples.map((s) => s.latency),
      0.95,
    ),
    meanBatchImages: samples.reduce((n, s) => n + s.batch, 0) / samples.length,
    stagesMedian: Object.fromEntries(
      stageNames.map((st) => [st, median(samples.map((s) => s.stages[st] ?? 0))]),
    ),
  };
}

async function jimpDecodeSeconds(file: string, runs = 3): Promise<number> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Jimp } = require('jimp') as typeof import('jimp');
  const bytes = await fsp.readFile(file);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await Jimp.fromBuffer(bytes);
    times.push((performance.now() - t0) / 1000);
  }
  return median(times);
}

async function main(): Promise<void> {
  // BENCH_DETECTOR=1: bench/detector.ts instead (converter + ObjectDetector vs onnxruntime on a Faster R-CNN).
  if (process.env.BENCH_DETECTOR === '1') {
    await (await import('./detector')).runDetectorBench();
    return;
  }
  const files = await fourKSamples(SAMPLES);
  const sampleServer = await serveDirectory(SAMPLES);
  const samples = { urls: files.map((f) => sampleServer.url(path.basename(f))) };
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(process.execPath, [path.join(root, 'dist', 'src', 'server.js')], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ENABLED_PIPELINES: PIPELINE,
      TFJS_BACKEND: env('TFJS_BACKEND', 'wasm'),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  // Interrupted (Ctrl-C, kill -INT/-TERM): stop the child server too, or it keeps running on its port.
  const stop = stopChildOnExit(server, 'the bench and its server', () => void sampleServer.close());
  process.stderr.write(
    `bench: ${SEQUENTIAL} sequential, then ${CONCURRENT} concurrent requests (${PIPELINE}); ` +
      'each phase shows its progress and ETA\n',
  );
  try {
    const t0 = performance.now();
    for (;;) {
      const r = await fetch(`${base}/readyz`).catch(() => null);
      if (r?.status === 200) break;
      if (performance.now() - t0 > 120_000) throw new Error('server did not become ready in 120 s');
      await new Promise((r2) => setTimeout(r2, 200));
    }
    const startup = (performance.now() - t0) / 1000;
    process.stderr.write(`server ready in ${formatDuration(startup)}\n`);

    // 1) Antenna style: one image per request, one after another.
    const sequential: Sample[] = [];
    const rss: Record<number, number> = {};
    const tensors: Record<number, number> = {};
    const seqStart = performance.now();
    const seqProgress = new Progress('sequential requests', SEQUENTIAL);
    const seqRun = (async () => {
      for (let i = 1; i <= SEQUENTIAL; i++) {
        sequential.push(await processOne(base, String(i), samples.urls[i % samples.urls.length]));
        seqProgress.tick();
        if (i === 1 || i === 100 || i === SEQUENTIAL || i % 250 === 0) {
          rss[i] = await metric(base, 'process_resident_memory_bytes');
          tensors[i] = await metric(base, 'tfjs_num_tensors');
          process.stderr.write(
            `${process.stderr.isTTY ? '\n' : ''}  ${i}: rss ${(rss[i] / 2 ** 20).toFixed(0)} MiB, tensors ${tensors[i]}\n`,
          );
        }
      }
    })();
    const readyzSequential = await probeReadyz(base, seqRun);
    await seqRun;
    seqProgress.done();
    const seqWall = (performance.now() - seqStart) / 1000;

    // 2) Concurrent: CONCURRENCY clients at once.
    const conProgress = new Progress(`concurrent requests (concurrency ${CONCURRENCY})`, CONCURRENT);
    const concurrent: Sample[] = [];
    let next = 0;
    const conStart = performance.now();
    const conRun = Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < CONCURRENT) {
          const i = next++;
          concurrent.push(await processOne(base, `c${i}`, samples.urls[i % samples.urls.length]));
          conProgress.tick();
        }
      }),
    );
    const readyzConcurrent = await probeReadyz(base, conRun);
    await conRun;
    conProgress.done();
    const conWall = (performance.now() - conStart) / 1000;

    const jimp = await jimpDecodeSeconds(files[0]);
    const decode = median(sequential.map((s) => s.stages.decode ?? NaN));
    const rssGrowth =
      rss[SEQUENTIAL] !== undefined && rss[100] !== undefined ? rss[SEQUENTIAL] / rss[100] - 1 : NaN;
    const report = {
      date: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model,
        memGiB: Math.round(os.totalmem() / 2 ** 30),
        node: process.version,
      },
      pipeline: PIPELINE,
      backend: env('TFJS_BACKEND', 'wasm'),
      startupSeconds: startup,
      sequential: summarise('sequential, 1 image per request', sequential, seqWall),
      concurrent: summarise(`concurrency ${CONCURRENCY}`, concurrent, conWall),
      readyz: {
        duringSequential: {
          n: readyzSequential.length,
          p50: median(readyzSequential),
          p99: quantile(readyzSequential, 0.99),
          max: Math.max(...readyzSequential),
        },
        duringConcurrent: {
          n: readyzConcurrent.length,
          p50: median(readyzConcurrent),
          p99: quantile(readyzConcurrent, 0.99),
          max: Math.max(...readyzConcurrent),
        },
      },
      memory: { rssBytesAt: rss, numTensorsAt: tensors, rssGrowth100ToLast: rssGrowth },
      decode: { pipelineDecodeMedian: decode, jimpDecodeMedian: jimp, ratio: decode / jimp },
      targets: {
        decodeAtMost0_2xJimp: decode / jimp <= 0.2,
        rssGrowthUnder10Percent: rssGrowth < 0.1,
        readyzP99Under100ms: quantile([...readyzSequential, ...readyzConcurrent], 0.99) < 0.1,
      },
    };
    await fsp.mkdir(path.join(root, 'bench-results'), { recursive: true });
    await fsp.writeFile(path.join(root, 'bench-results', 'latest.json'), JSON.stringify(report, null, 2));
    const fmtStages = (s: Record<string, unknown>) =>
      Object.entries(s.stagesMedian as Record<string, number>)
        .map(([k, v]) => `${k} ${ms(v)}`)
        .join(', ');
    const lines = [
      `pipeline ${PIPELINE} on ${report.backend}, ${report.machine.cpus} CPUs (${report.machine.model}), Node ${process.version}`,
      `startup to ready: ${startup.toFixed(1)} s`,
      ...[report.sequential, report.concurrent].map(
        (s) =>
          `${String(s.name)}: ${String(s.requests)} requests, ${(s.imagesPerSecond as number).toFixed(2)} images/s, p50 ${ms(s.p50 as number)}, p95 ${ms(s.p95 as number)}, mean effective batch ${(s.meanBatchImages as number).toFixed(2)} images\n    stage medians: ${fmtStages(s)}`,
      ),
      `/readyz under load: p50 ${ms(report.readyz.duringSequential.p50)} / p99 ${ms(report.readyz.duringSequential.p99)} (sequential), p50 ${ms(report.readyz.duringConcurrent.p50)} / p99 ${ms(report.readyz.duringConcurrent.p99)} (concurrent)`,
      `memory: RSS ${Object.entries(rss)
        .map(([k, v]) => `#${k} ${(v / 2 ** 20).toFixed(0)} MiB`)
        .join(', ')}; growth from #100 to #${SEQUENTIAL}: ${(rssGrowth * 100).toFixed(1)}%`,
      `numTensors after requests: ${Object.entries(tensors)
        .map(([k, v]) => `#${k} ${v}`)
        .join(', ')}`,
      `decode of a 4K JPEG: pipeline ${ms(decode)} vs plain jimp ${ms(jimp)} = ${(decode / jimp).toFixed(3)}x`,
      `targets: ${JSON.stringify(report.targets)}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    stop();
  }
}

// Then the side-by-side runs once this server has stopped: threads and the classifier stage (bench/scaling.ts;
// BENCH_SCALING=0 skips them), the backends with native TensorFlow (bench/backends.ts; BENCH_BACKENDS=0), ADC's
// own API against ours where ADC_SOURCE and ADC_CHECKPOINTS are set (bench/adc.ts; BENCH_ADC=0), and with
// BENCH_WIDE=1 the 29,176-class response case (bench/wide-classifier.ts).
main()
  .then(runScalingBenches)
  .then(runBackendBenches)
  .then(() => (process.env.BENCH_ADC === '0' ? null : runAdcBench()))
  .then(async () =>
    process.env.BENCH_WIDE === '1' ? (await import('./wide-classifier')).runWideClassifierBench() : null,
  )
  .catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
