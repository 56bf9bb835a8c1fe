/**
 * `npm run inspect -- <model dir> --run`: what the files cannot say. Loads the directory exactly as the service
 * does (manifest, model, warm-up with the output checks), and runs the graph once on a blank input to report the
 * real output shapes. Needs a backend; the caller initialises it.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadManifestAlgorithm } from '../algorithms/load-manifest-algorithm';
import { loadGraphModelFromDir } from '../models/graph-model-loader';
import { readManifest } from '../models/manifest';
import type { InspectTensor } from './inspect';

/** Blank-input size for dynamic spatial dims when the manifest gives none (native-size detectors). */
const PROBE_SIZE = 64;

/** Output shapes from one run, and the service's own load/warm-up errors (which name the manifest field). */
export async function runModelDir(dir: string): Promise<{ outputs: InspectTensor[]; problems: string[] }> {
  const problems: string[] = [];
  const algorithm = await loadManifestAlgorithm(dir);
  try {
    await algorithm.compile();
  } catch (err) {
    problems.push(`the service cannot load it: ${(err as Error).message}`);
  } finally {
    algorithm.dispose();
  }
  const { manifest } = await readManifest(dir);
  if (manifest.format !== 'tfjs-graph-model') return { outputs: [], problems };
  const model = await loadGraphModelFromDir(path.join(dir, manifest.model_path));
  try {
    const input = model.inputs.find((i) => i.name === manifest.input.name) ?? model.inputs[0];
    const shape = input.shape ?? [];
    const nchw = 'layout' in manifest.input && manifest.input.layout === 'NCHW';
    // Spatial axes of a rank-4 (N first) or rank-3 input; everything else dynamic becomes 1.
    const spatial = nchw ? [shape.length - 2, shape.length - 1] : [shape.length - 3, shape.length - 2];
    const size = [manifest.input.height ?? PROBE_SIZE, manifest.input.width ?? PROBE_SIZE];
    const dims = shape.map((d, axis) =>
      d >= 0 ? d : spatial.includes(axis) ? size[spatial.indexOf(axis)] : 1,
    );
    const blank = tf.zeros(dims, input.dtype);
    try {
      const names = model.outputs.map((o) => o.name);
      const feed = { [input.name]: blank };
      let result: tf.Tensor | tf.Tensor[];
      try {
        result = model.execute(feed, names);
      } catch {
        result = await model.executeAsync(feed, names); // control flow or dynamic shapes (e.g. in-graph NMS)
      }
      const list = Array.isArray(result) ? result : [result];
      try {
        return {
          outputs: list.map((t, i) => ({ name: names[i], dtype: t.dtype, shape: `[${t.shape.join(',')}]` })),
          problems,
        };
      } finally {
        tf.dispose(list);
      }
    } finally {
      blank.dispose();
    }
  } catch (err) {
    problems.push(
      `running the graph on a blank [${(model.inputs[0].shape ?? []).join(',')}] input failed: ${(err as Error).message}`,
    );
    return { outputs: [], problems };
  } finally {
    model.dispose();
  }
}
