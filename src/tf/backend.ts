/**
 * Chooses and initialises the TensorFlow.js backend, and holds the native module (tfjs-node(-gpu)) when one
 * is active. The bottom layer: images, algorithms and runtime import it; it imports only tfjs.
 *
 * `auto` tries, in order: tfjs-node-gpu, tfjs-node, wasm, cpu. The native packages are optionalDependencies
 * whose install needs Google's storage host; where that failed they are simply absent. Every attempt and its
 * reason are returned so the caller can log the choice.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { fixCpuEmptyConcat } from './cpu-empty-concat';
import { applyTensorFlowEnv } from './tensorflow-env';
import { enableWasmThreads, wasmThreadsInUse } from './wasm-threads';

export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

/**
 * One dimension of a SavedModel input or output as tfjs-node reports it: tfjs-node 4.22 hands on TensorFlow's
 * `TensorShapeProto.Dim` messages (`getDimList()`), in `getMetaGraphsFromSavedModel` and in a loaded model's
 * `inputs` and `outputs` alike, not numbers. Its size is -1 when unknown.
 */
export type SignatureDim = number | { getSize(): number };

/** One input or output of a SavedModel signature, as tfjs-node's `getMetaGraphsFromSavedModel` reports it. */
export interface SignatureTensorInfo {
  /** The graph tensor name, e.g. `serving_default_input_1:0`; not what `predict` takes. */
  name: string;
  dtype?: string;
  /** Read it with `signatureShape`. */
  shape?: SignatureDim[];
}

/**
 * A SavedModel tensor's shape as numbers, null for each unknown size; null when tfjs-node gave no shape or one
 * it does not describe as above.
 */
export function signatureShape(shape: readonly unknown[] | undefined): (number | null)[] | null {
  if (!shape) return null;
  const dims = shape.map((d) => {
    const size =
      typeof d === 'number'
        ? d
        : typeof (d as { getSize?: unknown } | null)?.getSize === 'function'
          ? Number((d as { getSize(): unknown }).getSize())
          : NaN;
    return Number.isInteger(size) ? size : undefined;
  });
  if (dims.some((d) => d === undefined)) return null;
  return dims.map((d) => (d !== undefined && d >= 0 ? d : null));
}

/** A meta graph of a SavedModel: its tags and its signatures, each keyed by signature key. */
export interface MetaGraph {
  tags: string[];
  signatureDefs: Record<
    string,
    { inputs: Record<string, SignatureTensorInfo>; outputs: Record<string, SignatureTensorInfo> }
  >;
}

/** The tfjs-node module surface we use (`tf.node.*`), typed here because the package is optional. */
export interface NativeTfModule {
  node: {
    /** JPEG, PNG, GIF and BMP only; truncated JPEGs throw. */
    decodeImage(bytes: Uint8Array, channels?: number, dtype?: string, expandAnimations?: boolean): tf.Tensor;
    /** JPEG only; `dctMethod` `INTEGER_ACCURATE` is libjpeg's accurate integer DCT (`''`: TF's fast default). */
    decodeJpeg(
      bytes: Uint8Array,
      channels?: number,
      ratio?: number,
      fancyUpscaling?: boolean,
      tryRecoverTruncated?: boolean,
      acceptableFraction?: number,
      dctMethod?: string,
    ): tf.Tensor3D;
    loadSavedModel(path: string, tags?: string[], signature?: string): Promise<tf.InferenceModel>;
    getMetaGraphsFromSavedModel(path: string): Promise<MetaGraph[]>;
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
  /** TensorFlow placed its ops on a GPU device (tfjs-node's `isUsingGpuDevice`). */
  gpu: boolean;
  /** libtensorflow's own version (`TF_Version()`, e.g. `2.21.0`) on the native backend; null elsewhere. */
  tensorflow: string | null;
  /** Why each earlier option was skipped, then why this one was chosen. */
  reasons: string[];
}

/** Loads a package by name; `require` in the service, a fake native module in tests. */
export type ModuleLoader = (name: string) => unknown;

export interface BackendOptions {
  /**
   * XNNPACK threads of the wasm backend (WASM_THREADS): > 1 loads its threaded SIMD build
   * (src/tf/wasm-threads.ts). Default 1.
   */
  wasmThreads?: number;
  /** Defaults to `require`. */
  load?: ModuleLoader;
}

let native: NativeTfModule | null = null;

/** The loaded tfjs-node(-gpu) module when a native backend is active, else null. */
export function nativeTf(): NativeTfModule | null {
  return native;
}

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];

/**
 * Where a tfjs-node(-gpu) package keeps its addon for this Node (`lib/napi-v<N>/tfjs_binding.node`, as
 * node-pre-gyp resolves it: the highest N-API version the package lists that this Node supports), or null when
 * the package is not installed.
 */
export function nativeAddonPath(name: string): string | null {
  let pkgFile: string;
  try {
    pkgFile = require.resolve(`${name}/package.json`);
  } catch {
    return null;
  }
  const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as {
    binary?: { module_name?: string; module_path?: string; napi_versions?: number[] };
  };
  const host = Number(process.versions.napi);
  const napi = Math.max(...(pkg.binary?.napi_versions ?? [8]).filter((v) => v <= host));
  const modulePath = (pkg.binary?.module_path ?? './lib/napi-v{napi_build_version}').replace(
    '{napi_build_version}',
    String(napi),
  );
  return path.join(path.dirname(pkgFile), modulePath, `${pkg.binary?.module_name ?? 'tfjs_binding'}.node`);
}

/**
 * Loads a package. A native package is only required when its addon exists: tfjs-node registers its ~150
 * kernels before it looks for the addon, so requiring one whose addon was never built (npm installs the
 * optional packages without it wherever Google's storage host is unreachable) would leave them registered, and
 * the next package's registration would print "already registered" for every kernel.
 */
const defaultLoad: ModuleLoader = (name) => {
  if (NATIVE_PACKAGES.includes(name)) {
    const addon = nativeAddonPath(name);
    if (addon === null) throw new Error(`Cannot find module '${name}'`);
    if (!fs.existsSync(addon)) {
      throw new Error(`installed without its native addon ${addon} (\`npm run native\` builds it)`);
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(name) as unknown;
};

/**
 * The message of an error from libtensorflow without the wrapper tfjs-node's addon puts around it
 * (`Invalid TF_Status: 3\nMessage: Invalid PNG data, size 205`; 3 is TF's INVALID_ARGUMENT): what reaches a
 * per-image error reads as TensorFlow's own words, on one line. Other messages are returned as they are.
 */
export function tensorflowErrorMessage(message: string): string {
  return /^Invalid TF_Status: \d+\nMessage: ([^]*)$/.exec(message)?.[1] ?? message;
}

/** libtensorflow's version as its addon reports it (`TF_Version()`), or null when the backend does not say. */
export function tensorflowVersion(backend: unknown): string | null {
  if (backend === null || typeof backend !== 'object' || !('binding' in backend)) return null;
  const binding = backend.binding as { TF_Version?: unknown } | null;
  return typeof binding?.TF_Version === 'string' ? binding.TF_Version : null;
}

function tryLoad(load: ModuleLoader, name: string): { module: unknown; error: string | null } {
  try {
    return { module: load(name), error: null };
  } catch (err) {
    return { module: null, error: (err as Error).message.split('\n')[0] ?? 'failed to load' };
  }
}

/**
 * Whether a tfjs backend says its ops run on a GPU: tfjs-node's `NodeJSKernelBackend.isUsingGpuDevice`, which
 * its addon sets when the devices of its TFE_Context include a GPU (tfjs-node/binding/tfjs_backend.cc). This is
 * the real answer: the CUDA libraries stay mapped into the process even when libtensorflow then skips the GPU
 * ("Skipping registering GPU devices"), so /proc/self/maps would say yes in exactly the failure to catch.
 * Null when the backend does not say (any backend but tfjs-node's).
 */
export function backendUsesGpu(backend: unknown): boolean | null {
  if (backend === null || typeof backend !== 'object' || !('isUsingGpuDevice' in backend)) return null;
  const flag = backend.isUsingGpuDevice;
  return typeof flag === 'boolean' ? flag : null;
}

/** A visible NVIDIA device: the driver's device files, unless CUDA_VISIBLE_DEVICES hides them all. */
function nvidiaDeviceVisible(): boolean {
  if (process.env.CUDA_VISIBLE_DEVICES === '' || process.env.CUDA_VISIBLE_DEVICES === '-1') return false;
  return fs.existsSync('/dev/nvidia0') || fs.existsSync('/dev/nvidiactl');
}

async function activate(name: string): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

async function useWasm(load: ModuleLoader, reasons: string[], threads: number): Promise<boolean> {
  const loaded = tryLoad(load, '@tensorflow/tfjs-backend-wasm');
  if (loaded.error !== null) {
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
 * Why a native package runs on the CPU, the hint an operator needs first. Either package can carry a CUDA
 * libtensorflow: tfjs-node-gpu through Google's download, tfjs-node when `npm run native` built it against
 * `tensorflow[and-cuda]` (the GPU image), so a visible device with no GPU created is worth saying either way.
 */
function noGpuReason(short: string, lib: string): string {
  return nvidiaDeviceVisible()
    ? `${short} loaded and an NVIDIA device is visible, but ${lib} created no GPU device (a CPU-only build, or ` +
        'look in its stderr for "Could not load dynamic library" or "Skipping registering GPU devices")'
    : `${short} loaded, but no NVIDIA device is visible (no /dev/nvidia*, or CUDA_VISIBLE_DEVICES hides them)`;
}

/** Tries tfjs-node-gpu, then tfjs-node. Returns the choice, or null with the reasons appended. */
async function useNative(load: ModuleLoader, reasons: string[]): Promise<BackendChoice | null> {
  // Entry points set this in the main thread (applyTensorFlowEnv); CLIs that load TF in-thread rely on this.
  applyTensorFlowEnv({ tfForceGpuAllowGrowth: null });
  const gpu = tryLoad(load, '@tensorflow/tfjs-node-gpu');
  if (gpu.error !== null) reasons.push(`tfjs-node-gpu: ${gpu.error}`);
  // tfjs-node-gpu also runs on a CPU, so the CPU package is only tried without it (the GPU image removes it).
  const pkg = gpu.error === null ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  const loaded = gpu.error === null ? gpu : tryLoad(load, pkg);
  if (loaded.error !== null) {
    reasons.push(`tfjs-node: ${loaded.error}`);
    return null;
  }
  // Creating the backend creates libtensorflow's TFE_Context, which lists the devices (and on a GPU without
  // kernels for it, JIT-compiles PTX: minutes on a first H100 start).
  if (!(await activate('tensorflow'))) {
    reasons.push(
      `${pkg}: loaded, but its tensorflow backend failed to initialise (see stderr, e.g. "Exception creating TFE_Context")`,
    );
    return null;
  }
  native = loaded.module as NativeTfModule;
  const onGpu = backendUsesGpu(tf.backend()) === true;
  const version = tensorflowVersion(tf.backend());
  const short = pkg === '@tensorflow/tfjs-node-gpu' ? 'tfjs-node-gpu' : 'tfjs-node';
  const lib = version ? `libtensorflow ${version}` : 'libtensorflow';
  if (onGpu) {
    reasons.push(`${short} loaded and ${lib} runs on a GPU device (isUsingGpuDevice)`);
  } else if (pkg === '@tensorflow/tfjs-node-gpu' || nvidiaDeviceVisible()) {
    reasons.push(`${noGpuReason(short, lib)}; using ${lib} on the CPU`);
  } else {
    reasons.push(`@tensorflow/tfjs-node loaded; using ${lib} on the CPU`);
  }
  return { backend: 'tensorflow', package: pkg, gpu: onGpu, tensorflow: version, reasons };
}

/**
 * Initialises the backend named by `preference` (or the best available in `auto`) and returns what was chosen.
 * Throws when an explicitly requested backend cannot be used, naming it and why.
 */
export async function initBackend(
  preference: BackendPreference,
  options: BackendOptions = {},
): Promise<BackendChoice> {
  const load = options.load ?? defaultLoad;
  const reasons: string[] = [];
  native = null;
  if (preference === 'auto' || preference === 'tensorflow') {
    const choice = await useNative(load, reasons);
    if (choice) return choice;
    if (preference === 'tensorflow') {
      throw new Error(
        `TFJS_BACKEND=tensorflow, but no native backend could be loaded: ${reasons.join('; ')}`,
      );
    }
  }
  if (preference === 'auto' || preference === 'wasm') {
    if (await useWasm(load, reasons, options.wasmThreads ?? 1)) {
      const threads = wasmThreadsInUse() ?? 1;
      reasons.push(
        threads > 1
          ? `wasm initialised (threaded SIMD build, ${threads} XNNPACK threads)`
          : 'wasm initialised (SIMD, single thread in Node)',
      );
      return {
        backend: 'wasm',
        package: '@tensorflow/tfjs-backend-wasm',
        gpu: false,
        tensorflow: null,
        reasons,
      };
    }
    if (preference === 'wasm') throw new Error(`TFJS_BACKEND=wasm failed: ${reasons.join('; ')}`);
  }
  if (!(await activate('cpu'))) throw new Error('the pure-JS cpu backend failed to initialise');
  fixCpuEmptyConcat();
  reasons.push(
    preference === 'cpu' ? 'cpu requested' : 'cpu is the last resort (about 35x slower than wasm)',
  );
  return { backend: 'cpu', package: '@tensorflow/tfjs', gpu: false, tensorflow: null, reasons };
}

/** Exit status of a process that REQUIRE_GPU stopped (also gpu-smoke's `--require-gpu` failure). */
export const EXIT_NOT_ON_GPU = 3;

/**
 * Why a process with REQUIRE_GPU=true must stop: TensorFlow is not on a GPU (`choice`), or no backend could be
 * initialised at all (`error`). Null when the GPU is in use.
 */
export function gpuRequirementFailure(outcome: { choice: BackendChoice } | { error: string }): string | null {
  if ('error' in outcome)
    return `REQUIRE_GPU=true, but the TensorFlow backend failed to initialise: ${outcome.error}`;
  const { choice } = outcome;
  if (choice.gpu) return null;
  return (
    `REQUIRE_GPU=true, but TensorFlow is not on a GPU: it chose ${choice.backend} (${choice.package}) ` +
    `because ${choice.reasons.join('; ')}`
  );
}
