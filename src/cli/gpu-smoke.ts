/**
 * `scripts/gpu-smoke`: proves the GPU path on a CUDA host, or inside the container
 * (`docker compose exec antenna-tfjs scripts/gpu-smoke`).
 *
 * 1. Prints what the machine offers: nvidia-smi's GPU list (when the driver tools are there) and the CUDA
 *    cache settings.
 * 2. Builds the real service (`buildService`, same configuration and inference worker as `npm start`), listens
 *    on 127.0.0.1 on a free port, and prints the backend TensorFlow.js chose and why.
 * 3. Serves the shipped samples (samples/*.jpg) from a loopback static server and POSTs them to /process once
 *    (cold) and `--runs` more times (warm), printing wall time and the Server-Timing stages of each.
 *
 * 4. Lists the CUDA libraries mapped into the process and nvidia-smi's GPU processes, for diagnosis only: the
 *    GPU verdict is tfjs-node's `isUsingGpuDevice` (src/tf/backend.ts), because libtensorflow keeps cudart,
 *    cuBLAS and cuDNN loaded even when it then skips the GPU.
 *
 * Exit codes: 0 ok; 1 the pipeline failed or returned image errors; 2 bad arguments; 3 `--require-gpu` (or
 * REQUIRE_GPU=true) and TensorFlow is not on a GPU.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { buildService, type Service } from '../bootstrap';
import { loadConfig, type Config } from '../config';
import type { PipelineRequest, PipelineResultsResponse } from '../contract/types';
import { registeredPipelines } from '../pipelines/registry';
import { applyTensorFlowEnv } from '../tf/tensorflow-env';
import { createLogger } from '../util/logger';
import { projectRoot } from '../util/paths';

/** Reference pipelines that load no model: the default slug skips them when a model pipeline exists. */
const REFERENCE_PIPELINES = new Set(['constant', 'random-detection-random-species']);
const IMAGE_TYPES: Readonly<Record<string, string>> = Object.freeze({
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
});

interface Options {
  pipeline: string | null;
  samples: string;
  runs: number;
  readyTimeoutS: number;
  requireGpu: boolean;
}

const USAGE = `usage: scripts/gpu-smoke [--pipeline <slug>] [--samples <dir>] [--runs <n>] [--ready-timeout <s>] [--require-gpu]
  --pipeline       pipeline to run (default: the first registered pipeline that loads models, else constant)
  --samples        directory of sample images (default: <project>/samples)
  --runs           warm runs after the cold one (default 3)
  --ready-timeout  seconds to wait for the pipeline to compile (default 3600: on H100/H200 TF 2.9 JIT-compiles
                   its PTX on the first start, which TensorFlow warns "could take 30 minutes or longer")
  --require-gpu    exit 3 unless TensorFlow runs on a GPU (also when REQUIRE_GPU=true)
Environment: the service's own settings (TFJS_BACKEND, MODELS_DIR, ...; see .env.example).`;

class UsageError extends Error {}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    pipeline: null,
    samples: path.join(projectRoot(), 'samples'),
    runs: 3,
    readyTimeoutS: 3600,
    requireGpu: false,
  };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  const count = (raw: string, flag: string, min: number): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min)
      throw new UsageError(`${flag} must be an integer >= ${min}, got "${raw}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--pipeline') opts.pipeline = value(i++, arg);
    else if (arg === '--samples') opts.samples = path.resolve(value(i++, arg));
    else if (arg === '--runs') opts.runs = count(value(i++, arg), arg, 0);
    else if (arg === '--ready-timeout') opts.readyTimeoutS = count(value(i++, arg), arg, 1);
    else if (arg === '--require-gpu') opts.requireGpu = true;
    else if (arg === '--help' || arg === '-h') throw new UsageError('');
    else if (arg !== undefined && !arg.startsWith('--') && opts.pipeline === null) opts.pipeline = arg;
    else throw new UsageError(`unknown argument "${arg}"`);
  }
  return opts;
}

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function section(title: string): void {
  say();
  say(`== ${title}`);
}

/** Runs a command, returning its stdout, or null when it is missing or fails. */
function run(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  if (r.error || r.status !== 0) return null;
  return r.stdout.trim();
}

function describeGpus(): void {
  section('GPU (nvidia-smi)');
  const query = run('nvidia-smi', [
    '--query-gpu=index,name,driver_version,memory.total,memory.used,compute_cap',
    '--format=csv',
  ]);
  const listing = query ?? run('nvidia-smi', ['-L']);
  if (listing === null) {
    say(
      'nvidia-smi: not available (no NVIDIA driver tools here: on a GPU host, check the NVIDIA Container Toolkit)',
    );
  } else {
    say(listing);
  }
  for (const dev of ['/dev/nvidiactl', '/dev/nvidia0'])
    say(`${dev}: ${fs.existsSync(dev) ? 'present' : 'absent'}`);
  say(`CUDA_VISIBLE_DEVICES=${process.env.CUDA_VISIBLE_DEVICES ?? '(unset)'}`);
  const cache = process.env.CUDA_CACHE_PATH;
  if (cache === undefined) {
    say('CUDA_CACHE_PATH: unset (the driver caches JIT-compiled PTX in ~/.nv/ComputeCache)');
  } else {
    say(
      `CUDA_CACHE_PATH=${cache} (${cacheSize(cache)}), CUDA_CACHE_MAXSIZE=${process.env.CUDA_CACHE_MAXSIZE ?? '(unset)'}`,
    );
  }
}

/** Size of the CUDA JIT cache: empty before the first GPU start on this volume, large after. */
function cacheSize(dir: string): string {
  let bytes = 0;
  let files = 0;
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        bytes += fs.statSync(p).size;
        files++;
      }
    }
  };
  try {
    walk(dir);
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  }
  return `${files} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * CUDA libraries mapped into this process (the inference worker thread shares it), for diagnosis: none at all
 * means libtensorflow never found CUDA. Their presence proves nothing: libtensorflow loads cudart at import
 * and cuBLAS/cuDNN before deciding on a GPU device, and keeps them when it skips the GPU. Empty off Linux.
 */
function loadedCudaLibraries(): string[] {
  let maps: string;
  try {
    maps = fs.readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return [];
  }
  const names = new Set<string>();
  for (const m of maps.matchAll(
    /\/(lib(?:cuda|cudart|cublas|cublasLt|cudnn|cufft|curand|cusolver|cusparse)\.so[.\d]*)$/gm,
  )) {
    if (m[1] !== undefined) names.add(m[1]);
  }
  return [...names].sort();
}

/** Why `slug` cannot run here (its definition cannot even describe itself, e.g. models missing), or null. */
async function unusable(slug: string, config: Config): Promise<string | null> {
  const registry = registeredPipelines(path.resolve(projectRoot(), config.modelsDir));
  const definition = registry.find((d) => d.slug === slug);
  if (!definition) return `unknown pipeline (registered: ${registry.map((d) => d.slug).join(', ')})`;
  try {
    await definition.create({
      modelsDir: path.resolve(projectRoot(), config.modelsDir),
      batches: {
        detectorBatchSize: config.detectorBatchSize,
        classifierBatchSize: config.classifierBatchSize,
      },
    });
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The first enabled pipeline that loads models and whose models are present; else `constant`. */
async function defaultPipeline(config: Config): Promise<string> {
  const enabled =
    config.enabledPipelines.length > 0
      ? config.enabledPipelines
      : registeredPipelines(path.resolve(projectRoot(), config.modelsDir)).map((d) => d.slug);
  for (const slug of enabled.filter((s) => !REFERENCE_PIPELINES.has(s))) {
    const why = await unusable(slug, config);
    if (why === null) return slug;
    say(`skipping pipeline ${slug}: ${why}`);
  }
  return enabled.find((s) => REFERENCE_PIPELINES.has(s)) ?? 'constant';
}

/** Sample images, sorted by name. */
function listSamples(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => path.extname(f).toLowerCase() in IMAGE_TYPES)
    .sort();
}

/** Serves `files` from `dir` on 127.0.0.1, like the object store Antenna's image URLs point at. */
async function serveSamples(dir: string, files: string[]): Promise<http.Server> {
  const allowed = new Set(files);
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').slice(1));
    if (!allowed.has(name)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'content-type': IMAGE_TYPES[path.extname(name).toLowerCase()] ?? 'application/octet-stream',
    });
    fs.createReadStream(path.join(dir, name)).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function baseUrl(server: http.Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Polls /readyz until `slug` is ready; throws with the pipeline's load error or on timeout. */
async function waitReady(svc: Service, slug: string, timeoutS: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`pipeline ${slug} not ready after ${timeoutS} s`)),
      timeoutS * 1000,
    );
  });
  try {
    await Promise.race([svc.engine.whenReady(slug), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Timed {
  ms: number;
  serverTiming: string;
  body: PipelineResultsResponse;
}

async function processOnce(api: string, request: PipelineRequest): Promise<Timed> {
  const t0 = performance.now();
  const res = await fetch(`${api}/process`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(request),
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  if (!res.ok) throw new Error(`POST /process answered ${res.status}: ${text.slice(0, 500)}`);
  return {
    ms,
    serverTiming: res.headers.get('server-timing') ?? '',
    body: JSON.parse(text) as PipelineResultsResponse,
  };
}

/** Expected box counts per sample from samples/ground-truth.json, when its shape is recognisable. */
function groundTruthCounts(dir: string): Map<string, number> {
  const counts = new Map<string, number>();
  const file = path.join(dir, 'ground-truth.json');
  if (!fs.existsSync(file)) return counts;
  try {
    const data = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    // Accepts { "<file>": [boxes] | { boxes|detections|objects: [...] } } or { images: [{ file|image|name, boxes|... }] }.
    const boxesOf = (v: unknown): unknown[] | null => {
      if (Array.isArray(v)) return v as unknown[];
      if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        for (const k of ['boxes', 'detections', 'objects', 'annotations']) {
          const list = o[k];
          if (Array.isArray(list)) return list as unknown[];
        }
      }
      return null;
    };
    const root = data as Record<string, unknown>;
    const items = Array.isArray(root.images) ? (root.images as Record<string, unknown>[]) : null;
    if (items) {
      for (const it of items) {
        const name = [it.file, it.image, it.name, it.filename].find(
          (x): x is string => typeof x === 'string',
        );
        const boxes = boxesOf(it);
        if (name !== undefined && boxes) counts.set(path.basename(name), boxes.length);
      }
    } else {
      for (const [name, v] of Object.entries(root)) {
        const boxes = boxesOf(v);
        if (boxes) counts.set(path.basename(name), boxes.length);
      }
    }
  } catch {
    // An unreadable ground truth only loses the comparison column.
  }
  return counts;
}

function perImage(body: PipelineResultsResponse, truth: Map<string, number>): void {
  const found = new Map<string, number>();
  for (const d of body.detections) found.set(d.source_image_id, (found.get(d.source_image_id) ?? 0) + 1);
  for (const img of body.source_images) {
    const expected = truth.get(img.id);
    say(
      `  ${img.id}: ${found.get(img.id) ?? 0} detections${expected === undefined ? '' : ` (ground truth: ${expected})`}`,
    );
  }
  for (const e of body.errors ?? []) say(`  ${e.image_id}: ERROR ${e.code}: ${e.error}`);
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

async function main(): Promise<number> {
  let opts: Options;
  let config: Config;
  try {
    opts = parseArgs(process.argv.slice(2));
    config = loadConfig();
  } catch (err) {
    const message = (err as Error).message;
    process.stderr.write(
      message === '' ? `${USAGE}\n` : `${message}\n${err instanceof UsageError ? USAGE + '\n' : ''}`,
    );
    return err instanceof UsageError && message === '' ? 0 : 2;
  }
  const slug = opts.pipeline ?? (await defaultPipeline(config));
  const why = await unusable(slug, config);
  if (why !== null) {
    process.stderr.write(`pipeline "${slug}" cannot run: ${why}\n`);
    return 2;
  }
  // As prepareProcess (src/bootstrap.ts) does for the service, so libtensorflow sees the same GPU memory policy.
  applyTensorFlowEnv(config);
  // REQUIRE_GPU is enforced here, after the report, rather than by the service exiting in the middle of it.
  const requireGpu = opts.requireGpu || config.requireGpu;
  // Compile only the pipeline under test; the samples come from loopback, whatever IMAGE_URL_POLICY says.
  config = {
    ...config,
    requireGpu: false,
    enabledPipelines: [slug],
    imageUrlAllow: [...config.imageUrlAllow, '127.0.0.1'],
    maxImagesPerRequest: Math.max(config.maxImagesPerRequest, 1000),
  };

  say(
    `gpu-smoke: pipeline ${slug}, TFJS_BACKEND=${config.tfjsBackend}, MODELS_DIR=${path.resolve(projectRoot(), config.modelsDir)}`,
  );
  say(`node ${process.version} on ${process.platform}/${process.arch}`);
  describeGpus();

  const files = listSamples(opts.samples);
  if (files.length === 0) {
    process.stderr.write(
      `no sample images (*.jpg, *.jpeg, *.png, *.webp) in ${opts.samples}; pass --samples <dir>\n`,
    );
    return 2;
  }

  section('Service');
  // Service logs go to stderr at LOG_LEVEL (default here: warn), so this report stays readable.
  const logger = createLogger(process.env.LOG_LEVEL === undefined ? 'warn' : config.logLevel);
  const t0 = performance.now();
  const svc = await buildService(config, logger);
  const api = await new Promise<http.Server>((resolve) => {
    const s = svc.app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const images = await serveSamples(opts.samples, files);
  try {
    await waitReady(svc, slug, opts.readyTimeoutS);
    const startupS = (performance.now() - t0) / 1000;
    const choice = svc.engine.backend();
    say(
      `backend: ${choice?.backend ?? 'unknown'} (${choice?.package ?? '?'}` +
        `${choice?.tensorflow ? `, TensorFlow ${choice.tensorflow}` : ''}), GPU: ${choice?.gpu === true ? 'yes' : 'no'}`,
    );
    for (const reason of choice?.reasons ?? []) say(`  - ${reason}`);
    say(
      `startup: ${startupS.toFixed(2)} s until ${slug} was compiled and warmed up (includes any PTX JIT compile)`,
    );
    if (choice?.gpu !== true)
      say('NOTE: running on the CPU; on a GPU host this means the GPU path is NOT working.');

    section(`Process ${files.length} sample(s) from ${opts.samples}`);
    const request: PipelineRequest = {
      pipeline: slug,
      source_images: files.map((f) => ({ id: f, url: `${baseUrl(images)}/${encodeURIComponent(f)}` })),
      config: {},
    };
    const truth = groundTruthCounts(opts.samples);
    const cold = await processOnce(baseUrl(api), request);
    say(`cold: ${cold.ms.toFixed(1)} ms (server: ${cold.serverTiming})`);
    perImage(cold.body, truth);
    const warm: number[] = [];
    for (let i = 0; i < opts.runs; i++) {
      const r = await processOnce(baseUrl(api), request);
      warm.push(r.ms);
      say(`warm ${i + 1}: ${r.ms.toFixed(1)} ms (server: ${r.serverTiming})`);
    }

    section('CUDA libraries mapped into the process (from /proc/self/maps; diagnosis only)');
    const cudaLibs = loadedCudaLibraries();
    say(cudaLibs.length > 0 ? cudaLibs.join(' ') : 'none');
    if (choice?.gpu !== true && cudaLibs.length > 0) {
      say(
        'TensorFlow created no GPU device although CUDA libraries are loaded: look for "Could not load dynamic',
      );
      say('library", "Skipping registering GPU devices" or "cuInit" in its stderr above.');
    }

    const apps = run('nvidia-smi', ['--query-compute-apps=pid,process_name,used_memory', '--format=csv']);
    if (apps !== null) {
      section("GPU processes (nvidia-smi; inside a container the pids are the host's)");
      say(apps);
    }

    const failed = cold.body.errors?.length ?? 0;
    const warmText = warm.length > 0 ? `${median(warm).toFixed(1)} ms median of ${warm.length}` : 'not run';
    section('Result');
    say(
      `backend=${choice?.backend ?? 'unknown'} tensorflow=${choice?.tensorflow ?? '-'} gpu=${String(choice?.gpu === true)} pipeline=${slug} images=${files.length} ` +
        `cuda_libs=${cudaLibs.length} detections=${cold.body.detections.length} image_errors=${failed} ` +
        `startup=${startupS.toFixed(2)}s ` +
        `cold=${cold.ms.toFixed(1)}ms warm=${warmText}`,
    );
    if (failed > 0) return 1;
    if (requireGpu && choice?.gpu !== true) {
      say(
        `FAIL: a GPU is required, but TensorFlow is not on a GPU (backend ${choice?.backend ?? 'unknown'}; ` +
          'the reasons are listed under "Service")',
      );
      return 3;
    }
    return 0;
  } finally {
    images.close();
    api.close();
    await svc.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `gpu-smoke failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
