/**
 * The shipped default pipeline on the shipped samples, through POST /process, against the ground truth
 * written by `npm run build-models`:
 * - at least 90% of the planted insects are found at IoU ≥ 0.5;
 * - at most 10% of detections are false positives (matching no planted object, insect or clutter);
 * - at least 80% of the insects found get the right species.
 */
import * as fs from 'fs';
import * as path from 'path';
import request from 'supertest';
import type { Service } from '../../src/bootstrap';
import type { BoundingBox, PipelineResultsResponse } from '../../src/contract/types';
import { expectSchema } from '../helpers/schemas';
import { testService } from '../helpers/service';
import { serveDirectory } from '../helpers/static-server';

interface Truth {
  images: {
    file: string;
    width: number;
    height: number;
    objects: { bbox: BoundingBox; label: string; kind: 'insect' | 'clutter' }[];
  }[];
}

const root = path.join(__dirname, '..', '..');
const truth = JSON.parse(fs.readFileSync(path.join(root, 'samples', 'ground-truth.json'), 'utf8')) as Truth;
const SLUG = 'tfjs_synthetic_moths_2026';

/** Intersection over union, computed here independently of the service's geometry helpers. */
function iou(a: BoundingBox, b: BoundingBox): number {
  const w = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const h = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const inter = w * h;
  const area = (r: BoundingBox) => (r.x2 - r.x1) * (r.y2 - r.y1);
  return inter / (area(a) + area(b) - inter);
}

describe('default models on the shipped samples, through /process', () => {
  let svc: Service;
  let samples: Awaited<ReturnType<typeof serveDirectory>>;
  const totals = {
    insects: 0,
    found: 0,
    detections: 0,
    falsePositives: 0,
    rightSpecies: 0,
    clutterDetected: 0,
    clutterAsMoth: 0,
  };

  beforeAll(async () => {
    [svc, samples] = await Promise.all([
      testService({ enabledPipelines: [SLUG] }),
      serveDirectory(path.join(root, 'samples')),
    ]);
    for (const [i, img] of truth.images.entries()) {
      const res = await request(svc.app.callback())
        .post('/process')
        .send({
          pipeline: SLUG,
          source_images: [{ id: String(i), url: samples.url(img.file) }],
          detections: [],
          config: {},
        })
        .expect(200);
      expectSchema('process', res.body);
      const body = res.body as PipelineResultsResponse;
      expect(body.errors).toBeNull();
      // Greedy one-to-one matching, best IoU first.
      const pairs: [number, number, number][] = [];
      body.detections.forEach((d, di) =>
        img.objects.forEach((o, oi) => pairs.push([iou(d.bbox, o.bbox), di, oi])),
      );
      pairs.sort((a, b) => b[0] - a[0]);
      const matchedDet = new Map<number, number>();
      const matchedObj = new Set<number>();
      for (const [v, di, oi] of pairs) {
        if (v < 0.5) break;
        if (matchedDet.has(di) || matchedObj.has(oi)) continue;
        matchedDet.set(di, oi);
        matchedObj.add(oi);
      }
      totals.detections += body.detections.length;
      totals.falsePositives += body.detections.length - matchedDet.size;
      img.objects.forEach((o) => {
        if (o.kind === 'insect') totals.insects++;
      });
      for (const [di, oi] of matchedDet) {
        const o = img.objects[oi];
        const d = body.detections[di];
        const terminal = d.classifications.find((c) => c.terminal);
        if (o.kind === 'insect') {
          totals.found++;
          if (terminal?.classification === o.label) totals.rightSpecies++;
        } else {
          totals.clutterDetected++;
          if (d.classifications[0]?.classification === 'moth') totals.clutterAsMoth++;
        }
      }
    }
    process.stdout.write(
      `default-model accuracy on ${truth.images.length} samples: ${JSON.stringify(totals)}\n`,
    );
  }, 180_000);

  afterAll(async () => {
    await Promise.all([svc.close(), samples.close()]);
  });

  test('the samples hold both 4096×2160 and smaller images with planted insects', () => {
    expect(truth.images.some((i) => i.width === 4096 && i.height === 2160)).toBe(true);
    expect(truth.images.some((i) => i.width < 4096)).toBe(true);
    expect(totals.insects).toBeGreaterThanOrEqual(50);
  });

  test('at least 90% of planted insects are found at IoU ≥ 0.5', () => {
    expect(totals.found / totals.insects).toBeGreaterThanOrEqual(0.9);
  });

  test('at most 10% of detections are false positives', () => {
    expect(totals.falsePositives / totals.detections).toBeLessThanOrEqual(0.1);
  });

  test('at least 80% of the insects found get the right species', () => {
    expect(totals.rightSpecies / totals.found).toBeGreaterThanOrEqual(0.8);
  });

  test('detected clutter is mostly filtered out as nonmoth', () => {
    expect(totals.clutterAsMoth).toBeLessThanOrEqual(Math.ceil(0.2 * totals.clutterDetected));
  });
});
