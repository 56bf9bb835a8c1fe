/**
 * A body nested thousands of levels deep is a client error (422 json_too_deep), never a stack
 * overflow (500), whichever field holds it; the service keeps serving afterwards.
 */
import request from 'supertest';
import type { Service } from '../../src/bootstrap';
import { MAX_JSON_DEPTH } from '../../src/contract/validators';
import { findTooDeep } from '../../src/util/json-depth';
import { expectSchema } from '../helpers/schemas';
import { testService } from '../helpers/service';

/** `levels` nested arrays (or objects), written as text: building them as values would itself recurse. */
const nestedArrays = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;
const nestedObjects = (levels: number): string => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

describe('deeply nested JSON', () => {
  let svc: Service;
  const postRaw = (text: string) =>
    request(svc.app.callback()).post('/process').set('content-type', 'application/json').send(text);

  beforeAll(async () => {
    svc = await testService({ enabledPipelines: ['constant'] });
  });
  afterAll(() => svc.close());
  afterEach(async () => {
    const res = await request(svc.app.callback())
      .post('/process')
      .send({ pipeline: 'constant', source_images: [] })
      .expect(200);
    expect(res.body.detections).toEqual([]);
  });

  const expectTooDeep = (body: unknown, field: string): void => {
    expectSchema('error', body);
    expect(body).toEqual({
      code: 'VALIDATION_FAILED',
      detail: [
        {
          type: 'json_too_deep',
          loc: expect.arrayContaining(['body', field]) as unknown,
          msg: `JSON nesting is too deep: more than ${MAX_JSON_DEPTH} levels`,
          ctx: { max_depth: MAX_JSON_DEPTH },
        },
      ],
    });
    expect((body as { detail: { loc: unknown[] }[] }).detail[0].loc.slice(0, 2)).toEqual(['body', field]);
  };

  test.each([
    ['detections', `{"pipeline":"constant","source_images":[],"detections":${nestedArrays(10_000)}}`],
    ['pipeline', `{"pipeline":${nestedArrays(10_000)},"source_images":[]}`],
    ['source_images', `{"pipeline":"constant","source_images":${nestedArrays(10_000)}}`],
    ['config', `{"pipeline":"constant","source_images":[],"config":${nestedObjects(5_000)}}`],
  ])('%s nested thousands deep → 422 json_too_deep', async (field, text) => {
    const res = await postRaw(text).expect(422);
    expectTooDeep(res.body, field);
  });

  test('a config nested within the limit is accepted (its unknown keys ignored)', async () => {
    const text = `{"pipeline":"constant","source_images":[],"config":${nestedObjects(MAX_JSON_DEPTH - 2)}}`;
    await postRaw(text).expect(200);
  });

  test('findTooDeep walks 1,000,000 levels without recursion and names the path', () => {
    const deep = JSON.parse(`{"x":[0,{"y":${nestedArrays(1_000_000)}}]}`) as unknown;
    expect(findTooDeep(deep, 5)).toEqual({ path: ['x', 1, 'y', 0, 0], depth: 6 });
    expect(findTooDeep({ a: [1, { b: null }] }, 3)).toBeNull();
    expect(findTooDeep('text', 0)).toBeNull();
  });
});
