/**
 * A 29,176-class classifier (generated here: a tiny graph model with a 29,176-wide output) behind
 * the shipped moth detector, answering 4K images. The response is streamed (chunked, gzip on the stream, never
 * one giant string), parses, and carries full score and logit vectors in category-map order. Speed and memory
 * are measured by `npm run bench` (bench/wide-classifier.ts), not here.
 */
import * as path from 'path';
import request from 'supertest';
import { WIDE_CLASSES, WIDE_CLASSIFIER_KEY, wideLabel, wideModelsDir } from '../../bench/wide-models';
import type { Service } from '../../src/bootstrap';
import type { PipelineResultsResponse } from '../../src/contract/types';
import { declaredPipeline } from '../../src/pipelines/declared';
import { expectSchema } from '../helpers/schemas';
import { testService } from '../helpers/service';
import { serveDirectory } from '../helpers/static-server';

const root = path.join(__dirname, '..', '..');

describe('29,176-class classifier on 4K images', () => {
  let svc: Service;
  let samples: Awaited<ReturnType<typeof serveDirectory>>;
  let models: Awaited<ReturnType<typeof wideModelsDir>>;

  beforeAll(async () => {
    models = await wideModelsDir(path.join(root, 'models'));
    samples = await serveDirectory(path.join(root, 'samples'));
    svc = await testService(
      { enabledPipelines: [models.spec.slug], modelsDir: models.dir },
      { registry: [declaredPipeline(models.spec)] },
    );
    expect(svc.engine.readySlugs()).toEqual([models.spec.slug]);
  }, 120_000);
  afterAll(async () => {
    await svc.close();
    await samples.close();
    await models.remove();
  });

  test('4 × 4096×2160: streamed gzip body that parses, full vectors in category-map order', async () => {
    const images = Array.from({ length: 4 }, (_, i) => ({
      id: `4k-${i}`,
      url: samples.url(`trap-4k-${(i % 3) + 1}.jpg`),
    }));
    const res = await request(svc.app.callback())
      .post('/process')
      .set('accept-encoding', 'gzip')
      .send({ pipeline: models.spec.slug, source_images: images })
      .expect(200);
    // Streamed: no length known up front, compressed on the way.
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers['content-length']).toBeUndefined();
    expect(res.headers['transfer-encoding']).toBe('chunked');

    const body = res.body as PipelineResultsResponse;
    expect(body.errors).toBeNull();
    expect(body.source_images.map((s) => s.id)).toEqual(images.map((i) => i.id));
    // The detector finds dozens of insects per sample (25-37 in samples/ground-truth.json).
    expect(body.detections.length).toBeGreaterThan(40);
    const problems: string[] = [];
    for (const [n, d] of body.detections.entries()) {
      const [c] = d.classifications;
      if (d.classifications.length !== 1 || c.algorithm.key !== WIDE_CLASSIFIER_KEY)
        problems.push(`${n}: stages`);
      if (c.scores.length !== WIDE_CLASSES || c.logits?.length !== WIDE_CLASSES) {
        problems.push(`${n}: ${c.scores.length} scores, ${c.logits?.length} logits`);
        continue;
      }
      // Category-map order: the label is the map's entry at the argmax of the scores.
      let best = 0;
      for (let k = 1; k < WIDE_CLASSES; k++) if (c.scores[k] > c.scores[best]) best = k;
      if (c.classification !== wideLabel(best))
        problems.push(`${n}: ${c.classification} is not ${wideLabel(best)}`);
      // Scores are the softmax of the logits, index by index, at float32 precision.
      const logits = c.logits;
      const max = Math.max(...logits);
      let sum = 0;
      for (const l of logits) sum += Math.exp(l - max);
      for (const k of [0, 1, best, 14_587, WIDE_CLASSES - 1]) {
        const expected = Math.exp(logits[k] - max) / sum;
        if (Math.abs(c.scores[k] - expected) > 1e-6 * Math.max(expected, 1e-30) + 1e-12)
          problems.push(`${n}: score[${k}] ${c.scores[k]} vs softmax ${expected}`);
      }
    }
    expect(problems).toEqual([]);
    // The schema check on one detection (the whole body would take the validator minutes).
    expectSchema('process', { ...body, detections: body.detections.slice(0, 1) });
  }, 180_000);
});
