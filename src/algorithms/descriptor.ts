/**
 * Builds the /info descriptor of a manifest-driven algorithm.
 */
import type { AlgorithmConfigResponse } from '../contract/types';
import type { LoadedManifest } from '../models/manifest';

/**
 * `manifest.algorithm` plus the category map (null for detectors:
 * docs/antenna-protocol.md#registration-rules).
 */
export function describeManifest(loaded: LoadedManifest): AlgorithmConfigResponse {
  const a = loaded.manifest.algorithm;
  return {
    name: a.name,
    key: a.key,
    description: a.description,
    task_type: a.task_type,
    version: a.version,
    version_name: a.version_name,
    uri: a.uri,
    category_map: loaded.manifest.kind === 'classifier' ? loaded.categoryMap : null,
  };
}

/**
 * The companion algorithm under which a detector's own class labels are reported: a detector must have a null
 * category map and every classification's algorithm a non-null one
 * (docs/antenna-protocol.md#registration-rules), so the labels get their own key, `<detector key>_classes`,
 * with task_type `classification`. Null unless `class_labels.report` is set.
 */
export function describeDetectorLabels(loaded: LoadedManifest): AlgorithmConfigResponse | null {
  const m = loaded.manifest;
  if (m.kind !== 'detector' || !m.class_labels?.report || !loaded.categoryMap) return null;
  const a = m.algorithm;
  return {
    name: `${a.name} (classes)`.slice(0, 255),
    key: `${a.key}_classes`.slice(0, 255),
    description: `Class labels reported by the detector ${a.key} for its own boxes.`,
    task_type: 'classification',
    version: a.version,
    version_name: a.version_name,
    uri: a.uri,
    category_map: loaded.categoryMap,
  };
}
