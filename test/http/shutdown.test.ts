/**
 * Shutdown at the HTTP layer: when the server gives up at the end of the shutdown grace period, a request
 * still waiting for its pipeline is answered 503 SHUTTING_DOWN at once (not cut off with the connection), and
 * a download in progress fails as "aborted" so its request is answered with that image in `errors`.
 */
import request from 'supertest';
import type { Service } from '../../src/bootstrap';
import { expectSchema } from '../helpers/schemas';
import { startImageServer, type ImageServer } from '../helpers/image-server';
import { testService } from '../helpers/service';

describe('end of the shutdown grace period', () => {
  let images: ImageServer;
  beforeAll(async () => {
    images = await startImageServer();
  });
  afterAll(() => images.close());

  test('a request still waiting (here on its download) gets 503 SHUTTING_DOWN when the server abandons it', async () => {
    const svc: Service = await testService({
      enabledPipelines: ['constant'],
      imageDownloadTimeoutMs: 20_000,
    });
    try {
      const t0 = Date.now();
      const pending = request(svc.app.callback())
        .post('/process')
        .send({ pipeline: 'constant', source_images: [{ id: 'slow', url: images.url('/slow') }] });
      setTimeout(() => svc.lifecycle.abandon?.abort(), 300);
      const res = await pending;
      expect(res.status).toBe(503);
      expectSchema('error', res.body);
      expect(res.body).toEqual({
        code: 'SHUTTING_DOWN',
        detail: 'the service stopped before this request finished (shutdown grace period over)',
      });
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(svc.lifecycle.inFlight).toBe(0);
    } finally {
      svc.fetcher.abortAll();
      await svc.close();
    }
  });

  test('aborted downloads: the request is answered 200 with the image in errors; later fetches fail at once', async () => {
    const svc: Service = await testService({
      enabledPipelines: ['constant'],
      imageDownloadTimeoutMs: 20_000,
    });
    try {
      const pending = request(svc.app.callback())
        .post('/process')
        .send({
          pipeline: 'constant',
          source_images: [
            { id: 'ok', url: images.url('/img/64x48.jpg') },
            { id: 'slow', url: images.url('/slow') },
          ],
        });
      setTimeout(() => svc.fetcher.abortAll(), 300);
      const res = await pending;
      expect(res.status).toBe(200);
      expect(res.body.source_images).toEqual([{ id: 'ok', url: images.url('/img/64x48.jpg') }]);
      expect(res.body.errors).toEqual([
        {
          image_id: 'slow',
          url: images.url('/slow'),
          code: 'IMAGE_DOWNLOAD_FAILED',
          error: 'image slow: download aborted: the service is shutting down',
        },
      ]);
      await expect(svc.fetcher.fetch('x', images.url('/img/64x48.jpg'))).rejects.toThrow(
        'download aborted: the service is shutting down',
      );
    } finally {
      await svc.close();
    }
  });
});
