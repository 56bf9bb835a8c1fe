/**
 * Renders the configuration documentation from `settings` (src/config.ts), the single source of truth:
 *
 *   ts-node --transpile-only scripts/render-config-docs.ts                 # README table (markdown) to stdout
 *   ts-node --transpile-only scripts/render-config-docs.ts --env-example   # rewrites .env.example
 *   ts-node --transpile-only scripts/render-config-docs.ts --env-example - # prints it instead
 *
 * The README keeps the table between `<!-- config-table:start -->` and `<!-- config-table:end -->`;
 * test/deploy/config-docs.test.ts fails when either the table or .env.example drifts from `settings`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { renderDefault, settings } from '../src/config';
import { projectRoot } from '../src/util/paths';

type AnySetting = (typeof settings)[keyof typeof settings];

/** Markers around the generated table in README.md. */
export const TABLE_START = '<!-- config-table:start -->';
export const TABLE_END = '<!-- config-table:end -->';

/**
 * Defaults that Dockerfile.gpu sets with `ENV`, where they differ from the service's own default.
 * test/deploy/docker-files.test.ts checks this map against the Dockerfile.
 */
export const imageDefaults: Readonly<Record<string, string>> = Object.freeze({
  MODELS_DIR: '/app/models',
  TF_FORCE_GPU_ALLOW_GROWTH: 'true',
  REQUIRE_GPU: 'true',
});

/** Variables read by docker compose only (interpolated in docker-compose.yml), with default and meaning. */
export const composeVariables: readonly { name: string; default: string; doc: string }[] = Object.freeze([
  {
    name: 'TFJS_IMAGE',
    default: 'antenna-tfjs:gpu',
    doc: 'Image name and tag that `docker compose build` writes and the services run.',
  },
  {
    name: 'HOST_PORT',
    default: '2000',
    doc: 'Host port published for the HTTP service (the container always listens on 2000).',
  },
  {
    name: 'GPU_DEVICE',
    default: '0',
    doc: 'The NVIDIA GPU the GPU services reserve, by index or UUID (`nvidia-smi -L`); one per service.',
  },
  {
    name: 'MODELS_PATH',
    default: './models',
    doc: 'Host directory mounted read-only over the models baked into the image (/app/models).',
  },
  {
    name: 'TF_SOURCE',
    default: 'wheel',
    doc: 'Build only: `wheel` runs TensorFlow 2.21 from the tensorflow[and-cuda] pip wheel (CUDA 12, driver >= 525.60.13); `google` runs libtensorflow 2.9.1 (CUDA 11.8, driver >= 520). docs/deployment.md, "Which TensorFlow".',
  },
  {
    name: 'PIP_INDEX_URL',
    default: '',
    doc: 'Build only, `wheel`: pip index to install tensorflow[and-cuda] from, e.g. `http://mirror/simple` (empty: PyPI).',
  },
  {
    name: 'TFJS_NODE_BASE_URI',
    default: '',
    doc: 'Build only, `google`: mirror prefix for libtensorflow, e.g. `http://mirror/libtensorflow-` (empty: Google storage).',
  },
  {
    name: 'npm_config_tfjs_binding_binary_host_mirror',
    default: '',
    doc: 'Build only, `google`: mirror for the tfjs-node-gpu addon, e.g. `http://mirror/` (empty: Google storage).',
  },
  {
    name: 'ANTENNA_NETWORK',
    default: 'antenna_network',
    doc: "Antenna's external Docker network, shared with its other processing services.",
  },
]);

/** Variables read by CUDA or libtensorflow rather than the service (Dockerfile.gpu sets the first two). */
export const runtimeVariables: readonly { name: string; default: string; doc: string }[] = Object.freeze([
  {
    name: 'CUDA_CACHE_PATH',
    default: '/var/cache/cuda',
    doc: 'Where the driver caches PTX compiled for this GPU (keep it on a volume: H100 JIT-compiles on first start).',
  },
  {
    name: 'CUDA_CACHE_MAXSIZE',
    default: '4294967296',
    doc: 'Size limit of that cache in bytes (4 GiB, the maximum).',
  },
  {
    name: 'CUDA_MODULE_LOADING',
    default: '',
    doc: 'Set to `LAZY` to try lazy kernel loading on a first H100/H200 start (docs/deployment.md); unset: eager.',
  },
  {
    name: 'CUDA_VISIBLE_DEVICES',
    default: '',
    doc: 'GPUs TensorFlow may use, by index inside the container; `-1` hides them all (CPU only).',
  },
  {
    name: 'TF_CPP_MIN_LOG_LEVEL',
    default: '1',
    doc: 'libtensorflow log level: 0 all, 1 hides INFO, 2 hides WARNING, 3 hides ERROR. The service sets 1 when it is unset.',
  },
]);

function entries(): [string, AnySetting][] {
  return Object.entries(settings);
}

/** Escapes a table cell: a `|` would end the cell, and a newline would end the row. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** The README configuration table, one row per setting in `settings` order. */
export function renderConfigTable(): string {
  const rows = entries().map(([, s]) => {
    const def = renderDefault(s);
    const shown = def === '' ? '_(empty)_' : `\`${cell(def)}\``;
    const image = imageDefaults[s.env];
    const doc = image === undefined ? s.doc : `${s.doc} The Docker image sets \`${image}\`.`;
    return `| \`${s.env}\` | ${shown} | ${cell(doc)} |`;
  });
  return ['| Variable | Default | Description |', '| --- | --- | --- |', ...rows].join('\n') + '\n';
}

/**
 * The contents of .env.example: every setting commented out at its default, so that `cp .env.example .env`
 * changes nothing until a line is uncommented. Values stay unquoted because `docker run --env-file` keeps
 * quotes literally.
 */
export function renderEnvExample(): string {
  const out: string[] = [
    '# Generated from src/config.ts by `ts-node --transpile-only scripts/render-config-docs.ts --env-example`;',
    '# edit src/config.ts, not this file. test/deploy/config-docs.test.ts checks that they agree.',
    '#',
    '# Copy to .env (`cp .env.example .env`): docker compose reads it for ${...} substitution and passes it to',
    '# the containers (env_file). Every line is commented out at its default; uncomment what you change.',
    '# Values are taken literally up to the end of the line: do not quote them.',
    '',
    '# ---- Service settings (src/config.ts) ----',
  ];
  for (const [, s] of entries()) {
    out.push('');
    out.push(`# ${s.doc}`);
    const image = imageDefaults[s.env];
    if (image !== undefined) out.push(`# (Dockerfile.gpu sets ${s.env}=${image}.)`);
    out.push(`# ${s.env}=${renderDefault(s)}`);
  }
  const section = (title: string, vars: readonly { name: string; default: string; doc: string }[]): void => {
    out.push('', `# ---- ${title} ----`);
    for (const v of vars) out.push('', `# ${v.doc}`, `# ${v.name}=${v.default}`);
  };
  section(
    'docker compose only (docker-compose.yml substitutions; the service ignores them)',
    composeVariables,
  );
  section('Read by CUDA and libtensorflow (not by the service itself)', runtimeVariables);
  return out.join('\n') + '\n';
}

/** Replaces the text between the README markers with `table`; null when the markers are missing. */
export function spliceTable(readme: string, table: string): string | null {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) return null;
  return `${readme.slice(0, start + TABLE_START.length)}\n${table}${readme.slice(end)}`;
}

function main(argv: string[]): void {
  // The directory holding package.json, whether this runs from scripts/ (ts-node) or dist/scripts/.
  const root = projectRoot();
  if (argv.includes('--env-example')) {
    const text = renderEnvExample();
    if (argv[argv.indexOf('--env-example') + 1] === '-') process.stdout.write(text);
    else fs.writeFileSync(path.join(root, '.env.example'), text);
    return;
  }
  if (argv.includes('--readme')) {
    // Rewrites README.md in place between the markers.
    const file = path.join(root, 'README.md');
    const next = spliceTable(fs.readFileSync(file, 'utf8'), renderConfigTable());
    if (next === null) throw new Error(`README.md has no ${TABLE_START} ... ${TABLE_END} markers`);
    fs.writeFileSync(file, next);
    return;
  }
  process.stdout.write(renderConfigTable());
}

if (require.main === module) main(process.argv.slice(2));
