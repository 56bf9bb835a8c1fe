/**
 * What `npm run native` needs to know about a TensorFlow wheel, without running anything: its name's tags, and
 * where inside it the parts of libtensorflow lie. Pure functions, so that the rules are tested alone.
 *
 * The `tensorflow` and `tensorflow-cpu` wheels carry the whole C and eager C API that tfjs-node's addon calls:
 * `tensorflow/libtensorflow_cc.so.2` (TFE_*, sessions, SavedModel loading, TF_Version) and
 * `tensorflow/libtensorflow_framework.so.2` (tensors, status, buffers), with the C headers under
 * `tensorflow/include`. Neither library links libpython, so one wheel serves every Node process whatever
 * Python tag it was built for.
 */

/** The parts of a wheel file name (PEP 427): `{dist}-{version}(-{build})?-{python}-{abi}-{platform}.whl`. */
export interface WheelName {
  /** Normalised distribution name, e.g. `tensorflow_cpu`. */
  dist: string;
  version: string;
  python: string;
  abi: string;
  platform: string;
}

/** Thrown with a message for the operator: what is wrong and what to do. */
export class NativeBuildError extends Error {}

/**
 * No TensorFlow wheel can be had on this machine: no python3 to run pip (node-gyp needs it too), or pip found or
 * fetched none. Unlike a failed build, this is a fact about the machine: CI skips its native tier on it.
 */
export class NoWheelError extends NativeBuildError {}

/** The exit status of `npm run native` when there is no wheel to build from (NoWheelError); other failures exit 1. */
export const EXIT_NO_WHEEL = 3;

/** Parses a wheel's file name; null when it is not one. */
export function parseWheelName(fileName: string): WheelName | null {
  const base = fileName.split('/').pop() ?? fileName;
  const m = /^([A-Za-z0-9_.]+)-([^-]+)(?:-\d[^-]*)?-([^-]+)-([^-]+)-([^-]+)\.whl$/.exec(base);
  if (!m) return null;
  return { dist: m[1].toLowerCase(), version: m[2], python: m[3], abi: m[4], platform: m[5] };
}

/** The wheel platform's CPU for a Node `process.arch`, or null where TensorFlow publishes no Linux wheel. */
export function wheelArch(nodeArch: string): string | null {
  return nodeArch === 'x64' ? 'x86_64' : nodeArch === 'arm64' ? 'aarch64' : null;
}

/**
 * Checks that a wheel is a TensorFlow build for this machine (Linux, same CPU). The Python tag does not matter:
 * only the shared libraries and C headers are taken. Throws NativeBuildError naming the mismatch.
 */
export function checkWheel(fileName: string, platform: string, nodeArch: string): WheelName {
  const wheel = parseWheelName(fileName);
  if (!wheel)
    throw new NativeBuildError(`${fileName} is not a wheel file name (name-version-python-abi-platform.whl)`);
  if (!/^(tensorflow|tensorflow_cpu|tensorflow_gpu|tf_nightly(_cpu)?)$/.test(wheel.dist)) {
    throw new NativeBuildError(
      `${fileName} is a ${wheel.dist} wheel; npm run native needs a TensorFlow wheel (tensorflow or tensorflow-cpu)`,
    );
  }
  const arch = wheelArch(nodeArch);
  if (platform !== 'linux' || arch === null) {
    throw new NativeBuildError(
      `npm run native builds for Linux on x86_64 or aarch64; this is ${platform} on ${nodeArch}`,
    );
  }
  if (!wheel.platform.includes('linux') || !wheel.platform.endsWith(arch)) {
    throw new NativeBuildError(
      `${fileName} is built for ${wheel.platform}, but this machine is linux ${arch}: take the wheel for ${arch}`,
    );
  }
  return wheel;
}

/** The shared libraries, relative to the wheel's root (`tensorflow/` is the Python package). */
export const WHEEL_LIBRARIES = [
  'tensorflow/libtensorflow_cc.so.2',
  'tensorflow/libtensorflow_framework.so.2',
];

/** Where the C headers start inside the wheel; `include/` in tfjs-node's deps/ mirrors what is below it. */
export const WHEEL_INCLUDE_ROOT = 'tensorflow/include/';

/**
 * The headers tfjs-node's addon includes, directly or through other headers, relative to the include root:
 * the C and eager C API, and the string type they use, which has lived in three places over TF's history.
 */
export const HEADER_PATTERNS: readonly RegExp[] = Object.freeze([
  /^tensorflow\/c\/.*\.h$/,
  /^tensorflow\/core\/platform\/ctstring[^/]*\.h$/,
  /^tsl\/platform\/ctstring[^/]*\.h$/,
  /^xla\/tsl\/c\/[^/]*\.h$/,
]);

/** True for a wheel member that belongs in `deps/include` (given relative to the include root). */
export function isNeededHeader(relativeToIncludeRoot: string): boolean {
  return HEADER_PATTERNS.some((p) => p.test(relativeToIncludeRoot));
}

/**
 * The links that make a directory holding the two wheel libraries look like libtensorflow's own layout:
 * tfjs-node's binding.gyp links `-ltensorflow -ltensorflow_framework`, and libtensorflow_cc carries what
 * Google's libtensorflow.so.2 carries. Name → target, both in the same directory.
 */
export const LIBRARY_LINKS: Readonly<Record<string, string>> = Object.freeze({
  'libtensorflow.so': 'libtensorflow_cc.so.2',
  'libtensorflow.so.2': 'libtensorflow_cc.so.2',
  'libtensorflow_framework.so': 'libtensorflow_framework.so.2',
});

/** A short, stable name for the cache entry of one wheel: its file name without `.whl`. */
export function cacheKey(wheelFileName: string): string {
  return (wheelFileName.split('/').pop() ?? wheelFileName).replace(/\.whl$/, '');
}

/**
 * Explains why `pip download` found nothing, from its stderr: the likely cause is a Python tag for which the
 * index holds no wheel. Returns the operator's message.
 */
export function pipFailureMessage(
  spec: string,
  stderr: string,
  pythonVersion: string,
  index: string | null,
): string {
  const where = index ? `the index ${index}` : "pip's configured indexes";
  if (/No matching distribution|Could not find a version/i.test(stderr)) {
    return (
      `pip found no ${spec} wheel for Python ${pythonVersion} on this platform in ${where}. ` +
      'The libraries inside do not depend on Python, so either name another Python tag that the index holds ' +
      '(TF_PYTHON_VERSION=3.11), another spec (TF_PIP_SPEC), or give a wheel file (TF_WHEEL=/path/to/tensorflow_cpu-….whl).'
    );
  }
  const last = stderr.trim().split('\n').slice(-3).join(' | ');
  return `pip could not download ${spec} from ${where}: ${last || 'no output'}. Give a wheel file with TF_WHEEL=/path/to/….whl`;
}
