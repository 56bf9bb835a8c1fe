/**
 * Chooses and initialises the TensorFlow.js backend.
 *
 * `auto` tries, in order: tfjs-node-gpu when it loads and sees a GPU, tfjs-node, wasm, cpu. The native
 * packages are optionalDependencies whose install needs Google's storage host; where that failed they are
 * simply absent. Every attempt and its reason are returned so the caller can log the choice.
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { enableWasmThreads, wasmThreadsInUse } from './wasm-threads';

export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

/** The tfjs-node module surface we use (`tf.node.*`), typed loosely because it is optional. */
export interface NativeTfModule {
  node: {
    decodeImage(bytes: Uint8Array, channels?: number, dtype?: string, expandAnimations?: boolean): tf.Tensor;
    loadSavedModel(path: string, tags?: string[], signature?: string): Promise<tf.InferenceModel>;
    getMetaGraphsFromSavedModel(path: string): Promise<unknown[]>;
  };
}

export interface BackendChoice {
  /** The tfjs backend name now active: `tensorflow`, `wasm` or `cpu`. */
  backend: string;
  /** Which package provides it. */
  package:
    | '@tensorflow/tfjs-node-gpu'
    | '@tensorflow/tfjs-node'
    | '@tensorflow/tfjs-backend-wasm'
    | '@tensorflow/tfjs';
  gpu: boolean;
  /** Why each earlier option was skipped, then why this one was chosen. */
  reasons: string[];
}

let native: NativeTfModule | null = null;

/** The loaded tfjs-node(-gpu) module when a native backend is active, else null. */
export function nativeTf(): NativeTfModule | null {
  return native;
}

function tryRequire(name: string): { module: NativeTfModule | null; error: string | null } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return { module: require(name) as NativeTfModule, error: null };
  } catch (err) {
    const message = (err as Error).message.split('\n')[0];
    return { module: null, error: message };
  }
}

/** A visible NVIDIA device: the driver's device files, unless CUDA_VISIBLE_DEVICES hides them all. */
function nvidiaDeviceVisible(): boolean {
  if (process.env.CUDA_VISIBLE_DEVICES === '' || process.env.CUDA_VISIBLE_DEVICES === '-1') return false;
  return fs.existsSync('/dev/nvidia0') || fs.existsSync('/dev/nvidiactl');
}

/**
 * libtensorflow silently falls back to its CPU kernels when CUDA or cuDNN fail to load (it only prints to
 * stderr). After one small op, the CUDA libraries it opened show up in this process's memory maps.
 */
function cudaLibrariesLoaded(): boolean {
  tf.tidy(() => tf.matMul(tf.ones([8, 8]), tf.ones([8, 8])).dataSync());
  try {
    return /\/libcu(dart|blas|dnn)[^/]*\.so/.test(fs.readFileSync('/proc/self/maps', 'utf8'));
  } catch {
    return true; // no /proc (not Linux): trust the device check
  }
}

async function activate(name: string): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

async function useWasm(reasons: string[], threads: number): Promise<boolean> {
  const loaded = tryRequire('@tensorflow/tfjs-backend-wasm');
  if (!loaded.module && loaded.error) {
    reasons.push(`wasm: ${loaded.error}`);
    return false;
  }
  if (threads > 1) {
    try {
      enableWasmThreads(threads);
    } catch (err) {
      reasons.push(
        `wasm: WASM_THREADS=${threads} unavailable, single-threaded build: ${(err as Error).message}`,
      );
    }
  }
  if (await activate('wasm')) return true;
  reasons.push('wasm: the backend failed to initialise');
  return false;
}

/**
 * Initialises the backend named by `preference` (or the best available in `auto`) and returns what was chosen.
 * Throws when an explicitly requested backend cannot be used, naming it and why. `wasmThreads` > 1 loads the
 * wasm backend's threaded SIMD build with that many XNNPACK threads (WASM_THREADS, src/runtime/wasm-threads.ts).
 */
export async function initBackend(preference: BackendPreference, wasmThreads = 1): Promise<BackendChoice> {
  const reasons: string[] = [];
  if (preference === 'auto' || preference === 'tensorflow') {
    const gpu = tryRequire('@tensorflow/tfjs-node-gpu');
    if (gpu.module && nvidiaDeviceVisible() && (await activate('tensorflow'))) {
      native = gpu.module;
      if (cudaLibrariesLoaded()) {
        reasons.push('tfjs-node-gpu loaded, an NVIDIA device is visible and libtensorflow opened CUDA');
        return { backend: 'tensorflow', package: '@tensorflow/tfjs-node-gpu', gpu: true, reasons };
      }
      reasons.push(
        'tfjs-node-gpu: an NVIDIA device is visible but libtensorflow loaded no CUDA libraries (see its stderr)',
      );
      reasons.push('@tensorflow/tfjs-node-gpu loaded; using libtensorflow on the CPU');
      return { backend: 'tensorflow', package: '@tensorflow/tfjs-node-gpu', gpu: false, reasons };
    }
    reasons.push(
      gpu.module
        ? 'tfjs-node-gpu: loaded, but no NVIDIA device is visible'
        : `tfjs-node-gpu: ${gpu.error ?? 'not installed'}`,
    );
    const cpu = gpu.module ? gpu : tryRequire('@tensorflow/tfjs-node');
    if (cpu.module && (await activate('tensorflow'))) {
      native = cpu.module;
      const pkg = gpu.module ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
      reasons.push(`${pkg} loaded; using libtensorflow on the CPU`);
      return { backend: 'tensorflow', package: pkg, gpu: false, reasons };
    }
    if (!gpu.module) reasons.push(`tfjs-node: ${cpu.error ?? 'not installed'}`);
    if (preference === 'tensorflow') {
      throw new Error(
        `TFJS_BACKEND=tensorflow, but no native backend could be loaded: ${reasons.join('; ')}`,
      );
    }
  }
  if (preference === 'auto' || preference === 'wasm') {
    if (await useWasm(reasons, wasmThreads)) {
      const threads = wasmThreadsInUse() ?? 1;
      reasons.push(
        threads > 1
          ? `wasm initialised (threaded SIMD build, ${threads} XNNPACK threads)`
          : 'wasm initialised (SIMD, single thread in Node)',
      );
      return { backend: 'wasm', package: '@tensorflow/tfjs-backend-wasm', gpu: false, reasons };
    }
    if (preference === 'wasm') throw new Error(`TFJS_BACKEND=wasm failed: ${reasons.join('; ')}`);
  }
  if (!(await activate('cpu'))) throw new Error('the pure-JS cpu backend failed to initialise');
  reasons.push(
    preference === 'cpu' ? 'cpu requested' : 'cpu is the last resort (about 35x slower than wasm)',
  );
  return { backend: 'cpu', package: '@tensorflow/tfjs', gpu: false, reasons };
}
