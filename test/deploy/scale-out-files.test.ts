/**
 * The scale-out examples (docs/scale-out.md) agree with the image and with each other: one worker per GPU
 * index, replicas behind nginx on the service's port, real settings in `environment:`.
 */
import { asObject, knownOtherVariables, parseYaml, repoFile, settingNames, type Yaml } from './deploy-files';

const load = (name: string): Yaml => asObject(asObject(parseYaml(repoFile(name)), name).services, 'services');
const deviceRequests = (s: Yaml): unknown[] => {
  const deploy = asObject(s.deploy ?? {}, 'deploy');
  const reservations = asObject(
    asObject(deploy.resources ?? {}, 'resources').reservations ?? {},
    'reservations',
  );
  return (reservations.devices as unknown[] | undefined) ?? [];
};

describe('docker-compose.gpus.yml', () => {
  const services = load('docker-compose.gpus.yml');

  it('runs one pull worker per GPU, each reserving exactly its own GPU index', () => {
    const byName = Object.entries(services).map(([name, s]) => [name, deviceRequests(asObject(s, name))]);
    expect(byName).toEqual([
      ['antenna-tfjs-worker-gpu0', [{ driver: 'nvidia', device_ids: ['0'], capabilities: ['gpu'] }]],
      ['antenna-tfjs-worker-gpu1', [{ driver: 'nvidia', device_ids: ['1'], capabilities: ['gpu'] }]],
    ]);
    for (const [name, s] of Object.entries(services)) {
      const svc = asObject(s, name);
      expect(svc.command).toEqual(['node', 'dist/src/worker-main.js']);
      expect(svc.env_file).toBe('.env');
      expect(asObject(svc.environment, 'environment').MODELS_DIR).toBe('/app/models');
    }
  });
});

describe('docker-compose.replicas.yml and deploy/nginx-replicas.conf', () => {
  const services = load('docker-compose.replicas.yml');
  const nginx = repoFile('deploy/nginx-replicas.conf');

  it('puts the replicas behind nginx, which publishes the one endpoint on the service port', () => {
    expect(Object.keys(services).sort()).toEqual(['antenna-tfjs', 'antenna-tfjs-replica']);
    const replica = asObject(services['antenna-tfjs-replica'], 'replica');
    expect(asObject(replica.environment, 'environment').PORT).toBe('2000');
    expect(asObject(replica.deploy, 'deploy').replicas).toBe('${REPLICAS:-3}');
    const proxy = asObject(services['antenna-tfjs'], 'proxy');
    expect(proxy.ports).toEqual(['${HOST_PORT:-2000}:2000']);
    expect(proxy.volumes).toEqual(['./deploy/nginx-replicas.conf:/etc/nginx/conf.d/default.conf:ro']);
    expect(nginx).toMatch(/listen 2000;/);
    expect(nginx).toMatch(/server antenna-tfjs-replica:2000 resolve;/);
    expect(nginx).toMatch(/proxy_pass http:\/\/antenna_tfjs_replicas;/);
  });

  it('lets requests as large as MAX_BODY_BYTES through the proxy', () => {
    const mib = Number(/client_max_body_size (\d+)m;/.exec(nginx)?.[1]);
    expect(mib * 2 ** 20).toBeGreaterThanOrEqual(10 * 2 ** 20);
  });
});

it('uses only real settings or known variables in environment:', () => {
  for (const file of ['docker-compose.gpus.yml', 'docker-compose.replicas.yml']) {
    for (const [name, s] of Object.entries(load(file))) {
      for (const key of Object.keys(asObject(asObject(s, name).environment ?? {}, 'environment'))) {
        expect({ file, key, known: settingNames.has(key) || knownOtherVariables.has(key) }).toEqual({
          file,
          key,
          known: true,
        });
      }
    }
  }
});
