/**
 * The environment libtensorflow reads when it loads. It reads it from the process's C environment once, so these
 * variables must be set in the main thread before the first inference thread loads tfjs-node: a worker thread's
 * `process.env` is its own copy and never reaches the C library.
 */

/** What the service's configuration says about TensorFlow's own environment. */
export interface TensorFlowEnvSettings {
  /** TF_FORCE_GPU_ALLOW_GROWTH, passed through when set. */
  tfForceGpuAllowGrowth: string | null;
}

/**
 * Sets libtensorflow's environment: the GPU memory policy when configured, and its C++ logging at warnings and
 * above unless the operator chose a level (TF_CPP_MIN_LOG_LEVEL). At its default of 0 the library prints a dozen
 * INFO lines at start-up (absl's preamble, oneDNN, CPU features) that say nothing an operator acts on; the
 * warnings and errors it keeps are the ones that explain a failure, e.g. "Could not load dynamic library".
 */
export function applyTensorFlowEnv(
  settings: TensorFlowEnvSettings,
  env: NodeJS.ProcessEnv = process.env,
): void {
  if (settings.tfForceGpuAllowGrowth !== null) env.TF_FORCE_GPU_ALLOW_GROWTH = settings.tfForceGpuAllowGrowth;
  env.TF_CPP_MIN_LOG_LEVEL ??= '1';
}
