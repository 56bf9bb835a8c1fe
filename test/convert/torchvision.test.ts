/**
 * Real `torch.onnx.export` output, not hand-built graphs: torchvision ResNet-18, MobileNetV3-Small,
 * EfficientNet-B0 and ConvNeXt-Tiny with random weights (scripts/export-torchvision.py, nothing downloaded)
 * convert and match onnxruntime. Needs Debian's /usr/bin/python3 with python3-torch and python3-torchvision;
 * skips, saying so, where they are absent.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initTestBackend } from '../helpers/backend';
import { parity, top1 } from './helpers';

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'export-torchvision.py');
const TOLERANCE = 1e-4;
const MODELS = [
  ['resnet18', 13],
  ['mobilenet_v3_small', 17],
  ['efficientnet_b0', 13],
  ['convnext_tiny', 17],
] as const;

const torchReady =
  fs.existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch, torchvision, onnx']).status === 0;
const reason = `SKIPPED: ${PYTHON} cannot import torch, torchvision and onnx (apt-get install python3-torchvision python3-onnx)`;

describe('torchvision models exported by torch.onnx.export', () => {
  let dir = '';

  beforeAll(async () => {
    await initTestBackend();
    if (!torchReady) return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchvision-'));
    const r = spawnSync(PYTHON, [SCRIPT, dir, '64'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`export-torchvision.py failed:\n${r.stdout}${r.stderr}`);
  }, 180_000);

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  (torchReady ? it.each(MODELS) : it.skip.each(MODELS))(
    torchReady ? '%s (opset %d, 64 px) converts with onnxruntime parity' : `%s (opset %d) (${reason})`,
    async (name) => {
      const before = tf.memory().numTensors;
      const r = await parity(fs.readFileSync(path.join(dir, `${name}.onnx`)));
      expect(r.shape).toEqual([2, 10]);
      const range = Math.max(...r.ref.map(Math.abs));
      process.stdout.write(
        `parity torchvision ${name}: max abs diff ${r.diff.toExponential(2)} (logits up to ±${range.toFixed(2)})\n`,
      );
      // Logits near zero would make any comparison pass; the export script keeps them at a useful scale.
      expect(range).toBeGreaterThan(0.1);
      expect(r.diff).toBeLessThanOrEqual(TOLERANCE);
      expect(top1(r.got, 10)).toEqual(top1(r.ref, 10));
      expect(tf.memory().numTensors).toBe(before);
    },
    120_000,
  );
});
