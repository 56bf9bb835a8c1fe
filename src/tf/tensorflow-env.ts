/**
 * The environment libtensorflow reads when it loads. It reads it from the process's C environment once, so these
 * variables must be set in the main thread before the first inference thread loads tfjs-node: a worker thread's
 * `process.env` is its own copy and never reaches the C library.
 */
import { availableCores } from '../util/available-cores';

/** What the service's configuration says about TensorFlow's own environment. */
export interface TensorFlowEnvSettings {
  /** TF_FORCE_GPU_ALLOW_GROWTH, passed through when set. */
  tfForceGpuAllowGrowth: string | null;
  /** TF_NUM_INTRAOP_THREADS: threads that split one op; `auto` (the default): the cores this process may use. */
  tfIntraOpThreads?: number | 'auto';
  /** TF_NUM_INTEROP_THREADS: threads that run independent ops of a graph at once; `auto`: as intra-op. */
  tfInterOpThreads?: number | 'auto';
  /** TF_CPU_ALLOCATOR_USE_BFC: libtensorflow's pooling allocator for CPU memory (default on). */
  tfCpuAllocatorUseBfc?: boolean;
  /** TF_ENABLE_ONEDNN_OPTS: oneDNN's kernels where TF has them (default off). */
  tfEnableOnednnOpts?: boolean;
  /** NATIVE_SAVED_MODELS: graph models run through their native SavedModel where they have one (default on). */
  nativeSavedModels?: boolean;
}

/**
 * Sets libtensorflow's environment: the GPU memory policy when configured, its thread pools, CPU allocator and
 * oneDNN use, and its C++ logging at warnings and above unless the operator chose a level (TF_CPP_MIN_LOG_LEVEL). At its default
 * of 0 the library prints a dozen INFO lines at start-up (absl's preamble, oneDNN, CPU features) that say nothing an
 * operator acts on; the warnings and errors it keeps are the ones that explain a failure, e.g. "Could not load
 * dynamic library".
 *
 * Threads (docs/benchmarks.md, "Native TensorFlow" has the figures): left to itself libtensorflow sizes both
 * pools to every core of the affinity mask, which in a container limited by a CPU quota (`docker run --cpus 2`
 * on a 64-core host) is the host's cores: 64 threads time-sliced into 2 CPUs of quota. `auto` uses the cores
 * the process may really use (`availableCores`: affinity mask and cgroup quota), what TF would pick on a
 * machine of that size. The intra-op pool is one per process, shared by every inference thread; each
 * inference thread's TensorFlow context adds an inter-op pool, which op-by-op execution (TF.js graph models)
 * leaves idle and SavedModel sessions use to run independent ops at once. A number set in the environment
 * (or in the settings) wins.
 *
 * Memory: libtensorflow's default CPU allocator hands every large tensor fresh memory from malloc, which glibc
 * maps anew (mmap) above 32 MB and unmaps on free, so each such op output page-faults its way in: on our 2-core
 * VM a bias add or ReLU over a 60 MB activation took 60-130 ms, and 12 ms once the memory was reused. TF's BFC
 * allocator (TF_CPU_ALLOCATOR_USE_BFC, the pool it uses for GPU hosts' pinned memory) keeps freed buffers for
 * reuse: 25% less CPU per Faster R-CNN image, for RSS that stays at the peak working set (+190 MiB there).
 *
 * oneDNN: TF's x86 builds route part of their CPU work through oneDNN unless TF_ENABLE_ONEDNN_OPTS=0. Run op by
 * op (eager), as tfjs-node runs TF.js graph models, that is oneDNN's sgemm inside TF's own convolutions and
 * matmuls (ONEDNN_VERBOSE lists only `gemm_api` calls, 120,000 of them, mostly small blocks, per ResNet-50 Faster
 * R-CNN image). On our 2-core VM it cost ADC's ResNet-50 Faster R-CNN 40-60% more CPU per image, while the
 * MobileNetV3 one ran 10-15% faster with it and the ResNet-50 classifier the same; off by default, a setting.
 */
export function applyTensorFlowEnv(
  settings: TensorFlowEnvSettings,
  env: NodeJS.ProcessEnv = process.env,
  cores: () => number = availableCores,
): void {
  if (settings.tfForceGpuAllowGrowth !== null) env.TF_FORCE_GPU_ALLOW_GROWTH = settings.tfForceGpuAllowGrowth;
  env.TF_CPP_MIN_LOG_LEVEL ??= '1';
  const threads = (name: string, setting: number | 'auto' | undefined): void => {
    if (setting !== undefined && setting !== 'auto') env[name] = String(setting);
    else if (!/^[1-9]\d*$/.test(env[name]?.trim() ?? '')) env[name] = String(cores());
  };
  threads('TF_NUM_INTRAOP_THREADS', settings.tfIntraOpThreads);
  threads('TF_NUM_INTEROP_THREADS', settings.tfInterOpThreads);
  const flag = (name: string, setting: boolean | undefined, def: boolean): void => {
    if (setting !== undefined) env[name] = String(setting);
    else env[name] ??= String(def);
  };
  flag('TF_CPU_ALLOCATOR_USE_BFC', settings.tfCpuAllocatorUseBfc, true);
  flag('TF_ENABLE_ONEDNN_OPTS', settings.tfEnableOnednnOpts, false);
  // Read by every inference thread's model loader (src/algorithms/model-runner.ts), as libtensorflow reads its own.
  flag('NATIVE_SAVED_MODELS', settings.nativeSavedModels, true);
}
