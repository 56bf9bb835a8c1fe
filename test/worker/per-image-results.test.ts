/**
 * Pull mode posts each image's result as soon as that image is done, not when its whole batch is,
 * on the real service (wasm backend, in-thread engine) against the fake Antenna.
 */
import { buildService, type Service } from '../../src/bootstrap';
import { defaultConfig } from '../../src/config';
import { PullWorker } from '../../src/worker';
import { FakeAntenna } from '../helpers/fake-antenna';
import { createGate, gatedPipeline, type Gate } from '../helpers/gated-pipeline';
import { startImageServer, type ImageServer } from '../helpers/image-server';
import { captureLogger, TOKEN, testOptions } from './setup';

let images: ImageServer;

beforeAll(async () => {
  images = await startImageServer();
});

afterAll(() => images.close());

const img = (id: string, n: number): { id: string; url: string } => ({
  id,
  url: images.url(`/img/64x48.jpg?n=${n}`),
});

/** The service with the gated pipeline; detection runs in chunks of 2 images. */
async function gatedService(gate: Gate): Promise<Service> {
  const config = defaultConfig({
    logLevel: 'silent',
    inferenceThread: 'main',
    tfjsBackend: 'wasm',
    imageDecoder: 'sharp',
    enabledPipelines: ['gated'],
    detectorBatchSize: 2,
    metricsEnabled: false,
  });
  const { logger } = captureLogger();
  const svc = await buildService(config, logger, { registry: [gatedPipeline(gate)], backoffMs: 5 });
  await svc.engine.whenReady('gated');
  return svc;
}

test('the first images of a batch reach Antenna while a later image of the same batch is still running', async () => {
  const gate = createGate();
  const svc = await gatedService(gate);
  const f = await FakeAntenna.start({ token: TOKEN });
  const { logger } = captureLogger();
  const worker = new PullWorker(testOptions(f, { batchSize: 8 }), {
    service: svc.service,
    engine: svc.engine,
    info: svc.info,
    logger,
  });
  try {
    f.addJob({
      id: 1,
      pipelineSlug: 'gated',
      images: [img('1', 1), img('2', 2), img('3', 3), img('slow-4', 4)],
    });
    void worker.start();
    // Images 1 and 2 (the first detector chunk) are accepted while 3 and slow-4 wait at the classifier.
    // (The posts may land before or after the second chunk reaches the gate; it cannot pass until opened.)
    await f.waitFor(() => f.accepted.length >= 2 && gate.waiting);
    expect(gate.classified).toEqual(['1', '2']);
    expect(f.accepted.map((a) => a.imageId).sort()).toEqual(['1', '2']);
    // One reservation of all four tasks: the early results are from the batch that is still running.
    expect(f.taskRequests).toHaveLength(1);
    expect(gate.chunks).toEqual([
      ['1', '2'],
      ['3', 'slow-4'],
    ]);

    gate.open();
    await f.waitFor(() => f.isComplete(1));
    // Every task got exactly one result, each with its own image's detection.
    expect(f.accepted.map((a) => a.imageId)).toEqual(['1', '2', '3', 'slow-4']);
    for (const a of f.accepted) {
      const detections = a.result.detections as { source_image_id: string }[];
      expect(detections.map((d) => d.source_image_id)).toEqual([a.imageId]);
    }
    expect(f.deliveries(1)).toEqual([1, 1, 1, 1]);
    expect(f.problems).toEqual([]);
  } finally {
    gate.open();
    await worker.stop();
    await f.close();
    await svc.close();
  }
});
