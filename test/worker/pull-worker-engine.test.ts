/**
 * The pull worker never reports healthy images failed because the engine broke or was down
 * (docs/memory.md#when-the-backend-breaks-anyway).
 */
import { buildService, type Service } from '../../src/bootstrap';
import { defaultConfig } from '../../src/config';
import type { EngineJob, EngineResult, InferenceEngine } from '../../src/runtime/engine';
import { PipelineUnavailableError } from '../../src/runtime/readiness';
import { ProcessingService } from '../../src/service/processing-service';
import type { Logger } from '../../src/util/logger';
import { PullWorker } from '../../src/worker';
import { FakeAntenna } from '../helpers/fake-antenna';
import { startImageServer, type ImageServer } from '../helpers/image-server';
import { poisonablePipeline } from '../helpers/poisonable-pipeline';
import { captureLogger, TOKEN, testOptions } from './setup';

let images: ImageServer;
let svc: Service;
let logger: Logger;
let lines: string[];

beforeAll(async () => {
  ({ logger, lines } = captureLogger());
  images = await startImageServer();
  // The real service on the wasm backend, serving the poisonable pipeline in this thread.
  const config = defaultConfig({
    logLevel: 'silent',
    inferenceThread: 'main',
    tfjsBackend: 'wasm',
    imageDecoder: 'sharp',
    enabledPipelines: ['rec'],
    metricsEnabled: false,
  });
  svc = await buildService(config, logger, { registry: [poisonablePipeline], backoffMs: 5 });
  await svc.engine.whenReady('rec');
});

afterAll(async () => {
  await svc.close();
  await images.close();
});

const img = (id: string, n: number): { id: string; url: string } => ({
  id,
  url: images.url(`/img/64x48.jpg?n=${n}`),
});

async function runJob(
  f: FakeAntenna,
  jobId: number,
  service: ProcessingService = svc.service,
  engine: InferenceEngine = svc.engine,
): Promise<void> {
  const w = new PullWorker(testOptions(f, { batchSize: 8 }), { service, engine, info: svc.info, logger });
  void w.start();
  try {
    await f.waitFor(() => f.isComplete(jobId));
  } finally {
    await w.stop();
  }
}

test('an image that breaks the backend fails alone; the healthy images of its batch and later batches succeed', async () => {
  const f = await FakeAntenna.start({ token: TOKEN });
  try {
    f.addJob({
      id: 1,
      pipelineSlug: 'rec',
      images: [img('1', 1), img('poison-2', 2), img('3', 3), img('4', 4)],
    });
    await runJob(f, 1);
    expect(f.accepted.map((a) => [a.imageId, 'error' in a.result])).toEqual([
      ['1', false],
      ['poison-2', true],
      ['3', false],
      ['4', false],
    ]);
    expect(String(f.accepted[1].result.error)).toContain('memory access out of bounds');
    expect(f.problems).toEqual([]);
    expect(lines.some((l) => l.includes('"level":50') && l.includes('rebuilding'))).toBe(true);
  } finally {
    await f.close();
  }
});

test('tasks that meet a down engine get no result and are served when Antenna hands them out again', async () => {
  // The inference thread crashes while running the batch, then is still restarting when the worker retries
  // the first image alone; the other images run on the new thread.
  const script: ('crash' | 'down')[] = ['crash', 'down'];
  const flaky: InferenceEngine = Object.assign(Object.create(svc.engine) as InferenceEngine, {
    run: (job: EngineJob): Promise<EngineResult> => {
      const next = script.shift();
      if (next === 'crash')
        return Promise.reject(
          new Error('the inference thread crashed while running this job: exited with code 134'),
        );
      if (next === 'down')
        return Promise.reject(
          new PipelineUnavailableError('pipeline rec is unavailable: the thread is restarting'),
        );
      return svc.engine.run(job);
    },
  });
  const service = new ProcessingService({
    engine: flaky,
    fetcher: svc.fetcher,
    downloadConcurrency: 4,
    strictImageErrors: false,
  });
  const f = await FakeAntenna.start({ token: TOKEN, visibilityTimeoutMs: 300 });
  try {
    f.addJob({ id: 2, pipelineSlug: 'rec', images: [img('5', 5), img('6', 6), img('7', 7)] });
    await runJob(f, 2, service, flaky);
    // 6 and 7 at once; 5, left without a result, when Antenna hands it out again.
    expect(f.accepted.map((a) => [a.imageId, 'error' in a.result])).toEqual([
      ['6', false],
      ['7', false],
      ['5', false],
    ]);
    expect(f.deliveries(2)).toEqual([2, 1, 1]);
    expect(f.problems).toEqual([]);
  } finally {
    await f.close();
  }
});
