/**
 * Builds the /info descriptor of a manifest-driven algorithm.
 */
import type { AlgorithmConfigResponse } from '../contract/types';
import type { LoadedManifest } from '../models/manifest';

/** `manifest.algorithm` plus the category map (null for detectors, CONTRACT K3). */
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
