/**
 * Every setting is an environment variable. This table is the single source of truth: `loadConfig()` parses
 * and validates it into one typed object (a bad value stops startup with a message naming the variable),
 * and the README's configuration table and `.env.example` are checked against it by a test.
 */

type Parser<T> = (raw: string) => T;

interface Setting<T> {
  env: string;
  default: T;
  parse: Parser<T>;
  /** One line for the README table and .env.example. */
  doc: string;
}

class ConfigError extends Error {}

const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> =>
  (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`expected an integer, got "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max) throw new ConfigError(`expected an integer in [${min}, ${max}], got ${n}`);
    return n;
  };

const bool: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  throw new ConfigError(`expected true/false (or 1/0), got "${raw}"`);
};

const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw) => {
    const v = raw.trim() as T;
    if (!values.includes(v)) throw new ConfigError(`expected one of ${values.join(', ')}, got "${raw}"`);
    return v;
  };

const list: Parser<string[]> = (raw) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

const text: Parser<string> = (raw) => raw;

const autoOr =
  (inner: Parser<number>): Parser<number | 'auto'> =>
  (raw) =>
    raw.trim().toLowerCase() === 'auto' ? 'auto' : inner(raw);

const nonEmpty: Parser<string> = (raw) => {
  if (raw.trim() === '') throw new ConfigError('must not be empty');
  return raw.trim();
};

const optionalText: Parser<string | null> = (raw) => (raw.trim() === '' ? null : raw.trim());

const setting = <T>(env: string, def: T, parse: Parser<T>, doc: string): Setting<T> => ({
  env,
  default: def,
  parse,
  doc,
});

/** The settings, grouped as the README presents them. Order is the order of the README table. */
export const settings = {
  // HTTP server
  port: setting('PORT', 2000, integer(0, 65535), 'TCP port of the HTTP service.'),
  host: setting('HOST', '0.0.0.0', nonEmpty, 'Interface to listen on (0.0.0.0: all interfaces).'),
  logLevel: setting(
    'LOG_LEVEL',
    'info',
    oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
    'pino log level.',
  ),
  logFormat: setting(
    'LOG_FORMAT',
    'json',
    oneOf('json', 'pretty'),
    '`json`: one JSON object per line (pino), for log collectors. `pretty`: coloured, one readable line per event, for development.',
  ),
  serviceName: setting(
    'SERVICE_NAME',
    'Antenna TF.js Processing Service',
    nonEmpty,
    '`name` in `GET /info`.',
  ),
  serviceDescription: setting(
    'SERVICE_DESCRIPTION',
    'Insect detection and classification with TensorFlow.js, for the Antenna platform.',
    text,
    '`description` in `GET /info`.',
  ),
  maxBodyBytes: setting(
    'MAX_BODY_BYTES',
    10 * 1024 * 1024,
    integer(1024),
    'Largest accepted request body (413 above).',
  ),
  maxImagesPerRequest: setting(
    'MAX_IMAGES_PER_REQUEST',
    100,
    integer(1, 100000),
    'Most `source_images` in one `/process` request (422 above).',
  ),
  strictImageErrors: setting(
    'STRICT_IMAGE_ERRORS',
    false,
    bool,
    "Answer 500 when any image fails, like Antenna's reference service (for Antenna's own CI). Default: 200 with `errors`.",
  ),
  shutdownGraceMs: setting(
    'SHUTDOWN_GRACE_MS',
    30000,
    integer(0),
    'On SIGTERM/SIGINT, how long in-flight work may take; then downloads and pipeline waits are aborted, what can be answered is, and the process exits within 1 s.',
  ),
  // Pipelines and models
  enabledPipelines: setting(
    'ENABLED_PIPELINES',
    [] as string[],
    list,
    'Comma-separated pipeline slugs to serve and compile; empty: every registered pipeline.',
  ),
  modelsDir: setting(
    'MODELS_DIR',
    'models',
    nonEmpty,
    'Directory holding one sub-directory per model (see models/README.md).',
  ),
  detectorBatchSize: setting(
    'DETECTOR_BATCH_SIZE',
    4,
    integer(1, 256),
    'Images per detector call (default per stage).',
  ),
  classifierBatchSize: setting(
    'CLASSIFIER_BATCH_SIZE',
    32,
    integer(1, 1024),
    'Crops per classifier call (default per stage).',
  ),
  // Runtime
  tfjsBackend: setting(
    'TFJS_BACKEND',
    'auto',
    oneOf('auto', 'tensorflow', 'wasm', 'cpu'),
    '`auto` tries tfjs-node-gpu (with a GPU), tfjs-node, wasm, then cpu.',
  ),
  requireGpu: setting(
    'REQUIRE_GPU',
    false,
    bool,
    'Exit (status 3) with a message when TensorFlow is not on a GPU, instead of serving on the CPU or wasm.',
  ),
  imageDecoder: setting(
    'IMAGE_DECODER',
    'auto',
    oneOf('auto', 'tensorflow', 'sharp', 'jimp'),
    '`auto`: native TF decode on a native backend, else sharp, else jimp.',
  ),
  inferenceMemoryBudgetMb: setting(
    'INFERENCE_MEMORY_BUDGET_MB',
    0,
    integer(0),
    'MiB of decoded pixels one pipeline run may hold (docs/memory.md); larger images fail alone with IMAGE_TOO_LARGE_FOR_BACKEND. 0: from the backend (wasm 3072, else a quarter of RAM).',
  ),
  inferenceThread: setting(
    'INFERENCE_THREAD',
    'worker',
    oneOf('worker', 'main'),
    '`worker`: TF runs in a worker thread so health checks stay fast. `main`: same thread (debugging only).',
  ),
  inferenceThreads: setting(
    'INFERENCE_THREADS',
    'auto',
    autoOr(integer(1, 64)),
    'Inference threads, each with its own backend and copy of the models (`worker` mode). `auto`: one per available core up to 8 on wasm/cpu; 1 on tfjs-node, whose one intra-op pool (TF_NUM_INTRAOP_THREADS) already spreads each op over every core and is shared by all inference threads. `1`: one thread.',
  ),
  wasmThreads: setting(
    'WASM_THREADS',
    1,
    integer(1, 16),
    'Experimental: XNNPACK threads per inference thread on wasm (the threaded SIMD build). `auto` INFERENCE_THREADS then divides the cores by it. `1`: single-threaded build.',
  ),
  // Image intake
  imageDownloadTimeoutMs: setting(
    'IMAGE_DOWNLOAD_TIMEOUT_MS',
    30000,
    integer(1),
    'Per-attempt timeout of one image download, headers and body.',
  ),
  imageDownloadAttempts: setting(
    'IMAGE_DOWNLOAD_ATTEMPTS',
    3,
    integer(1, 10),
    'Tries per image on connection errors and 5xx answers, with exponential backoff.',
  ),
  imageDownloadConcurrency: setting(
    'IMAGE_DOWNLOAD_CONCURRENCY',
    8,
    integer(1, 256),
    'Parallel image downloads per request.',
  ),
  imageMaxBytes: setting('IMAGE_MAX_BYTES', 50 * 1024 * 1024, integer(1), 'Largest accepted image file.'),
  imageMaxPixels: setting(
    'IMAGE_MAX_PIXELS',
    100_000_000,
    integer(1),
    'Largest accepted width × height, read from the header before decoding.',
  ),
  imageMaxRedirects: setting(
    'IMAGE_MAX_REDIRECTS',
    3,
    integer(0, 10),
    'Redirects followed per image download.',
  ),
  imageUrlPolicy: setting(
    'IMAGE_URL_POLICY',
    'default',
    oneOf('default', 'strict'),
    '`default` denies link-local and unspecified addresses (cloud metadata); `strict` also denies loopback and private ranges.',
  ),
  imageUrlAllow: setting(
    'IMAGE_URL_ALLOW',
    [] as string[],
    list,
    'Hosts or CIDRs always allowed (checked before the deny rules), e.g. `minio,10.0.5.0/24`.',
  ),
  imageUrlDeny: setting('IMAGE_URL_DENY', [] as string[], list, 'Extra hosts or CIDRs to deny.'),
  userAgent: setting(
    'IMAGE_USER_AGENT',
    'AntennaTFJSService/0.1 (+https://github.com/RolnickLab/antenna)',
    nonEmpty,
    'User-Agent sent with image downloads.',
  ),
  // Pull mode (Antenna's job queue)
  antennaApiUrl: setting(
    'ANTENNA_API_URL',
    null as string | null,
    optionalText,
    "Base URL of Antenna's API for pull mode, e.g. `https://antenna.example.org/api/v2`.",
  ),
  antennaApiToken: setting(
    'ANTENNA_API_TOKEN',
    null as string | null,
    optionalText,
    'API token for pull mode (never logged).',
  ),
  antennaAuthScheme: setting(
    'ANTENNA_AUTH_SCHEME',
    'Token',
    nonEmpty,
    'Authorization scheme: `Token` today; `Api-Key` for Antenna releases that add it.',
  ),
  antennaProjectIds: setting(
    'ANTENNA_PROJECT_IDS',
    [] as string[],
    list,
    'Comma-separated project ids to register the pipelines with.',
  ),
  antennaServiceName: setting(
    'ANTENNA_SERVICE_NAME',
    null as string | null,
    optionalText,
    'Processing-service name registered in Antenna; default `<SERVICE_NAME> (<hostname>)`.',
  ),
  workerPipelines: setting(
    'WORKER_PIPELINES',
    [] as string[],
    list,
    'Comma-separated slugs the worker serves; empty: every ready pipeline.',
  ),
  workerBatchSize: setting('WORKER_BATCH_SIZE', 8, integer(1, 1000), 'Tasks reserved per `/tasks/` call.'),
  workerPollIntervalS: setting(
    'WORKER_POLL_INTERVAL_S',
    5,
    integer(1, 30),
    'Seconds between polls when no work is found.',
  ),
  workerVisibilityTimeoutS: setting(
    'WORKER_VISIBILITY_TIMEOUT_S',
    300,
    integer(10),
    "Antenna's task visibility timeout; the worker shrinks its batch when a batch risks running past it.",
  ),
  workerResultTimeoutS: setting(
    'WORKER_RESULT_TIMEOUT_S',
    300,
    integer(5, 3600),
    'Seconds to wait for Antenna to answer one result POST (bodies of 29,176-class results are many MB); a re-post after it is logged as a possible duplicate.',
  ),
  workerResultMaxMb: setting(
    'WORKER_RESULT_MAX_MB',
    16,
    integer(1, 90),
    'Largest result POST body in MB (Antenna refuses 100 MB); results are packed up to it, and one image whose result is larger is split by detections.',
  ),
  startPullWorker: setting(
    'START_PULL_WORKER',
    false,
    bool,
    '`npm start` also runs the pull worker in the same process (needs ANTENNA_API_URL).',
  ),
  // Operations
  metricsEnabled: setting('METRICS_ENABLED', true, bool, 'Serve Prometheus metrics at `GET /metrics`.'),
  tfForceGpuAllowGrowth: setting(
    'TF_FORCE_GPU_ALLOW_GROWTH',
    null as string | null,
    optionalText,
    'Passed to libtensorflow: `true` makes TF allocate GPU memory as needed instead of all at once.',
  ),
  tfIntraOpThreads: setting(
    'TF_NUM_INTRAOP_THREADS',
    'auto',
    autoOr(integer(1, 1024)),
    "Passed to libtensorflow (native backend): threads that split one op, one pool shared by every inference thread. `auto`: the cores this process may use (affinity mask and cgroup CPU quota); TF's own default counts the host's cores, not a container's quota.",
  ),
  tfInterOpThreads: setting(
    'TF_NUM_INTEROP_THREADS',
    'auto',
    autoOr(integer(1, 1024)),
    'Passed to libtensorflow (native backend): threads that run independent ops at once, a pool per inference thread; TF.js graph models run op by op and leave it idle, SavedModels use it. `auto`: as TF_NUM_INTRAOP_THREADS.',
  ),
  tfCpuAllocatorUseBfc: setting(
    'TF_CPU_ALLOCATOR_USE_BFC',
    true,
    bool,
    "Passed to libtensorflow (native backend): `true` pools CPU memory for reuse (TF's BFC allocator); `false` maps every large tensor afresh, which page-faults: 25% more CPU per Faster R-CNN image on our VM, for RSS held at the peak working set instead (docs/benchmarks.md).",
  ),
  nativeSavedModels: setting(
    'NATIVE_SAVED_MODELS',
    true,
    bool,
    "Native backend: run a graph model's `native_saved_model` (written by `npm run convert -- native`) as one TensorFlow graph instead of the graph model op by op; about 20-25% faster for ADC's ResNet-50 models on our VM (docs/benchmarks.md). `false` runs the graph model.",
  ),
  tfEnableOnednnOpts: setting(
    'TF_ENABLE_ONEDNN_OPTS',
    false,
    bool,
    "Passed to libtensorflow (native backend): oneDNN's kernels where TF has them (its own default on x86). Off here: op by op, as TF.js graph models run, it cost ADC's ResNet-50 Faster R-CNN 40-60% more CPU per image on our VM (the MobileNetV3 one ran 10-15% faster); through native SavedModels it is faster, but rounds differently enough to change a few of ADC's answers (docs/benchmarks.md, docs/adc-fidelity.md).",
  ),
};

type Settings = typeof settings;
/** The typed configuration object. */
export type Config = { [K in keyof Settings]: Settings[K]['default'] };

/**
 * Parses `env` into a Config. Throws one error listing every bad variable and why.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, s] of Object.entries(settings) as [keyof Settings, Setting<unknown>][]) {
    const raw = env[s.env];
    if (raw === undefined) {
      out[key] = s.default;
      continue;
    }
    try {
      out[key] = s.parse(raw);
    } catch (err) {
      problems.push(`${s.env}: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return out as Config;
}

/** Defaults only, for tests and tools. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({}), ...overrides };
}

/** Rendered default of a setting, as the README and .env.example show it. */
export function renderDefault(s: Setting<unknown>): string {
  const v = s.default;
  if (Array.isArray(v)) return v.join(',');
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

export { ConfigError };
