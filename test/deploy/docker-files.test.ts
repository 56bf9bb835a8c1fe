/**
 * Dockerfile.gpu, docker-compose.yml, .dockerignore and the deployment docs agree with each other and with
 * the service: port, health path, model and cache paths, variable names. Static checks, no Docker engine.
 */
import * as fs from 'fs';
import * as path from 'path';
import { settings } from '../../src/config';
import { composeVariables, imageDefaults, runtimeVariables } from '../../scripts/render-config-docs';
import {
  ROOT,
  asObject,
  composeSubstitutions,
  dockerInstructions,
  dockerStages,
  envOf,
  knownOtherVariables,
  parseYaml,
  repoFile,
  repoFileOrNull,
  settingNames,
  type Yaml,
} from './deploy-files';

const PORT = String(settings.port.default);
const HEALTH_PATH = '/livez';

const dockerfile = repoFile('Dockerfile.gpu');
const instructions = dockerInstructions(dockerfile);
const stages = dockerStages(instructions);
const runtime = stages[stages.length - 1]?.instructions ?? [];
const imageEnv = envOf(runtime);
const composeText = repoFile('docker-compose.yml');
const compose = asObject(parseYaml(composeText), 'docker-compose.yml');
const services = asObject(compose.services, 'services');
const service = (name: string): Yaml => asObject(services[name], `services.${name}`);

const MAIN = 'antenna-tfjs';
const CPU = 'antenna-tfjs-cpu';
const WORKER = 'antenna-tfjs-worker';

function keywordArgs(keyword: string): string[] {
  return runtime.filter((i) => i.keyword === keyword).map((i) => i.args.trim());
}

function volumeTargets(s: Yaml): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of (s.volumes ?? []) as string[]) {
    // SOURCE:TARGET[:MODE]; SOURCE may hold `${VAR:-default}`, so split from the right.
    const m = /^(.*):(\/[^:]+)(?::(?:ro|rw))?$/.exec(v);
    if (m?.[1] !== undefined && m[2] !== undefined) out.set(m[2], m[1]);
  }
  return out;
}

function gpuDevices(s: Yaml): unknown[] {
  const deploy = s.deploy as Yaml | undefined;
  const reservations = (deploy?.resources as Yaml | undefined)?.reservations as Yaml | undefined;
  return (reservations?.devices as unknown[] | undefined) ?? [];
}

describe('Dockerfile.gpu', () => {
  it('builds in a builder stage and runs on a CUDA 11 + cuDNN 8 runtime image', () => {
    expect(stages.map((s) => s.name)).toEqual(['builder', 'runtime']);
    const builder = stages[0]?.instructions.map((i) => `${i.keyword} ${i.args}`).join('\n') ?? '';
    expect(builder).toMatch(/npm ci/);
    expect(builder).toMatch(/npm run build/);
    const from = runtime[0]?.args ?? '';
    expect(from).toMatch(/^nvidia\/cuda:\$\{CUDA_TAG\}/);
    expect(dockerfile).toMatch(/ARG CUDA_TAG=11\.\d+\.\d+-cudnn8-runtime-/);
    expect(dockerfile).toMatch(/ARG NODE_VERSION=20\.\d+\.\d+/);
  });

  it('installs production dependencies only, then tfjs-node-gpu, and fails when libtensorflow is missing', () => {
    const run = keywordArgs('RUN').join('\n');
    expect(run).toMatch(/npm ci --omit=dev/);
    expect(run).toMatch(/npm rebuild @tensorflow\/tfjs-node-gpu/);
    expect(run).toMatch(/deps\/lib\/libtensorflow\.so\.2\.9\.1/);
    expect(run).toMatch(/require\('@tensorflow\/tfjs-node-gpu'\)/);
    // The mirrors are build args for that RUN, never ENV baked into the image.
    const args = keywordArgs('ARG');
    expect(args).toEqual(
      expect.arrayContaining(['TFJS_NODE_BASE_URI', 'npm_config_tfjs_binding_binary_host_mirror']),
    );
    expect(imageEnv.has('TFJS_NODE_BASE_URI')).toBe(false);
  });

  it('bounds the libtensorflow download: each install attempt has a timeout, and failed attempts are retried', () => {
    const run = keywordArgs('RUN').join('\n');
    expect(keywordArgs('ARG')).toEqual(
      expect.arrayContaining(['TFJS_INSTALL_TIMEOUT=900', 'TFJS_INSTALL_ATTEMPTS=3']),
    );
    expect(run).toMatch(
      /until timeout --kill-after=\d+ "\$TFJS_INSTALL_TIMEOUT" npm rebuild @tensorflow\/tfjs-node-gpu/,
    );
    expect(run).toMatch(/"\$attempt" -ge "\$TFJS_INSTALL_ATTEMPTS"/);
    // A partial download is removed so the next attempt downloads again instead of building on it.
    expect(run).toMatch(/rm -rf "\$P\/deps\/lib" "\$P\/lib\/napi-v8"/);
  });

  it('exposes the default PORT, sets PORT and HOST, and health-checks /livez on that port', () => {
    expect(keywordArgs('EXPOSE')).toEqual([PORT]);
    expect(imageEnv.get('PORT')).toBe(PORT);
    expect(imageEnv.get('HOST')).toBe(settings.host.default);
    const health = keywordArgs('HEALTHCHECK').join(' ');
    expect(health).toContain(HEALTH_PATH);
    expect(health).toContain(`process.env.PORT || ${PORT}`);
    // The probe uses node, which the image has; no curl needed.
    expect(health).toMatch(/CMD \["node"/);
  });

  it('runs as a non-root user and starts the HTTP server', () => {
    const user = keywordArgs('USER');
    expect(user).toHaveLength(1);
    expect(user[0]).not.toMatch(/^(root|0)$/);
    expect(keywordArgs('CMD')).toEqual(['["node", "dist/src/server.js"]']);
  });

  it('sets only real settings or known CUDA/runtime variables with ENV', () => {
    for (const name of imageEnv.keys()) {
      expect({ name, known: settingNames.has(name) || knownOtherVariables.has(name) }).toEqual({
        name,
        known: true,
      });
    }
  });

  it('sets the image defaults that .env.example and the README table announce', () => {
    for (const [name, value] of Object.entries(imageDefaults))
      expect({ name, value: imageEnv.get(name) }).toEqual({ name, value });
  });

  it('keeps the CUDA JIT cache on a volume, with the documented path and size', () => {
    const cache = runtimeVariables.find((v) => v.name === 'CUDA_CACHE_PATH')?.default;
    const size = runtimeVariables.find((v) => v.name === 'CUDA_CACHE_MAXSIZE')?.default;
    expect(imageEnv.get('CUDA_CACHE_PATH')).toBe(cache);
    expect(imageEnv.get('CUDA_CACHE_MAXSIZE')).toBe(size);
    expect(keywordArgs('VOLUME')).toEqual([`["${cache}"]`]);
  });

  it('copies only paths that exist and that .dockerignore lets through', () => {
    const ignored = repoFile('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('!'))
      .map((l) => l.replace(/^\/|\/$/g, ''));
    const sources = instructions
      .filter((i) => i.keyword === 'COPY' && !i.args.includes('--from='))
      .flatMap((i) => i.args.trim().split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const src of sources.filter((s) => s !== '.')) {
      expect({ src, exists: fs.existsSync(path.join(ROOT, src)) }).toEqual({ src, exists: true });
      expect({ src, ignored: ignored.some((p) => src === p || src.startsWith(`${p}/`)) }).toEqual({
        src,
        ignored: false,
      });
    }
  });

  it('ships scripts/gpu-smoke executable', () => {
    const mode = fs.statSync(path.join(ROOT, 'scripts', 'gpu-smoke')).mode;
    expect(mode & 0o111).not.toBe(0);
  });
});

describe('docker-compose.yml', () => {
  it('has the GPU service, a cpu profile and a worker profile', () => {
    expect(Object.keys(services).sort()).toEqual([MAIN, CPU, WORKER].sort());
    expect(service(MAIN).profiles).toBeUndefined();
    expect(service(CPU).profiles).toEqual(['cpu']);
    expect(service(WORKER).profiles).toEqual(['worker']);
  });

  it('reserves one NVIDIA GPU (GPU_DEVICE) for the GPU services and none for the cpu one', () => {
    for (const name of [MAIN, WORKER]) {
      // device_ids holds strings, so substitution is valid in every Compose; a substituted `count` is not.
      expect(gpuDevices(service(name))).toEqual([
        { driver: 'nvidia', device_ids: ['${GPU_DEVICE:-0}'], capabilities: ['gpu'] },
      ]);
    }
    expect(gpuDevices(service(CPU))).toEqual([]);
  });

  it('requires the GPU in the GPU services and not in the cpu one (the image defaults to REQUIRE_GPU=true)', () => {
    expect(imageEnv.get('REQUIRE_GPU')).toBe('true');
    for (const name of [MAIN, WORKER])
      expect(asObject(service(name).environment, 'environment').REQUIRE_GPU).toBe('true');
    expect(asObject(service(CPU).environment, 'environment').REQUIRE_GPU).toBe('false');
  });

  it('builds Dockerfile.gpu and passes the mirror build args through', () => {
    for (const name of [MAIN, CPU, WORKER]) {
      const build = asObject(service(name).build, `${name}.build`);
      expect(build.dockerfile).toBe('Dockerfile.gpu');
      expect(Object.keys(asObject(build.args, 'build.args')).sort()).toEqual(
        ['TFJS_NODE_BASE_URI', 'npm_config_tfjs_binding_binary_host_mirror'].sort(),
      );
    }
  });

  it('publishes the container port the image exposes, and probes /livez on it', () => {
    for (const name of [MAIN, CPU]) {
      const s = service(name);
      expect(s.ports).toEqual([`\${HOST_PORT:-${PORT}}:${PORT}`]);
      expect(asObject(s.environment, 'environment').PORT).toBe(PORT);
      const test = (asObject(s.healthcheck, 'healthcheck').test as string[]).join(' ');
      expect(test).toContain(`http://127.0.0.1:${PORT}${HEALTH_PATH}`);
    }
    expect(service(WORKER).command).toEqual(['node', 'dist/src/worker-main.js']);
    expect(asObject(service(WORKER).healthcheck, 'healthcheck').disable).toBe(true);
  });

  it('mounts models and the CUDA cache where the image expects them, and reads .env', () => {
    for (const name of [MAIN, CPU, WORKER]) {
      const s = service(name);
      const volumes = volumeTargets(s);
      expect(volumes.get(imageEnv.get('MODELS_DIR') ?? '')).toBe('${MODELS_PATH:-./models}');
      expect(volumes.get(imageEnv.get('CUDA_CACHE_PATH') ?? '')).toBe('cuda-cache');
      expect(asObject(s.environment, 'environment').MODELS_DIR).toBe(imageEnv.get('MODELS_DIR'));
      expect(s.env_file).toBe('.env');
      expect(s.networks).toEqual(['antenna']);
    }
  });

  it("joins Antenna's external network", () => {
    const antenna = asObject(asObject(compose.networks, 'networks').antenna, 'networks.antenna');
    expect(antenna).toEqual({ name: '${ANTENNA_NETWORK:-antenna_network}', external: true });
  });

  it('uses only real settings or known variables in environment:', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const key of Object.keys(asObject(asObject(s, name).environment ?? {}, 'environment'))) {
        expect({ key, known: settingNames.has(key) || knownOtherVariables.has(key) }).toEqual({
          key,
          known: true,
        });
      }
    }
  });

  it('substitutes only documented compose variables, with the defaults .env.example shows', () => {
    const documented = new Map(composeVariables.map((v) => [v.name, v.default]));
    const code = composeText
      .split('\n')
      .filter((l) => !l.trimStart().startsWith('#'))
      .join('\n');
    for (const sub of composeSubstitutions(code)) {
      expect({ name: sub.name, documented: documented.has(sub.name) }).toEqual({
        name: sub.name,
        documented: true,
      });
      expect({ name: sub.name, default: sub.default }).toEqual({
        name: sub.name,
        default: documented.get(sub.name),
      });
    }
  });
});

/** Checks `docker run` / compose snippets in a markdown document against the image. */
function checkDoc(name: string, text: string): void {
  // Published ports: `-p HOST:CONTAINER` always targets the image's port.
  for (const m of text.matchAll(/(?:^|\s)-p\s+(?:[\d.]+:)?(\S+?):(\d+)\b/gm))
    expect({ name, container: m[2] }).toEqual({ name, container: PORT });
  // `-e NAME=` / `--env NAME=` use real variables.
  for (const m of text.matchAll(/(?:\s-e|--env)\s+([A-Za-z_][A-Za-z0-9_]*)=/g)) {
    const v = m[1] ?? '';
    expect({ name, variable: v, known: settingNames.has(v) || knownOtherVariables.has(v) }).toEqual({
      name,
      variable: v,
      known: true,
    });
  }
  // Volume targets are the model directory or the CUDA cache.
  const targets = new Set([imageEnv.get('MODELS_DIR'), imageEnv.get('CUDA_CACHE_PATH')]);
  for (const m of text.matchAll(/(?:\s-v|--volume)\s+[^\s:]+:(\/[^\s:]+)/g))
    expect({ name, target: m[1], known: targets.has(m[1]) }).toEqual({ name, target: m[1], known: true });
  expect(text).toContain(HEALTH_PATH);
  expect(text).toContain(`:${PORT}`);
}

describe('deployment docs', () => {
  it('docs/deployment.md uses the image port, health path, model path and real variable names', () => {
    checkDoc('docs/deployment.md', repoFile('docs/deployment.md'));
  });

  it('docs/deployment.md lists every metric that /metrics serves', () => {
    const source = repoFile('src/runtime/metrics.ts');
    const names = [...source.matchAll(/name: '([a-z_]+)'/g)].map((m) => m[1] ?? '');
    expect(names.length).toBeGreaterThan(5);
    const doc = repoFile('docs/deployment.md');
    for (const metric of names)
      expect({ metric, listed: doc.includes(`\`${metric}\``) }).toEqual({ metric, listed: true });
  });

  const readme = repoFileOrNull('README.md');
  const readmeDeploys = readme !== null && readme.includes('Dockerfile.gpu');
  (readmeDeploys ? it : it.skip)(
    readmeDeploys
      ? 'README.md uses the image port, health path, model path and real variable names'
      : 'README.md agrees with the image (SKIPPED: README.md does not mention Dockerfile.gpu yet)',
    () => {
      checkDoc('README.md', readme ?? '');
    },
  );
});
