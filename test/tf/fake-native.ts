/**
 * A fake tfjs-node-gpu, for what the real tfjs-node on a machine without a GPU cannot show: the backend choice
 * when libtensorflow says its ops run on a GPU, or that it created no GPU device. Loading it registers a `tensorflow` backend, as the real package does on require. The backend
 * is the pure-JS cpu backend with the cpu kernels registered under `tensorflow` too (so ops really run), plus
 * tfjs-node's `isUsingGpuDevice` flag set to what the test says TensorFlow reported.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModuleLoader, NativeTfModule } from '../../src/tf/backend';

export interface FakeNativeOptions {
  /** What the addon reports as `isUsingGpuDevice`. */
  gpu: boolean;
}

// Decoding and SavedModels are tested on the real tfjs-node (test/tf/native-decode, saved-model-runner).

export interface FakeNative {
  module: NativeTfModule;
  /** Package names that were asked for, in order. */
  requested: string[];
  /** A loader for `initBackend(..., { load })`: `@tensorflow/tfjs-node-gpu` is the fake, the rest as named. */
  load: ModuleLoader;
  /** Unregisters the fake `tensorflow` backend and its kernels. */
  remove(): void;
}

const unexpected = (what: string) => (): never => {
  throw new Error(`fake native module: unexpected call to ${what}`);
};

/** Builds the fake. `packages` maps package names to what loading them does (default: not installed). */
export function fakeNative(
  options: FakeNativeOptions,
  packages: Record<string, 'fake' | 'absent' | 'real'> = {
    '@tensorflow/tfjs-node-gpu': 'fake',
    '@tensorflow/tfjs-backend-wasm': 'real',
  },
): FakeNative {
  const module: NativeTfModule = {
    node: {
      decodeImage: unexpected('decodeImage'),
      decodeJpeg: unexpected('decodeJpeg'),
      loadSavedModel: unexpected('loadSavedModel'),
      getMetaGraphsFromSavedModel: unexpected('getMetaGraphsFromSavedModel'),
    },
  };
  const kernels: string[] = [];
  const register = (): void => {
    if (tf.findBackendFactory('tensorflow')) return;
    const cpu = tf.findBackend('cpu');
    if (!cpu) throw new Error('fake native module: the cpu backend is not registered');
    const Cpu = cpu.constructor as new () => tf.KernelBackend;
    tf.registerBackend('tensorflow', () => Object.assign(new Cpu(), { isUsingGpuDevice: options.gpu }));
    for (const k of tf.getKernelsForBackend('cpu')) {
      tf.registerKernel({ ...k, backendName: 'tensorflow' });
      kernels.push(k.kernelName);
    }
  };
  const requested: string[] = [];
  return {
    module,
    requested,
    load(name) {
      requested.push(name);
      const kind = packages[name] ?? 'absent';
      if (kind === 'fake') {
        register();
        return module;
      }
      if (kind === 'real') {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        return require(name) as unknown;
      }
      throw new Error(`Cannot find module '${name}'`);
    },
    remove() {
      for (const name of kernels.splice(0)) tf.unregisterKernel(name, 'tensorflow');
      if (tf.findBackendFactory('tensorflow')) tf.removeBackend('tensorflow');
    },
  };
}
