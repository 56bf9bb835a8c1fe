/**
 * Real-detector layouts through `POST /process`, declared in pipelines.json: a torchvision-shaped detector alone
 * (`"classifiers": []`, boxes only), the same detector reporting its own classes, and an ultralytics-shaped one
 * followed by a classifier. Boxes are checked against the planted ones (see test/algorithms/detector-models.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import request from 'supertest';
import type { Service } from '../../src/bootstrap';
import type { PipelineResultsResponse } from '../../src/contract/types';
import {
  type ManifestJson,
  tempModelDir,
  torchvisionManifest,
  ultralyticsManifest,
  writeManifest,
  writeTorchvision,
  writeUltralytics,
} from '../algorithms/detector-models';
import { declarePipelines, MOTH_STEP, pipelineEntry } from '../helpers/declared-pipelines';
import { dataUrl, png } from '../helpers/images';
import { expectSchema } from '../helpers/schemas';
import { testService } from '../helpers/service';

const frcnnManifest = (key: string, classLabels: boolean): ManifestJson =>
  torchvisionManifest(0.3, { key, classLabels: classLabels ? { report: true } : undefined });

let svc: Service;
let modelsDir: string;

beforeAll(async () => {
  modelsDir = await tempModelDir('models');
  const sub = (name: string): string => {
    fs.mkdirSync(path.join(modelsDir, name));
    return path.join(modelsDir, name);
  };
  // Torchvision-shaped: boxes at fractions of the image, scores = planted · image mean.
  for (const [name, labels] of [
    ['frcnn', false],
    ['frcnn-labels', true],
  ] as const) {
    const dir = sub(name);
    await writeTorchvision(
      dir,
      [
        [0.1, 0.1, 0.4, 0.5],
        [0.6, 0.6, 0.9, 0.9],
      ],
      [1, 0.5],
      [1, 1],
    );
    await writeManifest(dir, frcnnManifest(`tiny_${name.replace('-', '_')}`, labels), ['background', 'moth']);
  }
  // Ultralytics-shaped, 64×64 letterbox-center: one planted box at source (10,20)-(50,60) of a 128×64 image.
  const yolo = sub('yolo');
  await writeUltralytics(yolo, 64, [{ cxcywh: [15, 36, 20, 20], scores: [0.9] }]);
  await writeManifest(yolo, ultralyticsManifest(64));
  declarePipelines(modelsDir, [
    pipelineEntry('frcnn_boxes', 'frcnn'),
    pipelineEntry('frcnn_labels', 'frcnn-labels'),
    pipelineEntry('yolo_moth', 'yolo', MOTH_STEP),
    { ...pipelineEntry('frcnn_moths', 'frcnn-labels'), detector_classes: ['moth'] },
    { ...pipelineEntry('frcnn_background', 'frcnn-labels'), detector_classes: ['background'] },
  ]);
  svc = await testService({
    modelsDir,
    enabledPipelines: ['frcnn_boxes', 'frcnn_labels', 'yolo_moth', 'frcnn_moths', 'frcnn_background'],
  });
});

afterAll(async () => {
  await svc.close();
  fs.rmSync(modelsDir, { recursive: true, force: true });
});

const post = async (pipeline: string, width: number, height: number): Promise<PipelineResultsResponse> => {
  const res = await request(svc.app.callback())
    .post('/process')
    .send({ pipeline, source_images: [{ id: 'img', url: dataUrl('image/png', await png(width, height)) }] })
    .expect(200);
  expectSchema('process', res.body);
  return res.body as PipelineResultsResponse;
};

// png() is a solid (200, 120, 40) image: mean 0.4706, so the first box scores 0.47 (kept at 0.3), the second 0.24.
const MEAN = (200 + 120 + 40) / 3 / 255;

test('/info lists the detector-only pipelines; the detector keeps a null map, its classes come as their own algorithm', async () => {
  const res = await request(svc.app.callback()).get('/info').expect(200);
  expectSchema('info', res.body);
  const pipelines = (
    res.body as {
      pipelines: { slug: string; algorithms: { key: string; task_type: string; category_map: unknown }[] }[];
    }
  ).pipelines;
  const bySlug = new Map(pipelines.map((p) => [p.slug, p.algorithms]));
  expect(bySlug.get('frcnn_boxes')?.map((a) => a.key)).toEqual(['tiny_frcnn']);
  const labelled = bySlug.get('frcnn_labels') ?? [];
  expect(labelled.map((a) => [a.key, a.task_type, a.category_map === null])).toEqual([
    ['tiny_frcnn_labels', 'localization', true],
    ['tiny_frcnn_labels_classes', 'classification', false],
  ]);
});

test('a detector-only pipeline returns boxes in source pixels and no classifications', async () => {
  const body = await post('frcnn_boxes', 80, 60);
  expect(body.errors).toBeNull();
  expect(body.detections).toHaveLength(1);
  const [d] = body.detections;
  // Whole pixels, as the service sends them: (0.1·80, 0.1·60, 0.4·80, 0.5·60).
  expect(d.bbox).toEqual({ x1: 8, y1: 6, x2: 32, y2: 30 });
  expect(d.algorithm).toEqual({ name: 'tiny_frcnn', key: 'tiny_frcnn' });
  expect(d.classifications).toEqual([]);
});

test('with class_labels.report the detector classifies its own boxes, terminally when nothing follows', async () => {
  const body = await post('frcnn_labels', 80, 60);
  const [d] = body.detections;
  expect(d.classifications).toHaveLength(1);
  const [c] = d.classifications;
  expect(c.classification).toBe('moth');
  expect(c.algorithm.key).toBe('tiny_frcnn_labels_classes');
  expect(c.terminal).toBe(true);
  expect(c.scores[0]).toBe(0);
  expect(c.scores[1]).toBeCloseTo(MEAN, 4);
});

test('an ultralytics-shaped detector followed by a classifier: the planted box, classified', async () => {
  const body = await post('yolo_moth', 128, 64);
  expect(body.errors).toBeNull();
  expect(body.detections).toHaveLength(1);
  const [d] = body.detections;
  expect(d.bbox).toEqual({ x1: 10, y1: 20, x2: 50, y2: 60 });
  expect(d.classifications.map((c) => [c.algorithm.key, c.terminal])).toEqual([
    ['tfjs_synthetic_moth_nonmoth_classifier_2026', true],
  ]);
  expect(['moth', 'nonmoth']).toContain(d.classifications[0].classification);
});

test('detector_classes in pipelines.json keeps only the classes that pipeline wants', async () => {
  // Every planted box is class 1 ("moth").
  expect((await post('frcnn_moths', 80, 60)).detections).toHaveLength(1);
  expect((await post('frcnn_background', 80, 60)).detections).toEqual([]);
});
