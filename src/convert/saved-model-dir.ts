/**
 * SavedModel → complete model directory: the SavedModel copied unchanged into `saved_model/`, manifest.json and
 * (classifiers, or detectors with class labels) category_map.json, validated with the service's own
 * `readManifest`, so the directory loads with no code change on the native backend.
 *
 * The signature is read from saved_model.pb with the project's protobuf reader (./saved-model.ts), not with
 * tfjs-node's `getMetaGraphsFromSavedModel`: it gives the same keys, dtypes and shapes, works on hosts without
 * the native backend (converting is a maintainer's step, often on another machine), and also gives the graph's
 * ops, which tell probabilities from logits. The service itself reads the signature with tfjs-node at load time.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import type { AlgorithmCategoryMap } from '../contract/types';
import { readManifest, type LoadedManifest, type ModelManifest } from '../models/manifest';
import { buildCategoryMap } from './category-map';
import { manifestAlgorithm, type OnnxModelDirOptions } from './model-dir';
import { ConversionError } from './onnx/convert-onnx';
import { parseSavedModel, type SavedModelInfo } from './saved-model';
import {
  planSavedModelClassifier,
  planSavedModelDetector,
  SAVED_MODEL_DIR,
  type SavedModelPlanOptions,
} from './saved-model-plan';

/** What `convertSavedModelToModelDir` needs: the plan's flags, less the parsed labels, plus the paths. */
export interface SavedModelDirOptions extends Omit<SavedModelPlanOptions, 'labels' | 'algorithm'> {
  algorithm: OnnxModelDirOptions['algorithm'];
  /** The SavedModel directory (holding saved_model.pb and variables/). */
  savedModelDir: string;
  outDir: string;
  /** Labels in any format `buildCategoryMap` accepts (already parsed JSON); required for classifiers. */
  labels?: unknown;
  labelsSource?: string;
  taxonRank?: string;
  log?: (line: string) => void;
}

/** What was written. */
export interface SavedModelDirResult {
  dir: string;
  manifest: ModelManifest;
  categoryMap: AlgorithmCategoryMap | null;
  info: SavedModelInfo;
  notes: string[];
  loaded: LoadedManifest;
}

/** Reads the signature, plans the manifest, then copies and writes; nothing is written when the plan fails. */
export async function convertSavedModelToModelDir(
  options: SavedModelDirOptions,
): Promise<SavedModelDirResult> {
  const log = options.log ?? ((): void => undefined);
  if (options.kind === 'classifier' && options.labels === undefined) {
    throw new ConversionError('a classifier needs --labels (the category map)');
  }
  const pb = path.join(options.savedModelDir, 'saved_model.pb');
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(pb);
  } catch (err) {
    throw new ConversionError(
      `${pb}: ${(err as Error).message} (a SavedModel directory holds saved_model.pb)`,
    );
  }
  const info = parseSavedModel(bytes);
  const version = info.metaGraphs[0]?.tensorflowVersion;
  log(`read ${pb} (${(bytes.length / 1e3).toFixed(0)} kB, written by TensorFlow ${version ?? '?'})`);
  const labels =
    options.labels === undefined
      ? null
      : buildCategoryMap(options.labels, { taxonRank: options.taxonRank }, options.labelsSource ?? 'labels');
  const algorithm = manifestAlgorithm(options.algorithm);
  let plan;
  if (options.kind === 'classifier') {
    if (!labels) throw new ConversionError('a classifier needs --labels (the category map)'); // narrows the type
    plan = planSavedModelClassifier(info, { ...options, algorithm, labels });
  } else {
    plan = planSavedModelDetector(info, { ...options, algorithm, labels });
  }
  for (const note of plan.notes) log(note);
  const { manifest } = plan;
  const categoryMap = manifest.kind === 'classifier' || manifest.class_labels ? labels : null;

  await fsp.mkdir(options.outDir, { recursive: true });
  const target = path.join(options.outDir, SAVED_MODEL_DIR);
  if (path.resolve(target) !== path.resolve(options.savedModelDir)) {
    await fsp.rm(target, { recursive: true, force: true });
    await fsp.cp(options.savedModelDir, target, { recursive: true });
  }
  const written = [`${SAVED_MODEL_DIR}/`];
  if (categoryMap) {
    await fsp.writeFile(
      path.join(options.outDir, 'category_map.json'),
      `${JSON.stringify(categoryMap, null, 2)}\n`,
    );
    written.push('category_map.json');
  } else {
    await fsp.rm(path.join(options.outDir, 'category_map.json'), { force: true });
  }
  await fsp.writeFile(path.join(options.outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  written.push('manifest.json');
  log(`wrote ${written.join(', ')} in ${options.outDir} (the SavedModel copied unchanged)`);
  const loaded = await readManifest(options.outDir);
  return { dir: options.outDir, manifest, categoryMap, info, notes: plan.notes, loaded };
}
