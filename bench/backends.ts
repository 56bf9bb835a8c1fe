/**
 * The backends side by side: native TensorFlow (tfjs-node built by `npm run native`) next to tfjs-wasm,
 * onnxruntime-node and PyTorch, on the same machine in one run, for three workloads:
 *
 * 1. the default pipeline through the HTTP service (the real server, the shipped 4K samples), wasm and native
 *    each with INFERENCE_THREADS=auto (a thread per core on wasm, one on native), servers alternating
 *    wasm, native, wasm, native so that a change of load hits both alike: images/s with BENCH_CONCURRENCY clients
 *    and the latency of one request at a time;
 * 2. the ResNet-50 classifier stage (bench/classifier-stage.ts, with its native column; the scaling benches
 *    have run it already when they ran, else it runs here);
 * 3. Faster R-CNN per 4096×2160 image (bench/detector.ts in a child process per backend and model, onnxruntime
 *    with its default threads timed in the same child): torchvision's MobileNetV3-Large FPN in the AMI
 *    configuration and the ResNet-50 FPN of ADC's production detector, both made with random weights by
 *    scripts/export-bench-detector.py when missing (Debian's torch), and in PyTorch (scripts/torch-bench.py
 *    --detector). Debian's torch 1.13 calls BLAS through the generic libblas.so.3 (`torch.__config__.show()`:
 *    BLAS_INFO=generic), which Debian's alternatives point at OpenBLAS once libopenblas0-pthread is installed;
 *    with the reference BLAS instead, the box head's Linear layers make the detector an order of magnitude
 *    slower, so the column names the BLAS it ran on.
 *
 * Prints one table with the targets (native ≥ 1× PyTorch on the classifier stage, native ≥ 1× onnxruntime on
 * Faster R-CNN) and writes bench-results/backends.json. The native column is skipped with the reason where
 * `npm run native` has not been run.
 *
 * Settings (environment): BENCH_BACKENDS=0 skips it inside `npm run bench`; BENCH_BACKEND_REQUESTS (measured
 * requests per server and phase, default 12), BENCH_BACKEND_ROUNDS (default 2), BENCH_CONCURRENCY (default 4),
 * BENCH_PIPELINE, BENCH_SAMPLES; BENCH_DETECTOR_IMAGES (default 3 per runtime), BENCH_DETECTOR_MODELS
 * (comma-separated ONNX files, default both Faster R-CNNs), BENCH_DETECTOR_WASM (`mobilenet`, the default: wasm
 * runs only the MobileNet, which takes it about 4 s an image where the ResNet-50 takes about 16 s; `all`;
 * `none`), BENCH_TORCH_DETECTORS (0: no PyTorch column for the detectors), BENCH_PYTHON (default
 * /usr/bin/python3). Run alone: `npm run bench:backends`.
 */
import { execFile } from 'child_process';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { availableCores } from '../src/util/available-cores';
import { runClassifierStageBench, type StageReport } from './classifier-stage';
import type { DetectorSummary } from './detector';
import {
  benchChild,
  drive,
  fourKSamples,
  machine,
  median,
  nativeUnavailable,
  processOne,
  root,
  serveFiles,
  startServer,
} from './harness';
import { Progress } from './progress';
import { allThreadsWarm } from './threads';

const env = (name: string, def: string): string => process.env[name] ?? def;

const DETECTOR_MODELS: Record<string, string> = {
  'frcnn-mobilenet-ami.onnx': 'Faster R-CNN MobileNetV3-Large FPN (AMI 2023 config)',
  'frcnn-resnet50-fpn.onnx': 'Faster R-CNN ResNet-50 FPN (ADC production config)',
};

type Backend = 'wasm' | 'tensorflow';

/** One backend's figures for the default pipeline. */
interface PipelineFigures {
  backend: Backend;
  threads: number;
  /** images/s with BENCH_CONCURRENCY clients, per round. */
  imagesPerSecond: number[];
  /** One request at a time: latencies in seconds, every round. */
  latencies: number[];
}

/** INFERENCE_THREADS=auto on `backend`, as engine-pool.ts's autoThreads sizes it. */
const autoThreadCount = (backend: Backend): number =>
  backend === 'tensorflow' ? 1 : Math.max(1, Math.min(availableCores(), 8));

async function pipelineBench(backends: Backend[]): Promise<PipelineFigures[]> {
  const pipeline = env('BENCH_PIPELINE', 'tfjs_synthetic_moths_2026');
  const requests = Number(env('BENCH_BACKEND_REQUESTS', '12'));
  const rounds = Number(env('BENCH_BACKEND_ROUNDS', '2'));
  const clients = Number(env('BENCH_CONCURRENCY', '4'));
  const samples = await serveFiles(await fourKSamples(path.resolve(root, env('BENCH_SAMPLES', 'samples'))));
  const url = (i: number): string => samples.urls[i % samples.urls.length];
  const figures = backends.map((backend) => ({
    backend,
    threads: autoThreadCount(backend),
    imagesPerSecond: [] as number[],
    latencies: [] as number[],
  }));
  try {
    for (let round = 0; round < rounds; round++) {
      for (const fig of figures) {
        const label = `default pipeline on ${fig.backend}, round ${round + 1}/${rounds}`;
        const server = await startServer({
          ENABLED_PIPELINES: pipeline,
          TFJS_BACKEND: fig.backend,
          INFERENCE_THREADS: 'auto',
        });
        try {
          await allThreadsWarm(server.base, fig.threads);
          // Unmeasured: two requests per thread, so every thread has run the pipeline once.
          await drive(2 * fig.threads, clients, (i) => processOne(server.base, pipeline, `w${i}`, url(i)));
          const progress = new Progress(label, 2 * requests);
          for (let i = 0; i < requests; i++) {
            const t0 = performance.now();
            await processOne(server.base, pipeline, `s${i}`, url(i));
            fig.latencies.push((performance.now() - t0) / 1000);
            progress.tick();
          }
          const wall = await drive(requests, clients, async (i) => {
            await processOne(server.base, pipeline, `c${i}`, url(i));
            progress.tick();
          });
          progress.done();
          fig.imagesPerSecond.push(requests / wall);
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    samples.close();
  }
  return figures;
}

/** One detector model on one backend, in a child process (libtensorflow and wasm each get a fresh process). */
async function detectorRun(onnx: string, backend: Backend): Promise<DetectorSummary> {
  const report = `bench-results/detector-${path.basename(onnx, '.onnx')}-${backend}.json`;
  process.stderr.write(`detector: ${path.basename(onnx)} on ${backend} (report ${report})\n`);
  return benchChild<DetectorSummary>('detector', {
    TFJS_BACKEND: backend,
    BENCH_DETECTOR_ONNX: onnx,
    BENCH_ORT_THREADS: '0',
    BENCH_DETECTOR_REPORT: report,
  });
}

/** PyTorch's figures for one detector, or why there are none. */
type TorchDetector = { msPerImage: number; cpuMsPerImage: number; blas: string } | { skipped: string };

/** The export script's Faster R-CNN in PyTorch (scripts/torch-bench.py --detector), unless turned off. */
async function torchDetector(onnx: string): Promise<TorchDetector> {
  if (process.env.BENCH_TORCH_DETECTORS === '0') return { skipped: 'BENCH_TORCH_DETECTORS=0' };
  const arch = /resnet50/.test(onnx) ? 'resnet50' : 'mobilenet';
  const images = (await fourKSamples(path.resolve(root, env('BENCH_SAMPLES', 'samples')))).join(',');
  const python = env('BENCH_PYTHON', '/usr/bin/python3');
  const args = [path.join(root, 'scripts', 'torch-bench.py'), '--detector', arch, '--images', images];
  args.push('--threads', String(availableCores()), '--runs', env('BENCH_DETECTOR_IMAGES', '3'));
  process.stderr.write(`detector: ${path.basename(onnx)} on PyTorch (${python} scripts/torch-bench.py)\n`);
  try {
    const { stdout } = await promisify(execFile)(python, args, { timeout: 1_800_000 });
    return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as TorchDetector;
  } catch (err) {
    return { skipped: `scripts/torch-bench.py failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

export interface BackendsReport {
  pipeline: PipelineFigures[];
  stage: StageReport | null;
  detectors: { model: string; runs: DetectorSummary[]; torch: TorchDetector }[];
  nativeNote: string | null;
  lines: string[];
}

/**
 * Runs the three workloads and prints the table. `stage` is the classifier-stage report when the scaling
 * benches ran it already in this run.
 */
export async function runBackendBenches(stage: StageReport | null = null): Promise<BackendsReport | null> {
  if (process.env.BENCH_BACKENDS === '0') return null;
  const host = machine();
  const nativeNote = nativeUnavailable();
  const backends: Backend[] = nativeNote === null ? ['wasm', 'tensorflow'] : ['wasm'];
  process.stderr.write(
    `backends side by side on ${JSON.stringify(host)}` +
      (nativeNote ? `; native column skipped: ${nativeNote}` : '') +
      '\n',
  );
  const pipeline = await pipelineBench(backends);
  stage ??= await runClassifierStageBench();
  const models = env('BENCH_DETECTOR_MODELS', Object.keys(DETECTOR_MODELS).join(','))
    .split(',')
    .filter(Boolean)
    .map((m) => path.resolve(root, m.includes('/') ? m : path.join('bench-results', m)));
  const wasmDetectors = env('BENCH_DETECTOR_WASM', 'mobilenet');
  const detectors: BackendsReport['detectors'] = [];
  for (const onnx of models) {
    const runs: DetectorSummary[] = [];
    for (const backend of backends) {
      const onWasm = wasmDetectors === 'all' || (wasmDetectors === 'mobilenet' && /mobilenet/.test(onnx));
      if (backend === 'wasm' && !onWasm) continue;
      runs.push(await detectorRun(onnx, backend));
    }
    detectors.push({ model: path.basename(onnx), runs, torch: await torchDetector(onnx) });
  }
  const report: BackendsReport = {
    pipeline,
    stage,
    detectors,
    nativeNote,
    lines: table(pipeline, stage, detectors, nativeNote, wasmDetectors),
  };
  const loadAfter = machine().loadAverage;
  report.lines.unshift(`machine: ${JSON.stringify(host)}; load average after: ${JSON.stringify(loadAfter)}`);
  await fsp.mkdir(path.join(root, 'bench-results'), { recursive: true });
  await fsp.writeFile(
    path.join(root, 'bench-results', 'backends.json'),
    JSON.stringify({ date: new Date().toISOString(), machine: host, loadAfter, ...report }, null, 2),
  );
  process.stdout.write(`${report.lines.join('\n')}\n`);
  return report;
}

/** The side-by-side table: one row per workload, one column per runtime, then the targets. */
function table(
  pipeline: PipelineFigures[],
  stage: StageReport,
  detectors: BackendsReport['detectors'],
  nativeNote: string | null,
  wasmDetectors: string,
): string[] {
  const na = '-';
  const skippedNative = nativeNote ? 'skipped' : na;
  const fig = (b: Backend): PipelineFigures | undefined => pipeline.find((p) => p.backend === b);
  const ips = (b: Backend): string => {
    const p = fig(b);
    return p ? `${median(p.imagesPerSecond).toFixed(2)} (${p.threads} thr)` : skippedNative;
  };
  const p50 = (b: Backend): string => {
    const p = fig(b);
    return p ? `${(median(p.latencies) * 1000).toFixed(0)} ms` : skippedNative;
  };
  const cores = stage.rows[stage.rows.length - 1];
  const f1 = (v: number | null): string => (v === null ? na : v.toFixed(1));
  const lines = [
    'backends side by side (same machine, one run)',
    '  workload | tfjs-wasm | tfjs-node native | onnxruntime-node | PyTorch CPU',
    `  default pipeline, 4K, ${env('BENCH_CONCURRENCY', '4')} clients: images/s (INFERENCE_THREADS=auto) | ${ips('wasm')} | ${ips('tensorflow')} | ${na} | ${na}`,
    `  default pipeline, one request at a time: p50 latency | ${p50('wasm')} | ${p50('tensorflow')} | ${na} | ${na}`,
    `  ResNet-50 ${stage.size} px, batch ${stage.batch}, ${cores.threads} cores: crops/s | ${f1(Math.max(cores.tfjsWasm, cores.tfjsWasmThreadedBuild))} | ${cores.tfjsNative === null ? skippedNative : f1(cores.tfjsNative)} | ${f1(cores.ort)} | ${cores.torch === null ? 'skipped' : f1(cores.torch)}`,
  ];
  const targets: string[] = [];
  if (cores.tfjsNative !== null && cores.torch !== null) {
    const r = cores.tfjsNative / cores.torch;
    targets.push(
      `  classifier stage: native / PyTorch = ${r.toFixed(2)}x (target >= 1x: ${r >= 1 ? 'met' : 'NOT met'})`,
    );
  }
  for (const { model, runs, torch } of detectors) {
    const name = DETECTOR_MODELS[model] ?? model;
    const on = (b: Backend): DetectorSummary | undefined => runs.find((r) => r.backend.startsWith(b));
    const cell = (b: Backend): string => {
      const r = on(b);
      if (!r) return b === 'wasm' ? `not run (BENCH_DETECTOR_WASM=${wasmDetectors})` : skippedNative;
      if (r.skipped) return 'skipped';
      if (!r.ours) return `failed: ${r.conversionError ?? '?'}`;
      return `${r.ours.ms.toFixed(0)} ms (${r.ours.cpuMs.toFixed(0)} ms CPU)`;
    };
    const ref = on('tensorflow') ?? on('wasm');
    const ort = ref?.onnxruntime[0];
    lines.push(
      `  ${name}, per 4096×2160 image (wall, CPU) | ${cell('wasm')} | ${cell('tensorflow')} | ` +
        `${ort ? `${ort.ms.toFixed(0)} ms (${ort.cpuMs.toFixed(0)} ms CPU)` : ref?.skipped ? 'skipped' : na} | ` +
        ('skipped' in torch
          ? torch.skipped
          : `${torch.msPerImage.toFixed(0)} ms (${torch.cpuMsPerImage.toFixed(0)} ms CPU; ${torch.blas})`),
    );
    const native = on('tensorflow');
    if (native?.ours && native.pairedRatio !== null) {
      const speed = 1 / native.pairedRatio;
      targets.push(
        `  ${name}: onnxruntime / native = ${speed.toFixed(2)}x (median of per-image pairs; target >= 1x: ` +
          `${speed >= 1 ? 'met' : 'NOT met'}); ${native.agreement?.minMatched ?? '?'} of ${native.agreement?.detections ?? '?'} ` +
          'boxes or more per image match onnxruntime within 0.01 px',
      );
    }
    if (ref?.skipped) lines.push(`    skipped: ${ref.skipped}`);
  }
  if (nativeNote) lines.push(`  native column skipped: ${nativeNote}`);
  if (stage.torchNote) lines.push(`  PyTorch skipped: ${stage.torchNote}`);
  return [...lines, ...(targets.length ? ['targets on native, same cores:', ...targets] : [])];
}

if (require.main === module) {
  runBackendBenches().catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
