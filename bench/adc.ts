/**
 * ADC against this service (docs/benchmarks.md#adc-against-this-service): the AMI Data Companion's own API (ADC,
 * Antenna's current processing service, started by scripts/adc/run-adc.sh) and this service on the native
 * TensorFlow backend, on the same checkpoints (imported with `npm run import-adc`), the same 4096×2160 samples
 * served from a local HTTP server, and the same cores. Both servers run at once, but requests go one at a time,
 * alternating ADC and ours request by request (the first of each round alternates too), so the two never
 * compete for the cores and a change of machine load hits both alike. Every request carries one image, as
 * Antenna sends them (ADC refuses images of different sizes in one request anyway).
 *
 * Per pipeline it reports the median seconds per image of each, the ratio ours-images/s ÷ ADC-images/s against
 * the target (1.5×), the answers' sizes, and how far the two answers agree box by box (bench/adc-compare.ts), so
 * the figures are known to be of equivalent work. Start-up times (to ADC's /livez and our /readyz) are reported
 * too. Writes bench-results/adc.json, the last round's answers to bench-results/adc-answers/, and ADC's own log to
 * bench-results/adc-server.log.
 *
 * Skipped, with the reason, where ADC_SOURCE (an ADC checkout) or ADC_CHECKPOINTS (a folder of ADC's files, e.g.
 * from scripts/adc/make-checkpoints.py) is not set, or where `npm run native` has not been run. The import is
 * cached under scratch/adc-import/, keyed on the checkpoint folder (its path and its files' names, sizes and
 * times), so a rerun does not redo it.
 *
 * Settings (environment): ADC_SOURCE, ADC_CHECKPOINTS; ADC_STATE (run-adc.sh's venv and TORCH_HOME); OMP_NUM_THREADS
 * (ADC's PyTorch threads, default the cores available, as ours);
 * BENCH_ADC_ROUNDS (measured requests per service and pipeline, default 3: each sample once);
 * BENCH_ADC_PIPELINES (comma-separated slugs; default moth_binary, quebec_vermont_moths_2023,
 * costa_rica_moths_turing_2024, insect_orders_2025, and global_moths_2024 when its category map has the full
 * 29,176 classes); BENCH_ADC=0 skips it inside `npm run bench`; BENCH_SAMPLES. Run alone: `npm run bench:adc`.
 */
import { execFileSync, spawn, type ChildProcess } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Agent, fetch } from 'undici';
import type { PipelineResultsResponse } from '../src/contract/types';
import { availableCores } from '../src/util/available-cores';
import {
  compareDetections,
  describeAgreement,
  meetsBars,
  withAdcTorchResize,
  type Agreement,
} from './adc-compare';
import { stopChildOnExit } from './child-cleanup';
import {
  fourKSamples,
  freePort,
  machine,
  median,
  nativeUnavailable,
  parseServerTiming,
  root,
  startServer,
} from './harness';
import { Progress, formatDuration } from './progress';
import { serveDirectory } from './sample-server';

const env = (name: string, def: string): string => process.env[name] ?? def;

/** Ours must serve at least this many times ADC's images per second. */
export const ADC_TARGET = 1.5;

const DEFAULT_PIPELINES = [
  'moth_binary',
  'quebec_vermont_moths_2023',
  'costa_rica_moths_turing_2024',
  'global_moths_2024',
  'insect_orders_2025',
];
/** The global model's category map, and its class count in ADC's real file. */
const GLOBAL_MAP = 'global_category_map_with_names_20240828.json';
const GLOBAL_CLASSES = 29176;

/** ADC's /process can take minutes on a loaded machine: no client-side timeout. */
const patient = new Agent({ headersTimeout: 0, bodyTimeout: 0 });

/** One request's figures. */
interface Timed {
  seconds: number;
  bytes: number;
  /** ADC: its own `total_time`; ours: the Server-Timing stages, seconds. */
  server: Record<string, number>;
}

/** One pipeline's result. */
export interface AdcPipelineFigures {
  pipeline: string;
  /** The first request of each, unmeasured in the medians (ours may build kernels for a new shape). */
  first: { adc: number; ours: number };
  adc: Timed[];
  ours: Timed[];
  medianSeconds: { adc: number; ours: number };
  /** ours-images/s ÷ ADC-images/s = ADC's median seconds ÷ ours. */
  ratio: number;
  /** ADC's seconds ÷ ours per round, to show the spread. */
  roundRatios: number[];
  meetsTarget: boolean;
  /** Per round, ours against ADC's answer for the same image. */
  agreement: Agreement[];
  agreementMeetsBars: boolean;
}

export interface AdcReport {
  date: string;
  machine: Record<string, unknown>;
  loadAfter: unknown;
  checkpoints: string;
  rounds: number;
  /** OMP_NUM_THREADS given to ADC's PyTorch. */
  adcTorchThreads: number;
  /** ADC's PyTorch version; our detector resizes as that version does. */
  adcTorch: string;
  /** How many of our models ran as native SavedModels (0 with NATIVE_SAVED_MODELS=false). */
  nativeSavedModels: number;
  startupSeconds: { adc: number; ours: number; import: number | null };
  pipelines: AdcPipelineFigures[];
  lines: string[];
}

/** Why the comparison cannot run with `env` here, or null. */
export function adcUnavailable(env: NodeJS.ProcessEnv = process.env): string | null {
  const source = env.ADC_SOURCE;
  const checkpoints = env.ADC_CHECKPOINTS;
  if (!source) return 'ADC_SOURCE (a checkout of RolnickLab/ami-data-companion) is not set';
  if (!fs.existsSync(path.join(source, 'trapdata', 'api', 'api.py')))
    return `ADC_SOURCE=${source} is not an ADC checkout (no trapdata/api/api.py)`;
  if (!checkpoints) return "ADC_CHECKPOINTS (a folder of ADC's checkpoint and category-map files) is not set";
  if (!fs.existsSync(checkpoints) || !fs.statSync(checkpoints).isDirectory())
    return `ADC_CHECKPOINTS=${checkpoints} is not a folder`;
  const native = nativeUnavailable();
  return native === null ? null : `native TensorFlow is not built: ${native}`;
}

/** The cache key of a checkpoint folder: its real path and every file's name, size and modification time. */
export async function folderKey(folder: string): Promise<string> {
  const real = await fsp.realpath(folder);
  const hash = createHash('sha256').update(real);
  for (const name of (await fsp.readdir(real)).sort()) {
    const st = await fsp.stat(path.join(real, name));
    hash.update(`\0${name}\0${st.size}\0${st.mtimeMs}`);
  }
  return `${path.basename(real)}-${hash.digest('hex').slice(0, 12)}`;
}

/**
 * Our models for `folder`, imported once with `npm run import-adc` into scratch/adc-import/<key>. Returns the
 * directory and the seconds the import took (null when it came from the cache).
 */
async function importedModels(folder: string): Promise<{ dir: string; seconds: number | null }> {
  const dir = path.join(root, 'scratch', 'adc-import', await folderKey(folder));
  if (fs.existsSync(path.join(dir, 'pipelines.json'))) {
    process.stderr.write(`adc: using the import cached in ${dir}\n`);
    return { dir, seconds: null };
  }
  const partial = `${dir}.partial`;
  await fsp.rm(partial, { recursive: true, force: true });
  process.stderr.write(`adc: importing ${folder} with npm run import-adc into ${dir} (about 2.5 min)\n`);
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [path.join(root, 'dist', 'src', 'cli', 'import-adc.js'), folder, '--out', partial],
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const stop = stopChildOnExit(child, 'import-adc');
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  stop();
  if (code !== 0) throw new Error(`npm run import-adc ${folder} exited with ${code}`);
  // Renamed only when complete, so an interrupted import is never taken for a cached one.
  await fsp.rename(partial, dir);
  return { dir, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Writes the native SavedModels an import lacks (one cached before they existed, or made where TensorFlow's
 * Python could not be had), as `npm run convert -- native` does; returns how many of its models have one.
 */
async function withNativeSavedModels(dir: string): Promise<{ have: number; of: number }> {
  const dirs = fs
    .readdirSync(dir)
    .map((d) => path.join(dir, d))
    .filter((d) => fs.existsSync(path.join(d, 'manifest.json')));
  const lacking = dirs.filter(
    (d) => !('native_saved_model' in JSON.parse(fs.readFileSync(path.join(d, 'manifest.json'), 'utf8'))),
  );
  if (lacking.length > 0 && process.env.NATIVE_SAVED_MODELS !== 'false') {
    process.stderr.write(`adc: writing the native SavedModels of ${lacking.length} models in ${dir}
`);
    const child = spawn(
      process.execPath,
      [path.join(root, 'dist', 'src', 'cli', 'convert.js'), 'native', '--skip-check', ...lacking],
      { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
    );
    const stop = stopChildOnExit(child, 'convert native');
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    stop();
    if (code !== 0)
      process.stderr.write(`adc: convert native exited with ${code}; those run op by op
`);
  }
  const have = dirs.filter(
    (d) => 'native_saved_model' in JSON.parse(fs.readFileSync(path.join(d, 'manifest.json'), 'utf8')),
  ).length;
  return { have, of: dirs.length };
}

/**
 * PyTorch's intra-op threads for ADC. PyPI's torch, which ADC pins, starts with one per core; Debian's 1.13, which
 * run-adc.sh uses on CPU hosts, starts with one whatever the cores, unless OMP_NUM_THREADS says otherwise. Ours
 * uses every core the process may use, so ADC gets as many.
 */
const adcThreads = (): string => process.env.OMP_NUM_THREADS ?? String(availableCores());

/** The PyTorch version in run-adc.sh's venv (ADC_STATE, default scratch/adc), once ADC has started. */
function adcTorchVersion(): string {
  const state = path.resolve(process.env.ADC_STATE ?? path.join(root, 'scratch', 'adc'));
  return execFileSync(
    path.join(state, 'venv', 'bin', 'python'),
    ['-c', 'import torch; print(torch.__version__)'],
    {
      encoding: 'utf8',
    },
  ).trim();
}

/** ADC's API via scripts/adc/run-adc.sh, in its own process group (its setup runs apt-get and pip). */
async function startAdc(
  source: string,
  checkpoints: string,
): Promise<{ base: string; child: ChildProcess; stop(): void }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logFile = path.join(root, 'bench-results', 'adc-server.log');
  const log = fs.openSync(logFile, 'w');
  const child = spawn(
    'bash',
    [path.join(root, 'scripts', 'adc', 'run-adc.sh'), source, checkpoints, String(port)],
    {
      cwd: root,
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, OMP_NUM_THREADS: adcThreads() },
    },
  );
  fs.closeSync(log);
  const killGroup = (): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  const stop = stopChildOnExit(child, "ADC's API", killGroup);
  const t0 = performance.now();
  for (;;) {
    if (child.exitCode !== null) {
      const tail = (await fsp.readFile(logFile, 'utf8')).split('\n').slice(-15).join('\n');
      throw new Error(`run-adc.sh exited with ${child.exitCode}; the end of ${logFile}:\n${tail}`);
    }
    const r = await fetch(`${base}/livez`).catch(() => null);
    if (r?.status === 200) return { base, child, stop };
    if (performance.now() - t0 > 900_000) {
      stop();
      throw new Error(`ADC did not answer /livez in 15 min (see ${logFile})`);
    }
    await new Promise((r2) => setTimeout(r2, 500));
  }
}

/** One image through `POST /process` of either service. */
async function processImage(
  base: string,
  pipeline: string,
  id: string,
  url: string,
): Promise<{ timed: Timed; answer: PipelineResultsResponse; text: string }> {
  const t0 = performance.now();
  const res = await fetch(`${base}/process`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ pipeline, source_images: [{ id, url }], detections: [], config: {} }),
    dispatcher: patient,
  });
  const text = await res.text();
  const seconds = (performance.now() - t0) / 1000;
  if (res.status !== 200)
    throw new Error(`${base}/process (${pipeline}) answered ${res.status}: ${text.slice(0, 300)}`);
  const answer = JSON.parse(text) as PipelineResultsResponse & { total_time?: number };
  const timing = res.headers.get('server-timing');
  const server =
    timing !== null ? parseServerTiming(timing) : { total_time: Number(answer.total_time ?? NaN) };
  return { timed: { seconds, bytes: Buffer.byteLength(text), server }, answer, text };
}

/** The pipelines to compare: the setting, or the defaults that the import served. */
async function choosePipelines(checkpoints: string, modelsDir: string): Promise<string[]> {
  const declared = JSON.parse(await fsp.readFile(path.join(modelsDir, 'pipelines.json'), 'utf8')) as {
    pipelines: { slug: string }[];
  };
  const slugs = new Set(declared.pipelines.map((p) => p.slug));
  const wanted = process.env.BENCH_ADC_PIPELINES?.split(',').filter(Boolean);
  if (wanted) {
    const missing = wanted.filter((s) => !slugs.has(s));
    if (missing.length > 0)
      throw new Error(`BENCH_ADC_PIPELINES: ${missing.join(', ')} not imported (${[...slugs].join(', ')})`);
    return wanted;
  }
  let fullGlobal = false;
  try {
    const map = JSON.parse(await fsp.readFile(path.join(checkpoints, GLOBAL_MAP), 'utf8')) as object;
    fullGlobal = Object.keys(map).length === GLOBAL_CLASSES;
  } catch {
    // no global model in the folder
  }
  return DEFAULT_PIPELINES.filter((s) => slugs.has(s) && (s !== 'global_moths_2024' || fullGlobal));
}

const secs = (s: number): string => `${s.toFixed(2)} s`;
const kb = (b: number): string =>
  b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MiB` : `${(b / 1024).toFixed(0)} KiB`;

/** Runs the comparison; returns its report, or null when skipped (the reason printed). */
export async function runAdcBench(): Promise<AdcReport | null> {
  const reason = adcUnavailable();
  if (reason !== null) {
    process.stderr.write(`ADC comparison skipped: ${reason}\n`);
    return null;
  }
  const source = path.resolve(process.env.ADC_SOURCE as string);
  const checkpoints = path.resolve(process.env.ADC_CHECKPOINTS as string);
  const rounds = Number(env('BENCH_ADC_ROUNDS', '3'));
  const answers = path.join(root, 'bench-results', 'adc-answers');
  await fsp.mkdir(answers, { recursive: true });
  const host = machine();
  process.stderr.write(`ADC comparison on ${JSON.stringify(host)}\n`);

  const imported = await importedModels(checkpoints);
  const nativeSaved = await withNativeSavedModels(imported.dir);
  const asOneGraph = process.env.NATIVE_SAVED_MODELS !== 'false';
  process.stderr.write(
    `adc: ${nativeSaved.have} of ${nativeSaved.of} models have a native SavedModel` +
      (asOneGraph ? '' : ' (NATIVE_SAVED_MODELS=false: graph models op by op)') +
      '\n',
  );
  const pipelines = await choosePipelines(checkpoints, imported.dir);
  const files = await fourKSamples(path.resolve(root, env('BENCH_SAMPLES', 'samples')));
  const samples = await serveDirectory(path.dirname(files[0]));
  const urls = files.map((f) => samples.url(path.basename(f)));

  // One after the other, so neither start-up competes with the other for the cores.
  let t0 = performance.now();
  process.stderr.write(
    `adc: starting ADC's API (scripts/adc/run-adc.sh; log in bench-results/adc-server.log)\n`,
  );
  const adc = await startAdc(source, checkpoints);
  const adcStartup = (performance.now() - t0) / 1000;
  process.stderr.write(
    `adc: ADC ready in ${formatDuration(adcStartup)}; starting ours (native TensorFlow)\n`,
  );
  let ours: Awaited<ReturnType<typeof startServer>> | undefined;
  // Our detector resizes as ADC's PyTorch does: 1.x and 2.x round the resize differently (bench/adc-compare.ts).
  const adcTorch = adcTorchVersion();
  const models = await fsp.mkdtemp(path.join(os.tmpdir(), 'adc-bench-models-'));
  try {
    withAdcTorchResize(imported.dir, models, Number(adcTorch.split('.')[0]));
    process.stderr.write(`adc: ADC runs PyTorch ${adcTorch}; our detector resizes as that version does\n`);
    t0 = performance.now();
    ours = await startServer(
      { MODELS_DIR: models, ENABLED_PIPELINES: pipelines.join(','), TFJS_BACKEND: 'tensorflow' },
      'our server',
    );
    const oursStartup = (performance.now() - t0) / 1000;
    process.stderr.write(`adc: ours ready in ${formatDuration(oursStartup)}\n`);

    const figures: AdcPipelineFigures[] = [];
    const progress = new Progress('ADC comparison requests', pipelines.length * (rounds + 1) * 2);
    for (const pipeline of pipelines) {
      const services = { adc: adc.base, ours: ours.base };
      const first = {
        adc: (await processImage(services.adc, pipeline, 'w', urls[0])).timed.seconds,
        ours: (await processImage(services.ours, pipeline, 'w', urls[0])).timed.seconds,
      };
      progress.tick(2);
      const fig: AdcPipelineFigures = {
        pipeline,
        first,
        adc: [],
        ours: [],
        medianSeconds: { adc: NaN, ours: NaN },
        ratio: NaN,
        roundRatios: [],
        meetsTarget: false,
        agreement: [],
        agreementMeetsBars: false,
      };
      for (let r = 0; r < rounds; r++) {
        const url = urls[r % urls.length];
        const order = r % 2 === 0 ? (['adc', 'ours'] as const) : (['ours', 'adc'] as const);
        const got: Partial<Record<'adc' | 'ours', Awaited<ReturnType<typeof processImage>>>> = {};
        for (const who of order) {
          got[who] = await processImage(services[who], pipeline, String(r), url);
          progress.tick();
        }
        const [a, o] = [got.adc!, got.ours!];
        fig.adc.push(a.timed);
        fig.ours.push(o.timed);
        fig.roundRatios.push(a.timed.seconds / o.timed.seconds);
        fig.agreement.push(compareDetections(o.answer.detections, a.answer.detections));
        // The answers themselves, to look into a disagreement (the last round's; bench-results/adc-answers/).
        for (const [who, got1] of [
          ['adc', a],
          ['ours', o],
        ] as const)
          await fsp.writeFile(path.join(answers, `${pipeline}-${who}.json`), got1.text);
      }
      fig.medianSeconds = {
        adc: median(fig.adc.map((t) => t.seconds)),
        ours: median(fig.ours.map((t) => t.seconds)),
      };
      fig.ratio = fig.medianSeconds.adc / fig.medianSeconds.ours;
      fig.meetsTarget = fig.ratio >= ADC_TARGET;
      fig.agreementMeetsBars = fig.agreement.every(meetsBars);
      figures.push(fig);
    }
    progress.done();

    const loadAfter = machine().loadAverage;
    const lines = [
      `ADC against this service (native TensorFlow), ${checkpoints}, ${rounds} measured requests each per pipeline`,
      `machine: ${JSON.stringify(host)}; load average after: ${JSON.stringify(loadAfter)}`,
      `start-up to ready: ADC ${secs(adcStartup)} (/livez), ours ${secs(oursStartup)} (/readyz)` +
        (imported.seconds === null ? '' : `; the import took ${secs(imported.seconds)}`),
      `one request at a time, alternating ADC and ours, never both at once; ADC's PyTorch ${adcTorch} with ${adcThreads()} threads (OMP_NUM_THREADS); our detector resizes as that version does`,
      `ours: ${asOneGraph ? `${nativeSaved.have} of ${nativeSaved.of} models run as native SavedModels (one TensorFlow graph each), the rest op by op` : 'every model op by op as a graph model (NATIVE_SAVED_MODELS=false)'}`,
      '  pipeline | ADC s/image (median) | ours s/image (median) | ours ÷ ADC images/s (rounds) | answer size ADC / ours | agreement',
      ...figures.map((f) => {
        const spread = f.roundRatios.map((x) => x.toFixed(2)).join(', ');
        const worst = f.agreement.reduce((w, a) =>
          a.oursMatched + a.agreeingShare < w.oursMatched + w.agreeingShare ? a : w,
        );
        return (
          `  ${f.pipeline} | ${secs(f.medianSeconds.adc)} | ${secs(f.medianSeconds.ours)} | ` +
          `**${f.ratio.toFixed(2)}×** (${spread}; target ≥ ${ADC_TARGET}×: ${f.meetsTarget ? 'met' : 'MISSED'}) | ` +
          `${kb(median(f.adc.map((t) => t.bytes)))} / ${kb(median(f.ours.map((t) => t.bytes)))} | ` +
          `${f.agreementMeetsBars ? 'meets the bars' : 'MISSES the bars'}; worst image: ${describeAgreement(worst)}`
        );
      }),
      '  ours, Server-Timing stage medians (s): ' +
        figures
          .map((f) => {
            const stages = Object.keys(f.ours[0]?.server ?? {});
            return `${f.pipeline} ${stages.map((s) => `${s} ${median(f.ours.map((t) => t.server[s] ?? 0)).toFixed(2)}`).join(', ')}`;
          })
          .join('; '),
      '  ADC, its own total_time median (s): ' +
        figures
          .map((f) => `${f.pipeline} ${median(f.adc.map((t) => t.server.total_time)).toFixed(2)}`)
          .join('; '),
    ];
    const report: AdcReport = {
      date: new Date().toISOString(),
      machine: host,
      loadAfter,
      checkpoints,
      rounds,
      adcTorchThreads: Number(adcThreads()),
      adcTorch,
      nativeSavedModels: asOneGraph ? nativeSaved.have : 0,
      startupSeconds: { adc: adcStartup, ours: oursStartup, import: imported.seconds },
      pipelines: figures,
      lines,
    };
    await fsp.writeFile(path.join(root, 'bench-results', 'adc.json'), JSON.stringify(report, null, 2));
    process.stdout.write(`${lines.join('\n')}\n`);
    return report;
  } finally {
    await ours?.stop();
    adc.stop();
    await samples.close();
    await fsp.rm(models, { recursive: true, force: true });
  }
}

if (require.main === module) {
  runAdcBench().catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
