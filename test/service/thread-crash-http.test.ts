/**
 * The service as `npm start` builds it (inference thread on): when the thread dies, model-free pipelines keep
 * answering, /readyz drops the model pipeline until the new thread has it warm, and then it answers again
 * (docs/memory.md#when-the-inference-thread-dies).
 */
import request from 'supertest';
import type { Service } from '../../src/bootstrap';
import type { PipelineResultsResponse } from '../../src/contract/types';
import type { WorkerEngine } from '../../src/runtime/worker-engine';
import { startImageServer, type ImageServer } from '../helpers/image-server';
import { itOffNative } from '../helpers/backend';
import { testService } from '../helpers/service';

const MODEL = 'tfjs_synthetic_moths_2026';

describe('inference thread crash behind HTTP', () => {
  let svc: Service;
  let images: ImageServer;
  const post = (pipeline: string, id: string) =>
    request(svc.app.callback())
      .post('/process')
      .send({ pipeline, source_images: [{ id, url: images.url('/img/320x240.jpg') }] });
  const readyz = async (): Promise<string[]> =>
    ((await request(svc.app.callback()).get('/readyz')).body as { status: string[] }).status;

  beforeAll(async () => {
    images = await startImageServer();
    // One inference thread: with more, the others keep the model pipeline ready while one restarts.
    svc = await testService({
      inferenceThread: 'worker',
      inferenceThreads: 1,
      enabledPipelines: ['constant', MODEL],
    });
  }, 120_000);
  afterAll(async () => {
    await svc.close();
    await images.close();
  });

  itOffNative(
    'constant answers while the thread is down; the model pipeline is back once warm',
    'native TF exits the process instead of restarting the thread (test/runtime/native-thread-crash.test.ts)',
    async () => {
      expect(await readyz()).toEqual(['constant', MODEL]);
      // The pool's only thread; kill it the way a native crash would.
      const thread = svc.inferenceThreads!['members'][0].engine as WorkerEngine;
      await thread['worker']?.terminate();

      expect(await readyz()).toEqual(['constant']);
      const c = await post('constant', 'c1');
      expect(c.status).toBe(200);
      expect((c.body as PipelineResultsResponse).source_images).toEqual([
        { id: 'c1', url: images.url('/img/320x240.jpg') },
      ]);
      // A model request sent now waits for the new thread instead of failing.
      const m = await post(MODEL, 'm1');
      expect(m.status).toBe(200);
      expect((m.body as PipelineResultsResponse).errors).toBeNull();
      expect(await readyz()).toEqual(['constant', MODEL]);
    },
    120_000,
  );
});
