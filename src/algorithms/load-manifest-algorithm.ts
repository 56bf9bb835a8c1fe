/**
 * Turns a model directory into an algorithm object, without loading weights.
 */
import { readManifest } from '../models/manifest';
import { CropClassifier } from './crop-classifier';
import { ObjectDetector } from './object-detector';

/** Reads `dir/manifest.json` and returns the matching algorithm; call `compile()` to load and warm the model. */
export async function loadManifestAlgorithm(dir: string): Promise<ObjectDetector | CropClassifier> {
  const loaded = await readManifest(dir);
  return loaded.manifest.kind === 'detector' ? new ObjectDetector(loaded) : new CropClassifier(loaded);
}
