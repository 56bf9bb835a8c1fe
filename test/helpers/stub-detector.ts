/**
 * The /info descriptor of a test detector: the fields the contract requires, all but the key left empty.
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
