/**
 * Detector manifest validation: every field the service would ignore, or a combination it cannot honour, is an
 * error that names the field.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readManifest, validateManifestJson } from '../../src/models/manifest';
import { type ManifestJson, torchvisionManifest, ultralyticsManifest } from '../algorithms/detector-models';

const MODELS = path.join(__dirname, '..', '..', 'models');

/** A valid ultralytics-style detector manifest. */
const yolo = (): ManifestJson => ultralyticsManifest(640, { key: 'yolo' });

/** A valid torchvision-style manifest. */
const frcnn = (): ManifestJson => torchvisionManifest(0.8, { key: 'frcnn' });

type Patch = (m: Record<string, Record<string, unknown>>) => void;
const patched = (base: () => Record<string, unknown>, patch: Patch): unknown => {
  const m = base() as Record<string, Record<string, unknown>>;
  patch(m);
  return m;
};
const packed = (m: Record<string, Record<string, unknown>>): Record<string, unknown> =>
  m.output.packed as Record<string, unknown>;

describe('valid detector manifests', () => {
  it.each([
    ['ultralytics', yolo],
    ['torchvision', frcnn],
  ])('%s passes', (_, make) => {
    expect(() => validateManifestJson(make(), 'm.json')).not.toThrow();
  });

  it.each(['moth-detector', 'moth-nonmoth-classifier', 'species-classifier'])(
    'the shipped %s manifest still passes',
    async (name) => {
      await expect(readManifest(path.join(MODELS, name))).resolves.toMatchObject({ dir: path.join(MODELS, name) });
    },
  );
});

describe('bad detector fields are errors naming the field', () => {
  it.each<[string, () => Record<string, unknown>, Patch, string]>([
    ['an unknown top-level field', yolo, (m) => (m.labels = {}), 'labels is not a field the service reads'],
    ['an unknown input field', yolo, (m) => (m.input.letterbox = true), 'input.letterbox is not a field'],
    ['a bad layout', yolo, (m) => (m.input.layout = 'CHW'), 'input.layout must be equal to one of'],
    ['a bad batch mode', yolo, (m) => (m.input.batch = 4), 'input.batch must be string'],
    ['a bad resize', yolo, (m) => (m.input.resize = 'crop'), 'input.resize must be equal to one of'],
    ['a pad value in [0,1] units beyond 255', yolo, (m) => (m.input.pad_value = 300), 'input.pad_value must be <= 255'],
    ['no input size with a fixed-size resize', yolo, (m) => delete m.input.width, 'input.width and input.height are required'],
    [
      'pad_value without letterbox',
      yolo,
      (m) => (m.input.resize = 'stretch'),
      'input.pad_value is only used by letterbox resizing, but resize is "stretch"',
    ],
    [
      'both separate and packed outputs',
      yolo,
      (m) => (m.output.boxes = 'boxes'),
      'output: give either boxes/scores(/classes) or packed, not both',
    ],
    ['neither', frcnn, (m) => delete m.output.scores, 'output: give boxes and scores'],
    [
      'packed with score and class_scores',
      yolo,
      (m) => (packed(m).score = 5),
      'output.packed: give exactly one of score',
    ],
    ['packed with class and class_scores', yolo, (m) => (packed(m).class = 2), 'output.packed.class'],
    [
      'overlapping packed columns',
      yolo,
      (m) => {
        delete packed(m).class_scores;
        packed(m).score = 3;
      },
      'box, score and class columns overlap',
    ],
    ['a negative column', yolo, (m) => (packed(m).box = -1), 'output.packed.box must be >= 0'],
    [
      'iou_threshold with in-graph NMS',
      frcnn,
      (m) => (m.output.iou_threshold = 0.5),
      'output.iou_threshold is ignored with nms "in-graph"',
    ],
    ['no iou_threshold for service NMS', yolo, (m) => delete m.output.iou_threshold, 'output.iou_threshold is required'],
    [
      'nms_per_class with in-graph NMS',
      frcnn,
      (m) => (m.output.nms_per_class = true),
      'output.nms_per_class is ignored with nms "in-graph"',
    ],
    [
      'nms_per_class without a class output',
      yolo,
      (m) => {
        m.output.packed = { tensor: 'x', box: 0, score: 4 };
        m.output.nms_per_class = true;
      },
      'output.nms_per_class: the outputs give no class',
    ],
    ['a bad box format', yolo, (m) => (m.output.box_format = 'ltrb'), 'output.box_format must be equal to one of'],
    [
      'class_labels that nothing uses',
      frcnn,
      (m) => (m.class_labels = { category_map: 'c.json', report: false }),
      'class_labels would be ignored',
    ],
    [
      'class_labels without a class output',
      frcnn,
      (m) => {
        m.output = { ...m.output, packed: { tensor: 'x', box: 0, score: 4 } };
        delete m.output.boxes;
        delete m.output.scores;
        delete m.output.classes;
        m.class_labels = { category_map: 'c.json', report: true };
      },
      'class_labels: the outputs give no class',
    ],
  ])('%s', (_, base, patch, message) => {
    expect(() => validateManifestJson(patched(base, patch), 'm.json')).toThrow(message);
  });
});

/** A TF Object Detection API export as `npm run convert -- saved-model` writes it (uint8, own size, 1-based ids). */
const odApi = (): Record<string, unknown> => ({
  ...frcnn(),
  format: 'tf-saved-model',
  model_path: 'saved_model',
  input: { color_order: 'RGB', resize: 'none', dtype: 'uint8', batch: 'single', name: 'input_tensor' },
  output: {
    boxes: 'detection_boxes',
    scores: 'detection_scores',
    classes: 'detection_classes',
    num_detections: 'num_detections',
    box_format: 'yxyx',
    coordinates: 'normalized',
    nms: 'in-graph',
    score_threshold: 0.5,
    max_detections: 100,
  },
  class_labels: { category_map: 'category_map.json', report: true, first_id: 1 },
});

describe('integer inputs, num_detections and first_id', () => {
  it('a TF Object Detection API manifest passes: uint8 input with no normalisation', () => {
    expect(() => validateManifestJson(odApi(), 'm.json')).not.toThrow();
  });

  it.each<[string, Patch, string]>([
    [
      'normalisation on an integer input',
      (m) => Object.assign(m.input, { scale: 1, mean: [0, 0, 0] }),
      'input.scale, input.mean: input.dtype "uint8" feeds the 0..255 values as they are, with no normalisation; remove them',
    ],
    [
      'a float input without normalisation',
      (m) => delete m.input.dtype,
      'input.scale, input.mean, input.std required for a float input (or set input.dtype "uint8" or "int32"',
    ],
    ['a dtype tfjs-node cannot feed', (m) => (m.input.dtype = 'float16'), 'input.dtype must be equal to one of'],
    ['a negative first_id', (m) => (m.class_labels.first_id = -1), 'class_labels.first_id must be >= 0'],
    [
      'first_id without class ids',
      (m) => {
        delete m.output.classes;
        m.output.scores = 'detection_multiclass_scores';
      },
      'class_labels.first_id offsets class ids, but the outputs give none',
    ],
    ['an empty num_detections name', (m) => (m.output.num_detections = ''), 'output.num_detections must NOT have fewer'],
  ])('%s', (_, patch, message) => {
    expect(() => validateManifestJson(patched(odApi, patch), 'm.json')).toThrow(message);
  });
});

describe('classifier inputs: integer dtype, and own-size crops', () => {
  const classifier = (): Record<string, unknown> =>
    JSON.parse(fs.readFileSync(path.join(MODELS, 'species-classifier', 'manifest.json'), 'utf8')) as Record<
      string,
      unknown
    >;
  it('resize "none" needs no size; an int32 input needs no normalisation', () => {
    const own = patched(classifier, (m) => {
      m.input.resize = 'none';
      delete m.input.width;
      delete m.input.height;
    });
    expect(() => validateManifestJson(own, 'm.json')).not.toThrow();
    const int = patched(classifier, (m) => {
      m.input.dtype = 'int32';
      delete m.input.scale;
      delete m.input.mean;
      delete m.input.std;
    });
    expect(() => validateManifestJson(int, 'm.json')).not.toThrow();
  });

  it.each<[string, Patch, string]>([
    ['stretch without a size', (m) => delete m.input.height, 'input.width and input.height are required with resize "stretch"'],
    ['a float input without std', (m) => delete m.input.std, 'input.std required for a float input'],
    ['normalisation on an int32 input', (m) => (m.input.dtype = 'int32'), 'input.scale, input.mean, input.std: input.dtype "int32"'],
  ])('%s', (_, patch, message) => {
    expect(() => validateManifestJson(patched(classifier, patch), 'm.json')).toThrow(message);
  });
});

describe("torchvision's detection resize, a strict threshold, fixed settings, and crop interpolation", () => {
  const classifier = (): Record<string, unknown> =>
    JSON.parse(fs.readFileSync(path.join(MODELS, 'species-classifier', 'manifest.json'), 'utf8')) as Record<
      string,
      unknown
    >;
  const adcDetector = (): Record<string, unknown> =>
    patched(frcnn, (m) => {
      m.input.resize = 'shorter-side';
      m.input.min_size = 800;
      m.input.max_size = 1333;
      delete m.input.width;
      delete m.input.height;
      m.output.score_threshold_strict = true;
      m.output.request_overrides = false;
    }) as Record<string, unknown>;

  it('an ADC-style detector and a classifier with each interpolation pass', () => {
    expect(() => validateManifestJson(adcDetector(), 'm.json')).not.toThrow();
    for (const interpolation of ['bilinear', 'bilinear-antialias', 'pil-bilinear']) {
      expect(() => validateManifestJson(patched(classifier, (m) => (m.input.interpolation = interpolation)), 'm.json')).not.toThrow();
    }
  });

  it.each<[string, () => Record<string, unknown>, Patch, string]>([
    ['shorter-side without max_size', adcDetector, (m) => delete m.input.max_size, 'input.min_size and input.max_size are required with resize "shorter-side"'],
    ['shorter-side with a width', adcDetector, (m) => ((m.input.width = 800), (m.input.height = 800)), 'input.width and input.height are not used with resize "shorter-side"'],
    ['min_size with another resize', yolo, (m) => (m.input.min_size = 800), 'input.min_size: only used with resize "shorter-side", but resize is "letterbox-center"'],
    ['a non-boolean strict flag', adcDetector, (m) => (m.output.score_threshold_strict = 'yes'), 'output.score_threshold_strict must be boolean'],
    ['an unknown interpolation', classifier, (m) => (m.input.interpolation = 'bicubic'), 'input.interpolation must be equal to one of the allowed values'],
    [
      'interpolation with own-size crops',
      classifier,
      (m) => {
        m.input.resize = 'none';
        m.input.interpolation = 'pil-bilinear';
      },
      'input.interpolation: only used with resize "stretch"',
    ],
  ])('%s', (_, base, patch, message) => {
    expect(() => validateManifestJson(patched(base, patch), 'm.json')).toThrow(message);
  });
});

describe('classifier manifests refuse detector-only fields', () => {
  const classifier = (): Record<string, unknown> =>
    JSON.parse(fs.readFileSync(path.join(MODELS, 'species-classifier', 'manifest.json'), 'utf8')) as Record<
      string,
      unknown
    >;
  it.each<[string, Patch, string]>([
    ['letterbox', (m) => (m.input.resize = 'letterbox'), 'input.resize must be equal to one of the allowed values'],
    ['pad_value', (m) => (m.input.pad_value = 0), 'input.pad_value is not a field the service reads'],
    ['layout', (m) => (m.input.layout = 'NCHW'), 'input.layout is not a field'],
    ['class_labels', (m) => (m.class_labels = {}), 'class_labels is not a field'],
  ])('%s', (_, patch, message) => {
    expect(() => validateManifestJson(patched(classifier, patch), 'm.json')).toThrow(message);
  });
});

describe('class_labels.keep', () => {
  it('must name labels of the category map', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keep-'));
    try {
      fs.writeFileSync(
        path.join(dir, 'manifest.json'),
        JSON.stringify({ ...frcnn(), class_labels: { category_map: 'c.json', report: false, keep: ['moth', 'bee'] } }),
      );
      fs.writeFileSync(
        path.join(dir, 'c.json'),
        JSON.stringify({
          data: [
            { index: 0, label: 'background', taxon_rank: 'ORDER' },
            { index: 1, label: 'moth', taxon_rank: 'ORDER' },
          ],
          labels: ['background', 'moth'],
        }),
      );
      await expect(readManifest(dir)).rejects.toThrow('class_labels.keep names "bee", which the category map');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
