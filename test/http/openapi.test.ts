/**
 * /openapi.json as /docs shows it: routes grouped by tag, working example requests for /process (each is
 * posted here and must succeed), and error bodies described per status with one example per code.
 */
import * as path from 'path';
import request from 'supertest';
import type { Service } from '../../src/bootstrap';
import { errorCatalogue } from '../../src/errors';
import { serveDirectory, type SampleServer } from '../../bench/sample-server';
import { expectSchema } from '../helpers/schemas';
import { testService } from '../helpers/service';

interface Operation {
  tags?: string[];
  requestBody?: { content: Record<string, { examples?: Record<string, { value: unknown }> }> };
  responses: Record<
    string,
    {
      description: string;
      headers?: Record<string, unknown>;
      content?: Record<string, { examples?: Record<string, { value: { code: string; detail: unknown } }> }>;
    }
  >;
}
interface Doc {
  tags: { name: string; description: string }[];
  paths: Record<string, Record<string, Operation>>;
}

describe('/openapi.json for /docs', () => {
  let svc: Service;
  let samples: SampleServer;
  let doc: Doc;

  beforeAll(async () => {
    [svc, samples] = await Promise.all([
      testService(),
      serveDirectory(path.join(__dirname, '..', '..', 'samples')),
    ]);
    doc = (await request(svc.app.callback()).get('/openapi.json').expect(200)).body as Doc;
  });
  afterAll(async () => {
    await Promise.all([svc.close(), samples.close()]);
  });

  test('every operation has a tag, and every tag is declared with a description', () => {
    const declared = doc.tags.map((t) => t.name);
    const used = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ route: `${method} ${p}`, tags: op.tags ?? [] })),
    );
    for (const { route, tags } of used) {
      expect({ route, tagged: tags.length > 0 }).toEqual({ route, tagged: true });
      for (const tag of tags) expect(declared).toContain(tag);
    }
  });

  test('each /process example request works when sent as is (the sample one via the sample server)', async () => {
    const examples = doc.paths['/process'].post.requestBody?.content['application/json'].examples ?? {};
    expect(Object.keys(examples)).toEqual(expect.arrayContaining(['sample', 'dataUrl']));
    for (const [name, { value }] of Object.entries(examples)) {
      // The documented sample server listens on 127.0.0.1:8000; here it runs on a free port.
      const body = JSON.parse(
        JSON.stringify(value).replaceAll('127.0.0.1:8000', `127.0.0.1:${samples.port}`),
      ) as object;
      const res = await request(svc.app.callback()).post('/process').send(body);
      expect({ name, status: res.status, errors: res.body.errors }).toEqual({
        name,
        status: 200,
        errors: null,
      });
      expect(res.body.detections.length).toBeGreaterThan(0);
    }
  });

  test('error responses list every code of their status, each with a valid example body', () => {
    const responses = doc.paths['/process'].post.responses;
    const documented: string[] = [];
    for (const [status, response] of Object.entries(responses)) {
      if (status === '200') continue;
      const examples = response.content?.['application/json'].examples ?? {};
      expect(Object.keys(examples).length).toBeGreaterThan(0);
      for (const [code, { value }] of Object.entries(examples)) {
        documented.push(code);
        expect({ code, status: errorCatalogue[code as keyof typeof errorCatalogue].status }).toEqual({
          code,
          status: Number(status),
        });
        expect(value.code).toBe(code);
        expect(response.description).toContain(`\`${code}\``);
        expectSchema('error', value);
      }
    }
    expect(documented).toEqual(
      expect.arrayContaining([
        'VALIDATION_FAILED',
        'UNKNOWN_PIPELINE',
        'IMAGE_FAILED',
        'PIPELINE_UNAVAILABLE',
      ]),
    );
    expect(responses['405'].headers).toHaveProperty('Allow');
  });
});
