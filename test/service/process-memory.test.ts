/**
 * POST /process with images too large for the memory budget, on the default model pipeline
 * (docs/memory.md#the-budget):
 * they get their own per-image error, and the other images of the request, and later requests, are answered.
 */
import request from 'supertest';
import type { Service } from '../../src/bootstrap';
import type { PipelineResultsResponse } from '../../src/contract/types';
import { startImageServer, type ImageServer } from '../helpers/image-server';
import { expectSchema } from '../helpers/schemas';
import { testService } from '../helpers/service';
import { testBackend } from '../helpers/backend';

describe('POST /process under a memory budget', () => {
  let svc: Service;
  let images: ImageServer;
  const post = (body: unknown) =>
    request(svc.app.callback())
      .post('/process')
      .send(body as object);

  beforeAll(async () => {
    images = await startImageServer();
    // 8 MiB: a 1200×1000 image alone needs 27.5 MiB (24 B/px); a 320×240 one 1.8 MiB.
    svc = await testService({
      enabledPipelines: ['tfjs_synthetic_moths_2026'],
      imageDecoder: 'sharp',
      inferenceMemoryBudgetMb: 8,
    });
  }, 60_000);
  afterAll(async () => {
    await svc.close();
    await images.close();
  });

  test('big images fail alone with IMAGE_TOO_LARGE_FOR_BACKEND; the normal ones around and after them succeed', async () => {
    const res = await post({
      pipeline: 'tfjs_synthetic_moths_2026',
      source_images: [
        { id: 'big-1', url: images.url('/img/1200x1000.jpg') },
        { id: 'small-1', url: images.url('/img/320x240.jpg') },
        { id: 'big-2', url: images.url('/img/1200x1001.jpg') },
        { id: 'small-2', url: images.url('/img/321x240.jpg') },
      ],
    });
    expect(res.status).toBe(200);
    const body = res.body as PipelineResultsResponse;
    expectSchema('process', body);
    expect(body.source_images.map((s) => s.id)).toEqual(['small-1', 'small-2']);
    expect(body.errors).toEqual([
      {
        image_id: 'big-1',
        url: images.url('/img/1200x1000.jpg'),
        code: 'IMAGE_TOO_LARGE_FOR_BACKEND',
        error:
          `image big-1: 1200x1000 pixels need 27.5 MiB to decode and process, more than the ${testBackend()} backend` +
          "'s inference memory budget of 8.0 MiB (INFERENCE_MEMORY_BUDGET_MB)",
      },
      expect.objectContaining({ image_id: 'big-2', code: 'IMAGE_TOO_LARGE_FOR_BACKEND' }),
    ]);

    const after = await post({
      pipeline: 'tfjs_synthetic_moths_2026',
      source_images: [{ id: 'small-3', url: images.url('/img/322x240.jpg') }],
    });
    expect(after.status).toBe(200);
    expect((after.body as PipelineResultsResponse).errors).toBeNull();
    expect(svc.engine.readySlugs()).toEqual(['tfjs_synthetic_moths_2026']);
  });
});
