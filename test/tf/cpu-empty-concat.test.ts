/**
 * tfjs-backend-cpu's Concat leaves an empty result's values a plain array, which its Slice cannot read
 * (src/tf/cpu-empty-concat.ts). A Faster R-CNN whose RPN keeps no proposal takes that path; the converted
 * families are run on the cpu backend by test/convert/torchvision-families.test.ts with TFJS_BACKEND=cpu.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/tf/backend';

const emptySlice = (): number[] =>
  tf.tidy(() => {
    const joined = tf.concat([tf.zeros([0, 4]), tf.zeros([0, 4])]); // [0, 4]
    return tf.slice(joined, [0, 1], [0, 2]).shape; // [0, 2]
  });

describe('the cpu backend on an empty Concat', () => {
  it('fails in tfjs-backend-cpu alone: Slice reads the plain array Concat stored', async () => {
    await tf.setBackend('cpu');
    expect(emptySlice).toThrow('subarray is not a function');
  });

  it('slices once initBackend has chosen cpu, and leaves non-empty results as they were', async () => {
    await initBackend('cpu');
    expect(emptySlice()).toEqual([0, 2]);
    const start = tf.memory().numTensors;
    const values = tf.tidy(() => tf.concat([tf.tensor2d([[1, 2]]), tf.tensor2d([[3, 4]])]).arraySync());
    expect(values).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(tf.memory().numTensors).toBe(start);
  });
});
