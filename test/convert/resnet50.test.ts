import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { convertOnnxToModelDir } from '../../src/convert/model-dir';
import { loadGraphModelFromDir } from '../../src/models/graph-model-loader';
import { initTestBackend } from '../helpers/backend';
import { maxAbsDiff, randomInput, runOrt, runTfjs, top1 } from './helpers';
import { resnet50 } from './models';

let tmp: string;

beforeAll(async () => {
  await initTestBackend();
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'resnet50-'));
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

it('converts the torchvision ResNet-50 layout (128 px, random weights) to a model directory with ORT parity', async () => {
  const bytes = resnet50({ classes: 1000, size: 128 });
  const onnxPath = path.join(tmp, 'resnet50.onnx');
  await fsp.writeFile(onnxPath, bytes);
  const outDir = path.join(tmp, 'resnet50-moths');
  const labels = Array.from({ length: 1000 }, (_, i) => `Taxon ${i}`);
  const result = await convertOnnxToModelDir({
    onnxPath,
    outDir,
    algorithm: { key: 'resnet50-moths', name: 'ResNet-50 moths', version: 1 },
    labels,
    taxonRank: 'SPECIES',
  });
  const { stats } = result.conversion;
  expect(stats.foldedBatchNorms).toBe(53);
  expect(stats.opHistogram._FusedConv2D).toBe(53);
  expect(stats.insertedTransposes).toBe(0);
  // torchvision's 25,557,032 minus BN gamma/beta (53,120), plus the conv biases BN folding creates (26,560),
  // plus the MaxPool padding value (one float constant).
  expect(stats.parameters).toBe(25_557_032 - 53_120 + 26_560 + 1);
  expect(result.files.filter((f) => f.endsWith('.bin')).length).toBeGreaterThan(20);
  expect(result.loaded.manifest.kind).toBe('classifier');
  expect(result.loaded.categoryMap?.labels).toHaveLength(1000);

  const input = randomInput(1, 3, 128, 128, 5);
  const ref = await runOrt(bytes, input);
  const before = tf.memory().numTensors;
  const model = await loadGraphModelFromDir(outDir);
  try {
    const got = await runTfjs(model, input);
    expect(got.shape).toEqual([1, 1000]);
    const diff = maxAbsDiff(ref, got.data);
    process.stdout.write(
      `parity ResNet-50 128px: max abs diff ${diff.toExponential(2)} (logit range ±${Math.max(...ref.map(Math.abs)).toFixed(1)})\n`,
    );
    expect(diff).toBeLessThanOrEqual(1e-4);
    expect(top1(got.data, 1000)).toEqual(top1(ref, 1000));
  } finally {
    model.dispose();
  }
  expect(tf.memory().numTensors).toBe(before);
}, 120_000);
