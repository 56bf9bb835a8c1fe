/**
 * Backend choice with a fake tfjs-node-gpu: the GPU answer is the addon's `isUsingGpuDevice`, never a guess
 * from loaded libraries or device files.
 */
import * as tf from '@tensorflow/tfjs';
import { backendUsesGpu, initBackend, nativeTf } from '../../src/tf/backend';
import { fakeNative, type FakeNative } from './fake-native';

describe('backendUsesGpu', () => {
  it.each([
    [{ isUsingGpuDevice: true }, true],
    [{ isUsingGpuDevice: false }, false],
    [{}, null],
    [{ isUsingGpuDevice: 'yes' }, null],
    [null, null],
  ])('%j → %s', (backend, expected) => {
    expect(backendUsesGpu(backend)).toBe(expected);
  });
});

describe('initBackend with a fake tfjs-node-gpu', () => {
  let fake: FakeNative | null = null;
  afterEach(async () => {
    await initBackend('cpu');
    fake?.remove();
    fake = null;
  });

  it('reports a GPU when the addon says it placed its ops on one', async () => {
    fake = fakeNative({ gpu: true });
    const choice = await initBackend('auto', { load: fake.load });
    expect(choice).toMatchObject({ backend: 'tensorflow', package: '@tensorflow/tfjs-node-gpu', gpu: true });
    expect(choice.reasons.join('\n')).toMatch(/runs on a GPU device \(isUsingGpuDevice\)/);
    expect(nativeTf()).toBe(fake.module);
    // The fake backend really runs ops, as libtensorflow would.
    expect(tf.getBackend()).toBe('tensorflow');
    expect(Array.from(tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(2))).dataSync())).toEqual([3]);
  });

  it('reports the CPU when the addon created no GPU device, whatever libraries are loaded', async () => {
    fake = fakeNative({ gpu: false });
    const choice = await initBackend('auto', { load: fake.load });
    expect(choice).toMatchObject({ backend: 'tensorflow', package: '@tensorflow/tfjs-node-gpu', gpu: false });
    expect(choice.reasons.join('\n')).toMatch(/using libtensorflow on the CPU/);
    // tfjs-node-gpu runs on the CPU too, so the CPU package is not tried.
    expect(fake.requested).toEqual(['@tensorflow/tfjs-node-gpu']);
  });

  it('falls back to wasm with the reasons when neither native package loads', async () => {
    fake = fakeNative({ gpu: true }, { '@tensorflow/tfjs-backend-wasm': 'real' });
    const choice = await initBackend('auto', { load: fake.load });
    expect(choice).toMatchObject({ backend: 'wasm', gpu: false });
    expect(choice.reasons[0]).toMatch(/^tfjs-node-gpu: Cannot find module/);
    expect(choice.reasons[1]).toMatch(/^tfjs-node: Cannot find module/);
    expect(nativeTf()).toBeNull();
  });

  it('throws naming every attempt when TFJS_BACKEND=tensorflow cannot be met', async () => {
    fake = fakeNative({ gpu: true }, {});
    await expect(initBackend('tensorflow', { load: fake.load })).rejects.toThrow(
      /TFJS_BACKEND=tensorflow, but no native backend could be loaded: tfjs-node-gpu: .*; tfjs-node: /,
    );
  });

  it('forgets the native module when a later init chooses another backend', async () => {
    fake = fakeNative({ gpu: false });
    await initBackend('auto', { load: fake.load });
    expect(nativeTf()).not.toBeNull();
    await initBackend('cpu');
    expect(nativeTf()).toBeNull();
  });
});
