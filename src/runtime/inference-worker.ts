/**
 * Entry of the inference worker thread: hosts a LocalEngine and answers WorkerEngine's messages.
 */
import { parentPort, workerData } from 'worker_threads';
import { registeredPipelines } from '../pipelines/registry';
import { LocalEngine, PipelineUnavailableError, type EngineJob, type ImageDone } from './engine';
import { detectionsFromImages, type FromWorker, type ToWorker, type WorkerInit } from './worker-protocol';

const port = parentPort;
if (!port) throw new Error('inference-worker must run in a worker thread');
const init = workerData as WorkerInit;
const send = (msg: FromWorker): void => port.postMessage(msg);

/** Message id of each job, so the main thread learns which jobs are running (not merely queued). */
const ids = new Map<EngineJob, number>();

const registry = registeredPipelines(init.context.modelsDir);
const engine = new LocalEngine({
  definitions: init.slugs.map((slug) => {
    const d = registry.find((p) => p.slug === slug);
    if (!d) throw new Error(`unknown pipeline ${slug}`);
    return d;
  }),
  context: init.context,
  backend: init.backend,
  decoder: init.decoder,
  memoryBudgetMb: init.memoryBudgetMb,
  wasmThreads: init.wasmThreads,
  onEvent: (event) => send({ type: 'event', event }),
  onBatchStart: (jobs) =>
    send({ type: 'started', ids: jobs.map((j) => ids.get(j)).filter((id) => id !== undefined) }),
});
void engine.start();

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'close') {
    void engine.close().then(() => send({ type: 'closed' }));
    return;
  }
  ids.set(msg.job, msg.id);
  const id = msg.id;
  // Detections sent per image: when they make up the whole result, the result goes without them.
  const reported = new Map<string, number>();
  const onImage = (done: ImageDone): void => {
    reported.set(done.imageId, done.detections.length);
    send({ type: 'image', id, done });
  };
  engine
    .run(msg.job, msg.perImage ? onImage : undefined)
    .then(
      (result) => {
        const fromImages = msg.perImage ? detectionsFromImages(result.detections, reported) : null;
        if (fromImages === null) send({ type: 'result', id, result, stats: engine.stats() });
        else
          send({
            type: 'result',
            id,
            result: { ...result, detections: [] },
            fromImages,
            stats: engine.stats(),
          });
      },
      (err: Error) =>
        send({
          type: 'error',
          id: msg.id,
          message: err.message,
          unavailable: err instanceof PipelineUnavailableError,
          stats: engine.stats(),
        }),
    )
    .finally(() => ids.delete(msg.job));
});
