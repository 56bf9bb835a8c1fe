/**
 * `npm run import-adc`: a folder of ADC's checkpoint and category-map files → one model directory per ADC model and
 * a pipelines.json with ADC's pipelines, so that the service's /info lists what ADC's lists.
 *
 * Why through ONNX: ADC's checkpoints are Python pickles of PyTorch state dicts. Reading them in Node would mean an
 * unpickler for torch's zip format plus, for each architecture, a hand-written map from PyTorch's parameter names
 * and layouts onto a TF.js graph converted once (FrozenBatchNorm, FPN and RPN names, Conv2d OIHW to HWIO, fc
 * transposes), which would be a second implementation of each network to keep in step with torchvision and timm.
 * Exporting with torch itself builds the networks with the libraries ADC builds them with, checks the files with
 * torch's own strict load, and hands the converter a graph it already converts and tests against onnxruntime.
 * The cost is a Python with torch at import time only; the service never needs it.
 *
 * Order: everything that can fail on the user's files (names, category maps, checkpoint keys and shapes) is checked
 * before anything is written under the output directory.
 */
import { promises as fsp } from 'fs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { AlgorithmCategoryMap } from '../../contract/types';
import { parsePipelinesFile, PIPELINES_FILE, type DeclaredPipeline } from '../../models/pipelines-file';
import { projectRoot } from '../../util/paths';
import { CategoryMapError } from '../category-map';
import { convertOnnxDetectorToModelDir, convertOnnxToModelDir } from '../model-dir';
import { ADC_DETECTOR, ADC_MODELS, adcKey, type AdcModel } from './catalogue';
import { exportOnnx, type ExportJob } from './export';
import { adcCategoryMap } from './labels';
import {
  classifierOptions,
  declaredPipeline,
  detectorOptions,
  modelDirName,
  modelFiles,
  planImport,
  type ImportPlan,
} from './plan';
import { ensurePython, type PythonEnv, type PythonSettings } from './python-env';
import {
  NativeSavedModelError,
  ensureTfPython,
  writeNativeSavedModel,
  type TfPython,
  type TfWheelSettings,
} from '../native-saved-model';
import { nativeAddonPath } from '../../tf/backend';

/** The export script, beside the other ADC scripts. */
export const EXPORT_SCRIPT = path.join(projectRoot(), 'scripts', 'adc', 'export-onnx.py');

/** Thrown for a folder that cannot be imported as it is; the message says what to fix. */
export class AdcImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdcImportError';
  }
}

export interface ImportAdcOptions {
  /** The folder of ADC's files. */
  folder: string;
  /** The models directory to write into (MODELS_DIR). */
  outDir: string;
  python: PythonSettings;
  /**
   * Whether to also write each model's native SavedModel (src/convert/native-saved-model.ts). `auto`: where
   * `npm run native` has built the backend that runs them, and only warning when TensorFlow's Python cannot be had.
   */
  native?: 'auto' | 'yes' | 'no';
  /** Where `npm run native` keeps its wheel, for the TensorFlow Python that writes them. */
  tfWheel?: TfWheelSettings;
  log: (line: string) => void;
  detail: (line: string) => void;
}

export interface ImportAdcResult {
  plan: ImportPlan;
  python: PythonEnv;
  /** Model directories written, by ADC key. */
  dirs: Record<string, string>;
  pipelinesFile: string;
  warnings: string[];
}

/**
 * Writes every model directory's native SavedModel, so that the native backend runs each as one TensorFlow graph.
 * In `auto` a missing native backend or TensorFlow Python is a warning: the graph models serve either way.
 */
async function writeNativeSavedModels(
  dirs: string[],
  mode: 'auto' | 'yes' | 'no',
  wheel: TfWheelSettings,
  io: { log: (line: string) => void; detail: (line: string) => void },
  warn: (line: string) => void,
): Promise<void> {
  if (mode === 'no') return;
  const addon = nativeAddonPath('@tensorflow/tfjs-node');
  const later = `npm run convert -- native ${dirs.length > 1 ? '<each model dir>' : (dirs[0] ?? '')}`;
  if (mode === 'auto' && (addon === null || !fs.existsSync(addon))) {
    io.log(`native SavedModels not written: the native backend is not built (npm run native, then ${later})`);
    return;
  }
  let python: TfPython;
  try {
    python = await ensureTfPython(wheel, io);
  } catch (err) {
    if (mode === 'yes' || !(err instanceof NativeSavedModelError)) throw err;
    warn(`native SavedModels not written (${err.message}); the graph models serve as they are`);
    return;
  }
  io.log(`writing each model's native SavedModel with TensorFlow ${python.tensorflow} (${python.source})`);
  for (const dir of dirs) {
    const started = performance.now();
    try {
      const written = await writeNativeSavedModel(dir, python);
      io.detail(
        `${path.basename(dir)}: ${written.nodes} nodes in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
    } catch (err) {
      if (mode === 'yes' || !(err instanceof NativeSavedModelError)) throw err;
      warn(`${err.message}; this model serves as a graph model`);
    }
  }
}

/** Reads and checks every present classifier's category map; errors name the file. */
async function readCategoryMaps(
  folder: string,
  models: AdcModel[],
  warn: (line: string) => void,
): Promise<Map<string, AlgorithmCategoryMap>> {
  const maps = new Map<string, AlgorithmCategoryMap>();
  for (const model of models) {
    if (model.kind !== 'classifier') continue;
    const file = path.join(folder, modelFiles(model).labels ?? '');
    let raw: unknown;
    try {
      raw = JSON.parse(await fsp.readFile(file, 'utf8'));
    } catch (err) {
      throw new CategoryMapError(`${file}: ${(err as Error).message}`);
    }
    const { categoryMap, warnings } = adcCategoryMap(raw, model, file);
    warnings.forEach(warn);
    maps.set(model.name, categoryMap);
  }
  return maps;
}

/**
 * Pipelines already declared in the output directory that are not ADC's stay; ADC's slugs are replaced. Throws
 * naming the file when it is not a valid pipelines.json.
 */
async function mergePipelines(file: string, adc: DeclaredPipeline[]): Promise<DeclaredPipeline[]> {
  if (!fs.existsSync(file)) return adc;
  let raw: unknown;
  try {
    raw = JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch (err) {
    throw new AdcImportError(`${file}: ${(err as Error).message}`);
  }
  const slugs = new Set(adc.map((p) => p.slug));
  const kept = parsePipelinesFile(raw, file).pipelines.filter((p) => !slugs.has(p.slug));
  return [...kept, ...adc];
}

/** Runs the whole import; see the module comment for the order. */
export async function importAdc(options: ImportAdcOptions): Promise<ImportAdcResult> {
  const { folder, outDir, log, detail } = options;
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory())
    throw new AdcImportError(`${folder} is not a folder`);
  const warnings: string[] = [];
  const warn = (line: string): void => {
    warnings.push(line);
    log(`warning: ${line}`);
  };

  const plan = planImport(new Set(await fsp.readdir(folder)));
  if (plan.models.length === 0) {
    const names = ADC_MODELS.map((m) => modelFiles(m).weights).join(', ');
    throw new AdcImportError(
      `${folder} holds none of ADC's models: ADC names its checkpoints ${names}, each classifier's beside its ` +
        "category map (the basenames of ADC's download URLs, as ADC keeps them under $TORCH_HOME/hub/models)",
    );
  }
  for (const { model, missing } of plan.incomplete)
    warn(`${adcKey(model.name)} is left out: ${missing.join(', ')} is not in ${folder}`);
  log(
    `${folder}: ${plan.models.length} of ADC's ${ADC_MODELS.length} models, ${plan.pipelines.length} of ` +
      `${plan.pipelines.length + plan.skipped.length} pipelines complete`,
  );
  for (const { pipeline, missing } of plan.skipped)
    detail(`${pipeline.slug} is left out: no ${missing.join(', ')}`);
  if (!plan.models.includes(ADC_DETECTOR))
    warn(
      `every ADC pipeline starts with ${adcKey(ADC_DETECTOR.name)}, and its checkpoint is missing: ` +
        'no pipeline is written',
    );

  const maps = await readCategoryMaps(folder, plan.models, warn);
  detail(`category maps read: ${[...maps.values()].map((m) => m.labels.length).join(', ')} labels`);

  const python = await ensurePython(options.python, EXPORT_SCRIPT, { log, detail, uid: process.getuid?.() });
  const v = python.versions;
  log(
    `Python ${v.python} with torch ${v.torch}, torchvision ${v.torchvision}, timm ${v.timm}: ${python.python} ` +
      `(${python.source})`,
  );

  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'import-adc-'));
  try {
    const jobs: ExportJob[] = plan.models.map((model) => ({
      key: adcKey(model.name),
      arch: model.architecture,
      weights: path.join(folder, modelFiles(model).weights),
      classes: model.kind === 'classifier' ? (maps.get(model.name)?.labels.length ?? 0) : 2,
      size: model.kind === 'classifier' ? model.inputSize : 0,
      out: path.join(work, `${adcKey(model.name)}.onnx`),
      ...(model.kind === 'classifier'
        ? { labelsFile: path.join(folder, modelFiles(model).labels ?? '') }
        : {}),
    }));
    log(
      `checking each checkpoint as ADC loads it and exporting it to ONNX (the detector takes a minute or two)`,
    );
    await exportOnnx(python.python, EXPORT_SCRIPT, jobs, work, { log, detail });

    const dirs: Record<string, string> = {};
    await fsp.mkdir(outDir, { recursive: true });
    for (const [i, model] of plan.models.entries()) {
      const started = performance.now();
      const paths = { onnx: jobs[i].out, outDir: path.join(outDir, modelDirName(model)) };
      log(`[${i + 1}/${plan.models.length}] converting ${adcKey(model.name)} into ${paths.outDir}`);
      if (model.kind === 'detector') {
        await convertOnnxDetectorToModelDir({ ...detectorOptions(paths), log: detail });
      } else {
        const map = maps.get(model.name);
        if (!map) throw new Error(`no category map was read for ${model.name}`);
        await convertOnnxToModelDir({ ...classifierOptions(model, paths, map), log: detail });
      }
      await fsp.rm(paths.onnx, { force: true });
      dirs[adcKey(model.name)] = paths.outDir;
      detail(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }

    if (options.tfWheel)
      await writeNativeSavedModels(
        Object.values(dirs),
        options.native ?? 'auto',
        options.tfWheel,
        { log, detail },
        warn,
      );

    const pipelinesFile = path.join(outDir, PIPELINES_FILE);
    const adc = plan.pipelines.map(declaredPipeline);
    const all = await mergePipelines(pipelinesFile, adc);
    const text = `${JSON.stringify(parsePipelinesFile({ pipelines: all }, pipelinesFile), null, 2)}\n`;
    await fsp.writeFile(pipelinesFile, text);
    log(
      `wrote ${pipelinesFile}: ${adc.map((p) => p.slug).join(', ') || 'no ADC pipeline'}` +
        (all.length > adc.length
          ? ` (and kept ${all.length - adc.length} pipelines declared there before)`
          : ''),
    );
    return { plan, python, dirs, pipelinesFile, warnings };
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}
