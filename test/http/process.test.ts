/**
 * POST /process against the reference fixtures: same structure, keys, types, algorithm references and box
 * geometry as Antenna's minimal service; timestamps and random values excepted.
 */
import * as fs from 'fs';
import * as path from 'path';
import request from 'supertest';
import type { Service } from '../../src/bootstrap';
import type { DetectionResponse, PipelineResultsResponse } from '../../src/contract/types';
import { startImageServer, type ImageServer } from '../helpers/image-server';
import { expectSchema, fixture, jsonShape } from '../helpers/schemas';
import { testService } from '../helpers/service';
import { dataUrl, jpeg } from '../helpers/images';

/** Our responses add `errors` (null when nothing failed); everything else must match the reference. */
const withoutErrors = (r: PipelineResultsResponse): Omit<PipelineResultsResponse, 'errors'> => {
  const { errors: _errors, ...rest } = r;
  return rest;
};

describe('POST /process', () => {
  let svc: Service;
  let images: ImageServer;
  const post = (body: unknown) =>
    request(svc.app.callback())
      .post('/process')
      .send(body as object);

  beforeAll(async () => {
    [svc, images] = await Promise.all([testService(), startImageServer()]);
  });
  afterAll(async () => {
    await Promise.all([svc.close(), images.close()]);
  });

  test('constant: same response as the reference for a 1600×1200 and a 4096×2160 image', async () => {
    const req = fixture<{ source_images: { id: string; url: string }[] }>(
      'antenna_to_service.process_request.constant.json',
    );
    const sizes = ['1600x1200', '4096x2160'];
    const body = {
      ...req,
      source_images: req.source_images.map((s, i) => ({
        ...s,
        url: images.url(`/img/${sizes[i]}.jpg?sig=abc`),
      })),
    };
    const res = await post(body).expect(200);
    expectSchema('process', res.body);
    const ours = res.body as PipelineResultsResponse;
    const reference = fixture<PipelineResultsResponse>('service.process_response.minimal.constant.json');
    expect(ours.errors).toBeNull();
    expect(jsonShape(withoutErrors(ours))).toEqual(jsonShape(reference));
    expect(ours.source_images).toEqual(body.source_images);
    const strip = (d: DetectionResponse) => ({
      ...d,
      timestamp: undefined,
      classifications: d.classifications.map((c) => ({ ...c, timestamp: undefined })),
    });
    expect(ours.detections.map(strip)).toEqual(reference.detections.map(strip));
  });

  test('constant downloads presigned URLs with their query string and without auth', async () => {
    images.requests.length = 0;
    await post({
      pipeline: 'constant',
      source_images: [{ id: '7', url: images.url('/img/320x240.jpg?X-Amz-Signature=a%2Fb&e=1') }],
    }).expect(200);
    expect(images.requests).toHaveLength(1);
    expect(images.requests[0].path).toBe('/img/320x240.jpg?X-Amz-Signature=a%2Fb&e=1');
    expect(images.requests[0].headers.authorization).toBeUndefined();
    expect(images.requests[0].headers['user-agent']).toMatch(/AntennaTFJSService/);
  });

  test('random-detection-random-species: reference structure, boxes inside the image, softmax invariants', async () => {
    const res = await post({
      pipeline: 'random-detection-random-species',
      source_images: [
        { id: 'img00', url: images.url('/img/1920x1080.jpg') },
        { id: 'noise', url: images.url('/img/640x480.jpg') },
      ],
      config: { seed: 42 },
    }).expect(200);
    expectSchema('process', res.body);
    const ours = res.body as PipelineResultsResponse;
    const reference = fixture<PipelineResultsResponse>('python-minimal-process-random.json');
    expect(jsonShape(withoutErrors(ours))).toEqual(jsonShape(reference));
    const dims: Record<string, [number, number]> = { img00: [1920, 1080], noise: [640, 480] };
    for (const d of ours.detections) {
      const [w, h] = dims[d.source_image_id];
      const m = Math.floor(Math.min(w, h) / 8);
      expect(d.bbox.x1).toBeGreaterThanOrEqual(0);
      expect(d.bbox.y1).toBeGreaterThanOrEqual(0);
      expect(d.bbox.x2).toBeLessThanOrEqual(w);
      expect(d.bbox.y2).toBeLessThanOrEqual(h);
      expect(d.bbox.x2 - d.bbox.x1).toBeGreaterThanOrEqual(m);
      expect(d.bbox.x2 - d.bbox.x1).toBeLessThanOrEqual(Math.floor(w / 2));
      expect(d.bbox.y2 - d.bbox.y1).toBeLessThanOrEqual(Math.floor(h / 2));
      expect(d.algorithm).toEqual({ name: 'Random Detector', key: 'random-detector' });
      expect(d.classifications.map((c) => [c.algorithm.key, c.terminal, c.labels])).toEqual([
        ['random-binary-classifier', false, ['Moth', 'Not a moth']],
        ['random-species-classifier', true, null],
      ]);
      const maps = [
        ['Moth', 'Not a moth'],
        ['Vanessa atalanta', 'Vanessa cardui', 'Vanessa itea'],
      ];
      d.classifications.forEach((c, i) => {
        expect(c.scores).toHaveLength(maps[i].length);
        expect(c.logits).toHaveLength(maps[i].length);
        expect(c.scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
        // softmax of the logits, independently; both travel as float32 (about 7 significant digits)
        const ex = c.logits!.map(Math.exp);
        const sum = ex.reduce((a, b) => a + b, 0);
        c.scores.forEach((s, k) => expect(s).toBeCloseTo(ex[k] / sum, 6));
        expect(c.classification).toBe(maps[i][c.scores.indexOf(Math.max(...c.scores))]);
      });
    }
  });

  test('random pipeline is reproducible with config.seed', async () => {
    const body = {
      pipeline: 'random-detection-random-species',
      source_images: [{ id: '1', url: images.url('/img/800x600.jpg') }],
      config: { seed: 7 },
    };
    const a = (await post(body).expect(200)).body as PipelineResultsResponse;
    const b = (await post(body).expect(200)).body as PipelineResultsResponse;
    expect(a.detections.map((d) => [d.bbox, d.classifications.map((c) => c.logits)])).toEqual(
      b.detections.map((d) => [d.bbox, d.classifications.map((c) => c.logits)]),
    );
  });

  test('re-processing: given boxes are classified, echoed exactly with the request detector (fixture)', async () => {
    const req = fixture<{
      source_images: { id: string; url: string }[];
      detections: { source_image: { id: string; url: string }; crop_image_url: string | null }[];
    }>('antenna_to_service.process_request.reprocess_existing_detections.json');
    const url = images.url('/img/1600x1200.jpg');
    const body = {
      ...req,
      source_images: req.source_images.map((s) => ({ ...s, url })),
      // The first crop URL 404s: the crop is then cut from the source image
      // (docs/antenna-protocol.md#post-process-request).
      detections: req.detections.map((d) => ({
        ...d,
        source_image: { ...d.source_image, url },
        crop_image_url: d.crop_image_url ? images.url('/missing-crop.jpg') : null,
      })),
    };
    const res = await post(body).expect(200);
    expectSchema('process', res.body);
    const ours = res.body as PipelineResultsResponse;
    const reference = fixture<PipelineResultsResponse>(
      'service.process_response.minimal.reprocess_existing_detections.json',
    );
    expect(jsonShape(withoutErrors(ours))).toEqual(jsonShape(reference));
    expect(ours.detections.map((d) => [d.bbox, d.algorithm])).toEqual(
      reference.detections.map((d) => [d.bbox, d.algorithm]),
    );
    expect(ours.detections.map((d) => d.classifications.map((c) => c.classification))).toEqual([
      ['Moth'],
      ['Moth'],
    ]);
  });

  test('mixed re-processing: image A keeps its boxes (listed first), image B is detected normally', async () => {
    const a = { id: 'A', url: images.url('/img/1600x1200.jpg') };
    const b = { id: 'B', url: images.url('/img/1920x1080.jpg') };
    const res = await post({
      pipeline: 'constant',
      source_images: [b, a],
      detections: [
        {
          source_image: a,
          bbox: { x1: 10.0, y1: 20.0, x2: 110.5, y2: 220.0 },
          crop_image_url: null,
          algorithm: { name: 'Other', key: 'other-service-detector' },
        },
        { source_image: a, bbox: null, algorithm: { name: 'Other', key: 'other-service-detector' } },
      ],
      config: {},
    }).expect(200);
    expectSchema('process', res.body);
    const ours = res.body as PipelineResultsResponse;
    expect(ours.detections.map((d) => [d.source_image_id, d.bbox, d.algorithm.key])).toEqual([
      ['A', { x1: 10, y1: 20, x2: 110.5, y2: 220 }, 'other-service-detector'],
      ['B', { x1: 240, y1: 135, x2: 720, y2: 405 }, 'constant-detector'],
    ]);
  });

  test('empty source_images gives the reference empty answer', async () => {
    const res = await post({ pipeline: 'constant', source_images: [], detections: [], config: {} }).expect(
      200,
    );
    expectSchema('process', res.body);
    const reference = fixture<PipelineResultsResponse>(
      'service.process_response.minimal.empty_source_images.json',
    );
    expect({ ...withoutErrors(res.body as PipelineResultsResponse), total_time: 0 }).toEqual({
      ...reference,
      total_time: 0,
    });
  });

  test.each([
    ['config {}', { config: {} }],
    ['config null', { config: null }],
    ['config missing', {}],
    ['detections null', { detections: null, config: {} }],
    [
      'Antenna config keys and unknown keys at every level',
      {
        config: {
          request_source_image_batch_size: 4,
          reprocess_existing_detections: true,
          example_config_param: 3,
        },
        future_field: { a: 1 },
      },
    ],
  ])('%s gives the same output', async (_name, extra) => {
    const res = await post({
      pipeline: 'constant',
      source_images: [{ id: '5', url: images.url('/img/1600x1200.jpg'), extra: 'ignored' }],
      ...extra,
    }).expect(200);
    expectSchema('process', res.body);
    expect((res.body as PipelineResultsResponse).detections.map((d) => d.bbox)).toEqual([
      { x1: 200, y1: 150, x2: 600, y2: 450 },
    ]);
  });

  test('Antenna-formatted bodies (Python spacing, 100.0 floats, \\u escapes) parse and ids stay strings', async () => {
    const raw =
      '{"pipeline": "constant", "source_images": [{"id": "0101", "url": "' +
      images.url('/img/640x480.jpg') +
      '?name=caf\\u00e9"}], "detections": [], "config": {"x": 1e-05, "y": 100.0}}';
    const res = await request(svc.app.callback())
      .post('/process')
      .set('content-type', 'application/json')
      .send(raw)
      .expect(200);
    expect(res.body.source_images[0].id).toBe('0101');
    expect(res.body.source_images[0].url).toMatch(/name=café$/);
  });

  test('duplicate image ids are echoed once, with one detection', async () => {
    const img = { id: '9', url: images.url('/img/640x480.jpg') };
    const res = await post({ pipeline: 'constant', source_images: [img, img] }).expect(200);
    expect(res.body.source_images).toEqual([img]);
    expect(res.body.detections).toHaveLength(1);
  });

  test('a data:image URL is accepted as a source image', async () => {
    const url = dataUrl('image/jpeg', await jpeg(1600, 1200));
    const res = await post({ pipeline: 'constant', source_images: [{ id: 'd', url }] }).expect(200);
    expect(res.body.detections[0].bbox).toEqual({ x1: 200, y1: 150, x2: 600, y2: 450 });
  });

  test('a data: URL longer than 65,536 characters (the shipped 70 KB sample) is processed', async () => {
    const bytes = fs.readFileSync(path.join(__dirname, '..', '..', 'samples', 'trap-1024x768.jpg'));
    const url = dataUrl('image/jpeg', bytes);
    expect(url.length).toBeGreaterThan(65536);
    const res = await post({ pipeline: 'constant', source_images: [{ id: 'mine', url }] }).expect(200);
    expect(res.body.errors).toBeNull();
    expect(res.body.source_images).toEqual([{ id: 'mine', url }]);
    // The constant detector's box, scaled from its 1600×1200 reference to 1024×768.
    expect(res.body.detections[0].bbox).toEqual({ x1: 128, y1: 96, x2: 384, y2: 288 });
  });

  test('EXIF orientation is not applied: boxes refer to the stored grid', async () => {
    // exif6.jpg is stored 640×480 with orientation 6 (a viewer would show it 480×640).
    const res = await post({
      pipeline: 'constant',
      source_images: [{ id: 'e', url: images.url('/exif6.jpg') }],
    }).expect(200);
    expect(res.body.detections[0].bbox).toEqual({ x1: 80, y1: 60, x2: 240, y2: 180 });
  });

  test('/process/ (trailing slash) is served too, as ADC does', async () => {
    await request(svc.app.callback())
      .post('/process/')
      .send({ pipeline: 'constant', source_images: [] })
      .expect(200);
  });
});
