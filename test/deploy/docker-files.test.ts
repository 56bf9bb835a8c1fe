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
  const stage = (name: string): string =>
    (stages.find((s) => s.name === name)?.instructions ?? []).map((i) => `${i.keyword} ${i.args}`).join('\n');

  it('builds TypeScript once, libtensorflow in one stage per TF_SOURCE, and ends on the chosen one', () => {
    expect(stages.map((s) => s.name)).toEqual([
      'builder',
      'tf-wheel',
      'tf-google',
      'runtime-wheel',
      'runtime-google',
      'runtime',
    ]);
    expect(stage('builder')).toMatch(/npm ci/);
    expect(stage('builder')).toMatch(/npm run build/);
    expect(runtime[0]?.args).toBe('runtime-${TF_SOURCE} AS runtime');
    expect(dockerfile).toMatch(/^ARG TF_SOURCE=wheel$/m);
    expect(dockerfile).toMatch(/^ARG NODE_VERSION=20\.\d+\.\d+$/m);
  });

  it('pins a tag on every base image that is not an earlier stage (.dockerfilelintrc leaves this to us)', () => {
    const seen: string[] = [];
    for (const from of instructions.filter((i) => i.keyword === 'FROM').map((i) => i.args.trim())) {
      const [image, , name] = from.split(/\s+/);
      const base = image ?? '';
      const isStage = seen.includes(base) || /^runtime-\$\{TF_SOURCE\}$/.test(base);
      expect({ from, tagged: isStage || /[:@]/.test(base) }).toEqual({ from, tagged: true });
      if (name) seen.push(name);
    }
  });

  it('wheel: installs tensorflow[and-cuda] 2.21 and builds the addon against it with npm run native', () => {
    expect(dockerfile).toMatch(/^ARG TF_PIP_SPEC="tensorflow\[and-cuda\]==2\.21\.0"$/m);
    const wheel = stage('tf-wheel');
    expect(wheel).toMatch(/pip install --no-cache-dir --progress-bar off "\$TF_PIP_SPEC"/);
    expect(wheel).toMatch(/npm ci --omit=dev --ignore-scripts/);
    // The libraries stay where pip put them, so their relative paths to site-packages/nvidia resolve.
    expect(wheel).toMatch(/TF_PACKAGE_DIR="\$sp\/tensorflow"/);
    expect(wheel).toMatch(/node dist\/src\/cli\/native\.js/);
    // Node's headers come from the official image, so node-gyp downloads nothing.
    expect(wheel).toMatch(/COPY --from=builder \/usr\/local\/include\/node \/usr\/local\/include\/node/);
    // Only the libraries reach the runtime, at the same absolute path the addon's deps/lib links to.
    const base = stage('runtime-wheel');
    expect(base).toMatch(/^FROM ubuntu:\$\{UBUNTU_TAG\} AS runtime-wheel/);
    expect(base).toMatch(/COPY --from=tf-wheel \/opt\/keep\/opt\/tf \/opt\/tf/);
    expect(
      envOf(stages.find((s) => s.name === 'runtime-wheel')?.instructions ?? []).get(
        'NVIDIA_DRIVER_CAPABILITIES',
      ),
    ).toBe('compute,utility');
  });

  it('google: downloads libtensorflow 2.9.1 on a CUDA 11 + cuDNN 8 image and fails when it is missing', () => {
    const google = stage('tf-google');
    expect(google).toMatch(/^FROM nvidia\/cuda:\$\{CUDA_TAG\} AS tf-google/);
    expect(dockerfile).toMatch(/ARG CUDA_TAG=11\.\d+\.\d+-cudnn8-runtime-/);
    expect(google).toMatch(/npm ci --omit=dev/);
    expect(google).toMatch(/npm rebuild @tensorflow\/tfjs-node-gpu/);
    expect(google).toMatch(/deps\/lib\/libtensorflow\.so\.2\.9\.1/);
    expect(google).toMatch(/require\('@tensorflow\/tfjs-node-gpu'\)/);
    // The mirrors are build args for that RUN, never ENV baked into the image.
    const args = instructions.filter((i) => i.keyword === 'ARG').map((i) => i.args.trim());
    expect(args).toEqual(
      expect.arrayContaining(['TFJS_NODE_BASE_URI', 'npm_config_tfjs_binding_binary_host_mirror']),
    );
    expect(imageEnv.has('TFJS_NODE_BASE_URI')).toBe(false);
    expect(imageEnv.has('PIP_INDEX_URL')).toBe(false);
  });

  it('google: bounds the libtensorflow download: each install attempt has a timeout, and failed attempts are retried', () => {
    const google = stage('tf-google');
    expect(google).toMatch(/ARG TFJS_INSTALL_TIMEOUT=900/);
    expect(google).toMatch(/ARG TFJS_INSTALL_ATTEMPTS=3/);
    expect(google).toMatch(
      /until timeout --kill-after=\d+ "\$TFJS_INSTALL_TIMEOUT" npm rebuild @tensorflow\/tfjs-node-gpu/,
    );
    expect(google).toMatch(/"\$attempt" -ge "\$TFJS_INSTALL_ATTEMPTS"/);
    // A partial download is removed so the next attempt downloads again instead of building on it.
    expect(google).toMatch(/rm -rf "\$P\/deps\/lib" "\$P\/lib\/napi-v8"/);
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

  it('builds Dockerfile.gpu and passes the TensorFlow source and mirror build args through', () => {
    for (const name of [MAIN, CPU, WORKER]) {
      const build = asObject(service(name).build, `${name}.build`);
      expect(build.dockerfile).toBe('Dockerfile.gpu');
      expect(Object.keys(asObject(build.args, 'build.args')).sort()).toEqual(
        [
          'TF_SOURCE',
          'PIP_INDEX_URL',
          'TFJS_NODE_BASE_URI',
          'npm_config_tfjs_binding_binary_host_mirror',
        ].sort(),
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

  // A drift test never turns into a skip: a README without its deploy section is itself the drift.
  it('README.md has a deploy section that uses the image port, health path, model path and real variable names', () => {
    const readme = repoFileOrNull('README.md');
    expect({ readme: readme !== null, mentionsDockerfile: readme?.includes('Dockerfile.gpu') }).toEqual({
      readme: true,
      mentionsDockerfile: true,
    });
    checkDoc('README.md', readme ?? '');
  });
});
