import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main as convertMain } from '../../src/cli/convert';
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
  expect(text).toContain('note: a SavedModel runs only on tfjs-node(-gpu)');
});

it('reports a path that is no model', async () => {
  await expect(inspectPath(tmp)).rejects.toThrow(
    'neither model.json (TF.js graph model) nor saved_model.pb (SavedModel) is in it',
  );
});
