/**
 * Detector benchmark (docs/benchmarks.md#detector): ms per 4096×2160 image for torchvision's Faster R-CNN
 * MobileNetV3-Large FPN in the AMI configuration, or its ResNet-50 FPN (ADC's production detector), both with
 * random weights (scripts/export-bench-detector.py), run two ways in the same process on the same ONNX file and
 * the same decoded pixels:
 *
 * - this project: `convertOnnxDetectorToModelDir` (what `npm run convert -- onnx … --kind detector` does), then
 *   `ObjectDetector.run` on the TF.js backend (wasm by default): the service's whole detect stage, normalisation
 *   and mapping to source pixels included;
 * - onnxruntime-node (CPU execution provider) on the ONNX file: HWC int → CHW float32 in [0, 1], then `run`.
 *
 * Runs alternate (ours, then onnxruntime, per image) so that load from other work on the machine hits both alike;
 * the report gives medians, the ratio of the medians and the median of the per-image ratios (each from two runs
 * seconds apart, so the least moved by a change of load), and the CPU time of each run (process.cpuUsage: what
 * the run cost the machine, which load does not inflate the way it inflates wall time). Decoding the JPEG is
 * outside both timings.
 *
 * Run it on its own (no npm script needed):
 *
 *     npx ts-node --transpile-only bench/detector.ts      # or, after `npm run build`: node dist/bench/detector.js
 *     BENCH_DETECTOR=1 npm run bench                      # the same, through the bench harness (builds dist/)
 *
 * Settings (environment):
 * - BENCH_DETECTOR_ONNX: default bench-results/frcnn-mobilenet-ami.onnx; made by
 *   `/usr/bin/python3 scripts/export-bench-detector.py` when missing and torch is installed (BENCH_PYTHON names
 *   another interpreter); bench-results/frcnn-resnet50-fpn.onnx is made with `--arch resnet50`;
 * - BENCH_DETECTOR_IMAGES: timed images per runtime, default 3, cycling over samples/trap-4k-*.jpg;
 * - BENCH_ORT_THREADS: onnxruntime intra-op thread counts to time, comma-separated, default "1,0" (1 is like for
 *   like with wasm's default single thread; 0 is onnxruntime's default, one per core);
 * - TFJS_BACKEND (default wasm) and WASM_THREADS (XNNPACK threads on wasm, default 1), as in the service.
 * Report: bench-results/detector.json (not committed; BENCH_DETECTOR_REPORT names another file). Run by
 * bench/backends.ts as a child process per backend, it also prints its summary on a RESULT_MARKER line.
 */
import { execFile } from 'child_process';
import { existsSync, promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import * as tf from '@tensorflow/tfjs';
import type { DetectedBox } from '../src/algorithms/algorithm';
import { ObjectDetector } from '../src/algorithms/object-detector';
import { convertOnnxDetectorToModelDir } from '../src/convert/model-dir';
import { chooseDecoder } from '../src/images/decode';
import type { PipelineImage } from '../src/images/pipeline-image';
import { initBackend, type BackendPreference } from '../src/tf/backend';
import { projectRoot } from '../src/util/paths';
import { seededRng } from '../src/util/rng';
import { RESULT_MARKER } from './harness';

type Ort = typeof import('onnxruntime-node');
type OrtSession = Awaited<ReturnType<Ort['InferenceSession']['create']>>;

const root = projectRoot();
const env = (name: string, def: string): string => process.env[name] ?? def;
const ONNX = path.resolve(root, env('BENCH_DETECTOR_ONNX', 'bench-results/frcnn-mobilenet-ami.onnx'));
const IMAGES = Number(env('BENCH_DETECTOR_IMAGES', '3'));
const ORT_THREADS = env('BENCH_ORT_THREADS', '1,0').split(',').map(Number);
const BACKEND = env('TFJS_BACKEND', 'wasm') as BackendPreference;
const WASM_THREADS = Number(env('WASM_THREADS', '1'));
const EXPORT_SCRIPT = 'scripts/export-bench-detector.py';
/** The export script's `--arch` for each file it writes by default. */
const EXPORT_ARCH: Record<string, string> = {
  'frcnn-mobilenet-ami.onnx': 'mobilenet',
  'frcnn-resnet50-fpn.onnx': 'resnet50',
};
const REPORT = path.resolve(root, env('BENCH_DETECTOR_REPORT', 'bench-results/detector.json'));
/** Debian's python3 sees python3-torch; the pyenv python3 on PATH does not (docs/benchmarks.md). */
const PYTHON = env('BENCH_PYTHON', '/usr/bin/python3');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** One runtime's boxes for one image: `[K, 4]` x1,y1,x2,y2 in source pixels, score order, and `[K]` scores. */
interface Detections {
  boxes: number[][];
  scores: number[];
}

/** Makes the ONNX file with torch when it is missing; returns why not when it cannot. */
async function ensureOnnx(): Promise<string | null> {
  if (existsSync(ONNX)) return null;
  const arch = EXPORT_ARCH[path.basename(ONNX)] ?? 'mobilenet';
  const args = ['--arch', arch, '--out', ONNX];
  const how =
    `make it with Debian's torch: apt-get install python3-torch python3-torchvision python3-onnx, then ` +
    `${PYTHON} ${EXPORT_SCRIPT} --arch ${arch} --out ${path.relative(root, ONNX)}`;
  try {
    await promisify(execFile)(PYTHON, ['-c', 'import torch, torchvision, onnx']);
  } catch {
    return `${path.relative(root, ONNX)} is missing and ${PYTHON} has no torch/torchvision/onnx; ${how}`;
  }
  process.stdout.write(
    `exporting ${path.relative(root, ONNX)} with ${PYTHON} ${EXPORT_SCRIPT} (about a minute)\n`,
  );
  await promisify(execFile)(PYTHON, [path.join(root, EXPORT_SCRIPT), ...args], {
    maxBuffer: 16 * 2 ** 20,
  });
  return null;
}

/** A decoded sample as the detector sees it; the pixels stay owned by the image. */
function sampleImage(id: string, pixels: tf.Tensor3D): PipelineImage {
  return {
    id,
    url: `file://${id}`,
    format: 'jpeg',
    width: pixels.shape[1],
    height: pixels.shape[0],
    tensor: () => Promise.resolve(pixels),
    dispose: () => pixels.dispose(),
  };
}

/** `[H, W, 3]` int 0..255 → `[3, H, W]` float32 in [0, 1], what the torchvision export takes. */
function chwFloat(hwc: Int32Array, h: number, w: number): Float32Array {
  const out = new Float32Array(3 * h * w);
  const plane = h * w;
  for (let p = 0, q = 0; p < plane; p++, q += 3) {
    out[p] = hwc[q] / 255;
    out[plane + p] = hwc[q + 1] / 255;
    out[2 * plane + p] = hwc[q + 2] / 255;
  }
  return out;
}

/** How two runtimes' detections for one image agree. */
interface Agreement {
  /** Detections from ours and from onnxruntime. */
  count: [number, number];
  /** Of ours, how many have an onnxruntime box within 0.01 px (every corner) and 1e-4 in score. */
  matched: number;
  /** Largest corner difference (px) and score difference over the matched boxes. */
  box: number;
  score: number;
  /** For each of ours left unmatched: the corner difference (px) to the nearest onnxruntime box. */
  unmatchedNearest: number[];
}

/**
 * Matches each of our boxes to the nearest onnxruntime box by corners rather than by rank: boxes whose scores
 * differ by 1e-6 come out of NMS in either order, and with random weights many do.
 */
function compare(a: Detections, b: Detections): Agreement {
  let matched = 0;
  let box = 0;
  let score = 0;
  const unmatchedNearest: number[] = [];
  a.boxes.forEach((mine, i) => {
    let best = Infinity;
    let bestScore = Infinity;
    b.boxes.forEach((theirs, j) => {
      const d = Math.max(...mine.map((v, q) => Math.abs(v - theirs[q])));
      if (d < best) [best, bestScore] = [d, Math.abs(a.scores[i] - b.scores[j])];
    });
    if (best <= 0.01 && bestScore <= 1e-4) {
      matched++;
      box = Math.max(box, best);
      score = Math.max(score, bestScore);
    } else {
      unmatchedNearest.push(best);
    }
  });
  return { count: [a.scores.length, b.scores.length], matched, box, score, unmatchedNearest };
}

/** "0.012–0.4 px away" over every unmatched box of every image, or "none". */
function unmatchedRange(agreement: Agreement[]): string {
  const all = agreement.flatMap((a) => a.unmatchedNearest);
  if (all.length === 0) return 'none';
  const fmt = (v: number): string => (v < 1 ? v.toPrecision(2) : v.toFixed(0));
  return `${fmt(Math.min(...all))}–${fmt(Math.max(...all))} px away (${all.length} boxes)`;
}

const fromService = (found: DetectedBox[]): Detections => ({
  boxes: found.map((d) => [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2]),
  scores: found.map((d) => d.score),
});

/** Wall and CPU time of one call. */
async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number; cpuMs: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await f();
  const cpu = process.cpuUsage(c0);
  return { value, ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** What bench/backends.ts reads back from one run (the full report is in the JSON file). */
export interface DetectorSummary {
  model: string;
  backend: string;
  /** Why nothing was timed (no ONNX file and no torch to make it), or null. */
  skipped: string | null;
  conversionError: string | null;
  /** Medians per 4K image; ours is null when the conversion failed. */
  ours: { ms: number; cpuMs: number } | null;
  onnxruntime: { intraOpThreads: number | 'default'; ms: number; cpuMs: number }[];
  /** Median over images of ours ÷ the first onnxruntime setting, each pair timed back to back. */
  pairedRatio: number | null;
  /** Of our detections per image, the fewest that matched an onnxruntime box; and the count per image. */
  agreement: { minMatched: number; detections: number } | null;
}

/** Runs the detector benchmark, prints the report, writes the JSON report and returns the summary. */
export async function runDetectorBench(): Promise<DetectorSummary> {
  const skipped = (why: string): DetectorSummary => ({
    model: path.basename(ONNX),
    backend: BACKEND,
    skipped: why,
    conversionError: null,
    ours: null,
    onnxruntime: [],
    pairedRatio: null,
    agreement: null,
  });
  const missing = await ensureOnnx();
  if (missing) {
    process.stdout.write(`detector bench skipped: ${missing}\n`);
    return skipped(missing);
  }
  const samples = (await fsp.readdir(path.join(root, 'samples')))
    .filter((f) => /^trap-4k-.*\.jpg$/.test(f))
    .sort()
    .map((f) => path.join(root, 'samples', f));
  if (samples.length === 0) throw new Error('no samples/trap-4k-*.jpg to benchmark on');
  const choice = await initBackend(BACKEND, { wasmThreads: WASM_THREADS });
  const backendLabel =
    choice.backend === 'wasm' ? `wasm, ${WASM_THREADS} thread${WASM_THREADS > 1 ? 's' : ''}` : choice.backend;
  const ort = (await import('onnxruntime-node')) as Ort;
  const decoder = chooseDecoder();

  // Conversion, as `npm run convert -- onnx <file> --out <dir> --kind detector` does it.
  const outDir = path.join(root, 'bench-results', path.basename(ONNX, '.onnx'));
  await fsp.rm(outDir, { recursive: true, force: true });
  let detector: ObjectDetector | null = null;
  let conversionError: string | null = null;
  let conversionSeconds = NaN;
  let compileSeconds = NaN;
  try {
    const t0 = performance.now();
    const result = await convertOnnxDetectorToModelDir({
      onnxPath: ONNX,
      outDir,
      algorithm: { key: `bench-${path.basename(ONNX, '.onnx')}`, name: path.basename(ONNX), version: 1 },
    });
    conversionSeconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    detector = new ObjectDetector(result.loaded);
    await detector.compile();
    compileSeconds = (performance.now() - t1) / 1000;
  } catch (err) {
    conversionError = err instanceof Error ? err.message : String(err);
    process.stdout.write(`converter could not convert or load ${path.basename(ONNX)}: ${conversionError}\n`);
    process.stdout.write('reporting onnxruntime alone\n');
  }

  // One session per thread setting; the first is the one the ratio uses.
  const sessions = await Promise.all(
    ORT_THREADS.map((threads) =>
      ort.InferenceSession.create(ONNX, threads > 0 ? { intraOpNumThreads: threads } : {}),
    ),
  );
  const ortLabel = (threads: number): string =>
    `onnxruntime ${threads > 0 ? `${threads} thread${threads > 1 ? 's' : ''}` : 'default threads'}`;
  // Every box the graph returns (its own box_score_thresh is 0.05), so the two runtimes' lists can be compared.
  const options = { config: { detection_threshold: 0 }, rng: seededRng(1), batchSize: 1 };

  const runOrt = async (session: OrtSession, pixels: tf.Tensor3D): Promise<Detections> => {
    const [h, w] = pixels.shape;
    const x = new ort.Tensor('float32', chwFloat((await pixels.data()) as Int32Array, h, w), [3, h, w]);
    const out = await session.run({ [session.inputNames[0]]: x });
    const boxes = out[session.outputNames[0]].data as Float32Array;
    const scores = Array.from(out[session.outputNames[2]].data as Float32Array);
    return { boxes: scores.map((_, i) => Array.from(boxes.subarray(4 * i, 4 * i + 4))), scores };
  };

  const ours: number[] = [];
  const oursCpu: number[] = [];
  const onnxruntime: number[][] = ORT_THREADS.map(() => []);
  const onnxruntimeCpu: number[][] = ORT_THREADS.map(() => []);
  const agreement: Agreement[] = [];
  // Run 0 warms every runtime up on a 4K image (first allocation of the large buffers); it is not counted.
  for (let run = 0; run <= IMAGES; run++) {
    const file = samples[run % samples.length];
    const pixels = await decoder.decode(new Uint8Array(await fsp.readFile(file)));
    const image = sampleImage(path.basename(file), pixels);
    const last = (xs: number[]): string => (run > 0 ? `${xs[xs.length - 1].toFixed(0)} ms` : 'warm-up');
    try {
      let mine: Detections | null = null;
      if (detector) {
        const d = detector;
        const t = await timed(() => d.run([image], options));
        if (run > 0) {
          ours.push(t.ms);
          oursCpu.push(t.cpuMs);
        }
        mine = fromService(t.value[0]);
      }
      let reference: Detections | null = null;
      for (const [k, session] of sessions.entries()) {
        const t = await timed(() => runOrt(session, pixels));
        if (run > 0) {
          onnxruntime[k].push(t.ms);
          onnxruntimeCpu[k].push(t.cpuMs);
        }
        reference ??= t.value;
      }
      if (mine && reference) agreement.push(compare(mine, reference));
      process.stdout.write(
        `  ${image.id} ${image.width}×${image.height}: ours ${detector ? last(ours) : '-'}, ` +
          ORT_THREADS.map((t, k) => `${ortLabel(t)} ${last(onnxruntime[k])}`).join(', ') +
          `, ${reference?.scores.length ?? 0} detections\n`,
      );
    } finally {
      image.dispose();
    }
  }
  detector?.dispose();
  await Promise.all(sessions.map((s) => s.release()));

  const oursMs = median(ours);
  const ortMs = onnxruntime.map(median);
  const pairedRatio = detector ? median(ours.map((t, i) => t / onnxruntime[0][i])) : null;
  const report = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? 'unknown', node: process.version },
    model: { onnx: path.relative(root, ONNX), bytes: (await fsp.stat(ONNX)).size },
    backend: backendLabel,
    onnxruntimeVersion: ort.env.versions.node ?? 'unknown',
    imagesTimed: IMAGES,
    conversion: conversionError ? { error: conversionError } : { seconds: conversionSeconds, compileSeconds },
    msPerImage: {
      ours: detector ? oursMs : null,
      onnxruntime: ORT_THREADS.map((threads, k) => ({ intraOpThreads: threads || 'default', ms: ortMs[k] })),
    },
    ratioToFirstOnnxruntime: detector ? oursMs / ortMs[0] : null,
    pairedRatioToFirstOnnxruntime: pairedRatio,
    cpuMsPerImage: { ours: detector ? median(oursCpu) : null, onnxruntime: onnxruntimeCpu.map(median) },
    runs: { ours, onnxruntime, oursCpu, onnxruntimeCpu },
    agreement,
  };
  await fsp.mkdir(path.dirname(REPORT), { recursive: true });
  await fsp.writeFile(REPORT, JSON.stringify(report, null, 2));
  const worst = agreement.reduce(
    (w, a) => ({ box: Math.max(w.box, a.box), score: Math.max(w.score, a.score) }),
    { box: 0, score: 0 },
  );
  const lines = [
    `detector: ${path.basename(ONNX)} (${(report.model.bytes / 1e6).toFixed(1)} MB), ${IMAGES} 4096×2160 images ` +
      `per runtime, ${report.machine.cpus} CPUs (${report.machine.model}), Node ${process.version}`,
    conversionError
      ? `ours: the converter failed: ${conversionError}`
      : `ours (converter + ObjectDetector on ${backendLabel}): median ${oursMs.toFixed(0)} ms/image, ` +
        `${median(oursCpu).toFixed(0)} ms CPU (conversion ${conversionSeconds.toFixed(1)} s, load + warm-up ` +
        `${compileSeconds.toFixed(1)} s)`,
    ...ORT_THREADS.map(
      (t, k) =>
        `onnxruntime-node ${report.onnxruntimeVersion} (CPU, ${ortLabel(t).slice('onnxruntime '.length)}): ` +
        `median ${ortMs[k].toFixed(0)} ms/image, ${median(onnxruntimeCpu[k]).toFixed(0)} ms CPU` +
        (detector ? `; ours / this: ${(oursMs / ortMs[k]).toFixed(2)}x` : '') +
        (detector && k === 0 ? ` (median of per-image ratios ${pairedRatio?.toFixed(2)}x)` : ''),
    ),
    ...(detector
      ? [
          `agreement per image, warm-up included (ours vs ${ortLabel(ORT_THREADS[0])}): ${agreement
            .map((a) => `${a.count.join(' vs ')} detections, ${a.matched} of ours matched`)
            .join('; ')}; matched boxes within ${worst.box.toExponential(1)} px, scores within ` +
            `${worst.score.toExponential(1)} (a match: every corner within 0.01 px, score within 1e-4); ` +
            `unmatched: nearest onnxruntime box ${unmatchedRange(agreement)}`,
        ]
      : []),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return {
    model: path.basename(ONNX),
    backend: backendLabel,
    skipped: null,
    conversionError,
    ours: detector ? { ms: oursMs, cpuMs: median(oursCpu) } : null,
    onnxruntime: ORT_THREADS.map((threads, k) => ({
      intraOpThreads: threads || 'default',
      ms: ortMs[k],
      cpuMs: median(onnxruntimeCpu[k]),
    })),
    pairedRatio,
    agreement: detector
      ? {
          minMatched: Math.min(...agreement.map((a) => a.matched)),
          detections: Math.max(...agreement.map((a) => a.count[0])),
        }
      : null,
  };
}

if (require.main === module) {
  runDetectorBench()
    .then((summary) => {
      if (process.env.BENCH_CHILD === '1')
        process.stdout.write(`${RESULT_MARKER}${JSON.stringify(summary)}\n`);
    })
    .catch((err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exit(1);
    });
}
