import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main as convertMain } from '../../src/cli/convert';
import { main as inspectMain } from '../../src/cli/inspect';
import { initTestBackend } from '../helpers/backend';
import {
  type ManifestJson,
  ultralyticsManifest,
  writeManifest,
  writeUltralytics,
} from '../algorithms/detector-models';
import { formatReport, inspectPath } from '../../src/convert/inspect';
import { savedModelRoot } from '../../src/convert/saved-model';
import { mobilenetV3Ops } from './models';

let tmp: string;
let onnxPath: string;
let modelDir: string;

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'inspect-'));
  onnxPath = path.join(tmp, 'mnv3.onnx');
  await fsp.writeFile(onnxPath, mobilenetV3Ops());
  const labels = path.join(tmp, 'labels.json');
  await fsp.writeFile(labels, JSON.stringify(Array.from({ length: 10 }, (_, i) => `Species ${i}`)));
  modelDir = path.join(tmp, 'mnv3-moths');
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await convertMain([
      'onnx',
      onnxPath,
      '--out',
      modelDir,
      '--labels',
      labels,
      '--name',
      'MobileNetV3 moths',
      '--version',
      '2',
      '--mean',
      '0.5,0.5,0.5',
      '--std',
      '0.25,0.25,0.25',
      '--taxon-rank',
      'SPECIES',
    ]);
    expect(code).toBe(0);
  } finally {
    stderr.mockRestore();
  }
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

it('the convert CLI writes a complete classifier directory', async () => {
  expect((await fsp.readdir(modelDir)).sort()).toEqual([
    'category_map.json',
    'group1-shard1of1.bin',
    'manifest.json',
    'model.json',
  ]);
  const manifest = JSON.parse(await fsp.readFile(path.join(modelDir, 'manifest.json'), 'utf8'));
  expect(manifest).toEqual({
    kind: 'classifier',
    format: 'tfjs-graph-model',
    model_path: 'model.json',
    algorithm: {
      key: 'mnv3-moths',
      name: 'MobileNetV3 moths',
      version: 2,
      version_name: null,
      description: null,
      uri: null,
      task_type: 'classification',
    },
    input: {
      width: 32,
      height: 32,
      color_order: 'RGB',
      resize: 'stretch',
      scale: 1 / 255,
      mean: [0.5, 0.5, 0.5],
      std: [0.25, 0.25, 0.25],
      name: 'input',
    },
    output: { name: 'fc9/Gemm_output_0', kind: 'logits' },
    category_map: 'category_map.json',
  });
});

it('inspects a converted model directory', async () => {
  const r = await inspectPath(modelDir);
  expect(r.kind).toBe('tfjs-graph-model');
  expect(r.inputs).toEqual([{ name: 'input', dtype: 'float', shape: '[-1,32,32,3]' }]);
  expect(r.outputs.map((o) => o.name)).toEqual(['fc9/Gemm_output_0']);
  expect(r.opHistogram.FusedDepthwiseConv2dNative).toBe(2);
  expect(r.parameters).toBeGreaterThan(13_000);
  const text = formatReport(r);
  expect(text).toContain('  manifest: classifier "mnv3-moths" v2 (MobileNetV3 moths)');
  expect(text).toContain('  category map: 10 labels (Species 0, Species 1, Species 2, …)');
  expect(text).toContain('inputs:\n  input  float  [-1,32,32,3]\n');
  expect(text).toMatch(/\n {2}_FusedConv2D +3\n/);
});

it('inspects an ONNX file and says whether it converts', async () => {
  const r = await inspectPath(onnxPath);
  expect(r.kind).toBe('onnx');
  expect(r.inputs).toEqual([{ name: 'input', dtype: 'float32', shape: '[batch,3,32,32]' }]);
  expect(r.outputs[0].shape).toBe('[batch,10]');
  expect(r.opHistogram).toMatchObject({ Conv: 5, BatchNormalization: 3, HardSwish: 3, Gemm: 2 });
  const text = formatReport(r);
  expect(text).toContain('  format: ONNX IR 8, opset ai.onnx 17\n');
  expect(text).toContain('note: every op is supported by `npm run convert -- onnx`');
});

it('inspects a SavedModel from saved_model.pb alone', async () => {
  const dir = path.join(tmp, 'saved');
  await fsp.mkdir(dir);
  const SavedModel = savedModelRoot().lookupType('tfmeta.SavedModel');
  const shape = (dims: number[]): unknown => ({ dim: dims.map((size) => ({ size })) });
  const message = SavedModel.fromObject({
    saved_model_schema_version: 1,
    meta_graphs: [
      {
        meta_info_def: { tags: ['serve'], tensorflow_version: '2.11.0' },
        graph_def: {
          node: [
            {
              name: 'serving_default_input',
              op: 'Placeholder',
              attr: { dtype: { type: 1 }, shape: { shape: shape([-1, 128, 128, 3]) } },
            },
            {
              name: 'conv/kernel',
              op: 'VarHandleOp',
              attr: { dtype: { type: 1 }, shape: { shape: shape([3, 3, 3, 16]) } },
            },
            {
              name: 'dense/kernel',
              op: 'VarHandleOp',
              attr: { dtype: { type: 1 }, shape: { shape: shape([16, 10]) } },
            },
            { name: 'StatefulPartitionedCall', op: 'StatefulPartitionedCall' },
          ],
          library: {
            function: [
              {
                signature: { name: 'f' },
                node_def: [
                  { name: 'c', op: 'Conv2D' },
                  { name: 'r', op: 'Relu' },
                  { name: 'm', op: 'MatMul' },
                ],
              },
            ],
          },
        },
        signature_def: {
          serving_default: {
            method_name: 'tensorflow/serving/predict',
            inputs: {
              input: { name: 'serving_default_input:0', dtype: 1, tensor_shape: shape([-1, 128, 128, 3]) },
            },
            outputs: {
              logits: { name: 'StatefulPartitionedCall:0', dtype: 1, tensor_shape: shape([-1, 10]) },
            },
          },
        },
      },
    ],
  });
  await fsp.writeFile(path.join(dir, 'saved_model.pb'), SavedModel.encode(message).finish());
  const r = await inspectPath(dir);
  expect(r.kind).toBe('tf-saved-model');
  expect(r.inputs).toEqual([
    { name: 'input (serving_default_input:0)', dtype: 'float32', shape: '[-1,128,128,3]' },
  ]);
  expect(r.outputs).toEqual([
    { name: 'logits (StatefulPartitionedCall:0)', dtype: 'float32', shape: '[-1,10]' },
  ]);
  expect(r.parameters).toBe(3 * 3 * 3 * 16 + 16 * 10);
  expect(r.opHistogram).toMatchObject({ VarHandleOp: 2, Conv2D: 1, Relu: 1, MatMul: 1 });
  const text = formatReport(r);
  expect(text).toContain('  written by: TensorFlow 2.11.0\n');
  expect(text).toContain(
    '  manifest names: input.name "input", output names "logits" (signature keys of serving_default)\n',
  );
  expect(text).toContain('note: a SavedModel runs only on the native backend (libtensorflow)');
});

it('reports a path that is no model', async () => {
  await expect(inspectPath(tmp)).rejects.toThrow(
    'neither model.json (TF.js graph model) nor saved_model.pb (SavedModel) is in it',
  );
});

describe('weight dtypes and manifest checks (detectors)', () => {
  // An ultralytics-shaped graph: input [1,3,64,64], output0 [1, 4+2, 5].
  let dir: string;
  const yoloManifest = (patch: (m: ManifestJson) => void = () => undefined): ManifestJson => {
    const m = ultralyticsManifest(64, { classLabels: { report: true } });
    patch(m);
    return m;
  };
  const row = { cxcywh: [32, 32, 8, 8] as [number, number, number, number], scores: [0.9, 0.1] };

  beforeAll(async () => {
    dir = path.join(tmp, 'yolo');
    await fsp.mkdir(dir);
    await writeUltralytics(dir, 64, [row, row, row, row, row]);
  });

  const withManifest = async (manifest: Record<string, unknown>, labels = ['moth', 'other']) => {
    await writeManifest(dir, manifest, labels);
    return inspectPath(dir);
  };

  it('a matching manifest has no problems; weight dtypes are listed', async () => {
    const r = await withManifest(yoloManifest());
    expect(r.problems).toEqual([]);
    const text = formatReport(r);
    expect(text).toContain('  weight dtypes: int32 ×3, float32 ×2\n');
    expect(text).toContain('  quantisation: none (full-precision weights)\n');
    expect(text).toContain('  input layout: NCHW, batch (from the graph), pad 114\n');
  });

  it('names the field and the model value: layout, batch, size, output name', async () => {
    const r = await withManifest(
      yoloManifest((m) => {
        m.input.layout = 'NHWC';
        m.input.batch = 'dynamic';
        (m.output.packed as Record<string, unknown>).tensor = 'output';
      }),
    );
    expect(r.problems).toEqual([
      'input.layout is "NHWC" but the model\'s input "images" has shape [1,3,64,64] (64 channels where NHWC puts them)',
      'input.batch is "dynamic" but the model\'s input "images" has shape [1,3,64,64] (batch fixed at 1: use "single")',
      'output.packed.tensor "output" is not an output of the model; it has "output0"',
    ]);
    expect(formatReport(r)).toContain('\nmismatch: output.packed.tensor "output" is not an output');
  });

  it('checks the category-map width against output shapes the model.json signature records', async () => {
    await withManifest(yoloManifest(), ['moth', 'other', 'dust']);
    const jsonPath = path.join(dir, 'model.json');
    const original = await fsp.readFile(jsonPath, 'utf8');
    try {
      const json = JSON.parse(original) as {
        signature: { outputs: Record<string, Record<string, unknown>> };
      };
      json.signature.outputs.output0.tensorShape = { dim: [{ size: '1' }, { size: '6' }, { size: '5' }] };
      await fsp.writeFile(jsonPath, JSON.stringify(json));
      const r = await inspectPath(dir);
      expect(r.outputs).toEqual([{ name: 'output0', dtype: 'float', shape: '[1,6,5]' }]);
      expect(r.problems).toEqual([
        'class_labels\' category map has 3 labels but output.packed "output0" has 2 class-score columns (shape [1,6,5])',
      ]);
    } finally {
      await fsp.writeFile(jsonPath, original);
    }
  });

  it('reports quantised weights', async () => {
    await withManifest(yoloManifest());
    const jsonPath = path.join(dir, 'model.json');
    const original = await fsp.readFile(jsonPath, 'utf8');
    try {
      const json = JSON.parse(original) as { weightsManifest: { weights: Record<string, unknown>[] }[] };
      json.weightsManifest[0].weights[0].quantization = { dtype: 'uint8', min: 0, scale: 0.1 };
      json.weightsManifest[0].weights[1].quantization = { dtype: 'float16' };
      await fsp.writeFile(jsonPath, JSON.stringify(json));
      expect(formatReport(await inspectPath(dir))).toMatch(
        /quantisation: (uint8 ×1, float16 ×1|float16 ×1, uint8 ×1) \(stored/,
      );
    } finally {
      await fsp.writeFile(jsonPath, original);
    }
  });

  it("the CLI exits 1 on a mismatch; --run adds the real output shapes and the service's own load error", async () => {
    await initTestBackend();
    await writeManifest(dir, yoloManifest(), ['moth', 'other', 'dust']);
    const out: string[] = [];
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out.push(String(s));
      return true;
    });
    try {
      expect(await inspectMain([dir, '--run'])).toBe(1);
    } finally {
      stdout.mockRestore();
    }
    const text = out.join('');
    expect(text).toContain('outputs:\n  output0  float32  [1,6,5]\n');
    expect(text).toContain(
      "mismatch: the service cannot load it: detector tiny_yolo: the model gives 2 class scores per box but class_labels' category map has 3 labels",
    );
  });
});
