/**
 * The pool and the router hand a job's per-image listener to the engine that runs it, so results
 * go out per image whichever engine runs the job.
 */
import type {
  EngineJob,
  EngineResult,
  ImageDone,
  ImageDoneListener,
  InferenceEngine,
} from '../../src/runtime/engine';
import { EnginePool } from '../../src/runtime/engine-pool';
import { EngineRouter } from '../../src/runtime/engine-router';

/** Ready for every slug; reports each image of a job as done with no detections, then resolves. */
const reportingEngine = (): InferenceEngine => ({
  backend: () => null,
  pipelineState: () => ({ state: 'ready' }),
  readySlugs: () => ['p'],
  whenReady: () => Promise.resolve(),
  run: (job: EngineJob, onImage?: ImageDoneListener): Promise<EngineResult> => {
    for (const img of job.images) onImage?.({ imageId: img.id, detections: [], failure: null });
    return Promise.resolve({ detections: [], failures: [], batchImages: job.images.length, timings: {} });
  },
  stats: () => ({ queueDepth: 0, numTensors: 0, numBytes: 0 }),
  close: () => Promise.resolve(),
});

const job: EngineJob = {
  pipeline: 'p',
  images: ['a', 'b'].map((id) => ({
    id,
    url: `http://x/${id}`,
    bytes: new Uint8Array(0),
    header: { format: 'jpeg', width: 1, height: 1 },
  })),
  given: [],
  config: {},
};

test.each([
  ['EnginePool', () => new EnginePool({ slugs: ['p'], threads: 2, spawn: () => reportingEngine() })],
  ['EngineRouter', () => new EngineRouter([{ engine: reportingEngine(), slugs: ['p'] }], ['p'])],
])('%s passes the listener through', async (_name, make) => {
  const engine: InferenceEngine = make();
  const heard: ImageDone[] = [];
  await engine.run(job, (d) => heard.push(d));
  expect(heard.map((d) => d.imageId)).toEqual(['a', 'b']);
  await engine.close();
});
