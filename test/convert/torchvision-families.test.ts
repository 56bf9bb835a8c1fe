/**
 * Every torchvision detector family the service serves, converted from its committed export with `--kind detector`
 * and no other flag, warms up and answers on blank, uniform and textured pictures of several sizes and aspect
 * ratios, against PyTorch's own answers (test/fixtures/onnx/torchvision-references.json, recorded by
 * scripts/export-onnx-fixtures.py):
 * - frcnn-tiny (a two-conv backbone), frcnn-mobilenet-tiny (ADC's MobileNetV3-Large-FPN 2023 structure) and
 *   frcnn-resnet50-tiny (fasterrcnn_resnet50_fpn's structure), each resizing inside the graph;
 * - frcnn-shorter-side-tiny, exported as `npm run import-adc` exports ADC's detector (no resize or normalisation in
 *   the graph; the manifest's resize "shorter-side" and ImageNet mean/std do them);
 * - the two with rpn_score_thresh 0.05 also "+rpn-silent": no proposal survives the RPN on any picture, which is
 *   what a trained model does on a blank warm-up image. onnxruntime cannot run that path at all.
 * On the native tier, where a Python with TensorFlow is at hand, every family is checked a second time as a native
 * SavedModel (`npm run convert -- native`): the same graph run as one TensorFlow session must give the same answers.
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
import { readManifest } from '../../src/models/manifest';
import { initTestBackend, testBackend } from '../helpers/backend';
import { tfPythonForTests } from '../helpers/tf-python';
import { writeNativeSavedModel } from '../../src/convert/native-saved-model';
import { expectNoLeak, runOptions, tensorImage } from '../algorithms/helpers';
import { declarePipelines, pipelineEntry } from '../helpers/declared-pipelines';
import { dataUrl, rgbPng } from '../helpers/images';
import { expectSchema } from '../helpers/schemas';
import { testService } from '../helpers/service';
import { expectSameDetections, expectSameWholePixelBoxes, type ReferenceBox } from './detector-reference';
import {
  fixtureBytes,
  ortDetections,
  picturePixels,
  pytorchDetections,
  pytorchScores,
  rpnSilenced,
  TORCHVISION_PICTURES,
  tracedResizeAgrees,
  type TorchvisionPicture,
} from './torchvision-references';

/** One model directory under test: which fixture, its reference name, how it is made. */
interface Family {
  /** Model directory and pipeline slug. */
  dir: string;
  /** Key of PyTorch's answers in torchvision-references.json. */
  reference: string;
  fixture: string;
  silent?: boolean;
  shorterSide?: boolean;
  /** Served through its native SavedModel (native tier only). */
  savedModel?: boolean;
}

const GRAPH_FAMILIES: Family[] = [
  { dir: 'frcnn-tiny', reference: 'frcnn-tiny', fixture: 'frcnn-tiny' },
  { dir: 'frcnn-tiny-rpn-silent', reference: 'frcnn-tiny+rpn-silent', fixture: 'frcnn-tiny', silent: true },
  { dir: 'frcnn-mobilenet', reference: 'frcnn-mobilenet-tiny', fixture: 'frcnn-mobilenet-tiny' },
  {
    dir: 'frcnn-mobilenet-rpn-silent',
    reference: 'frcnn-mobilenet-tiny+rpn-silent',
    fixture: 'frcnn-mobilenet-tiny',
    silent: true,
  },
  { dir: 'frcnn-resnet50', reference: 'frcnn-resnet50-tiny', fixture: 'frcnn-resnet50-tiny' },
  {
    dir: 'frcnn-shorter-side',
    reference: 'frcnn-shorter-side-tiny',
    fixture: 'frcnn-shorter-side-tiny',
    shorterSide: true,
  },
];

const tfPython = testBackend() === 'tensorflow' ? tfPythonForTests() : null;
const FAMILIES: Family[] = [
  ...GRAPH_FAMILIES,
  ...(tfPython?.python
    ? GRAPH_FAMILIES.map((f) => ({ ...f, dir: `${f.dir}-as-saved-model`, savedModel: true }))
    : []),
];
if (tfPython && !tfPython.python) {
  it.skip(`every family again as a native SavedModel (SKIPPED: ${tfPython.why})`, () => undefined);
}

/** The detector's manifest threshold (the converter's default, 0.5: inclusive). */
const THRESHOLD = 0.5;

/**
 * Who the family's answer on a picture is checked against. PyTorch, except where the exported graph itself resizes
 * the picture to another size than PyTorch (see tracedResizeAgrees): there the converted graph can only be as
 * right as the export, and onnxruntime on the same ONNX file is the reference. onnxruntime cannot run a silent
 * RPN, and the shorter-side export leaves the resize to the service, which does it as PyTorch does.
 */
const referenceOf = (f: Family, p: TorchvisionPicture): 'pytorch' | 'onnxruntime' =>
  f.silent || f.shorterSide || tracedResizeAgrees(p) ? 'pytorch' : 'onnxruntime';

/** onnxruntime's answers, per fixture and picture (each costs a child process). */
const ortAnswers = new Map<string, ReferenceBox[]>();

/**
 * The reference's detections, or null on a uniform picture where three or more of them share one score (to
 * 1e-7): random weights score every position of a uniform picture alike, and which of two tied, overlapping boxes
 * NMS keeps (and so which it suppresses next) depends on how each implementation sorts equal keys. There the
 * answer is checked for form only. (Textured pictures tie too, in their zero padding, but keep every tied box.)
 */
async function expectedOf(f: Family, p: TorchvisionPicture): Promise<ReferenceBox[] | null> {
  let expected = pytorchDetections(f.reference, p, THRESHOLD);
  if (referenceOf(f, p) === 'onnxruntime') {
    const key = `${f.fixture} ${p.id}`;
    expected = ortAnswers.get(key) ?? (await ortDetections(fixtureBytes(f.fixture), p, THRESHOLD));
    ortAnswers.set(key, expected);
  }
  const tied = expected.some((e, i) => i > 1 && expected[i - 2].score - e.score <= 1e-7);
  return tied && p.kind !== 'texture' ? null : expected;
}

/** Boxes inside the picture with positive area, scores at or over the threshold, best first. */
function expectWellFormed(found: { bbox: BoundingBox; score: number }[], p: TorchvisionPicture): void {
  for (const [i, d] of found.entries()) {
    expect(d.bbox.x1).toBeGreaterThanOrEqual(0);
    expect(d.bbox.y1).toBeGreaterThanOrEqual(0);
    expect(d.bbox.x2).toBeLessThanOrEqual(p.width);
    expect(d.bbox.y2).toBeLessThanOrEqual(p.height);
    expect(d.bbox.x2 > d.bbox.x1 && d.bbox.y2 > d.bbox.y1).toBe(true);
    expect(d.score).toBeGreaterThanOrEqual(THRESHOLD);
    if (i > 0) expect(d.score).toBeLessThanOrEqual(found[i - 1].score);
  }
}

const tensorOf = (p: TorchvisionPicture): tf.Tensor3D =>
  tf.tensor3d(Int32Array.from(picturePixels(p)), [p.height, p.width, 3], 'int32');

/**
 * The manifest `npm run import-adc` writes for ADC's detector, here at the fixture's transform sizes: the service
 * resizes as torchvision does and normalises with ImageNet's mean and std; the graph gives boxes in pixels of the
 * resized image, which the service maps back.
 */
function asShorterSide(dir: string): void {
  const file = path.join(dir, 'manifest.json');
  const m = JSON.parse(fs.readFileSync(file, 'utf8')) as { input: Record<string, unknown> };
  m.input = {
    ...m.input,
    resize: 'shorter-side',
    min_size: 128,
    max_size: 213,
    scale: 1 / 255,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
  };
  fs.writeFileSync(file, JSON.stringify(m));
}

let tmp: string;
let models: string;

beforeAll(async () => {
  await initTestBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'torchvision-families-'));
  models = path.join(tmp, 'models');
  fs.mkdirSync(models);
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    for (const f of FAMILIES) {
      const onnx = path.join(tmp, `${f.dir}.onnx`);
      const bytes = fixtureBytes(f.fixture);
      fs.writeFileSync(onnx, f.silent ? rpnSilenced(bytes) : bytes);
      const out = path.join(models, f.dir);
      expect(await convertMain(['onnx', onnx, '--out', out, '--kind', 'detector'])).toBe(0);
      if (f.shorterSide) asShorterSide(out);
      if (f.savedModel && tfPython?.python) {
        await writeNativeSavedModel(out, { python: tfPython.python, tensorflow: '', source: 'test' });
      }
    }
  } finally {
    stderr.mockRestore();
  }
}, 120_000);

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('PyTorch found boxes on some pictures of each family, none within 1e-4 of the threshold', () => {
  for (const f of FAMILIES) {
    const found = TORCHVISION_PICTURES.filter((p) => pytorchDetections(f.reference, p, THRESHOLD).length > 0);
    // A silent RPN leaves nothing to find; every other family finds boxes on most pictures.
    expect({ family: f.dir, found: found.length > 0 }).toEqual({ family: f.dir, found: !f.silent });
    // A score that close to the threshold could fall either side of it in either runtime.
    const near = TORCHVISION_PICTURES.flatMap((p) =>
      pytorchScores(f.reference, p).filter((s) => Math.abs(s - THRESHOLD) <= 1e-4),
    );
    expect({ family: f.dir, near }).toEqual({ family: f.dir, near: [] });
  }
});

describe.each(FAMILIES.map((f) => [f.dir, f] as const))('%s: ObjectDetector', (_dir, family) => {
  let detector: ObjectDetector;
  beforeAll(async () => {
    detector = new ObjectDetector(await readManifest(path.join(models, family.dir)));
  });
  afterAll(() => {
    detector.dispose();
  });

  it('warms up (compile runs the model once on a blank image)', async () => {
    await expect(detector.compile()).resolves.toBeUndefined();
    expect(detector.modelForm()).toBe(
      family.savedModel ? 'graph model as a native SavedModel' : 'graph model',
    );
  });

  it.each(TORCHVISION_PICTURES.map((p) => [p.id, p] as const))(
    "%s: the reference's boxes (1e-3 of the image size) and scores (1e-4) where it has no ties, without leaking",
    async (_id, p) => {
      const image = tensorImage(p.id, tensorOf(p));
      try {
        const [found] = await expectNoLeak(() => detector.run([image], runOptions(1)));
        const expected = await expectedOf(family, p);
        if (!expected) {
          expectWellFormed(found, p);
          process.stdout.write(
            `${family.dir} ${p.id}: ${found.length} boxes; tied scores in the reference\n`,
          );
          return;
        }
        const size = Math.max(p.width, p.height);
        const { boxDiff, scoreDiff } = expectSameDetections(found, expected, 1e-3 * size);
        process.stdout.write(
          `${family.dir} ${p.id}: ${found.length} boxes as ${referenceOf(family, p)}; box diff ` +
            `${(boxDiff / size).toExponential(2)} of the image size, score diff ${scoreDiff.toExponential(2)}\n`,
        );
      } finally {
        image.dispose();
      }
    },
  );

  it('every box under a request threshold of 0.999: [] on the textured pictures, batched', async () => {
    const pictures = TORCHVISION_PICTURES.filter((p) => p.kind === 'texture').slice(0, 3);
    const images = pictures.map((p) => tensorImage(p.id, tensorOf(p)));
    try {
      const found = await detector.run(images, runOptions(4, { detection_threshold: 0.999 }));
      expect(found).toEqual(images.map(() => []));
    } finally {
      images.forEach((im) => im.dispose());
    }
  });
});

describe('through POST /process: ready, and the same boxes in whole pixels', () => {
  let svc: Service;
  beforeAll(async () => {
    declarePipelines(
      models,
      FAMILIES.map((f) => pipelineEntry(f.dir, f.dir)),
    );
    svc = await testService({ modelsDir: models, enabledPipelines: FAMILIES.map((f) => f.dir) });
  }, 120_000);
  afterAll(async () => {
    await svc.close();
  });

  it('/readyz lists every family', async () => {
    const res = await request(svc.app.callback()).get('/readyz').expect(200);
    expect([...(res.body as { status: string[] }).status].sort()).toEqual(FAMILIES.map((f) => f.dir).sort());
  });

  it.each(FAMILIES.map((f) => [f.dir, f] as const))(
    "%s: the reference's boxes on pictures of three sizes in one request, no errors",
    async (_dir, family) => {
      const pictures = TORCHVISION_PICTURES.filter((p) =>
        ['blank-64', 'texture-200x64', 'texture-300x200'].includes(p.id),
      );
      const sourceImages = await Promise.all(
        pictures.map(async (p) => {
          const png = await rgbPng(picturePixels(p), p.width, p.height);
          return { id: p.id, url: dataUrl('image/png', png) };
        }),
      );
      const res = await request(svc.app.callback())
        .post('/process')
        .send({ pipeline: family.dir, source_images: sourceImages })
        .expect(200);
      expectSchema('process', res.body);
      const body = res.body as PipelineResultsResponse;
      expect(body.errors).toBeNull();
      expect(body.source_images.map((s) => s.id)).toEqual(pictures.map((p) => p.id));
      for (const p of pictures) {
        const expected = await expectedOf(family, p);
        const got = body.detections.filter((d) => d.source_image_id === p.id);
        if (expected) expectSameWholePixelBoxes(got, expected, `${family.dir} ${p.id}`);
      }
    },
  );
});
