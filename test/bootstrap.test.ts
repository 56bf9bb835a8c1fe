/**
 * The start-up steps of buildService, each alone: which pipelines are described for /info, what REQUIRE_GPU does
 * with the engine's events, and which engine runs model-free pipelines. buildService as a whole is exercised by
 * every HTTP and worker test.
 */
import * as path from 'path';
import pino from 'pino';
import { describeService, engineEventHandler, pipelineContext, startEngines } from '../src/bootstrap';
import { defaultConfig } from '../src/config';
import type { PipelineDefinition } from '../src/pipelines/definition';
import { registeredPipelines } from '../src/pipelines/registry';
import { LocalEngine } from '../src/runtime/engine';
import { EngineRouter } from '../src/runtime/engine-router';
import type { WorkerEngineEvent } from '../src/runtime/worker-engine';
import type { BackendChoice } from '../src/tf/backend';

const silent = pino({ level: 'silent' });
const ROOT = path.join(__dirname, '..');
const context = pipelineContext(defaultConfig({ modelsDir: 'models' }));
const shipped = registeredPipelines(context.modelsDir);
const bySlug = (slug: string): PipelineDefinition => shipped.find((d) => d.slug === slug)!;
const broken: PipelineDefinition = {
  slug: 'broken',
  create: () => Promise.reject(new Error('models/broken/manifest.json: no such file')),
};

function capture(): { logger: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'trace' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  return { logger, lines };
}

describe('pipelineContext', () => {
  test('resolves MODELS_DIR against the project root and carries the batch defaults', () => {
    const ctx = pipelineContext(
      defaultConfig({ modelsDir: 'models', detectorBatchSize: 2, classifierBatchSize: 7 }),
    );
    expect(ctx).toEqual({
      modelsDir: path.join(ROOT, 'models'),
      batches: { detectorBatchSize: 2, classifierBatchSize: 7 },
    });
  });
});

describe('describeService', () => {
  test('describes the enabled pipelines in registry order and marks those that run no model', async () => {
    const config = defaultConfig({ enabledPipelines: [] });
    const described = await describeService(config, shipped, context, silent);
    expect(described.definitions.map((d) => d.slug)).toEqual(shipped.map((d) => d.slug));
    expect(described.info.pipelines.map((p) => p.slug)).toEqual(shipped.map((d) => d.slug));
    expect([...described.modelFree]).toEqual(['constant', 'random-detection-random-species']);
    expect([described.info.name, described.info.description]).toEqual([
      config.serviceName,
      config.serviceDescription,
    ]);
  });

  test('a pipeline that cannot describe itself is logged and left out; the others are served', async () => {
    const { logger, lines } = capture();
    const config = defaultConfig({ enabledPipelines: [] });
    const described = await describeService(config, [broken, bySlug('constant')], context, logger);
    expect(described.info.pipelines.map((p) => p.slug)).toEqual(['constant']);
    expect(described.definitions.map((d) => d.slug)).toEqual(['constant']);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 50,
        msg: 'pipeline broken cannot be described; it is left out of /info',
      }),
    );
  });

  test('with nothing left to serve it throws, naming what was enabled', async () => {
    await expect(
      describeService(defaultConfig({ enabledPipelines: [] }), [broken], context, silent),
    ).rejects.toThrow('no pipeline could be described (enabled: broken); see the errors above');
  });
});

describe('engineEventHandler', () => {
  const cpu: BackendChoice = {
    backend: 'cpu',
    package: '@tensorflow/tfjs',
    gpu: false,
    tensorflow: null,
    reasons: ['cpu requested'],
  };
  const backend = (choice: BackendChoice): WorkerEngineEvent => ({
    type: 'backend',
    choice,
    decoder: 'jimp',
  });
  const failed = (error: string): WorkerEngineEvent => ({
    type: 'state',
    slug: 'm',
    state: { state: 'failed', error },
  });

  test('REQUIRE_GPU: a backend off the GPU stops the service once, however many threads report it', () => {
    const fatal: string[] = [];
    const onEvent = engineEventHandler({ requireGpu: true }, silent, (m) => fatal.push(m));
    onEvent(backend(cpu), 0);
    onEvent(backend(cpu), 1);
    expect(fatal).toEqual([
      'REQUIRE_GPU=true, but TensorFlow is not on a GPU: it chose cpu (@tensorflow/tfjs) because cpu requested',
    ]);
  });

  test('REQUIRE_GPU: a backend that failed to initialise stops it; a model that failed to load does not', () => {
    const fatal: string[] = [];
    const onEvent = engineEventHandler({ requireGpu: true }, silent, (m) => fatal.push(m));
    onEvent(failed('manifest.json: no such file'));
    expect(fatal).toEqual([]);
    onEvent(failed('backend: Exception creating TFE_Context'));
    expect(fatal).toEqual([
      'REQUIRE_GPU=true, but the TensorFlow backend failed to initialise: Exception creating TFE_Context',
    ]);
  });

  test('without REQUIRE_GPU every event is only logged', () => {
    const fatal: string[] = [];
    const { logger, lines } = capture();
    const onEvent = engineEventHandler({ requireGpu: false }, logger, (m) => fatal.push(m));
    onEvent(backend(cpu));
    onEvent(failed('backend: Exception creating TFE_Context'));
    expect(fatal).toEqual([]);
    expect(lines.map((l) => l.msg)).toEqual([
      'TensorFlow.js backend: cpu (@tensorflow/tfjs)',
      'pipeline m failed to load; it stays out of /readyz',
    ]);
  });
});

describe('startEngines', () => {
  const setup = (threads: boolean): Parameters<typeof startEngines>[2] => ({
    config: defaultConfig({ tfjsBackend: 'cpu' }),
    context,
    logger: silent,
    onEvent: () => undefined,
    threads,
    exitProcess: () => undefined,
  });
  const free = [bySlug('constant'), bySlug('random-detection-random-species')];
  const modelFree = new Set(free.map((d) => d.slug));

  test.each<[string, boolean, typeof EngineRouter | typeof LocalEngine]>([
    [
      'with inference threads, model-free pipelines stay on this thread, behind the router',
      true,
      EngineRouter,
    ],
    ['without inference threads, one engine on this thread runs every pipeline', false, LocalEngine],
  ])('%s; no inference thread is started', async (_name, threads, kind) => {
    const { engine, pool } = startEngines(free, modelFree, setup(threads));
    try {
      expect(engine).toBeInstanceOf(kind);
      expect(pool).toBeNull();
      await Promise.all(free.map((d) => engine.whenReady(d.slug)));
      expect(engine.readySlugs()).toEqual(['constant', 'random-detection-random-species']);
    } finally {
      await engine.close();
    }
  });
});
