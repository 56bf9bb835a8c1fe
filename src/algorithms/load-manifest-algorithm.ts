/**
 * Turns a model directory into an algorithm object, without loading weights.
 */
import { readManifest } from '../models/manifest';
import { CropClassifier } from './crop-classifier';
import { ObjectDetector, type ObjectDetectorOptions } from './object-detector';

/**
 * Reads `dir/manifest.json` and returns the matching algorithm; call `compile()` to load and warm the model.
 * `detector` options (a per-pipeline class filter) apply when the directory holds a detector.
 */
export async function loadManifestAlgorithm(
  dir: string,
  detector: ObjectDetectorOptions = {},
): Promise<ObjectDetector | CropClassifier> {
  const loaded = await readManifest(dir);
  return loaded.manifest.kind === 'detector'
    ? new ObjectDetector(loaded, detector)
    : new CropClassifier(loaded);
}
