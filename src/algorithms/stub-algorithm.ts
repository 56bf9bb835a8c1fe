/**
 * Base for algorithms without a model (the reference service's constant and random stages):
 * nothing to load, nothing to free, no pixels needed.
 */
import type { AlgorithmConfigResponse } from '../contract/types';

export abstract class StubAlgorithm {
  readonly needsPixels: boolean = false;

  constructor(readonly descriptor: AlgorithmConfigResponse) {}

  compile(): Promise<void> {
    return Promise.resolve();
  }

  dispose(): void {}
}

/** Descriptor fields shared by the reference service's algorithms. */
export function referenceDescriptor(
  fields: Pick<AlgorithmConfigResponse, 'name' | 'key' | 'description' | 'task_type' | 'category_map'>,
): AlgorithmConfigResponse {
  return {
    name: fields.name,
    key: fields.key,
    description: fields.description,
    task_type: fields.task_type,
    version: 1,
    version_name: 'v1',
    uri: `https://huggingface.co/RolnickLab/${fields.key}`,
    category_map: fields.category_map,
  };
}
