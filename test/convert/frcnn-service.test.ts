/**
 * Detector conversion end to end for torchvision Faster R-CNN: the committed export
 * (test/fixtures/onnx/frcnn-tiny.onnx, from scripts/export-onnx-fixtures.py) converted by the real CLI with
 * `--kind detector` and no other flag, then served by ObjectDetector and through `POST /process` (alone and
 * followed by a classifier) on PNG images of several sizes and aspect ratios, against onnxruntime on the same
 * ONNX file and the same RGB floats in [0, 1].
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import request from 'supertest';
import * as tf from '@tensorflow/tfjs';
import { ObjectDetector } from '../../src/algorithms/object-detector';
import type { Service } from '../../src/bootstrap';
import { main as convertMain } from '../../src/cli/convert';
import type { BoundingBox, PipelineResultsResponse } from '../../src/contract/types';
import { readManifest, type DetectorManifest } from '../../src/models/manifest';
import { initTestBackend } from '../helpers/backend';
import { expectNoLeak, runOptions, tensorImage } from '../algorithms/helpers';
import { declarePipelines, MOTH_STEP, pipelineEntry } from '../helpers/declared-pipelines';
import { dataUrl, rgbPng } from '../helpers/images';
import { expectSchema } from '../helpers/schemas';
import { testService } from '../helpers/service';
import {
  expectSameDetections,
  expectSameWholePixelBoxes,
  type ReferenceBox,
  withScoreThreshold,
} from './detector-reference';
import { runOrt } from './helpers';
import { Rand } from './models';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'onnx', 'frcnn-tiny.onnx');

/** One test image: whole RGB pixels, row-major HWC, as a PNG decodes them (exactly). */
interface Picture {
  id: string;
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** Seeded noise around mid-grey, the kind of input the fixture's random weights find boxes in. */
function noise(id: string, height: number, width: number, seed: number): Picture {
  const r = new Rand(seed).fill(height * width * 3, 0.3, 0.5);
  const rgb = Uint8Array.from(r, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
  return { id, width, height, rgb };
}

/** The same pixels as the CHW floats in [0, 1] torchvision (and so onnxruntime) takes. */
function chw(p: Picture): { data: Float32Array; shape: number[] } {
  const data = new Float32Array(3 * p.height * p.width);
  const plane = p.height * p.width;
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) data[c * plane + i] = p.rgb[i * 3 + c] / 255;
  return { data, shape: [3, p.height, p.width] };
}

type Expected = ReferenceBox[];

/** Every score onnxruntime gave, before the service's threshold, per picture id. */
const ortScores = new Map<string, Float32Array>();

/**
 * onnxruntime's detections as the manifest says the service reports them: score ≥ threshold, clamped to the
 * image, zero-area boxes dropped, best first, at most `max` (the graph already ran NMS).
 */
async function reference(onnx: Uint8Array, p: Picture, threshold: number, max: number): Promise<Expected> {
  const input = chw(p);
  const [boxes, scores] = await Promise.all([runOrt(onnx, input, 0), runOrt(onnx, input, 2)]);
  ortScores.set(p.id, scores);
  const expected: Expected = [];
  const cx = (v: number): number => Math.min(Math.max(v, 0), p.width);
  const cy = (v: number): number => Math.min(Math.max(v, 0), p.height);
  for (let i = 0; i < scores.length; i++) {
    if (!(scores[i] >= threshold)) continue;
    const [x1, y1, x2, y2] = boxes.subarray(4 * i, 4 * i + 4);
    const box = [cx(x1), cy(y1), cx(x2), cy(y2)];
    if (box[2] > box[0] && box[3] > box[1]) expected.push({ box, score: scores[i] });
  }
  return expected.sort((a, b) => b.score - a.score).slice(0, max);
}

const PICTURES: Picture[] = [
  noise('landscape-128x96', 96, 128, 1),
  noise('portrait-90x120', 120, 90, 2),
  noise('wide-200x64', 64, 200, 3),
  noise('square-150', 150, 150, 4),
  noise('odd-77x131', 131, 77, 5),
];

const original = new Uint8Array(fs.readFileSync(FIXTURE));

/** onnxruntime's reference for every picture, under the manifest's threshold and cap. */
async function references(onnx: Uint8Array, manifest: DetectorManifest): Promise<Map<string, Expected>> {
  const { score_threshold: threshold, max_detections: max } = manifest.output;
  const out = new Map<string, Expected>();
  for (const p of PICTURES) out.set(p.id, await reference(onnx, p, threshold ?? 0, max ?? Infinity));
  return out;
}

const tensorOf = (p: Picture): tf.Tensor3D =>
  tf.tensor3d(Int32Array.from(p.rgb), [p.height, p.width, 3], 'int32');

/** Each found box takes an unused reference box within 1e-3 of the image size (px) and 1e-4 in score. */
function expectSameAsReference(
  found: { bbox: BoundingBox; score: number }[],
  expected: Expected,
  size: number,
  label: string,
): void {
  const { boxDiff, scoreDiff } = expectSameDetections(found, expected, 1e-3 * size);
  process.stdout.write(
    `frcnn service ${label}: ${found.length} detections; box diff ${(boxDiff / size).toExponential(2)} of the ` +
      `image size, score diff ${scoreDiff.toExponential(2)}\n`,
  );
}

describe('torchvision Faster R-CNN fixture: convert --kind detector, serve, compare with onnxruntime', () => {
  let tmp: string;
  let models: string;
  let manifest: DetectorManifest;
  let expected: Map<string, Expected>;
  const EMPTY = withScoreThreshold(original, 0.9999); // the If's "no boxes" branch on every image

  beforeAll(async () => {
    await initTestBackend();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'frcnn-service-'));
    models = path.join(tmp, 'models');
    fs.mkdirSync(models);
    fs.writeFileSync(path.join(tmp, 'frcnn-empty.onnx'), EMPTY);
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      for (const [onnx, name] of [
        [FIXTURE, 'frcnn'],
        [path.join(tmp, 'frcnn-empty.onnx'), 'frcnn-empty'],
      ]) {
        expect(
          await convertMain(['onnx', onnx, '--out', path.join(models, name), '--kind', 'detector']),
        ).toBe(0);
      }
    } finally {
      stderr.mockRestore();
    }
    const loaded = await readManifest(path.join(models, 'frcnn'));
    if (loaded.manifest.kind !== 'detector') throw new Error('--kind detector wrote a classifier manifest');
    manifest = loaded.manifest;
    expected = await references(original, manifest);
  }, 120_000);

  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the manifest takes the whole image at its own size, with NMS in the graph', () => {
    expect(manifest.input).toMatchObject({ resize: 'none', batch: 'none', scale: 1 / 255 });
    expect(manifest.output).toMatchObject({ nms: 'in-graph', coordinates: 'pixels', box_format: 'xyxy' });
  });

  it('the reference finds boxes on every picture, none within 1e-4 of the threshold', () => {
    const t = manifest.output.score_threshold ?? 0;
    for (const p of PICTURES) {
      const e = expected.get(p.id) ?? [];
      expect({ id: p.id, found: e.length > 1 }).toEqual({ id: p.id, found: true });
      // A score that close to the threshold could fall either side of it in either runtime.
      const near = Array.from(ortScores.get(p.id) ?? []).filter((v) => Math.abs(v - t) <= 1e-4);
      expect({ id: p.id, near }).toEqual({ id: p.id, near: [] });
    }
  });

  describe('ObjectDetector', () => {
    let detector: ObjectDetector;
    let empty: ObjectDetector;
    beforeAll(async () => {
      detector = new ObjectDetector(await readManifest(path.join(models, 'frcnn')));
      empty = new ObjectDetector(await readManifest(path.join(models, 'frcnn-empty')));
      await detector.compile();
      await empty.compile();
    });
    afterAll(() => {
      detector.dispose();
      empty.dispose();
    });

    it.each(PICTURES.map((p) => [p.id, p] as const))(
      '%s: same boxes (1e-3 of the image size) and scores (1e-4) as onnxruntime, before rounding',
      async (_id, p) => {
        const image = tensorImage(p.id, tensorOf(p));
        try {
          const [found] = await detector.run([image], runOptions(1));
          expectSameAsReference(found, expected.get(p.id) ?? [], Math.max(p.width, p.height), p.id);
        } finally {
          image.dispose();
        }
      },
    );

    it('all pictures in one call with a batch size of 4: one image at a time, the same detections', async () => {
      const images = PICTURES.map((p) => tensorImage(p.id, tensorOf(p)));
      try {
        const found = await detector.run(images, runOptions(4));
        PICTURES.forEach((p, i) =>
          expectSameAsReference(
            found[i],
            expected.get(p.id) ?? [],
            Math.max(p.width, p.height),
            `${p.id} (batched)`,
          ),
        );
      } finally {
        images.forEach((im) => im.dispose());
      }
    });

    it('no box above the in-graph threshold: [] for every picture, not an error', async () => {
      const images = PICTURES.map((p) => tensorImage(p.id, tensorOf(p)));
      try {
        expect(await empty.run(images, runOptions(1))).toEqual(PICTURES.map(() => []));
      } finally {
        images.forEach((im) => im.dispose());
      }
    });

    it('no tensors leak over runs with zero, one and many boxes', async () => {
      const p = PICTURES[0];
      const e = expected.get(p.id) ?? [];
      // Between the two best scores: the graph's boxes, then one left after the service's threshold.
      const one = (e[0].score + e[1].score) / 2;
      const image = tensorImage(p.id, tensorOf(p));
      try {
        const counts: number[] = [];
        await expectNoLeak(async () => {
          for (let run = 0; run < 2; run++) {
            counts.push((await empty.run([image], runOptions(1)))[0].length);
            counts.push((await detector.run([image], runOptions(1, { detection_threshold: one })))[0].length);
            counts.push((await detector.run([image], runOptions(1)))[0].length);
          }
        });
        expect(counts).toEqual([0, 1, e.length, 0, 1, e.length]);
      } finally {
        image.dispose();
      }
    });
  });

  describe('through POST /process', () => {
    let svc: Service;
    beforeAll(async () => {
      declarePipelines(models, [
        pipelineEntry('frcnn_alone', 'frcnn'),
        pipelineEntry('frcnn_then_moth', 'frcnn', MOTH_STEP),
        pipelineEntry('frcnn_empty_then_moth', 'frcnn-empty', MOTH_STEP),
      ]);
      svc = await testService({
        modelsDir: models,
        enabledPipelines: ['frcnn_alone', 'frcnn_then_moth', 'frcnn_empty_then_moth'],
      });
    }, 120_000);
    afterAll(async () => {
      await svc.close();
    });

    const post = async (pipeline: string): Promise<PipelineResultsResponse> => {
      const sourceImages = await Promise.all(
        PICTURES.map(async (p) => {
          const png = await rgbPng(p.rgb, p.width, p.height);
          return { id: p.id, url: dataUrl('image/png', png) };
        }),
      );
      const res = await request(svc.app.callback())
        .post('/process')
        .send({ pipeline, source_images: sourceImages, config: { detector_batch_size: 4 } })
        .expect(200);
      expectSchema('process', res.body);
      return res.body as PipelineResultsResponse;
    };

    it.each([
      ['frcnn_alone', 0],
      ['frcnn_then_moth', 1],
    ])(
      '%s: per picture, the reference boxes in whole pixels, each with %i classification(s)',
      async (slug, n) => {
        const body = await post(slug);
        expect(body.errors).toBeNull();
        for (const p of PICTURES) {
          const got = body.detections.filter((d) => d.source_image_id === p.id);
          expectSameWholePixelBoxes(got, expected.get(p.id) ?? [], p.id);
          for (const d of got) {
            expect(d.classifications).toHaveLength(n);
            if (n)
              expect(d.classifications[0].algorithm.key).toBe('tfjs_synthetic_moth_nonmoth_classifier_2026');
          }
        }
      },
    );

    it('no box above the in-graph threshold: 200 with no detections and no errors', async () => {
      const body = await post('frcnn_empty_then_moth');
      expect(body.errors).toBeNull();
      expect(body.detections).toEqual([]);
      expect(body.source_images.map((s) => s.id)).toEqual(PICTURES.map((p) => p.id));
    });
  });
});
