/**
 * `npm run convert -- saved-model`: the signature recognised from saved_model.pb alone (no TensorFlow here), the
 * SavedModel copied unchanged, and every signature it does not know refused with its inputs, outputs and the
 * flags that would describe it. The committed fixtures are real TF-Python 2.21 exports
 * (scripts/make-saved-model-fixtures.py); serving them is test/tf/saved-model-service.test.ts, on the native tier.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main as convertMain } from '../../src/cli/convert';
import { ConversionError } from '../../src/convert/onnx/convert-onnx';
import { parseSavedModel, type SavedModelInfo, type SavedModelTensor } from '../../src/convert/saved-model';
import {
  planSavedModelClassifier,
  planSavedModelDetector,
  type SavedModelPlanOptions,
} from '../../src/convert/saved-model-plan';
import { readManifest } from '../../src/models/manifest';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'saved-model');
const DETECTOR = path.join(FIXTURES, 'od-api-detector');
const CLASSIFIER = path.join(FIXTURES, 'keras-classifier');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'saved-model-convert-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs the CLI quietly (and without the load check, which switches this process to the native backend). */
async function convert(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  try {
    return { code: await convertMain(['saved-model', ...args, '--skip-check']), stderr };
  } finally {
    spy.mockRestore();
  }
}

/** Every file under `dir`, relative, sorted. */
const files = (dir: string): string[] =>
  (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => fs.statSync(path.join(dir, f)).isFile())
    .sort();

describe('the committed fixtures, recognised with no flag beyond --kind and --labels', () => {
  it('a TF Object Detection API detector: uint8 at its own size, normalised yxyx, 1-based ids, num_detections', async () => {
    const out = path.join(tmp, 'od');
    const { code, stderr } = await convert([
      path.join(DETECTOR, 'saved_model'),
      '--out',
      out,
      '--kind',
      'detector',
      '--labels',
      path.join(DETECTOR, 'labels.json'),
      '--key',
      'acme_od_api_2026',
    ]);
    expect({ code, stderr }).toMatchObject({ code: 0 });
    expect(stderr).toContain('[convert] signature "serving_default" is the TF2 Object Detection API\'s\n');
    expect(stderr).toContain('[convert] class ids: 1 insect, 2 other\n');
    const { manifest, categoryMap } = await readManifest(out);
    expect(manifest).toEqual({
      kind: 'detector',
      format: 'tf-saved-model',
      model_path: 'saved_model',
      saved_model: { tags: ['serve'], signature: 'serving_default' },
      algorithm: {
        key: 'acme_od_api_2026',
        name: 'acme_od_api_2026',
        version: 1,
        version_name: null,
        description: null,
        uri: null,
        task_type: 'localization',
      },
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
        max_detections: 20,
      },
      class_labels: { category_map: 'category_map.json', report: true, first_id: 1 },
    });
    expect(categoryMap?.labels).toEqual(['insect', 'other']);
    // The SavedModel is copied byte for byte.
    const source = path.join(DETECTOR, 'saved_model');
    const copy = path.join(out, 'saved_model');
    expect(files(copy)).toEqual(files(source));
    for (const f of files(source)) {
      expect({
        f,
        same: fs.readFileSync(path.join(copy, f)).equals(fs.readFileSync(path.join(source, f))),
      }).toEqual({
        f,
        same: true,
      });
    }
  });

  it("a Keras 3 model.export() classifier: float 0..255 at each crop's own size, probabilities from its Softmax", async () => {
    const out = path.join(tmp, 'keras');
    const { code, stderr } = await convert([
      path.join(CLASSIFIER, 'saved_model'),
      '--out',
      out,
      '--kind',
      'classifier',
      '--labels',
      path.join(CLASSIFIER, 'labels.json'),
    ]);
    expect({ code, stderr }).toMatchObject({ code: 0 });
    expect(stderr).toContain(
      '[convert] output "output_0" is computed by Softmax: probabilities (--output-kind to change)\n',
    );
    const { manifest, categoryMap } = await readManifest(out);
    expect(manifest).toMatchObject({
      kind: 'classifier',
      format: 'tf-saved-model',
      model_path: 'saved_model',
      input: { color_order: 'RGB', resize: 'none', scale: 1, mean: [0, 0, 0], std: [1, 1, 1], name: 'image' },
      output: { name: 'output_0', kind: 'probabilities' },
      category_map: 'category_map.json',
    });
    expect(manifest.input).not.toHaveProperty('width');
    expect(categoryMap?.labels).toEqual(['moth', 'beetle', 'other']);
  });

  it("the Keras fixture's output is traced through its nested function calls to the Softmax", () => {
    const info = parseSavedModel(fs.readFileSync(path.join(CLASSIFIER, 'saved_model', 'saved_model.pb')));
    const sig = info.metaGraphs[0]?.signatures.find((s) => s.key === 'serving_default');
    expect(sig?.outputs).toEqual([
      {
        key: 'output_0',
        name: 'StatefulPartitionedCall_1:0',
        dtype: 'float32',
        shape: [-1, 3],
        producer: 'Softmax',
      },
    ]);
    expect(sig?.inputs).toEqual([
      {
        key: 'image',
        name: 'serving_default_image:0',
        dtype: 'float32',
        shape: [-1, -1, -1, 3],
        producer: 'Placeholder',
      },
    ]);
  });

  it('--kind is required, and a classifier needs --labels', async () => {
    const source = path.join(CLASSIFIER, 'saved_model');
    expect((await convert([source, '--out', path.join(tmp, 'x')])).code).toBe(2);
    const missing = await convert([source, '--out', path.join(tmp, 'x'), '--kind', 'classifier']);
    expect(missing).toEqual({ code: 1, stderr: 'error: a classifier needs --labels (the category map)\n' });
    expect(fs.existsSync(path.join(tmp, 'x'))).toBe(false);
  });
});

/** A one-meta-graph SavedModelInfo with one serving_default signature. */
function info(inputs: SavedModelTensor[], outputs: SavedModelTensor[]): SavedModelInfo {
  return {
    metaGraphs: [
      {
        tags: ['serve'],
        tensorflowVersion: '2.21.0',
        signatures: [{ key: 'serving_default', method: 'tensorflow/serving/predict', inputs, outputs }],
        opHistogram: {},
        functions: 0,
        variables: 0,
        parameters: 0,
      },
    ],
  };
}
const t = (
  key: string,
  dtype: string,
  shape: number[] | null,
  producer: string | null = null,
): SavedModelTensor => ({
  key,
  name: `StatefulPartitionedCall:${key}`,
  dtype,
  shape,
  producer,
});
const ALGORITHM = { key: 'x', name: 'x', version: 1, version_name: null, description: null, uri: null };
const options = (
  kind: 'detector' | 'classifier',
  more: Partial<SavedModelPlanOptions> = {},
): SavedModelPlanOptions => ({
  kind,
  algorithm: ALGORITHM,
  labels: null,
  ...more,
});
const labels = (...names: string[]) => ({
  data: names.map((label, index) => ({ index, label })),
  labels: names,
  version: null,
  description: null,
  uri: null,
});

/** A detector with a layout the tool does not know: an ultralytics-style TF export. */
const UNKNOWN_DETECTOR = info(
  [t('images', 'float32', [1, 640, 640, 3])],
  [t('output_0', 'float32', [1, 84, 8400])],
);

describe('signatures the tool does not know', () => {
  it('a detector fails listing its inputs and outputs, with dtypes and shapes, and the flags to describe it', () => {
    expect(() => planSavedModelDetector(UNKNOWN_DETECTOR, options('detector'))).toThrow(
      new ConversionError(
        'signature "serving_default" is not a TF2 Object Detection API detector (input "input_tensor" uint8 ' +
          '[1, H, W, 3]; outputs detection_boxes, detection_scores, detection_classes, num_detections): it has no ' +
          'output detection_boxes, detection_scores, detection_classes, num_detections.\n' +
          '  inputs:\n    images  float32  [1, 640, 640, 3]\n' +
          '  outputs:\n    output_0  float32  [1, 84, 8400]\n' +
          '  describe it with: --input <key> --boxes <key> --scores <key> [--classes <key>] [--num-detections <key>] ' +
          '--box-format yxyx|xyxy|xywh|cxcywh --coordinates normalized|pixels [--first-id <id of the first label>] ' +
          '[--nms in-graph|service]',
      ),
    );
  });

  it('a classifier with two outputs fails naming --output', () => {
    const two = info(
      [t('image', 'float32', [-1, 224, 224, 3])],
      // Sorted by key, as parseSavedModel gives them.
      [t('features', 'float32', [-1, 64]), t('logits', 'float32', [-1, 3])],
    );
    expect(() =>
      planSavedModelClassifier(two, { ...options('classifier'), labels: labels('a', 'b', 'c') }),
    ).toThrow(
      'signature "serving_default" is not a Keras model.export() classifier (one float [N, H, W, 3] input, one ' +
        '[N, classes] output): it has 2 outputs; name the scores with --output.\n  inputs:\n' +
        '    image  float32  [-1, 224, 224, 3]\n  outputs:\n    features  float32  [-1, 64]\n' +
        '    logits  float32  [-1, 3]\n  describe it with: --input <key> --output <key> [--output-kind ' +
        'logits|probabilities] [--input-size HxW] [--scale --mean --std]',
    );
  });

  it('an input the service cannot feed (a string of encoded bytes) is refused with what it is', () => {
    const encoded = info([t('input_tensor', 'string', [1])], [t('detection_boxes', 'float32', [1, 100, 4])]);
    expect(() =>
      planSavedModelDetector(
        encoded,
        options('detector', { boxes: 'detection_boxes', scores: 'detection_boxes' }),
      ),
    ).toThrow('input "input_tensor" is string [1]; the service feeds float32, uint8 or int32 images');
  });

  it('a signature key the flags name but the model lacks is refused with the keys it has', () => {
    expect(() =>
      planSavedModelDetector(
        UNKNOWN_DETECTOR,
        options('detector', { boxes: 'boxes', scores: 'scores', boxFormat: 'xyxy', coordinates: 'pixels' }),
      ),
    ).toThrow('--boxes "boxes" is not in signature "serving_default"; its keys are output_0');
  });
});

describe('what the flags and the signature decide', () => {
  it('flags describe another detector: its outputs, box format and coordinates, service NMS', () => {
    const other = info(
      [t('images', 'float32', [-1, 320, 320, 3])],
      [
        t('boxes', 'float32', [-1, 50, 4]),
        t('scores', 'float32', [-1, 50]),
        t('labels', 'float32', [-1, 50]),
      ],
    );
    const { manifest } = planSavedModelDetector(
      other,
      options('detector', {
        boxes: 'boxes',
        scores: 'scores',
        classes: 'labels',
        boxFormat: 'xyxy',
        coordinates: 'pixels',
        scale: 1 / 255,
        labels: labels('moth'),
      }),
    );
    expect(manifest.input).toEqual({
      width: 320,
      height: 320,
      color_order: 'RGB',
      resize: 'stretch',
      scale: 1 / 255,
      mean: [0, 0, 0],
      std: [1, 1, 1],
      batch: 'dynamic',
      name: 'images',
    });
    expect(manifest.output).toEqual({
      boxes: 'boxes',
      scores: 'scores',
      classes: 'labels',
      box_format: 'xyxy',
      coordinates: 'pixels',
      nms: 'service',
      score_threshold: 0.5,
      iou_threshold: 0.5,
      max_detections: 50,
    });
    // Ids from 0 unless --first-id says otherwise.
    expect(manifest.class_labels).toEqual({ category_map: 'category_map.json', report: true });
  });

  it('a classifier whose last op is no Softmax gives logits; a fixed input size is stretched to', () => {
    const keras = info(
      [t('inputs', 'float32', [-1, 96, 128, 3])],
      [t('output_0', 'float32', [-1, 2], 'BiasAdd')],
    );
    const { manifest, notes } = planSavedModelClassifier(keras, {
      ...options('classifier'),
      labels: labels('a', 'b'),
    });
    expect(manifest.output).toEqual({ name: 'output_0', kind: 'logits' });
    expect(manifest.input).toMatchObject({ width: 128, height: 96, resize: 'stretch' });
    expect(notes).toContain('output "output_0" is computed by BiasAdd: logits (--output-kind to change)');
  });

  it('a uint8 classifier input is fed as it is; --input-size resizes crops for a dynamic input', () => {
    const uint8 = info([t('x', 'uint8', [-1, -1, -1, 3])], [t('y', 'float32', [-1, 2], 'Softmax')]);
    const { manifest } = planSavedModelClassifier(uint8, {
      ...options('classifier', { inputSize: [64, 48] }),
      labels: labels('a', 'b'),
    });
    expect(manifest.input).toEqual({
      width: 48,
      height: 64,
      color_order: 'RGB',
      resize: 'stretch',
      dtype: 'uint8',
      name: 'x',
    });
  });

  it('a label count that differs from the output width is refused', () => {
    const keras = info([t('inputs', 'float32', [-1, 96, 128, 3])], [t('output_0', 'float32', [-1, 2])]);
    expect(() =>
      planSavedModelClassifier(keras, { ...options('classifier'), labels: labels('a', 'b', 'c') }),
    ).toThrow('output "output_0" gives 2 scores per image, but the label file has 3 labels');
  });
});
