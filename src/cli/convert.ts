#!/usr/bin/env node
/**
 * `npm run convert -- <command> ...`: model conversion for maintainers, with no Python TensorFlow needed except by
 * `native` (TensorFlow's op registry checks and completes the graph it writes).
 *
 *   onnx <model.onnx> --out models/<name> --labels <labels.json> [options]   ONNX classifier → model directory
 *   onnx <model.onnx> --out models/<name> --kind detector [options]           ONNX detector → model directory
 *   saved-model <dir> --out models/<name> --kind detector|classifier [options]  SavedModel → model directory
 *   native <model dir>...                                                  graph model → also a native SavedModel
 *   category-map <labels.json> [--taxon-rank SPECIES] [--out file]           labels → Antenna category map
 *
 * Progress and errors go to stderr; `category-map` without --out prints the map on stdout.
 * Exit status: 0 done, 1 the model or labels cannot be converted, 2 bad usage.
 */
import * as fs from 'fs';
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
import { runModelDir } from '../convert/inspect-run';
import { convertSavedModelToModelDir } from '../convert/saved-model-dir';
import { ManifestError } from '../models/manifest';
import { initBackend, nativeAddonPath } from '../tf/backend';
import { nativeSettings } from './native';
import {
  NativeSavedModelError,
  compareForms,
  ensureTfPython,
  writeNativeSavedModel,
} from '../convert/native-saved-model';

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
  npm run convert -- saved-model <SavedModel dir> --out <dir> --kind detector|classifier [--labels <labels.json>]
      [options]
    Copies the SavedModel unchanged (served on the native backend, npm run native) and writes its manifest.
    Recognised with no other flags: TF2 Object Detection API detectors (input_tensor uint8 [1,H,W,3];
    detection_boxes/scores/classes, num_detections; labels name ids 1, 2, ...) and Keras model.export()
    classifiers (one float [N,H,W,3] input, one [N,C] output; probabilities if it ends in Softmax, else logits;
    0..255 pixels, the model's own preprocessing inside). Identity flags as for onnx (--key, --name, ...), and:
      --tags <a,b>            meta graph tags (default serve)
      --signature <key>       signature (default serving_default)
      --input <key>           the image input's signature key (default: the only one, or input_tensor)
      --input-size <H[xW]>    classifiers with a dynamic input: resize crops to this size instead of feeding
                              each at its own size
      --scale, --mean, --std  float inputs: (v · scale − mean) / std (default 0..255 as they are)
      --output <key>, --output-kind logits|probabilities     classifiers
      --boxes <key> --scores <key> [--classes <key>] [--num-detections <key>] --box-format <f>
      --coordinates normalized|pixels [--first-id <n>]      detectors with another signature; --first-id: the
                              class id of the first label (TF OD API: 1)
      --nms, --score-threshold, --iou-threshold, --max-detections, --keep-classes, --ignore-classes: as for onnx
      --skip-check            do not load and warm the directory on the native backend after writing it
  npm run convert -- native <model dir>... [--skip-check] | --setup
    Writes each graph model's own graph as a SavedModel (<model dir>/saved_model/, named by native_saved_model in
    its manifest), which the native backend runs as one TensorFlow graph instead of op by op: about 20-25% faster
    for ResNet-50 models on our VM. Needs TensorFlow's Python package: TF_PYTHON, else a venv made once in npm run
    native's cache from the wheel the backend was built from. Then, on the native backend, runs both forms on one
    seeded input and prints how far apart their outputs are (--skip-check: not). --setup: only find or make that
    Python and say which.
  npm run convert -- category-map <labels.json> [--taxon-rank SPECIES] [--out <file>]
      [--version <s>] [--description <s>] [--uri <uri>]
  Label files: {"label": index, ...}, a JSON list of labels, or an Antenna category map.`;

class UsageError extends Error {}

/** Flags that only a detector reads, in both converters. */
const DETECTOR_ONLY = [
  'score-threshold',
  'iou-threshold',
  'max-detections',
  'box-format',
  'nms',
  'keep-classes',
  'ignore-classes',
  'boxes',
  'scores',
  'classes',
  'num-detections',
  'coordinates',
  'first-id',
];

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

/** Flags both converters take: the output, the labels and the algorithm's identity. */
const IDENTITY_FLAGS = {
  out: { type: 'string' },
  labels: { type: 'string' },
  key: { type: 'string' },
  name: { type: 'string' },
  version: { type: 'string' },
  'version-name': { type: 'string' },
  description: { type: 'string' },
  uri: { type: 'string' },
  'taxon-rank': { type: 'string' },
  kind: { type: 'string' },
} as const;

async function onnxCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...IDENTITY_FLAGS,
      'input-size': { type: 'string' },
      mean: { type: 'string' },
      std: { type: 'string' },
      'output-kind': { type: 'string' },
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
  const misplaced = [...DETECTOR_ONLY, 'resize', 'pad-value', 'nms-classes', 'scale'].filter(
    (f) => values[f as keyof typeof values] !== undefined,
  );
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

async function savedModelCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...IDENTITY_FLAGS,
      tags: { type: 'string' },
      signature: { type: 'string' },
      input: { type: 'string' },
      'input-size': { type: 'string' },
      scale: { type: 'string' },
      mean: { type: 'string' },
      std: { type: 'string' },
      output: { type: 'string' },
      'output-kind': { type: 'string' },
      boxes: { type: 'string' },
      scores: { type: 'string' },
      classes: { type: 'string' },
      'num-detections': { type: 'string' },
      'box-format': { type: 'string' },
      coordinates: { type: 'string' },
      'first-id': { type: 'string' },
      nms: { type: 'string' },
      'score-threshold': { type: 'string' },
      'iou-threshold': { type: 'string' },
      'max-detections': { type: 'string' },
      'keep-classes': { type: 'string' },
      'ignore-classes': { type: 'boolean' },
      'skip-check': { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('saved-model needs exactly one SavedModel directory');
  if (!values.out) throw new UsageError('saved-model needs --out <model directory>');
  const kind = oneOf(values.kind, '--kind', ['classifier', 'detector'] as const);
  if (!kind) throw new UsageError('saved-model needs --kind detector or --kind classifier');
  const forKind = kind === 'detector' ? ['output', 'output-kind', 'input-size'] : DETECTOR_ONLY;
  const misplaced = forKind.filter((f) => values[f as keyof typeof values] !== undefined);
  if (misplaced.length > 0) throw new UsageError(`--${misplaced[0]} is not for --kind ${kind}`);
  const keep = values['keep-classes']
    ?.split(',')
    .map((c) => c.trim())
    .filter((c) => c.length > 0);
  if (values['ignore-classes'] && keep)
    throw new UsageError('--keep-classes and --ignore-classes contradict each other');
  if (values['first-id'] !== undefined && !values.labels) throw new UsageError('--first-id needs --labels');
  const started = Date.now();
  const result = await convertSavedModelToModelDir({
    savedModelDir: positionals[0],
    outDir: values.out,
    kind,
    algorithm: algorithmFlags(values.out, values),
    labels: values.labels !== undefined ? await readJson(values.labels) : undefined,
    labelsSource: values.labels,
    taxonRank: values['taxon-rank'],
    tags: values.tags?.split(',').map((t) => t.trim()),
    signature: values.signature,
    input: values.input,
    inputSize: inputSize(values['input-size']),
    scale: num(values.scale, '--scale', Number.MIN_VALUE, Infinity),
    mean: triple(values.mean, '--mean'),
    std: triple(values.std, '--std'),
    output: values.output,
    outputKind: oneOf(values['output-kind'], '--output-kind', ['logits', 'probabilities'] as const),
    boxes: values.boxes,
    scores: values.scores,
    classes: values.classes,
    numDetections: values['num-detections'],
    boxFormat: oneOf<DetectorOutput['box_format']>(values['box-format'], '--box-format', [
      'xyxy',
      'yxyx',
      'xywh',
      'cxcywh',
    ]),
    coordinates: oneOf(values.coordinates, '--coordinates', ['normalized', 'pixels'] as const),
    firstId: num(values['first-id'], '--first-id', 0, 1e6),
    nms: oneOf(values.nms, '--nms', ['service', 'in-graph'] as const),
    scoreThreshold: num(values['score-threshold'], '--score-threshold', 0, 1),
    iouThreshold: num(values['iou-threshold'], '--iou-threshold', 0, 1),
    maxDetections: num(values['max-detections'], '--max-detections', 1, 1e6),
    keepClasses: keep,
    reportClasses: values['ignore-classes'] ? false : undefined,
    log,
  });
  const m = result.manifest;
  const size = m.input.width !== undefined ? `${m.input.width}x${m.input.height}` : 'own size';
  log(
    `done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${result.dir} is a complete model directory ` +
      `(${m.kind} "${m.algorithm.key}", input "${m.input.name}" ${m.input.dtype ?? 'float32'} at ${size}, ` +
      (m.kind === 'classifier'
        ? `output "${m.output.name}" as ${m.output.kind}, ${result.categoryMap?.labels.length} labels)`
        : `outputs ${[m.output.boxes, m.output.scores, m.output.classes, m.output.num_detections].filter(Boolean).join(', ')}, ` +
          `${result.categoryMap ? `${result.categoryMap.labels.length} class labels` : 'classes ignored'})`),
  );
  if (!values['skip-check']) await checkOnNative(result.dir);
}

/**
 * Loads and warms the new directory as the service does, where `npm run native` has built the backend that runs
 * SavedModels: a graph with an op libtensorflow lacks, or outputs the manifest misreads, fail here, not at start.
 */
async function checkOnNative(dir: string): Promise<void> {
  const addon = nativeAddonPath('@tensorflow/tfjs-node');
  if (addon === null || !fs.existsSync(addon)) {
    log('not test-loaded: SavedModels run on the native backend, which `npm run native` builds');
    return;
  }
  const choice = await initBackend('tensorflow');
  const { problems } = await runModelDir(dir);
  if (problems.length > 0) throw new ConversionError(`${dir} was written, but ${problems.join('; ')}`);
  log(`loaded and warmed up as the service does, on TensorFlow ${choice.tensorflow ?? '?'}`);
}

async function nativeCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { 'skip-check': { type: 'boolean' }, setup: { type: 'boolean' } },
  });
  if (positionals.length === 0 && !values.setup)
    throw new UsageError('native needs at least one model directory (or --setup)');
  const python = await ensureTfPython(nativeSettings(), { log, detail: (l) => log(`  ${l}`) });
  log(`TensorFlow ${python.tensorflow} from ${python.python} (${python.source})`);
  const addon = nativeAddonPath('@tensorflow/tfjs-node');
  const check = !values['skip-check'] && addon !== null && fs.existsSync(addon);
  if (check) await initBackend('tensorflow');
  for (const dir of positionals) {
    const started = performance.now();
    const written = await writeNativeSavedModel(path.resolve(dir), python);
    log(
      `${dir}: wrote ${path.relative(process.cwd(), written.savedModel) || written.savedModel} ` +
        `(${written.nodes} nodes, ${(written.bytes / 2 ** 20).toFixed(1)} MiB) in ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    if (!check) continue;
    const { outputs } = await compareForms(path.resolve(dir));
    for (const o of outputs) {
      log(
        o.maxAbsDiff === null
          ? `  output ${o.name}: shapes differ, graph model [${o.graph.join(', ')}], SavedModel [${o.savedModel.join(', ')}]`
          : `  output ${o.name} [${o.graph.join(', ')}]: largest difference from the graph model ${o.maxAbsDiff.toExponential(2)}`,
      );
    }
    const { problems } = await runModelDir(path.resolve(dir));
    if (problems.length > 0)
      throw new ConversionError(`${dir}: the native SavedModel was written, but ${problems.join('; ')}`);
  }
  if (!check && !values['skip-check'])
    log('not compared with the graph model: that needs the native backend, which `npm run native` builds');
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
    else if (command === 'saved-model') await savedModelCommand(rest);
    else if (command === 'native') await nativeCommand(rest);
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
    if (
      err instanceof ConversionError ||
      err instanceof CategoryMapError ||
      err instanceof ManifestError ||
      err instanceof NativeSavedModelError
    ) {
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
