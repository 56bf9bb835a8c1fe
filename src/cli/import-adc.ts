#!/usr/bin/env node
/**
 * `npm run import-adc -- <folder> --out <models dir>`: the AMI Data Companion's models and pipelines from a folder
 * of its checkpoint and category-map files (src/convert/adc/import.ts). Progress and errors go to stderr.
 * Exit status: 0 done, 1 the files or the Python setup stopped it, 2 bad usage.
 */
import * as path from 'path';
import { parseArgs } from 'util';
import { CategoryMapError } from '../convert/category-map';
import { AdcImportError, importAdc } from '../convert/adc/import';
import { CheckpointError } from '../convert/adc/export';
import { PythonSetupError, pythonSettings } from '../convert/adc/python-env';
import { ConversionError } from '../convert/onnx/convert-onnx';
import { ManifestError } from '../models/manifest';
import { NativeSavedModelError } from '../convert/native-saved-model';
import { nativeSettings } from './native';

const USAGE = `Usage:
  npm run import-adc -- <folder> --out <models dir> [--native auto|yes|no]

  <folder>   ADC's checkpoint and category-map files, named as ADC's download URLs name them
             (e.g. fasterrcnn_resnet50_fpn_tz53qv9v.pt, moth-nonmoth_resnet50_20240417_b4fe3efe.pth,
             05-moth-nonmoth_category_map.json; ADC keeps them in $TORCH_HOME/hub/models)
  --out      the models directory to serve (MODELS_DIR): one directory per model, named by its ADC key, and
             pipelines.json with every ADC pipeline whose models are all there (other pipelines in it are kept)
  --native   also write each model's native SavedModel (npm run convert -- native), which the native backend runs
             as one TensorFlow graph, 20-25% faster than op by op: auto (default) where npm run native has built
             that backend, warning if TensorFlow's Python cannot be had; yes: always, failing if it cannot; no

  Reading the checkpoints needs a Python with torch, torchvision and timm, at import time only. It is found or set
  up on first use: ADC_PYTHON, else a managed venv (ADC_VENV_DIR, default ~/.cache/antenna-adc-import/venv), else
  python3; missing, it is made from Debian's python3-torch and python3-torchvision (apt-get, as root) and timm
  (pip, ADC_PIP_INDEX for another index).`;

const log = (line: string): void => {
  process.stderr.write(`[import-adc] ${line}\n`);
};
const detail = (line: string): void => {
  process.stderr.write(`             ${line}\n`);
};

const count = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/** Runs the CLI; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  let folder: string;
  let out: string;
  let native: 'auto' | 'yes' | 'no';
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        out: { type: 'string' },
        native: { type: 'string', default: 'auto' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (positionals.length !== 1) throw new Error('import-adc needs exactly one folder');
    if (!values.out) throw new Error('import-adc needs --out <models dir>');
    [folder, out] = [positionals[0], values.out];
    const mode = values.native ?? 'auto';
    if (mode !== 'auto' && mode !== 'yes' && mode !== 'no')
      throw new Error(`--native takes auto, yes or no, not "${mode}"`);
    native = mode;
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const started = performance.now();
  try {
    const result = await importAdc({
      folder: path.resolve(folder),
      outDir: path.resolve(out),
      python: pythonSettings(),
      native,
      tfWheel: nativeSettings(),
      log,
      detail,
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    log(
      `done in ${seconds} s: ${count(Object.keys(result.dirs).length, 'model directory', 'model directories')} ` +
        `and ${count(result.plan.pipelines.length, 'pipeline', 'pipelines')} in ${out}` +
        (result.warnings.length > 0 ? ` (${result.warnings.length} warnings above)` : ''),
    );
    log(`serve them with: MODELS_DIR=${out} npm start`);
    return 0;
  } catch (err) {
    const known = [
      AdcImportError,
      CheckpointError,
      CategoryMapError,
      PythonSetupError,
      ConversionError,
      ManifestError,
      NativeSavedModelError,
    ];
    if (known.some((k) => err instanceof k)) {
      process.stderr.write(`error: ${(err as Error).message}\n`);
      // Only the conversion itself runs after writing into the output directory has begun.
      if (!(
        err instanceof ConversionError ||
        err instanceof ManifestError ||
        err instanceof NativeSavedModelError
      ))
        process.stderr.write(`nothing was written to ${out}\n`);
      return 1;
    }
    process.stderr.write(`error: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
