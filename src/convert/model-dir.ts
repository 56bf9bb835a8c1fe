/**
 * ONNX file → complete classifier model directory: model.json + weight shards, manifest.json and
 * category_map.json, validated with the service's own `readManifest`, so the directory loads with no code change.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import type { AlgorithmCategoryMap } from '../contract/types';
import { ClassifierManifest, LoadedManifest, readManifest } from '../models/manifest';
import { buildCategoryMap } from './category-map';
import { ConversionError, convertOnnx, OnnxConversion } from './onnx/convert-onnx';
import { writeShardedGraphModel } from './onnx/tf-graph';

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
  /** Default: `probabilities` when the graph ends in Softmax, else `logits`. */
  outputKind?: 'logits' | 'probabilities';
  log?: (line: string) => void;
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
  const [, height, width] = conversion.input.shape;
  const manifest: ClassifierManifest = {
    kind: 'classifier',
    format: 'tfjs-graph-model',
    model_path: 'model.json',
    algorithm: {
      key: options.algorithm.key,
      name: options.algorithm.name,
      version: options.algorithm.version,
      version_name: options.algorithm.versionName ?? null,
      description: options.algorithm.description ?? null,
      uri: options.algorithm.uri ?? null,
      task_type: 'classification',
    },
    input: {
      width,
      height,
      color_order: 'RGB',
      resize: 'stretch',
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

  await fsp.mkdir(options.outDir, { recursive: true });
  for (const f of await fsp.readdir(options.outDir)) {
    if (/^group\d+-shard\d+of\d+\.bin$/.test(f)) await fsp.rm(path.join(options.outDir, f));
  }
  const { files, weightBytes } = await writeShardedGraphModel(conversion.builder, options.outDir, {
    generatedBy: `ONNX (${conversion.producer || 'unknown producer'}, opset ${conversion.opset})`,
    userDefinedMetadata: {
      source: 'onnx',
      onnx: {
        file: path.basename(options.onnxPath),
        opset: conversion.opset,
        producer: conversion.producer,
        input: { name: conversion.input.onnxName, layout: conversion.input.onnxLayout },
      },
      input_layout: 'NHWC',
      stats: { ...conversion.stats, opHistogram: undefined },
    },
  });
  await fsp.writeFile(
    path.join(options.outDir, 'category_map.json'),
    `${JSON.stringify(categoryMap, null, 2)}\n`,
  );
  await fsp.writeFile(path.join(options.outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  log(
    `wrote ${files.length} model files (${(weightBytes / 1e6).toFixed(1)} MB of weights), manifest.json, category_map.json`,
  );
  const loaded = await readManifest(options.outDir);
  return {
    dir: options.outDir,
    files: [...files, 'manifest.json', 'category_map.json'],
    manifest,
    categoryMap,
    conversion,
    loaded,
  };
}
