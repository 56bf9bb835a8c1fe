/**
 * SavedModels as TensorFlow users have them, run for real on libtensorflow: both committed TF-Python 2.21
 * exports (a detector behind the TF2 Object Detection API's serving signature, a Keras 3 `model.export()`
 * classifier with its preprocessing inside; scripts/make-saved-model-fixtures.py) are imported by the real CLI
 * with no flag beyond --kind and --labels, then served by ObjectDetector / CropClassifier and through
 * `POST /process`, against the outputs TF-Python recorded on the same images (test/fixtures/saved-model/
 * reference.json): boxes within 0.5 px, scores within 1e-5, and no tensor left behind.
 *
 * Needs the native backend: it runs in the native tier (TFJS_BACKEND=tensorflow after `npm run native`) and
 * skips elsewhere, saying why. The wasm tier covers the converter without TensorFlow
 * (test/convert/saved-model-convert.test.ts).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import request from 'supertest';
import * as tf from '@tensorflow/tfjs';
import { CropClassifier } from '../../src/algorithms/crop-classifier';
import { ObjectDetector } from '../../src/algorithms/object-detector';
import type { Service } from '../../src/bootstrap';
import { main as convertMain } from '../../src/cli/convert';
import type { BoundingBox, PipelineResultsResponse } from '../../src/contract/types';
import { chooseDecoder } from '../../src/images/decode';
import { readManifest } from '../../src/models/manifest';
import { nativeTf } from '../../src/tf/backend';
import { expectNoLeak, runOptions, SAMPLES, tensorImage } from '../algorithms/helpers';
import { initTestBackend, nativeBuilt, testBackend } from '../helpers/backend';
import { declarePipelines, pipelineEntry } from '../helpers/declared-pipelines';
import { dataUrl } from '../helpers/images';
import { expectSchema } from '../helpers/schemas';
import { testService } from '../helpers/service';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'saved-model');
const BOX_PX = 0.5;
const SCORE = 1e-5;

interface RecordedTensor {
  shape: number[];
  values: number[];
}
interface Reference {
  tensorflow: string;
  detector: Record<string, { width: number; height: number } & Record<string, RecordedTensor>>;
  classifier: Record<string, { bbox: [number, number, number, number]; scores: number[] }[]>;
}
const reference = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'reference.json'), 'utf8')) as Reference;
const IMAGES = Object.keys(reference.detector);
const imagePath = (name: string): string =>
  name.startsWith('trap-') ? path.join(SAMPLES, name) : path.join(FIXTURES, 'images', name);
const mime = (name: string): string => (name.endsWith('.png') ? 'image/png' : 'image/jpeg');

/** TF-Python's detections of one image: rows before num_detections, as source-pixel corners, class 1-based. */
function expectedDetections(name: string): { box: number[]; score: number; cls: number }[] {
  const r = reference.detector[name];
  const n = r.num_detections.values[0];
  return Array.from({ length: n }, (_, i) => {
    const [y1, x1, y2, x2] = r.detection_boxes.values.slice(4 * i, 4 * i + 4);
    return {
      box: [x1 * r.width, y1 * r.height, x2 * r.width, y2 * r.height],
      score: r.detection_scores.values[i],
      cls: r.detection_classes.values[i],
    };
  });
}

/** One-to-one: each found box takes an unused expected one within BOX_PX on every corner and SCORE in score. */
function expectSameBoxes(
  found: { bbox: BoundingBox; score: number; label?: { scores: number[] } }[],
  expected: { box: number[]; score: number; cls: number }[],
  name: string,
): void {
  expect({ name, count: found.length }).toEqual({ name, count: expected.length });
  const unused = [...expected];
  let boxDiff = 0;
  let scoreDiff = 0;
  for (const d of found) {
    const box = [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2];
    const at = unused.findIndex(
      (e) => e.box.every((v, q) => Math.abs(v - box[q]) <= BOX_PX) && Math.abs(e.score - d.score) <= SCORE,
    );
    expect({ name, box, score: d.score, matched: at >= 0 }).toMatchObject({ matched: true });
    // The detector's class: the label list ["insect", "other"] names ids 1 and 2.
    const scores = d.label?.scores ?? [];
    expect(scores.indexOf(Math.max(...scores))).toBe(unused[at].cls - 1);
    boxDiff = Math.max(boxDiff, ...unused[at].box.map((v, q) => Math.abs(v - box[q])));
    scoreDiff = Math.max(scoreDiff, Math.abs(unused[at].score - d.score));
    unused.splice(at, 1);
  }
  process.stdout.write(
    `saved-model detector ${name}: ${found.length} detections; largest box diff ${boxDiff.toExponential(2)} px, ` +
      `score diff ${scoreDiff.toExponential(2)}\n`,
  );
}

/**
 * The image decoded as the service decodes it on the native backend (libtensorflow with the accurate DCT, as
 * the fixture script decoded it in TF-Python).
 */
function decode(name: string): Promise<tf.Tensor3D> {
  if (!nativeTf()) throw new Error('the native backend is not active');
  return chooseDecoder('tensorflow').decode(fs.readFileSync(imagePath(name)));
}

const skip = !nativeBuilt()
  ? 'npm run native has not built tfjs-node here'
  : testBackend() !== 'tensorflow'
    ? 'TFJS_BACKEND is not tensorflow; the native tier runs this suite'
    : null;
const TITLE = 'TF OD API detector and Keras classifier SavedModels, imported and served on libtensorflow';

// The skip reporter reads the reason at the end of a test's own title: without the native tier, one skipped test
// stands for the suite.
if (skip) it.skip(`${TITLE} (SKIPPED: ${skip})`, () => undefined);
else
  describe(TITLE, () => {
    let tmp: string;
    let models: string;

    beforeAll(async () => {
      await initTestBackend();
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'saved-model-service-'));
      models = path.join(tmp, 'models');
      const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
      try {
        // No --skip-check: the CLI also loads and warms each directory on libtensorflow, as the service will.
        for (const [fixture, kind, out] of [
          ['od-api-detector', 'detector', 'od-detector'],
          ['keras-classifier', 'classifier', 'keras-classifier'],
        ]) {
          const dir = path.join(FIXTURES, fixture);
          const args = ['saved-model', path.join(dir, 'saved_model'), '--out', path.join(models, out)];
          expect(
            await convertMain([...args, '--kind', kind, '--labels', path.join(dir, 'labels.json')]),
          ).toBe(0);
        }
      } finally {
        stderr.mockRestore();
      }
    }, 120_000);

    afterAll(() => {
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    it('TF-Python recorded padding past num_detections on some images, and none on another', () => {
      const counts = IMAGES.map((name) => reference.detector[name].num_detections.values[0]);
      expect(counts.some((n) => n > 0 && n < 20)).toBe(true);
      expect(counts).toContain(0);
      expect(reference.tensorflow).toBe('2.21.0');
    });

    describe('ObjectDetector', () => {
      let detector: ObjectDetector;
      beforeAll(async () => {
        detector = new ObjectDetector(await readManifest(path.join(models, 'od-detector')));
        await detector.compile();
      });
      afterAll(() => detector.dispose());

      it.each(IMAGES)(
        '%s: every row before num_detections, boxes within 0.5 px, scores within 1e-5',
        async (name) => {
          const image = tensorImage(name, await decode(name));
          try {
            // Threshold 0: every row the graph kept, so that the rows past num_detections would show if read.
            const [found] = await expectNoLeak(() =>
              detector.run([image], runOptions(4, { detection_threshold: 0 })),
            );
            expectSameBoxes(found, expectedDetections(name), name);
          } finally {
            image.dispose();
          }
        },
      );

      it('a request threshold over every score TF-Python recorded: [] on each such image, batched', async () => {
        const names = IMAGES.filter(
          (name) => Math.max(0, ...expectedDetections(name).map((e) => e.score)) < 0.9999,
        );
        expect(names.length).toBeGreaterThan(1);
        const images = await Promise.all(names.map(async (name) => tensorImage(name, await decode(name))));
        try {
          const found = await detector.run(images, runOptions(4, { detection_threshold: 0.9999 }));
          expect(found).toEqual(images.map(() => []));
        } finally {
          images.forEach((im) => im.dispose());
        }
      });
    });

    describe('CropClassifier', () => {
      let classifier: CropClassifier;
      beforeAll(async () => {
        classifier = new CropClassifier(await readManifest(path.join(models, 'keras-classifier')));
        await classifier.compile();
      });
      afterAll(() => classifier.dispose());

      it('every crop at its own size, batched by size, scores within 1e-5 of TF-Python, no leak', async () => {
        const images = await Promise.all(IMAGES.map(async (name) => tensorImage(name, await decode(name))));
        try {
          const regions = images.flatMap((image) =>
            reference.classifier[image.id].map(({ bbox: [x1, y1, x2, y2] }) => ({
              image,
              bbox: { x1, y1, x2, y2 },
            })),
          );
          const results = await expectNoLeak(() => classifier.run(regions, runOptions(3)));
          const expected = IMAGES.flatMap((name) => reference.classifier[name].map((c) => c.scores));
          let largest = 0;
          results.forEach((r, i) => {
            const diff = Math.max(...r.scores.map((s, q) => Math.abs(s - expected[i][q])));
            expect({ crop: i, close: diff <= SCORE }).toEqual({ crop: i, close: true });
            largest = Math.max(largest, diff);
          });
          process.stdout.write(
            `saved-model classifier: ${results.length} crops; largest score diff ${largest.toExponential(2)}\n`,
          );
        } finally {
          images.forEach((im) => im.dispose());
        }
      });
    });

    describe('through POST /process', () => {
      let svc: Service;
      beforeAll(async () => {
        declarePipelines(models, [
          pipelineEntry('od_api_alone', 'od-detector'),
          pipelineEntry('od_api_keras', 'od-detector', [{ model: 'keras-classifier', terminal: true }]),
        ]);
        svc = await testService({
          modelsDir: models,
          tfjsBackend: 'tensorflow',
          enabledPipelines: ['od_api_alone', 'od_api_keras'],
        });
        expect(svc.info.pipelines.map((p) => p.slug).sort()).toEqual(['od_api_alone', 'od_api_keras']);
      }, 120_000);
      afterAll(async () => {
        await svc.close();
      });

      const sourceImages = (): { id: string; url: string }[] =>
        IMAGES.map((name) => ({ id: name, url: dataUrl(mime(name), fs.readFileSync(imagePath(name))) }));

      const post = async (body: Record<string, unknown>): Promise<PipelineResultsResponse> => {
        const res = await request(svc.app.callback()).post('/process').send(body).expect(200);
        expectSchema('process', res.body);
        return res.body as PipelineResultsResponse;
      };

      it("the detector: TF-Python's boxes in whole pixels, with its class and score, on every image", async () => {
        const before = tf.memory().numTensors;
        const body = await post({
          pipeline: 'od_api_alone',
          source_images: sourceImages(),
          config: { detection_threshold: 0 },
        });
        expect(body.errors).toBeNull();
        for (const name of IMAGES) {
          // The service truncates corners to whole pixels; a reference corner within 0.5 px decides the window.
          const expected = expectedDetections(name).map((e) => ({
            ...e,
            window: e.box.map((v) => [Math.trunc(Math.max(0, v - BOX_PX)), Math.trunc(v + BOX_PX)]),
          }));
          const got = body.detections.filter((d) => d.source_image_id === name);
          expect({ name, count: got.length }).toEqual({ name, count: expected.length });
          for (const d of got) {
            const box = [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2];
            const [own] = d.classifications;
            const at = expected.findIndex(
              (e) =>
                e.window.every(([lo, hi], q) => box[q] >= lo && box[q] <= hi) &&
                Math.abs(Math.max(...own.scores) - e.score) <= SCORE &&
                own.classification === ['insect', 'other'][e.cls - 1],
            );
            expect({ name, box, own: own.classification, matched: at >= 0 }).toMatchObject({ matched: true });
            expect(own.algorithm.key).toBe('od-detector_classes');
            expected.splice(at, 1);
          }
        }
        // The service's own tensors (models, engine state) are back to what they were.
        expect(tf.memory().numTensors).toBe(before);
      });

      it("the classifier on given boxes (re-processing): TF-Python's probabilities for each crop", async () => {
        const detections = IMAGES.flatMap((name) =>
          reference.classifier[name].map(({ bbox: [x1, y1, x2, y2] }) => ({
            source_image: { id: name, url: 'unused' },
            bbox: { x1, y1, x2, y2 },
            algorithm: { name: 'Antenna', key: 'stored-detector' },
          })),
        );
        const before = tf.memory().numTensors;
        const body = await post({ pipeline: 'od_api_keras', source_images: sourceImages(), detections });
        expect(body.errors).toBeNull();
        expect(body.detections).toHaveLength(detections.length);
        for (const name of IMAGES) {
          const got = body.detections.filter((d) => d.source_image_id === name);
          reference.classifier[name].forEach(({ bbox: [x1, y1, x2, y2], scores }) => {
            const d = got.find(
              (g) => g.bbox.x1 === x1 && g.bbox.y1 === y1 && g.bbox.x2 === x2 && g.bbox.y2 === y2,
            );
            const c = d?.classifications.find((k) => k.algorithm.key === 'keras-classifier');
            const diff = Math.max(...(c?.scores ?? [Infinity]).map((s, q) => Math.abs(s - scores[q])));
            expect({ name, bbox: [x1, y1, x2, y2], close: diff <= SCORE }).toMatchObject({ close: true });
            expect(c?.classification).toBe(['moth', 'beetle', 'other'][scores.indexOf(Math.max(...scores))]);
          });
        }
        expect(tf.memory().numTensors).toBe(before);
      });
    });
  });
