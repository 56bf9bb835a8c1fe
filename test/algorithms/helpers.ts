/**
 * Shared test helpers: leak checks, images from sample files or tensors, model directories.
 */
import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { createPipelineImage } from '../../src/images/bytes-image';
import { chooseDecoder } from '../../src/images/decode';
import type { PipelineImage } from '../../src/images/pipeline-image';
import { readImageHeader } from '../../src/images/sniff';
import type { RunOptions } from '../../src/algorithms/algorithm';
import { seededRng } from '../../src/util/rng';

export const ROOT = path.resolve(__dirname, '..', '..');
export const MODELS = path.join(ROOT, 'models');
export const SAMPLES = path.join(ROOT, 'samples');

/** Runs `fn` and asserts that it leaves the number of live tensors unchanged. */
export async function expectNoLeak<T>(fn: () => Promise<T>): Promise<T> {
  const before = tf.memory().numTensors;
  const result = await fn();
  expect(tf.memory().numTensors).toBe(before);
  return result;
}

/** A sample JPEG as a PipelineImage decoded by sharp, as the service decodes it. */
export async function sampleImage(file: string): Promise<PipelineImage> {
  const bytes = await fsp.readFile(path.join(SAMPLES, file));
  return createPipelineImage(
    { id: file, url: `file://${file}`, bytes, header: readImageHeader(bytes) },
    chooseDecoder('sharp'),
  );
}

/** A PipelineImage over an existing `[H, W, 3]` tensor (owned by the image). */
export function tensorImage(id: string, pixels: tf.Tensor3D): PipelineImage {
  return {
    id,
    url: `test://${id}`,
    format: 'png',
    width: pixels.shape[1],
    height: pixels.shape[0],
    tensor: () => Promise.resolve(pixels),
    dispose: () => pixels.dispose(),
  };
}

/** A PipelineImage whose decode always fails. */
export function brokenImage(id: string, width: number, height: number): PipelineImage {
  return {
    id,
    url: `test://${id}`,
    format: 'jpeg',
    width,
    height,
    tensor: () => Promise.reject(new Error(`image ${id} cannot be decoded`)),
    dispose: () => undefined,
  };
}

export function runOptions(batchSize: number, config: RunOptions['config'] = {}): RunOptions {
  return { config, rng: seededRng(1), batchSize };
}

/** Copies a shipped model directory into a fresh temporary directory and returns its path. */
export async function copyModel(name: string): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), `antenna-${name}-`));
  for (const file of await fsp.readdir(path.join(MODELS, name))) {
    await fsp.copyFile(path.join(MODELS, name, file), path.join(dir, file));
  }
  return dir;
}

export interface GroundTruthImage {
  file: string;
  width: number;
  height: number;
  objects: {
    bbox: { x1: number; y1: number; x2: number; y2: number };
    label: string;
    kind: 'insect' | 'clutter';
  }[];
}

export async function groundTruth(file: string): Promise<GroundTruthImage> {
  const all = JSON.parse(await fsp.readFile(path.join(SAMPLES, 'ground-truth.json'), 'utf8')) as {
    images: GroundTruthImage[];
  };
  const entry = all.images.find((i) => i.file === file);
  if (!entry) throw new Error(`${file} is not in ground-truth.json`);
  return entry;
}
