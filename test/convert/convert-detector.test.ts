/**
 * `npm run convert -- onnx <file> --kind detector`: the manifest planned for each known export layout, and an
 * ultralytics-style ONNX file (with ultralytics' own metadata, no other flags) converted, served by ObjectDetector
 * and checked against onnxruntime on an input letterboxed by hand.
 */
import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { ObjectDetector } from '../../src/algorithms/object-detector';
import { main as convertMain } from '../../src/cli/convert';
import { planDetectorManifest, type DetectorPlanOptions } from '../../src/convert/detector-plan';
import { formatReport, inspectPath } from '../../src/convert/inspect';
import { parseNames } from '../../src/convert/ultralytics-metadata';
import { encodeOnnxModel } from '../../src/convert/onnx/onnx-proto';
import { makeConst } from '../../src/convert/tensor';
import { readManifest } from '../../src/models/manifest';
import { initTestBackend } from '../helpers/backend';
import { expectNoLeak, runOptions, tensorImage } from '../algorithms/helpers';
import { decodeUltralytics, expectSameDetections, halvedLetterbox, hwcPixels } from './detector-reference';
import { runOrt } from './helpers';
import { Net } from './models';

const algorithm = { key: 'det', name: 'det', version: 1, version_name: null, description: null, uri: null };
const plan = (
  graph: Parameters<typeof planDetectorManifest>[0],
  options: Partial<DetectorPlanOptions> = {},
): ReturnType<typeof planDetectorManifest>['manifest'] =>
  planDetectorManifest(graph, { algorithm, labels: null, ultralytics: null, graphHasNms: false, ...options })
    .manifest;

describe('planDetectorManifest', () => {
  it('torchvision Faster R-CNN, no flags: native size, no batch, boxes/labels/scores, in-graph NMS', () => {
    const m = plan(
      {
        input: { name: 'images', shape: [3, -1, -1] },
        outputs: [
          { key: 'boxes', onnxName: 'boxes', shape: [-1, 4] },
          { key: 'labels', onnxName: 'labels', shape: [-1] },
          { key: 'scores', onnxName: 'scores', shape: [-1] },
        ],
      },
      { graphHasNms: true },
    );
    expect(m.input).toEqual({
      resize: 'none',
      layout: 'NCHW',
      batch: 'none',
      color_order: 'RGB',
      scale: 1 / 255,
      mean: [0, 0, 0],
      std: [1, 1, 1],
      name: 'images',
    });
    expect(m.output).toEqual({
      boxes: 'boxes',
      scores: 'scores',
      classes: 'labels',
      box_format: 'xyxy',
      coordinates: 'pixels',
      nms: 'in-graph',
      score_threshold: 0.5,
      max_detections: 500,
    });
    expect(m.class_labels).toBeUndefined(); // no labels: classes ignored, as in ADC
  });

  it('torchvision as the converter writes it: an HWC placeholder [-1, -1, 3] with layout "HWC"', () => {
    const m = plan(
      {
        input: { name: 'images', shape: [-1, -1, 3], layout: 'HWC' },
        outputs: [
          { key: 'boxes', onnxName: 'boxes', shape: [-1, 4], dtype: 'float32' },
          { key: 'labels', onnxName: 'labels', shape: [-1], dtype: 'int32' },
          { key: 'scores', onnxName: 'scores', shape: [-1], dtype: 'float32' },
        ],
      },
      { graphHasNms: true },
    );
    expect(m.input).toMatchObject({ resize: 'none', layout: 'NHWC', batch: 'none' });
    expect(m.input.width).toBeUndefined();
    expect([m.output.boxes, m.output.scores, m.output.classes, m.output.nms]).toEqual([
      'boxes',
      'scores',
      'labels',
      'in-graph',
    ]);
  });

  it('torchvision outputs without names are taken in torchvision order (boxes, labels, scores)', () => {
    const m = plan(
      {
        input: { name: 'x', shape: [3, -1, -1] },
        outputs: [
          { key: 'o1', onnxName: '3317', shape: [-1, 4] },
          { key: 'o2', onnxName: '3316', shape: [-1] },
          { key: 'o3', onnxName: '3318', shape: [-1] },
        ],
      },
      { graphHasNms: true },
    );
    expect([m.output.boxes, m.output.classes, m.output.scores]).toEqual(['o1', 'o2', 'o3']);
  });

  it('ultralytics [1, 4+nc, N] with metadata: letterbox-center, 114 grey, class scores, per-class service NMS', () => {
    const labels = { data: [], labels: ['a', 'b'], version: null, description: null, uri: null };
    const m = plan(
      {
        input: { name: 'images', shape: [-1, 640, 640, 3] },
        outputs: [{ key: 'output0', onnxName: 'output0', shape: [1, 6, 8400] }],
      },
      { ultralytics: { names: ['a', 'b'], imgsz: [640, 640], task: 'detect' }, labels },
    );
    expect(m.input).toMatchObject({
      width: 640,
      height: 640,
      resize: 'letterbox-center',
      pad_value: 114,
      layout: 'NHWC',
    });
    expect(m.output).toEqual({
      packed: { tensor: 'output0', channels_first: true, box: 0, class_scores: 4 },
      box_format: 'cxcywh',
      coordinates: 'pixels',
      nms: 'service',
      nms_per_class: true,
      score_threshold: 0.25,
      score_threshold_strict: true,
      iou_threshold: 0.7,
      max_detections: 300,
    });
    expect(m.class_labels).toEqual({ category_map: 'category_map.json', report: true });
  });

  it('refuses labels that do not match the class-score columns', () => {
    const labels = { data: [], labels: ['a', 'b', 'c'], version: null, description: null, uri: null };
    expect(() =>
      plan(
        {
          input: { name: 'images', shape: [-1, 64, 64, 3] },
          outputs: [{ key: 'o', onnxName: 'o', shape: [1, 6, 100] }],
        },
        { labels },
      ),
    ).toThrow('the model gives 2 class scores per box, but there are 3 labels');
  });

  it('packed rows [1, 100, 6] are x1,y1,x2,y2,score,class', () => {
    const m = plan({
      input: { name: 'x', shape: [-1, 320, 320, 3] },
      outputs: [{ key: 'det', onnxName: 'det', shape: [1, 100, 6] }],
    });
    expect(m.output.packed).toEqual({ tensor: 'det', box: 0, score: 4, class: 5 });
    expect(m.output.box_format).toBe('xyxy');
    expect(m.input.resize).toBe('stretch');
  });

  it('flags override: resize, pad value, thresholds, normalisation', () => {
    const m = plan(
      {
        input: { name: 'x', shape: [-1, 3, 64, 64] },
        outputs: [{ key: 'o', onnxName: 'o', shape: [1, 6, 100] }],
      },
      {
        resize: 'letterbox',
        padValue: 0,
        scoreThreshold: 0.4,
        iouThreshold: 0.6,
        mean: [0.5, 0.5, 0.5],
        std: [0.2, 0.2, 0.2],
        scale: 1,
      },
    );
    expect(m.input).toMatchObject({
      resize: 'letterbox',
      pad_value: 0,
      layout: 'NCHW',
      scale: 1,
      mean: [0.5, 0.5, 0.5],
    });
    expect(m.output).toMatchObject({ score_threshold: 0.4, iou_threshold: 0.6 });
  });

  it('shorter-side: each image its own size, which only a dynamic input takes; torchvision’s sizes by default', () => {
    const torchvision = {
      input: { name: 'images', shape: [-1, -1, 3], layout: 'HWC' },
      outputs: [
        { key: 'boxes', onnxName: 'boxes', shape: [-1, 4] },
        { key: 'scores', onnxName: 'scores', shape: [-1] },
      ],
    };
    expect(plan(torchvision, { resize: 'shorter-side' }).input).toMatchObject({
      min_size: 800,
      max_size: 1333,
    });
    expect(plan(torchvision, { resize: 'shorter-side', minSize: 512, maxSize: 900 }).input).toMatchObject({
      resize: 'shorter-side',
      min_size: 512,
      max_size: 900,
    });
    expect(() =>
      plan({ ...torchvision, input: { name: 'x', shape: [1, 3, 64, 64] } }, { resize: 'shorter-side' }),
    ).toThrow('--resize shorter-side gives each image its own input size, but the input is fixed at 64×64');
  });

  it('a strict threshold and no request overrides only when asked', () => {
    const graph = {
      input: { name: 'images', shape: [-1, -1, 3] },
      outputs: [
        { key: 'boxes', onnxName: 'boxes', shape: [-1, 4] },
        { key: 'scores', onnxName: 'scores', shape: [-1] },
      ],
    };
    expect(plan(graph).output).not.toHaveProperty('score_threshold_strict');
    expect(plan(graph).output).not.toHaveProperty('request_overrides');
    expect(plan(graph, { scoreThresholdStrict: true, requestOverrides: false }).output).toMatchObject({
      score_threshold_strict: true,
      request_overrides: false,
    });
  });
});

test('parseNames reads the Python dict ultralytics writes', () => {
  expect(parseNames("{0: 'moth', 1: \"non-moth\", 2: 'it\\'s dust'}")).toEqual([
    'moth',
    'non-moth',
    "it's dust",
  ]);
  expect(parseNames('{1: "a"}')).toBeNull();
});

describe('an ultralytics-style ONNX file converted with no flags but --kind detector', () => {
  const S = 64;
  const NC = 2;
  let tmp: string;
  let onnxBytes: Uint8Array;
  let dir: string;

  beforeAll(async () => {
    await initTestBackend();
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'yolo-'));
    // [1,3,64,64] → Conv 8×8 stride 8 → [1, 4+nc, 8, 8] → [1, 4+nc, 64] → sigmoid · [64, 64, 32, 32, 1, 1]: cx, cy
    // anywhere in the input, w and h up to half of it, class scores in (0, 1).
    const m = new Net(17, 5);
    const x = m.b.input('images', [1, 3, S, S]);
    const conv = m.conv(x, 3, 4 + NC, 8, { stride: 8, pad: 0, bias: true });
    const flat = m.b.op('Reshape', [
      conv,
      m.b.initializer('shape', makeConst('int64', [3], [1, 4 + NC, 64])),
    ]);
    const sig = m.b.op('Sigmoid', [flat]);
    const scale = m.b.initializer('scale', makeConst('float32', [1, 4 + NC, 1], [S, S, S / 2, S / 2, 1, 1]));
    m.b.output(m.b.op('Mul', [sig, scale], {}, 'output0'), [1, 4 + NC, 64]);
    const model = m.b.toModel();
    model.metadataProps = [
      { key: 'names', value: "{0: 'moth', 1: 'other'}" },
      { key: 'imgsz', value: `[${S}, ${S}]` },
      { key: 'stride', value: '8' },
      { key: 'task', value: 'detect' },
    ];
    onnxBytes = encodeOnnxModel(model);
    await fsp.writeFile(path.join(tmp, 'yolo.onnx'), onnxBytes);
    dir = path.join(tmp, 'yolo');
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(
        await convertMain([
          'onnx',
          path.join(tmp, 'yolo.onnx'),
          '--out',
          dir,
          '--kind',
          'detector',
          // Switches the service's NMS off (this graph has none), so the onnxruntime reference needs none either.
          '--nms',
          'in-graph',
        ]),
      ).toBe(0);
    } finally {
      stderr.mockRestore();
    }
  });

  afterAll(async () => {
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  it('inspect shows the ultralytics metadata of the ONNX file', async () => {
    const text = formatReport(await inspectPath(path.join(tmp, 'yolo.onnx')));
    expect(text).toContain(
      '  ultralytics metadata: task detect, imgsz 64x64, stride 8, 2 names (moth, other)\n',
    );
    expect(text).toContain('--kind detector` needs no other flags');
  });

  it('writes a complete directory with the metadata read: size, letterbox-center 114, labels', async () => {
    expect((await fsp.readdir(dir)).sort()).toEqual([
      'category_map.json',
      'group1-shard1of1.bin',
      'manifest.json',
      'model.json',
    ]);
    const { manifest, categoryMap } = await readManifest(dir);
    expect(manifest).toMatchObject({
      kind: 'detector',
      input: { width: S, height: S, resize: 'letterbox-center', pad_value: 114 },
      output: { packed: { channels_first: true, class_scores: 4 }, score_threshold: 0.25, nms: 'in-graph' },
      class_labels: { report: true },
    });
    expect(categoryMap?.labels).toEqual(['moth', 'other']);
  });

  it('gives the boxes onnxruntime gives on the same image, letterboxed by hand', async () => {
    // A 128×64 gradient: the letterbox halves it (each input pixel = the mean of a 2×2 block, exactly, for bilinear
    // with half-pixel centres at scale 1/2) into rows 16..47 of the 64×64 input; the other rows are 114.
    const W = 128;
    const H = 64;
    const px = (y: number, x: number, c: number): number => (x * 2 + y * 3 + c * 50) % 256;
    const input = halvedLetterbox(px, { width: W, height: H }, S, 16);
    const out = await runOrt(onnxBytes, { data: input, shape: [1, 3, S, S] }); // [1, 6, 64]
    const expected = decodeUltralytics(out, 2, 0.25, { scale: 0.5, padY: 16, width: W, height: H });
    expect(expected.length).toBeGreaterThan(3);

    const detector = new ObjectDetector(await readManifest(dir));
    await detector.compile();
    const pixels = tf.tensor3d(Int32Array.from(hwcPixels(px, { width: W, height: H })), [H, W, 3], 'int32');
    const image = tensorImage('gradient', pixels);
    try {
      const [found] = await expectNoLeak(() => detector.run([image], runOptions(1)));
      expectSameDetections(found, expected, 1e-3);
      for (const d of found) expect(d.label?.scores).toHaveLength(2);
    } finally {
      image.dispose();
      detector.dispose();
    }
  });
});
