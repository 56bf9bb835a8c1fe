/**
 * Bad input: each case gets its documented status and body, and the service keeps serving afterwards.
 */
import request from 'supertest';
import type { Service } from '../../src/bootstrap';
import type { PipelineResultsResponse } from '../../src/contract/types';
import { startImageServer, type ImageServer } from '../helpers/image-server';
import { expectSchema } from '../helpers/schemas';
import { testService } from '../helpers/service';
import { dataUrl, jpeg } from '../helpers/images';

describe('bad requests', () => {
  let svc: Service;
  let images: ImageServer;
  const post = (body: unknown) =>
    request(svc.app.callback())
      .post('/process')
      .send(body as object);

  beforeAll(async () => {
    [svc, images] = await Promise.all([testService({ maxBodyBytes: 64 * 1024 }), startImageServer()]);
  });
  afterAll(async () => {
    await Promise.all([svc.close(), images.close()]);
  });
  afterEach(async () => {
    // The service keeps serving after every bad request.
    const res = await post({
      pipeline: 'constant',
      source_images: [{ id: 'ok', url: images.url('/img/1600x1200.jpg') }],
    }).expect(200);
    expect(res.body.detections).toHaveLength(1);
  });

  test('malformed JSON → 400 MALFORMED_JSON', async () => {
    const res = await request(svc.app.callback())
      .post('/process')
      .set('content-type', 'application/json')
      .send('{"pipeline": "constant",')
      .expect(400);
    expectSchema('error', res.body);
    expect(res.body.code).toBe('MALFORMED_JSON');
    expect(res.body.detail).toMatch(/not valid JSON/);
  });

  test('a JSON body that is not an object → 422 dict_type', async () => {
    const res = await request(svc.app.callback())
      .post('/process')
      .set('content-type', 'application/json')
      .send('[1, 2]')
      .expect(422);
    expect(res.body).toEqual({
      detail: [
        { type: 'dict_type', loc: ['body'], msg: 'Input should be a valid dictionary', input: [1, 2] },
      ],
      code: 'VALIDATION_FAILED',
    });
  });

  test('wrong content type → 415', async () => {
    const res = await request(svc.app.callback())
      .post('/process')
      .set('content-type', 'text/plain')
      .send('hello')
      .expect(415);
    expect(res.body).toEqual({
      detail: 'POST /process needs Content-Type: application/json',
      code: 'UNSUPPORTED_MEDIA_TYPE',
    });
  });

  test('missing fields → 422 with FastAPI-style missing details', async () => {
    const res = await post({ config: {} }).expect(422);
    expectSchema('error', res.body);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.detail).toEqual([
      { type: 'missing', loc: ['body', 'pipeline'], msg: 'Field required', input: { config: {} } },
      { type: 'missing', loc: ['body', 'source_images'], msg: 'Field required', input: { config: {} } },
    ]);
  });

  test('wrong types → 422 naming each field', async () => {
    const res = await post({
      pipeline: 'constant',
      source_images: [{ id: 101, url: ['x'] }],
      config: 'fast',
    }).expect(422);
    expect(res.body.detail).toEqual([
      {
        type: 'string_type',
        loc: ['body', 'source_images', 0, 'id'],
        msg: 'Input should be a valid string',
        input: 101,
      },
      {
        type: 'string_type',
        loc: ['body', 'source_images', 0, 'url'],
        msg: 'Input should be a valid string',
        input: ['x'],
      },
      {
        type: 'dict_type',
        loc: ['body', 'config'],
        msg: 'Input should be a valid dictionary',
        input: 'fast',
      },
    ]);
  });

  test('a known config key with a bad value → 422', async () => {
    const res = await post({
      pipeline: 'constant',
      source_images: [],
      config: { detection_threshold: 2 },
    }).expect(422);
    expect(res.body.detail[0]).toMatchObject({
      type: 'less_than_equal',
      loc: ['body', 'config', 'detection_threshold'],
    });
  });

  test('unknown slug → 422 UNKNOWN_PIPELINE listing the valid slugs, and nothing is downloaded', async () => {
    images.requests.length = 0;
    const res = await post({
      pipeline: 'panama_moths_2023',
      source_images: [{ id: '1', url: images.url('/img/10x10.jpg') }],
    }).expect(422);
    expect(res.body).toEqual({
      detail: [
        {
          type: 'literal_error',
          loc: ['body', 'pipeline'],
          msg: "Input should be 'constant' or 'random-detection-random-species'",
          input: 'panama_moths_2023',
          ctx: { expected: "'constant' or 'random-detection-random-species'" },
        },
      ],
      code: 'UNKNOWN_PIPELINE',
    });
    expect(images.requests).toHaveLength(0);
  });

  test('empty lists are fine: 200 with empty lists', async () => {
    const res = await post({ pipeline: 'constant', source_images: [], detections: [] }).expect(200);
    expect(res.body).toMatchObject({ source_images: [], detections: [], errors: null });
  });

  test('1000 source images → 422 too_long (MAX_IMAGES_PER_REQUEST, default 100)', async () => {
    const many = Array.from({ length: 1000 }, (_, i) => ({
      id: String(i),
      url: `http://127.0.0.1:9/${i}.jpg`,
    }));
    const big = await testService();
    try {
      const res = await request(big.app.callback())
        .post('/process')
        .send({ pipeline: 'constant', source_images: many })
        .expect(422);
      expect(res.body.detail).toEqual([
        {
          type: 'too_long',
          loc: ['body', 'source_images'],
          msg: 'List should have at most 100 items, not 1000',
          ctx: { max_length: 100 },
        },
      ]);
    } finally {
      await big.close();
    }
  });

  test('a body over MAX_BODY_BYTES → 413', async () => {
    const res = await post({
      pipeline: 'constant',
      source_images: [],
      padding: 'x'.repeat(100 * 1024),
    }).expect(413);
    expect(res.body).toEqual({
      detail: 'request body is larger than MAX_BODY_BYTES',
      code: 'PAYLOAD_TOO_LARGE',
    });
  });

  test('very long ids → 422 string_too_long, with the echoed input cut short', async () => {
    const res = await post({
      pipeline: 'constant',
      source_images: [{ id: '7'.repeat(5000), url: images.url('/img/10x10.jpg') }],
    }).expect(422);
    expect(res.body.detail[0]).toMatchObject({
      type: 'string_too_long',
      loc: ['body', 'source_images', 0, 'id'],
      ctx: { max_length: 1024 },
    });
    expect(res.body.detail[0].input).toHaveLength(201);
  });

  test('a detection for an image not in source_images → 422', async () => {
    const img = { id: '1', url: images.url('/img/100x100.jpg') };
    const res = await post({
      pipeline: 'constant',
      source_images: [img],
      detections: [
        {
          source_image: { id: '2', url: img.url },
          bbox: { x1: 0, y1: 0, x2: 5, y2: 5 },
          algorithm: { name: 'x', key: 'x' },
        },
      ],
    }).expect(422);
    expect(res.body).toEqual({
      detail: 'detections refer to source image ids not in source_images: 2',
      code: 'DETECTION_IMAGE_NOT_IN_REQUEST',
    });
  });
});

describe('bad images: 200, the failed image left out and named in errors', () => {
  let svc: Service;
  let images: ImageServer;
  beforeAll(async () => {
    [svc, images] = await Promise.all([testService({ imageDownloadTimeoutMs: 300 }), startImageServer()]);
  });
  afterAll(async () => {
    await Promise.all([svc.close(), images.close()]);
  });

  test.each([
    ['404', '/nope.jpg', 'IMAGE_DOWNLOAD_FAILED', /image bad: HTTP 404 from 127\.0\.0\.1:\d+/],
    ['timeout', '/slow', 'IMAGE_TIMEOUT', /image bad: no complete answer within 300 ms/],
    ['HTML', '/html', 'IMAGE_NOT_AN_IMAGE', /image bad: not a supported image .*got an HTML page/],
    [
      'cut inside the header',
      '/header-only.jpg',
      'IMAGE_NOT_AN_IMAGE',
      /image bad: JPEG header is unreadable/,
    ],
    [
      'redirect to a denied address',
      '/redirect-to-metadata',
      'IMAGE_URL_DENIED',
      /169\.254\.169\.254.*denies/,
    ],
    ['redirect loop', '/redirect-loop', 'IMAGE_DOWNLOAD_FAILED', /more than 3 redirects/],
    ['persistent 5xx', '/always-500', 'IMAGE_DOWNLOAD_FAILED', /HTTP 500 .*after 3 attempts/],
  ])('%s', async (_name, path, code, message) => {
    // The good image is a data: URL: a download would share this suite's 300 ms timeout, which a loaded
    // machine can miss, and this test is about the bad image only.
    const good = { id: 'good', url: dataUrl('image/jpeg', await jpeg(1600, 1200)) };
    const bad = { id: 'bad', url: images.url(path) };
    const res = await request(svc.app.callback())
      .post('/process')
      .send({ pipeline: 'constant', source_images: [good, bad] })
      .expect(200);
    expectSchema('process', res.body);
    const body = res.body as PipelineResultsResponse;
    expect(body.source_images).toEqual([good]);
    expect(body.detections.map((d) => d.source_image_id)).toEqual(['good']);
    expect(body.errors).toHaveLength(1);
    expect(body.errors![0]).toMatchObject({ image_id: 'bad', url: bad.url, code });
    expect(body.errors![0].error).toMatch(message);
  });

  test('an http URL over 65,536 characters fails only its image (the schema allows long data: URLs)', async () => {
    // A data: URL for the good image: no download, so the 300 ms timeout of this suite cannot interfere.
    const good = { id: 'good', url: dataUrl('image/jpeg', await jpeg(1600, 1200)) };
    const bad = { id: 'bad', url: images.url(`/img/1600x1200.jpg?q=${'x'.repeat(70_000)}`) };
    const res = await request(svc.app.callback())
      .post('/process')
      .send({ pipeline: 'constant', source_images: [good, bad] })
      .expect(200);
    expect(res.body.source_images).toEqual([good]);
    expect(res.body.errors).toEqual([
      {
        image_id: 'bad',
        url: bad.url,
        code: 'IMAGE_URL_INVALID',
        error: expect.stringMatching(/^image bad: http\(s\) URL is 700\d\d characters, more than 65536$/),
      },
    ]);
  });

  test('a truncated JPEG (header intact) is processed, as the reference tolerates it', async () => {
    const res = await request(svc.app.callback())
      .post('/process')
      .send({ pipeline: 'constant', source_images: [{ id: 't', url: images.url('/truncated.jpg') }] })
      .expect(200);
    expect(res.body.detections[0].bbox).toEqual({ x1: 100, y1: 75, x2: 300, y2: 225 });
  });

  test('every image failing gives 200 with empty lists and the reasons', async () => {
    const res = await request(svc.app.callback())
      .post('/process')
      .send({
        pipeline: 'constant',
        source_images: [
          { id: 'a', url: images.url('/x.jpg') },
          { id: 'b', url: 'ftp://example.org/b.jpg' },
        ],
      })
      .expect(200);
    expect(res.body).toMatchObject({ source_images: [], detections: [] });
    const body = res.body as PipelineResultsResponse;
    expect(body.errors!.map((e) => e.code)).toEqual(['IMAGE_DOWNLOAD_FAILED', 'IMAGE_URL_INVALID']);
  });
});

describe('STRICT_IMAGE_ERRORS (the reference behaviour for Antenna CI)', () => {
  test('one failed image makes the whole request 500 with detail naming it', async () => {
    const [svc, images] = await Promise.all([testService({ strictImageErrors: true }), startImageServer()]);
    try {
      const res = await request(svc.app.callback())
        .post('/process')
        .send({
          pipeline: 'constant',
          source_images: [
            { id: '1', url: images.url('/img/100x100.jpg') },
            { id: '2', url: images.url('/gone.jpg') },
          ],
        })
        .expect(500);
      expectSchema('error', res.body);
      expect(res.body.code).toBe('IMAGE_FAILED');
      expect(res.body.detail).toMatch(/^image 2: HTTP 404/);
    } finally {
      await Promise.all([svc.close(), images.close()]);
    }
  });
});
