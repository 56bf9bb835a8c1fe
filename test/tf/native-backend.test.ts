/**
 * The backend choice on the real tfjs-node that `npm run native` built: what the fake of backend.test.ts
 * assumes of tfjs-node (a backend that says whether it is on a GPU, an addon that reports TensorFlow's
 * version) holds for the real package on a CPU host.
 */
import * as tf from '@tensorflow/tfjs';
import { backendUsesGpu, initBackend, nativeTf, tensorflowVersion } from '../../src/tf/backend';
import { itWithNative } from '../helpers/backend';

describe('initBackend on the real tfjs-node', () => {
  afterAll(() => initBackend('cpu'));

  itWithNative("chooses tfjs-node in auto mode, on the CPU, and names libtensorflow's version", async () => {
    const choice = await initBackend('auto');
    expect(choice).toMatchObject({
      backend: 'tensorflow',
      package: '@tensorflow/tfjs-node',
      gpu: false,
      tensorflow: expect.stringMatching(/^\d+\.\d+\.\d+/) as unknown,
    });
    expect(choice.reasons.at(-1)).toBe(
      `@tensorflow/tfjs-node loaded; using libtensorflow ${choice.tensorflow} on the CPU`,
    );
    // The answers come from the addon itself: a boolean GPU flag (false here, not "unknown") and TF_Version.
    expect(backendUsesGpu(tf.backend())).toBe(false);
    expect(tensorflowVersion(tf.backend())).toBe(choice.tensorflow);
    expect(typeof nativeTf()?.node.decodeImage).toBe('function');
    expect(Array.from(tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(2))).dataSync())).toEqual([3]);
  });

  itWithNative('forgets the native module when a later init chooses another backend', async () => {
    await initBackend('tensorflow');
    expect(nativeTf()).not.toBeNull();
    await initBackend('cpu');
    expect(nativeTf()).toBeNull();
  });
});
