#!/usr/bin/env node
/**
 * `npm run convert -- <command> ...`: model conversion for maintainers, no Python TensorFlow needed.
 *
 *   onnx <model.onnx> --out models/<name> --labels <labels.json> [options]   ONNX → complete model directory
 *   category-map <labels.json> [--taxon-rank SPECIES] [--out file]           labels → Antenna category map
 *
 * Progress and errors go to stderr; `category-map` without --out prints the map on stdout.
 * Exit status: 0 done, 1 the model or labels cannot be converted, 2 bad usage.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { buildCategoryMap, CategoryMapError } from '../convert/category-map';
import { IMAGENET_MEAN, IMAGENET_STD, convertOnnxToModelDir } from '../convert/model-dir';
import { ConversionError } from '../convert/onnx/convert-onnx';
import { ManifestError } from '../models/manifest';

const USAGE = `Usage:
  npm run convert -- onnx <model.onnx> --out <dir> --labels <labels.json> [options]
      --key <key>             algorithm key, [a-z0-9_-] (default: the output directory's name)
      --name <name>           algorithm name shown in Antenna (default: the key)
      --version <n>           algorithm version, integer >= 1 (default 1)
      --version-name <s>      free-text version name
      --description <s>       algorithm description
      --uri <uri>             where the model comes from (paper, repository, release)
      --input-size <H[xW]>    input size in pixels; required if the ONNX input has dynamic height/width
      --mean <r,g,b>          per-channel mean after scaling to [0,1] (default ${IMAGENET_MEAN.join(',')})
      --std <r,g,b>           per-channel std (default ${IMAGENET_STD.join(',')})
      --taxon-rank <RANK>     taxon_rank for every label, e.g. SPECIES
      --output-kind <kind>    logits | probabilities (default: probabilities if the graph ends in Softmax)
  npm run convert -- category-map <labels.json> [--taxon-rank SPECIES] [--out <file>]
      [--version <s>] [--description <s>] [--uri <uri>]
  Label files: {"label": index, ...}, a JSON list of labels, or an Antenna category map.`;

class UsageError extends Error {}

function triple(v: string | undefined, flag: string): [number, number, number] | undefined {
  if (v === undefined) return undefined;
  const parts = v.split(',').map((s) => Number(s.trim()));
  if (parts.length !== 3 || parts.some((p) => !Number.isFinite(p)))
    throw new UsageError(`${flag} needs three numbers, e.g. 0.5,0.5,0.5`);
  return parts as [number, number, number];
}

function inputSize(v: string | undefined): [number, number] | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)(?:[x×,](\d+))?$/.exec(v.trim());
  if (!m) throw new UsageError('--input-size needs H or HxW, e.g. 128 or 128x128');
  return [Number(m[1]), Number(m[2] ?? m[1])];
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch (err) {
    throw new CategoryMapError(`${file}: ${(err as Error).message}`);
  }
}

const log = (line: string): void => {
  process.stderr.write(`[convert] ${line}\n`);
};

async function onnxCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      labels: { type: 'string' },
      key: { type: 'string' },
      name: { type: 'string' },
      version: { type: 'string' },
      'version-name': { type: 'string' },
      description: { type: 'string' },
      uri: { type: 'string' },
      'input-size': { type: 'string' },
      mean: { type: 'string' },
      std: { type: 'string' },
      'taxon-rank': { type: 'string' },
      'output-kind': { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('onnx needs exactly one .onnx file');
  if (!values.out) throw new UsageError('onnx needs --out <model directory>');
  if (!values.labels)
    throw new UsageError('onnx needs --labels <labels.json> (the classifier needs a category map)');
  const key =
    values.key ??
    path
      .basename(path.resolve(values.out))
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, '_');
  const version = Number(values.version ?? '1');
  if (!Number.isInteger(version) || version < 1) throw new UsageError('--version must be an integer >= 1');
  const kind = values['output-kind'];
  if (kind !== undefined && kind !== 'logits' && kind !== 'probabilities')
    throw new UsageError('--output-kind is logits or probabilities');
  const started = Date.now();
  const result = await convertOnnxToModelDir({
    onnxPath: positionals[0],
    outDir: values.out,
    algorithm: {
      key,
      name: values.name ?? key,
      version,
      versionName: values['version-name'] ?? null,
      description: values.description ?? null,
      uri: values.uri ?? null,
    },
    labels: await readJson(values.labels),
    labelsSource: values.labels,
    taxonRank: values['taxon-rank'],
    inputSize: inputSize(values['input-size']),
    mean: triple(values.mean, '--mean'),
    std: triple(values.std, '--std'),
    outputKind: kind,
    log,
  });
  for (const w of result.conversion.warnings) process.stderr.write(`[convert] warning: ${w}\n`);
  log(
    `done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${result.dir} is a complete model directory ` +
      `(classifier "${result.manifest.algorithm.key}", ${result.categoryMap.labels.length} labels, input ` +
      `${result.manifest.input.width}x${result.manifest.input.height} NHWC, output ${result.manifest.output.kind})`,
  );
}

async function categoryMapCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      'taxon-rank': { type: 'string' },
      version: { type: 'string' },
      description: { type: 'string' },
      uri: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('category-map needs exactly one labels file');
  const map = buildCategoryMap(
    await readJson(positionals[0]),
    {
      taxonRank: values['taxon-rank'],
      version: values.version,
      description: values.description,
      uri: values.uri,
    },
    positionals[0],
  );
  const text = `${JSON.stringify(map, null, 2)}\n`;
  if (values.out) {
    await fsp.writeFile(values.out, text);
    log(`wrote ${values.out}: ${map.labels.length} labels`);
  } else {
    process.stdout.write(text);
  }
}

/** Runs the CLI; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'onnx') await onnxCommand(rest);
    else if (command === 'category-map') await categoryMapCommand(rest);
    else if (command === undefined || command === '--help' || command === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    } else throw new UsageError(`unknown command "${command}"`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`error: ${(err as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof ConversionError || err instanceof CategoryMapError || err instanceof ManifestError) {
      process.stderr.write(`error: ${err.message}\n`);
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
