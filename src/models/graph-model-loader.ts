/**
 * Loads TF.js graph models from a local directory on any backend.
 *
 * Pure @tensorflow/tfjs has no `file://` handler (tfjs-node registers one), so this IOHandler reads model.json
 * and its weight shards with fs and hands them to `tf.io.getModelArtifactsForJSON`.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';

/** An IOHandler that reads `modelJsonPath` and the shards next to it. */
export function fileLoader(modelJsonPath: string): tf.io.IOHandler {
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      const modelJSON = JSON.parse(await fsp.readFile(modelJsonPath, 'utf8')) as tf.io.ModelJSON;
      const dir = path.dirname(modelJsonPath);
      return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
        const weightSpecs = tf.io.getWeightSpecs(manifest);
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          for (const p of group.paths) {
            const b = await fsp.readFile(path.join(dir, p));
            buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
          }
        }
        return [weightSpecs, buffers];
      });
    },
  };
}

/** Loads `dir/model.json` (or the given model.json path) as a GraphModel. */
export async function loadGraphModelFromDir(dirOrJson: string): Promise<tf.GraphModel> {
  const jsonPath = dirOrJson.endsWith('.json') ? dirOrJson : path.join(dirOrJson, 'model.json');
  return tf.loadGraphModel(fileLoader(jsonPath));
}
