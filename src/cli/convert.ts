#!/usr/bin/env node
/**
 * `npm run convert -- <command> ...`: model conversion for maintainers, no Python TensorFlow needed.
 *
 *   onnx <model.onnx> --out models/<name> --labels <labels.json> [options]   ONNX classifier → model directory
 *   onnx <model.onnx> --out models/<name> --kind detector [options]           ONNX detector → model directory
 *   category-map <labels.json> [--taxon-rank SPECIES] [--out file]           labels → Antenna category map
 *
 * Progress and errors go to stderr; `category-map` without --out prints the map on stdout.
 * Exit status: 0 done, 1 the model or labels cannot be converted, 2 bad usage.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { buildCategoryMap, CategoryMapError } from '../convert/category-map';
import {
  IMAGENET_MEAN,
  IMAGENET_STD,
  convertOnnxDetectorToModelDir,
  convertOnnxToModelDir,
} from '../convert/model-dir';
import type { DetectorOutput, ResizeMode } from '../models/manifest';
import { ConversionError } from '../convert/onnx/convert-onnx';
import { ManifestError } from '../models/manifest';

const USAGE = `Usage:
  npm run convert -- onnx <model.onnx> --out <dir> [--kind classifier] --labels <labels.json> [options]
  npm run convert -- onnx <model.onnx> --out <dir> --kind detector [--labels <labels.json>] [options]
    Both kinds:
      --key <key>             algorithm key, [a-z0-9_-] (default: the output directory's name)
      --name <name>           algorithm name shown in Antenna (default: the key)
      --version <n>           algorithm version, integer >= 1 (default 1)
      --version-name <s>      free-text version name
      --description <s>       algorithm description
      --uri <uri>             where the model comes from (paper, repository, release)
      --input-size <H[xW]>    input size in pixels; required if the ONNX input has dynamic height/width
                              (detectors: default ultralytics imgsz; a dynamic input is fed at native size)
      --scale <s>             multiplier on 0..255 pixel values (default 1/255)
      --mean <r,g,b>          per-channel mean after scaling (classifier default ${IMAGENET_MEAN.join(',')}; detector 0,0,0)
      --std <r,g,b>           per-channel std (classifier default ${IMAGENET_STD.join(',')}; detector 1,1,1)
      --taxon-rank <RANK>     taxon_rank for every label, e.g. SPECIES
    Classifiers:
      --output-kind <kind>    logits | probabilities (default: probabilities if the graph ends in Softmax)
    Detectors (defaults read from the graph and from ultralytics metadata: names, imgsz, task):
      --resize <mode>         stretch | letterbox | letterbox-center | none (ultralytics: letterbox-center;
                              dynamic input: none; else stretch)
      --pad-value <v>         letterbox padding in 0..255 pixel units (ultralytics: 114; else 0)
      --score-threshold <t>   default score threshold (ultralytics 0.25, else 0.5)
      --iou-threshold <t>     service NMS IoU threshold (ultralytics 0.7, else 0.5; not with in-graph NMS)
      --max-detections <n>    cap per image (ultralytics 300, else 500)
      --box-format <f>        xyxy | yxyx | xywh | cxcywh (default: the layout's usual one)
      --nms <where>           service | in-graph (default: in-graph when the graph has NonMaxSuppression)
      --nms-classes <how>     per-class | agnostic service NMS (ultralytics: per-class, else agnostic)
      --keep-classes <a,b>    drop detections of every other class
      --ignore-classes        do not report the detector's classes (as ADC); labels are then not needed
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

function num(v: string | undefined, flag: string, lo: number, hi: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < lo || n > hi)
    throw new UsageError(`${flag} needs a number in [${lo}, ${hi}]`);
  return n;
}

function oneOf<T extends string>(v: string | undefined, flag: string, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v))
    throw new UsageError(`${flag} is one of ${allowed.join(', ')}`);
  return v as T;
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
      kind: { type: 'string' },
      scale: { type: 'string' },
      resize: { type: 'string' },
      'pad-value': { type: 'string' },
      'score-threshold': { type: 'string' },
      'iou-threshold': { type: 'string' },
      'max-detections': { type: 'string' },
      'box-format': { type: 'string' },
      nms: { type: 'string' },
      'nms-classes': { type: 'string' },
      'keep-classes': { type: 'string' },
      'ignore-classes': { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('onnx needs exactly one .onnx file');
  if (!values.out) throw new UsageError('onnx needs --out <model directory>');
  const modelKind = oneOf(values.kind, '--kind', ['classifier', 'detector'] as const) ?? 'classifier';
  if (modelKind === 'detector') {
    await detectorCommand(positionals[0], values.out, values);
    return;
  }
  const detectorOnly = [
    'resize',
    'pad-value',
    'score-threshold',
    'iou-threshold',
    'max-detections',
    'box-format',
    'nms',
    'nms-classes',
    'keep-classes',
    'ignore-classes',
    'scale',
  ] as const;
  const misplaced = detectorOnly.filter((f) => values[f] !== undefined);
  if (misplaced.length > 0) throw new UsageError(`--${misplaced[0]} is for --kind detector`);
  if (!values.labels)
    throw new UsageError('onnx needs --labels <labels.json> (the classifier needs a category map)');
  const algorithm = algorithmFlags(values.out, values);
  const kind = values['output-kind'];
  if (kind !== undefined && kind !== 'logits' && kind !== 'probabilities')
    throw new UsageError('--output-kind is logits or probabilities');
  const started = Date.now();
  const result = await convertOnnxToModelDir({
    onnxPath: positionals[0],
    outDir: values.out,
    algorithm,
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

/** The algorithm block both kinds share, from the flags. */
function algorithmFlags(out: string, values: Record<string, string | boolean | undefined>) {
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
  const key =
    str('key') ??
    path
      .basename(path.resolve(out))
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, '_');
  const version = Number(str('version') ?? '1');
  if (!Number.isInteger(version) || version < 1) throw new UsageError('--version must be an integer >= 1');
  return {
    key,
    name: str('name') ?? key,
    version,
    versionName: str('version-name') ?? null,
    description: str('description') ?? null,
    uri: str('uri') ?? null,
  };
}

async function detectorCommand(
  onnxPath: string,
  out: string,
  values: Record<string, string | boolean | undefined>,
): Promise<void> {
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
  if (str('output-kind') !== undefined) throw new UsageError('--output-kind is for classifiers');
  const ignore = values['ignore-classes'] === true;
  const keep = str('keep-classes')
    ?.split(',')
    .map((c) => c.trim())
    .filter((c) => c.length > 0);
  if (ignore && keep) throw new UsageError('--keep-classes and --ignore-classes contradict each other');
  const labelsFile = str('labels');
  const nmsClasses = oneOf(str('nms-classes'), '--nms-classes', ['per-class', 'agnostic'] as const);
  const started = Date.now();
  const result = await convertOnnxDetectorToModelDir({
    onnxPath,
    outDir: out,
    algorithm: algorithmFlags(out, values),
    labels: labelsFile !== undefined ? await readJson(labelsFile) : undefined,
    labelsSource: labelsFile,
    taxonRank: str('taxon-rank'),
    inputSize: inputSize(str('input-size')),
    resize: oneOf<ResizeMode>(str('resize'), '--resize', [
      'stretch',
      'letterbox',
      'letterbox-center',
      'none',
    ]),
    padValue: num(str('pad-value'), '--pad-value', 0, 255),
    scale: num(str('scale'), '--scale', Number.MIN_VALUE, Infinity),
    mean: triple(str('mean'), '--mean'),
    std: triple(str('std'), '--std'),
    scoreThreshold: num(str('score-threshold'), '--score-threshold', 0, 1),
    iouThreshold: num(str('iou-threshold'), '--iou-threshold', 0, 1),
    maxDetections: num(str('max-detections'), '--max-detections', 1, 1e6),
    boxFormat: oneOf<DetectorOutput['box_format']>(str('box-format'), '--box-format', [
      'xyxy',
      'yxyx',
      'xywh',
      'cxcywh',
    ]),
    nms: oneOf(str('nms'), '--nms', ['service', 'in-graph'] as const),
    nmsPerClass: nmsClasses === undefined ? undefined : nmsClasses === 'per-class',
    reportClasses: ignore ? false : undefined,
    keepClasses: keep,
    log,
  });
  for (const w of result.conversion.warnings) process.stderr.write(`[convert] warning: ${w}\n`);
  const m = result.manifest;
  const size = m.input.width !== undefined ? `${m.input.width}x${m.input.height}` : 'native size';
  const out2 = m.output.packed
    ? `packed${m.output.packed.channels_first ? ' channels-first' : ''} "${m.output.packed.tensor}"`
    : `boxes "${m.output.boxes}", scores "${m.output.scores}"${m.output.classes ? `, classes "${m.output.classes}"` : ''}`;
  log(
    `done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${result.dir} is a complete model directory ` +
      `(detector "${m.algorithm.key}", input ${size} ${m.input.layout ?? 'NHWC'} ${m.input.resize}, ` +
      `batch ${m.input.batch ?? 'dynamic'}, outputs ${out2}, NMS ${m.output.nms ?? 'service'}, ` +
      `${result.categoryMap ? `${result.categoryMap.labels.length} class labels` : 'classes ignored'})`,
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
