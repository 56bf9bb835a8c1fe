/**
 * REQUIRE_GPU: a process whose TensorFlow is not on a GPU stops with a message naming why, instead of serving
 * on the CPU or wasm. No GPU here, so every backend available is "not on a GPU".
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { gpuRequirementFailure, type BackendChoice } from '../../src/tf/backend';
import { nativeBuilt, withoutNative } from '../helpers/backend';
import { testService } from '../helpers/service';

const ROOT = path.resolve(__dirname, '../..');

const choice = (gpu: boolean): BackendChoice => ({
  backend: 'tensorflow',
  package: '@tensorflow/tfjs-node-gpu',
  gpu,
  tensorflow: '2.21.0',
  reasons: ['libtensorflow created no GPU device'],
});

describe('gpuRequirementFailure', () => {
  it('passes a backend on a GPU', () => {
    expect(gpuRequirementFailure({ choice: choice(true) })).toBeNull();
  });

  it('names the backend and the reasons when TensorFlow is on the CPU', () => {
    expect(gpuRequirementFailure({ choice: choice(false) })).toBe(
      'REQUIRE_GPU=true, but TensorFlow is not on a GPU: it chose tensorflow (@tensorflow/tfjs-node-gpu) ' +
        'because libtensorflow created no GPU device',
    );
  });

  it('names the error when no backend could be initialised', () => {
    expect(gpuRequirementFailure({ error: 'Exception creating TFE_Context' })).toBe(
      'REQUIRE_GPU=true, but the TensorFlow backend failed to initialise: Exception creating TFE_Context',
    );
  });
});

describe('buildService with REQUIRE_GPU', () => {
  it('stops the service once, with the message, when the backend is not on a GPU', async () => {
    const fatal: string[] = [];
    const svc = await testService(
      { requireGpu: true, tfjsBackend: 'cpu', enabledPipelines: ['constant'] },
      { onFatal: (m) => fatal.push(m) },
    );
    await svc.close();
    expect(fatal).toEqual([
      'REQUIRE_GPU=true, but TensorFlow is not on a GPU: it chose cpu (@tensorflow/tfjs) because cpu requested',
    ]);
  });

  (nativeBuilt() ? it.skip : it)(
    withoutNative('stops the service when the backend fails to initialise'),
    async () => {
      const fatal: string[] = [];
      // Without a built native package TFJS_BACKEND=tensorflow fails.
      const svc = await testService(
        { requireGpu: true, tfjsBackend: 'tensorflow', enabledPipelines: ['constant'] },
        { onFatal: (m) => fatal.push(m) },
      );
      await svc.close();
      expect(fatal).toHaveLength(1);
      expect(fatal[0]).toMatch(
        /^REQUIRE_GPU=true, but the TensorFlow backend failed to initialise: TFJS_BACKEND=tensorflow, but no native backend could be loaded/,
      );
    },
  );

  it('serves on the CPU when REQUIRE_GPU is false (the default)', async () => {
    const fatal: string[] = [];
    const svc = await testService(
      { tfjsBackend: 'cpu', enabledPipelines: ['constant'] },
      { onFatal: (m) => fatal.push(m) },
    );
    expect(svc.engine.readySlugs()).toEqual(['constant']);
    await svc.close();
    expect(fatal).toEqual([]);
  });
});

describe('npm start with REQUIRE_GPU=true on a host without a GPU', () => {
  it('exits with status 3 and logs why, from the inference thread backend choice', () => {
    const r = spawnSync(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'src', 'server.ts')],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 90_000,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? ROOT,
          REQUIRE_GPU: 'true',
          TFJS_BACKEND: 'cpu',
          ENABLED_PIPELINES: 'tfjs_synthetic_moths_2026',
          PORT: '0',
          HOST: '127.0.0.1',
          LOG_LEVEL: 'fatal',
        },
      },
    );
    const fatal = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string; exitCode?: number });
    expect({ status: r.status, fatal }).toEqual({
      status: 3,
      fatal: [
        expect.objectContaining({
          level: 60,
          exitCode: 3,
          msg: 'REQUIRE_GPU=true, but TensorFlow is not on a GPU: it chose cpu (@tensorflow/tfjs) because cpu requested',
        }),
      ],
    });
  }, 120_000);
});
