/**
 * The /info descriptor of a test detector: named by its key, version 1, every optional field null. Unlike
 * `referenceDescriptor` (src/algorithms/stub-algorithm.ts) it claims no version name or Hugging Face URI.
 * Test detectors extend StubAlgorithm with `super(testDetectorDescriptor('name'))`.
 */
import type { AlgorithmConfigResponse } from '../../src/contract/types';

export const testDetectorDescriptor = (key: string): AlgorithmConfigResponse => ({
  name: key,
  key,
  description: null,
  task_type: 'detection',
  version: 1,
  version_name: null,
  uri: null,
  category_map: null,
});
