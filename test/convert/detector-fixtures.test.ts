/**
 * The committed torch-exported ultralytics fixture (test/fixtures/onnx/yolo-tiny.onnx, from
 * scripts/export-onnx-fixtures.py) converted with `--kind detector` alone, then served by ObjectDetector and through
 * `POST /process` (alone and followed by a classifier), against onnxruntime on an input letterboxed by hand.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import request from 'supertest';
import * as tf from '@tensorflow/tfjs';
import { ObjectDetector } from '../../src/algorithms/object-detector';
import type { Service } from '../../src/bootstrap';
import { main as convertMain } from '../../src/cli/convert';
import type { PipelineResultsResponse } from '../../src/contract/types';
import { readManifest } from '../../src/models/manifest';
import { initTestBackend } from '../helpers/backend';
import { expectNoLeak, runOptions, tensorImage } from '../algorithms/helpers';
import { declarePipelines, MOTH_STEP, pipelineEntry } from '../helpers/declared-pipelines';
import { dataUrl, rgbPng } from '../helpers/images';
import { expectSchema } from '../helpers/schemas';
import { testService } from '../helpers/service';
import {
  decodeUltralytics,
  expectSameDetections,
  halvedLetterbox,
  hwcPixels,
  type ReferenceBox,
} from './detector-reference';
import { runOrt } from './helpers';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'onnx', 'yolo-tiny.onnx');
// The ONNX fixtures arrive with the converter's detector ops; without them there is nothing to convert.
const withFixture = fs.existsSync(FIXTURE) ? describe : describe.skip;
const TITLE = fs.existsSync(FIXTURE)
  ? 'ultralytics fixture: convert --kind detector, serve, compare with onnxruntime'
  : `skipped: ${path.relative(process.cwd(), FIXTURE)} is missing (scripts/export-onnx-fixtures.py writes it)`;

// A 128×64 source: the fixture's 64×64 letterbox-center halves it into rows 16..47, and each input pixel is then
// exactly the mean of a 2×2 source block (bilinear, half-pixel centres, scale 1/2). Other rows are 114 grey.
const W = 128;
const H = 64;
const S = 64;
const px = (y: number, x: number, c: number): number => (x * 5 + y * 7 + c * 80 + ((x * y) % 13) * 9) % 256;

type Expected = ReferenceBox[];

/** onnxruntime on the hand-letterboxed input, decoded as ultralytics does (no NMS). */
async function reference(onnx: Uint8Array, threshold: number): Promise<Expected> {
  const input = halvedLetterbox(px, { width: W, height: H }, S, 16);
  const out = await runOrt(onnx, { data: input, shape: [1, 3, S, S] }); // [1, 4 + 3 classes, N]
  return decodeUltralytics(out, 3, threshold, { scale: 0.5, padY: 16, width: W, height: H });
}

const pixels = (): Uint8Array => hwcPixels(px, { width: W, height: H });

withFixture(TITLE, () => {
  const THRESHOLD = 0.05;
  let tmp: string;
  let models: string;
  let expected: Expected;

  beforeAll(async () => {
    await initTestBackend();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'yolo-fixture-'));
    models = path.join(tmp, 'models');
    fs.mkdirSync(models);
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const args = ['onnx', FIXTURE, '--out', path.join(models, 'yolo'), '--kind', 'detector'];
      // --nms in-graph switches the service's NMS off (this graph has none), so the reference needs none either.
      expect(await convertMain([...args, '--score-threshold', String(THRESHOLD), '--nms', 'in-graph'])).toBe(
        0,
      );
    } finally {
      stderr.mockRestore();
    }
    expected = await reference(new Uint8Array(fs.readFileSync(FIXTURE)), THRESHOLD);
  });

  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('finds some boxes in the reference (otherwise the comparison proves nothing)', () => {
    expect(expected.length).toBeGreaterThan(2);
  });

  it('ObjectDetector gives the same boxes (1e-3 px) and scores (1e-4) as onnxruntime', async () => {
    const detector = new ObjectDetector(await readManifest(path.join(models, 'yolo')));
    await detector.compile();
    const image = tensorImage('gradient', tf.tensor3d(Int32Array.from(pixels()), [H, W, 3], 'int32'));
    try {
      const [found] = await expectNoLeak(() => detector.run([image], runOptions(1)));
      expectSameDetections(found, expected, 1e-3);
    } finally {
      image.dispose();
      detector.dispose();
    }
  });

  describe('through POST /process', () => {
    let svc: Service;
    beforeAll(async () => {
      declarePipelines(models, [
        pipelineEntry('yolo_alone', 'yolo'),
        pipelineEntry('yolo_then_moth', 'yolo', MOTH_STEP),
      ]);
      svc = await testService({ modelsDir: models, enabledPipelines: ['yolo_alone', 'yolo_then_moth'] });
    });
    afterAll(async () => {
      await svc.close();
    });

    const post = async (pipeline: string): Promise<PipelineResultsResponse> => {
      const png = await rgbPng(pixels(), W, H);
      const res = await request(svc.app.callback())
        .post('/process')
        .send({ pipeline, source_images: [{ id: 'g', url: dataUrl('image/png', png) }] })
        .expect(200);
      expectSchema('process', res.body);
      return res.body as PipelineResultsResponse;
    };

    // /process sends whole pixels (truncated, as ADC) and drops boxes that become identical.
    const truncated = (): string[] => [
      ...new Set(expected.map((e) => e.box.map((v) => Math.trunc(v)).join(','))),
    ];

    it.each([
      ['yolo_alone', 1],
      ['yolo_then_moth', 2],
    ])(
      '%s: the reference boxes, in whole pixels, each with the expected classifications',
      async (slug, n) => {
        const body = await post(slug);
        expect(body.errors).toBeNull();
        const boxes = body.detections.map((d) => [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2].join(','));
        expect(boxes.sort()).toEqual(truncated().sort());
        for (const d of body.detections) {
          // The detector's own class (the fixture carries ultralytics names), then the classifier's.
          expect(d.classifications.map((c) => c.algorithm.key)).toEqual(
            ['yolo_classes', 'tfjs_synthetic_moth_nonmoth_classifier_2026'].slice(0, n),
          );
          expect(d.classifications[0].terminal).toBe(n === 1);
        }
      },
    );
  });
});
