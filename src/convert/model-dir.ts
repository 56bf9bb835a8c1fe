/**
 * ONNX file → complete model directory: model.json + weight shards, manifest.json and (classifiers, or detectors
 * with class labels) category_map.json, validated with the service's own `readManifest`, so the directory loads
 * with no code change.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import type { AlgorithmCategoryMap } from '../contract/types';
import type {
  ClassifierManifest,
  CropInterpolation,
  DetectorManifest,
  LoadedManifest,
  ManifestAlgorithm,
  ModelManifest,
} from '../models/manifest';
import { readManifest } from '../models/manifest';
import { buildCategoryMap } from './category-map';
import { planDetectorManifest, type DetectorPlanOptions } from './detector-plan';
import { ConversionError, convertOnnx, OnnxConversion } from './onnx/convert-onnx';
import { decodeOnnxModel, type onnx } from './onnx/onnx-proto';
import { writeShardedGraphModel } from './onnx/tf-graph';
import { readUltralyticsMetadata, type UltralyticsMetadata } from './ultralytics-metadata';

/** torchvision's ImageNet normalisation, the default for PyTorch classifiers. */
export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

/** What `convertOnnxToModelDir` needs. */
export interface OnnxModelDirOptions {
  onnxPath: string;
  outDir: string;
  algorithm: {
    key: string;
    name: string;
    version: number;
    versionName?: string | null;
    description?: string | null;
    uri?: string | null;
  };
  /** Labels in any format `buildCategoryMap` accepts (already parsed JSON). */
  labels: unknown;
  labelsSource?: string;
  taxonRank?: string;
  /** [height, width]; required when the ONNX input has dynamic spatial dims. */
  inputSize?: [number, number];
  mean?: [number, number, number];
  std?: [number, number, number];
  /** How crops reach the input size (manifest `input.interpolation`); default the service's `bilinear`. */
  interpolation?: CropInterpolation;
  /** Default: `probabilities` when the graph ends in Softmax, else `logits`. */
  outputKind?: 'logits' | 'probabilities';
  log?: (line: string) => void;
}

/** The manifest's `algorithm` (Antenna's AlgorithmConfigResponse, less `task_type`): absent optional fields null. */
export function manifestAlgorithm(a: OnnxModelDirOptions['algorithm']): Omit<ManifestAlgorithm, 'task_type'> {
  return {
    key: a.key,
    name: a.name,
    version: a.version,
    version_name: a.versionName ?? null,
    description: a.description ?? null,
    uri: a.uri ?? null,
  };
}

/** What was written. */
export interface OnnxModelDirResult {
  dir: string;
  files: string[];
  manifest: ClassifierManifest;
  categoryMap: AlgorithmCategoryMap;
  conversion: OnnxConversion;
  loaded: LoadedManifest;
}

/** Converts and writes the directory; throws ConversionError / CategoryMapError / ManifestError with the reason. */
export async function convertOnnxToModelDir(options: OnnxModelDirOptions): Promise<OnnxModelDirResult> {
  const log = options.log ?? ((): void => undefined);
  const categoryMap = buildCategoryMap(
    options.labels,
    { taxonRank: options.taxonRank },
    options.labelsSource ?? 'labels',
  );
  const bytes = await fsp.readFile(options.onnxPath);
  log(`read ${options.onnxPath} (${(bytes.length / 1e6).toFixed(1)} MB)`);
  const conversion = convertOnnx(bytes, { inputSize: options.inputSize, log });
  if (conversion.outputs.length !== 1) {
    throw new ConversionError(`a classifier needs one output; the model has ${conversion.outputs.length}`);
  }
  const out = conversion.outputs[0];
  const classes = out.shape[out.shape.length - 1];
  if (out.shape.length !== 2 || classes !== categoryMap.labels.length) {
    throw new ConversionError(
      `output "${out.onnxName}" has shape [${out.shape.join(',')}], but the label file has ` +
        `${categoryMap.labels.length} labels; a classifier output must be [batch, ${categoryMap.labels.length}]`,
    );
  }
  // The service feeds classifiers a batch of crops, [N, H, W, 3]; a rank-3 input ([3, H, W], one image, as a
  // detector's) would leave no batch axis and give the manifest a width of 3.
  const { input } = conversion;
  if (input.rank !== 4) {
    throw new ConversionError(
      `input "${input.onnxName}" has shape [${input.onnxShape.join(',')}] (rank ${input.rank}), but a classifier ` +
        `input must be a batch of images [batch, 3, height, width]: export it with a leading batch axis`,
    );
  }
  const [, height, width] = input.shape;
  const manifest: ClassifierManifest = {
    kind: 'classifier',
    format: 'tfjs-graph-model',
    model_path: 'model.json',
    algorithm: { ...manifestAlgorithm(options.algorithm), task_type: 'classification' },
    input: {
      width,
      height,
      color_order: 'RGB',
      resize: 'stretch',
      ...(options.interpolation ? { interpolation: options.interpolation } : {}),
      scale: 1 / 255,
      mean: options.mean ?? IMAGENET_MEAN,
      std: options.std ?? IMAGENET_STD,
      name: conversion.input.name,
    },
    output: {
      name: out.key,
      kind: options.outputKind ?? (conversion.endsWithSoftmax ? 'probabilities' : 'logits'),
    },
    category_map: 'category_map.json',
  };

  const files = await writeModelDir(
    options.outDir,
    options.onnxPath,
    conversion,
    manifest,
    categoryMap,
    'NHWC',
    log,
  );
  const loaded = await readManifest(options.outDir);
  return {
    dir: options.outDir,
    files,
    manifest,
    categoryMap,
    conversion,
    loaded,
  };
}

/** Writes the graph model, the category map (when given) and the manifest; old weight shards are removed first. */
async function writeModelDir(
  outDir: string,
  onnxPath: string,
  conversion: OnnxConversion,
  manifest: ModelManifest,
  categoryMap: AlgorithmCategoryMap | null,
  inputLayout: string,
  log: (line: string) => void,
): Promise<string[]> {
  await fsp.mkdir(outDir, { recursive: true });
  for (const f of await fsp.readdir(outDir)) {
    if (/^group\d+-shard\d+of\d+\.bin$/.test(f)) await fsp.rm(path.join(outDir, f));
  }
  const { files, weightBytes } = await writeShardedGraphModel(conversion.builder, outDir, {
    generatedBy: `ONNX (${conversion.producer || 'unknown producer'}, opset ${conversion.opset})`,
    userDefinedMetadata: {
      source: 'onnx',
      onnx: {
        file: path.basename(onnxPath),
        opset: conversion.opset,
        producer: conversion.producer,
        input: { name: conversion.input.onnxName, layout: conversion.input.onnxLayout },
      },
      input_layout: inputLayout,
      stats: { ...conversion.stats, opHistogram: undefined },
    },
  });
  const written = [...files];
  if (categoryMap) {
    await fsp.writeFile(path.join(outDir, 'category_map.json'), `${JSON.stringify(categoryMap, null, 2)}\n`);
    written.push('category_map.json');
  }
  await fsp.writeFile(path.join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  written.push('manifest.json');
  log(
    `wrote ${files.length} model files (${(weightBytes / 1e6).toFixed(1)} MB of weights), ` +
      `${written.slice(files.length).join(', ')}`,
  );
  return written;
}

/** True when any node, branches of If/Loop included, is a NonMaxSuppression. */
export function graphHasNms(graph: onnx.IGraphProto | null | undefined): boolean {
  for (const node of graph?.node ?? []) {
    if (node.opType === 'NonMaxSuppression') return true;
    for (const a of node.attribute ?? []) {
      if (graphHasNms(a.g) || (a.graphs ?? []).some((g) => graphHasNms(g))) return true;
    }
  }
  return false;
}

/** What `convertOnnxDetectorToModelDir` needs: the plan's flags plus the files. */
export interface OnnxDetectorDirOptions extends Omit<
  DetectorPlanOptions,
  'algorithm' | 'labels' | 'ultralytics' | 'graphHasNms'
> {
  onnxPath: string;
  outDir: string;
  algorithm: OnnxModelDirOptions['algorithm'];
  /** Labels in any format `buildCategoryMap` accepts; default: ultralytics `names` from the file, if any. */
  labels?: unknown;
  labelsSource?: string;
  taxonRank?: string;
  /** [height, width]; default: ultralytics `imgsz` from the file. Needed for a dynamic input unless resize is none. */
  inputSize?: [number, number];
  log?: (line: string) => void;
}

/** What was written for a detector. */
export interface OnnxDetectorDirResult {
  dir: string;
  files: string[];
  manifest: DetectorManifest;
  categoryMap: AlgorithmCategoryMap | null;
  conversion: OnnxConversion;
  ultralytics: UltralyticsMetadata | null;
  notes: string[];
  loaded: LoadedManifest;
}

/**
 * Converts a detector and writes its directory. Layout, thresholds and labels come from the graph and ultralytics
 * metadata when the flags leave them out (see detector-plan.ts). Nothing is written when the conversion fails.
 */
export async function convertOnnxDetectorToModelDir(
  options: OnnxDetectorDirOptions,
): Promise<OnnxDetectorDirResult> {
  const log = options.log ?? ((): void => undefined);
  const bytes = await fsp.readFile(options.onnxPath);
  log(`read ${options.onnxPath} (${(bytes.length / 1e6).toFixed(1)} MB)`);
  const model = decodeOnnxModel(bytes);
  const ultralytics = readUltralyticsMetadata(model);
  if (ultralytics) {
    log(
      `ultralytics metadata: task ${ultralytics.task ?? '?'}, imgsz ${ultralytics.imgsz?.join('x') ?? '?'}, ` +
        `${ultralytics.names?.length ?? 0} names`,
    );
    if (ultralytics.task && ultralytics.task !== 'detect') {
      throw new ConversionError(
        `ultralytics task is "${ultralytics.task}"; only "detect" models are supported`,
      );
    }
  }
  const labelSource = options.labels ?? ultralytics?.names;
  const categoryMap =
    labelSource === undefined
      ? null
      : buildCategoryMap(
          labelSource,
          { taxonRank: options.taxonRank },
          options.labels !== undefined ? (options.labelsSource ?? 'labels') : 'ultralytics names',
        );
  const hasNms = graphHasNms(model.graph); // before convertOnnx, which rewrites some of the model's nodes
  const conversion = convertOnnx(model, { inputSize: options.inputSize ?? ultralytics?.imgsz, log });
  const { manifest, notes } = planDetectorManifest(conversion, {
    ...options,
    algorithm: manifestAlgorithm(options.algorithm),
    labels: categoryMap,
    ultralytics,
    graphHasNms: hasNms,
  });
  for (const note of notes) log(note);
  const map = manifest.class_labels ? categoryMap : null;
  const files = await writeModelDir(
    options.outDir,
    options.onnxPath,
    conversion,
    manifest,
    map,
    manifest.input.layout ?? 'NHWC',
    log,
  );
  const loaded = await readManifest(options.outDir);
  return { dir: options.outDir, files, manifest, categoryMap: map, conversion, ultralytics, notes, loaded };
}
