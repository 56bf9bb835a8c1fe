/**
 * Checks that need Docker tooling but no Docker engine; each skips, saying why, when its tool is absent.
 * - dockerfilelint (npm `dockerfilelint`, pure JS): `npm i -g dockerfilelint@1.8.0`. hadolint would be better
 *   but is neither in Debian bookworm nor on npm (the npm package named `hadolint` is unrelated).
 * - `docker compose config` (v2 plugin) or `docker-compose config` (Debian `docker-compose` 1.29): renders the
 *   compose file with .env.example as .env, every profile enabled. Neither contacts the engine.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT, asObject, findTool, parseYaml } from './deploy-files';

const dockerfilelint = findTool('dockerfilelint');

/** How to run compose here: the v2 plugin, the v1 binary, or null. */
function composeCommand(): string[] | null {
  const docker = findTool('docker');
  if (docker && spawnSync(docker, ['compose', 'version'], { encoding: 'utf8' }).status === 0)
    return [docker, 'compose'];
  const v1 = findTool('docker-compose');
  if (v1 && spawnSync(v1, ['version'], { encoding: 'utf8' }).status === 0) return [v1];
  return null;
}
const compose = composeCommand();

describe('Dockerfile.gpu lint', () => {
  (dockerfilelint ? it : it.skip)(
    dockerfilelint
      ? 'passes dockerfilelint'
      : 'passes dockerfilelint (SKIPPED: dockerfilelint not installed; npm i -g dockerfilelint@1.8.0)',
    () => {
      const r = spawnSync(dockerfilelint ?? '', ['Dockerfile.gpu'], { cwd: ROOT, encoding: 'utf8' });
      expect({ status: r.status, output: r.status === 0 ? '' : r.stdout + r.stderr }).toEqual({
        status: 0,
        output: '',
      });
    },
  );
});

describe('docker compose config', () => {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-config-'));
    fs.copyFileSync(path.join(ROOT, 'docker-compose.yml'), path.join(dir, 'docker-compose.yml'));
    fs.copyFileSync(path.join(ROOT, '.env.example'), path.join(dir, '.env'));
    fs.mkdirSync(path.join(dir, 'models'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function render(env: Record<string, string> = {}): Record<string, unknown> {
    const [cmd, ...pre] = compose ?? [];
    const r = spawnSync(cmd ?? '', [...pre, '--profile', 'cpu', '--profile', 'worker', 'config'], {
      cwd: dir,
      encoding: 'utf8',
      // Only PATH and HOME from the outside, so the host's shell cannot change the substitutions.
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir, ...env },
    });
    if (r.status !== 0) throw new Error(`${(compose ?? []).join(' ')} config failed:\n${r.stderr}`);
    return asObject(parseYaml(r.stdout), 'compose config output');
  }

  const named = compose ? compose.join(' ').replace(/^.*\//, '') : '';
  const maybe = compose ? it : it.skip;
  const skipped = '(SKIPPED: neither the docker compose plugin nor docker-compose is installed)';

  maybe(
    compose ? `renders every service with its defaults (${named})` : `renders every service ${skipped}`,
    () => {
      const out = render();
      const services = asObject(out.services, 'services');
      expect(Object.keys(services).sort()).toEqual([
        'antenna-tfjs',
        'antenna-tfjs-cpu',
        'antenna-tfjs-worker',
      ]);
      const main = asObject(services['antenna-tfjs'], 'antenna-tfjs');
      expect(main.image).toBe('antenna-tfjs:gpu');
      expect(JSON.stringify(main.ports)).toMatch(/2000/);
      const devices = JSON.stringify(main.deploy);
      expect(devices).toMatch(/"driver":"nvidia"/);
      expect(devices).toMatch(/"device_ids":\["0"\]/);
      expect(asObject(asObject(out.networks, 'networks').antenna, 'antenna')).toMatchObject({
        name: 'antenna_network',
        external: true,
      });
    },
  );

  maybe(
    compose
      ? `substitutes GPU_DEVICE, HOST_PORT and TFJS_IMAGE (${named})`
      : `substitutes variables ${skipped}`,
    () => {
      const out = render({
        GPU_DEVICE: 'GPU-8c4f1e9a-0d5b-4c3e-9f7a-2b6d1e0c5a43',
        HOST_PORT: '8080',
        TFJS_IMAGE: 'registry.example/antenna-tfjs:1.2',
      });
      const main = asObject(asObject(out.services, 'services')['antenna-tfjs'], 'antenna-tfjs');
      expect(main.image).toBe('registry.example/antenna-tfjs:1.2');
      expect(JSON.stringify(main.ports)).toMatch(/8080/);
      expect(JSON.stringify(main.deploy)).toMatch(
        /"device_ids":\["GPU-8c4f1e9a-0d5b-4c3e-9f7a-2b6d1e0c5a43"\]/,
      );
      expect(JSON.stringify(main.deploy)).not.toMatch(/"count"/);
    },
  );
});
