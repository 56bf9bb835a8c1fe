/**
 * GET endpoints: /info, /livez, /readyz, /, /docs, /openapi.json, /metrics, unknown routes.
 */
import request from 'supertest';
import type { Service } from '../../src/bootstrap';
import type { ProcessingServiceInfoResponse } from '../../src/contract/types';
import { buildService } from '../../src/bootstrap';
import { defaultConfig } from '../../src/config';
import { definePipeline, type PipelineDefinition } from '../../src/pipelines/definition';
import { createLogger } from '../../src/util/logger';
import { Pipeline } from '../../src/pipelines/pipeline';
import { ConstantDetector } from '../../src/algorithms/constant-detector';
import { ConstantClassifier } from '../../src/algorithms/constant-classifier';
import { pipelineRegistry } from '../../src/pipelines/registry';
import { expectSchema, fixture } from '../helpers/schemas';
import { testService } from '../helpers/service';

/** Drops `uri` values, which the fixture rewrote to a local address (fixtures/README.md). */
function withoutUris(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutUris);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([k]) => k !== 'uri')
        .map(([k, v]) => [k, withoutUris(v)]),
    );
  }
  return value;
}

describe('GET endpoints', () => {
  let svc: Service;
  beforeAll(async () => {
    svc = await testService();
  });
  afterAll(() => svc.close());

  test('/info lists the reference pipelines exactly as the reference service does (uri aside)', async () => {
    const res = await request(svc.app.callback()).get('/info').expect(200).expect('content-type', /json/);
    expectSchema('info', res.body);
    const ours = res.body as ProcessingServiceInfoResponse;
    const reference = fixture<ProcessingServiceInfoResponse>('service.info_response.minimal.json');
    expect(withoutUris(ours.pipelines)).toEqual(withoutUris(reference.pipelines));
    expect(ours.name).toBe('Antenna TF.js Processing Service');
  });

  test('/info keeps every classifier map aligned and every detector map null', async () => {
    const res = await request(svc.app.callback()).get('/info').expect(200);
    for (const p of (res.body as ProcessingServiceInfoResponse).pipelines) {
      const detectors = p.algorithms.filter((a) =>
        ['detection', 'localization', 'segmentation'].includes(a.task_type),
      );
      expect(detectors).toHaveLength(1);
      expect(detectors[0].category_map).toBeNull();
      for (const a of p.algorithms.filter((x) => x.task_type === 'classification')) {
        const map = a.category_map!;
        expect(map.labels).toEqual(map.data.map((d) => d.label));
        expect(map.data.map((d) => d.index)).toEqual(map.data.map((_, i) => i));
      }
    }
  });

  test('/livez answers {"status": true}', async () => {
    const res = await request(svc.app.callback()).get('/livez').expect(200);
    expect(res.body).toEqual({ status: true });
    expectSchema('livez', res.body);
  });

  test('/readyz lists the ready slugs in registry order', async () => {
    const res = await request(svc.app.callback()).get('/readyz').expect(200);
    expect(res.body).toEqual(fixture('service.readyz_response.minimal.json'));
    expectSchema('readyz', res.body);
  });

  test('/readyz answers 503 {"status": []} while shutting down', async () => {
    svc.lifecycle.shuttingDown = true;
    try {
      const res = await request(svc.app.callback()).get('/readyz').expect(503);
      expect(res.body).toEqual({ status: [] });
      const proc = await request(svc.app.callback())
        .post('/process')
        .send({ pipeline: 'constant', source_images: [] })
        .expect(503);
      expect(proc.body).toEqual({ detail: 'the service is shutting down', code: 'SHUTTING_DOWN' });
    } finally {
      svc.lifecycle.shuttingDown = false;
    }
  });

  test('GET / redirects to /docs, which renders Swagger UI from local assets', async () => {
    const res = await request(svc.app.callback()).get('/').expect(307);
    expect(res.headers.location).toBe('/docs');
    const docs = await request(svc.app.callback()).get('/docs').expect(200).expect('content-type', /html/);
    expect(docs.text).toContain('/docs/swagger-ui-bundle.js');
    expect(docs.text).not.toMatch(/https?:\/\//); // no CDN
    const bundle = await request(svc.app.callback()).get('/docs/swagger-ui-bundle.js').expect(200);
    expect(bundle.headers['content-type']).toMatch(/javascript/);
    expect(Number(bundle.headers['content-length'] ?? bundle.text.length)).toBeGreaterThan(100_000);
    await request(svc.app.callback())
      .get('/docs/init.js')
      .expect(200)
      .expect(/openapi\.json/);
  });

  test('/openapi.json is OpenAPI 3.1 built from the request schema, with the registry slugs', async () => {
    const res = await request(svc.app.callback()).get('/openapi.json').expect(200);
    const doc = res.body as {
      openapi: string;
      paths: Record<string, unknown>;
      components: { schemas: Record<string, { properties: Record<string, { enum?: string[] }> }> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/info', '/livez', '/readyz', '/process']),
    );
    expect(doc.components.schemas.PipelineRequest.properties.pipeline.enum).toEqual([
      'constant',
      'random-detection-random-species',
    ]);
  });

  test('/metrics exposes Prometheus metrics including the backend and request counters', async () => {
    await request(svc.app.callback()).get('/livez').expect(200);
    const res = await request(svc.app.callback()).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.text).toMatch(
      /tfjs_backend_info\{backend="wasm",package="@tensorflow\/tfjs-backend-wasm",gpu="false",tensorflow=""\} 1/,
    );
    expect(res.text).toMatch(/http_requests_total\{route="\/livez",method="GET",status="200"\} \d+/);
    expect(res.text).toMatch(/process_resident_memory_bytes \d+/);
  });

  test('unknown routes get 404 and wrong methods 405, both with detail and code', async () => {
    const nf = await request(svc.app.callback()).get('/nope').expect(404);
    expect(nf.body).toEqual({ detail: 'no route for GET /nope', code: 'NOT_FOUND' });
    expectSchema('error', nf.body);
    const na = await request(svc.app.callback()).get('/process').expect(405);
    expect(na.body.code).toBe('METHOD_NOT_ALLOWED');
    expectSchema('error', na.body);
  });

  test('405 carries an Allow header naming the methods of that route, as the error table says', async () => {
    const onProcess = await request(svc.app.callback()).get('/process').expect(405);
    expect(onProcess.headers.allow).toBe('POST');
    expect(onProcess.body).toEqual({
      detail: 'GET is not allowed on /process; allowed: POST',
      code: 'METHOD_NOT_ALLOWED',
    });
    // Koa's router answers GET routes for HEAD too.
    const onInfo = await request(svc.app.callback()).post('/info').expect(405);
    expect(onInfo.headers.allow).toBe('HEAD, GET');
    // A method no route implements gets the same 405 body, not a bare 501.
    const unknown = await request(svc.app.callback()).patch('/readyz').expect(405);
    expect(unknown.headers.allow).toBe('HEAD, GET');
    expect(unknown.body.code).toBe('METHOD_NOT_ALLOWED');
  });

  test('large bodies are gzipped when the client accepts it', async () => {
    const res = await request(svc.app.callback())
      .get('/openapi.json')
      .set('Accept-Encoding', 'gzip')
      .expect(200);
    expect(res.headers['content-encoding']).toBe('gzip');
  });
});

/** The service built around one-off pipelines of a constant detector and classifier (stubs overridable). */
async function serviceWith(
  pipelines: { slug: string; detector?: ConstantDetector; classifier?: ConstantClassifier }[],
  extra: PipelineDefinition[] = [],
): Promise<Service> {
  const definitions = pipelines.map(({ slug, detector, classifier }) =>
    definePipeline(slug, (ctx) =>
      Promise.resolve(
        new Pipeline(
          { name: slug, slug, version: 1, description: null },
          detector ?? new ConstantDetector(),
          [{ algorithm: classifier ?? new ConstantClassifier(), terminal: true }],
          ctx.batches,
        ),
      ),
    ),
  );
  return buildService(defaultConfig({ logLevel: 'silent', tfjsBackend: 'wasm' }), createLogger('silent'), {
    registry: [...extra, ...definitions],
  });
}

describe('readiness follows compilation', () => {
  test('/readyz is 503 while a pipeline compiles, then lists it; /process waits instead of failing', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    class SlowDetector extends ConstantDetector {
      override compile(): Promise<void> {
        return gate;
      }
    }
    const svc = await serviceWith([{ slug: 'constant', detector: new SlowDetector() }]);
    try {
      const before = await request(svc.app.callback()).get('/readyz').expect(503);
      expect(before.body).toEqual({ status: [] });
      const pending = request(svc.app.callback())
        .post('/process')
        .send({ pipeline: 'constant', source_images: [] })
        .then((r) => r);
      release();
      const after = await pending;
      expect(after.status).toBe(200);
      await request(svc.app.callback())
        .get('/readyz')
        .expect(200, { status: ['constant'] });
    } finally {
      await svc.close();
    }
  });

  test('a pipeline whose model fails to load stays out of /readyz while the others serve', async () => {
    class BrokenClassifier extends ConstantClassifier {
      override compile(): Promise<void> {
        return Promise.reject(new Error('model.json not found'));
      }
    }
    const svc = await serviceWith(
      [{ slug: 'broken', classifier: new BrokenClassifier() }],
      [pipelineRegistry[0]],
    );
    try {
      await svc.engine.whenReady('constant');
      await expect(svc.engine.whenReady('broken')).rejects.toThrow(
        /constant-classifier: model.json not found/,
      );
      await request(svc.app.callback())
        .get('/readyz')
        .expect(200, { status: ['constant'] });
      const res = await request(svc.app.callback())
        .post('/process')
        .send({ pipeline: 'broken', source_images: [] })
        .expect(503);
      expect(res.body.code).toBe('PIPELINE_UNAVAILABLE');
      expect(res.body.detail).toMatch(/model.json not found/);
    } finally {
      await svc.close();
    }
  });
});
