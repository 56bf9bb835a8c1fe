/**
 * Parity helpers: run an ONNX file on onnxruntime-node and its conversion on TF.js, on the same input.
 */
import * as tf from '@tensorflow/tfjs';
import { execFile } from 'child_process';
import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { convertOnnx, OnnxConversion } from '../../src/convert/onnx/convert-onnx';
import { Rand } from './models';

const execFileAsync = promisify(execFile);

/** A random NCHW input batch. */
export function randomInput(
  n: number,
  c: number,
  h: number,
  w: number,
  seed = 11,
): { data: Float32Array; shape: number[] } {
  return { data: new Rand(seed).fill(n * c * h * w, 1), shape: [n, c, h, w] };
}

// onnxruntime-node's native binding returns typed arrays from Node's own realm, which fail `instanceof` checks
// inside Jest's sandbox ("A float32 tensor's data must be type of function Float32Array()"), so ORT runs in a
// child process: model and input go through temporary files.
const ORT_SCRIPT = `
const fs = require('fs');
const ort = require('onnxruntime-node');
const [modelPath, inputPath, shapeJson, outPath, outIndex] = process.argv.slice(1);
(async () => {
  const session = await ort.InferenceSession.create(fs.readFileSync(modelPath));
  const b = fs.readFileSync(inputPath);
  const data = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, JSON.parse(shapeJson)) });
  // int64/bool outputs come back as float32 too, so one reader serves every dtype.
  const y = Float32Array.from(out[session.outputNames[Number(outIndex)]].data, Number);
  fs.writeFileSync(outPath, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
})().catch((e) => { console.error(e); process.exit(1); });
`;

/** Runs the ONNX model on onnxruntime (CPU) and returns one output (the first by default) as float32. */
export async function runOrt(
  bytes: Uint8Array,
  input: { data: Float32Array; shape: number[] },
  outputIndex = 0,
): Promise<Float32Array> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ort-'));
  try {
    const [model, x, y] = ['model.onnx', 'input.bin', 'output.bin'].map((f) => path.join(dir, f));
    await fsp.writeFile(model, bytes);
    await fsp.writeFile(x, Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength));
    await execFileAsync(
      process.execPath,
      ['-e', ORT_SCRIPT, model, x, JSON.stringify(input.shape), y, String(outputIndex)],
      {
        cwd: path.resolve(__dirname, '../..'),
      },
    );
    const out = await fsp.readFile(y);
    return new Float32Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength));
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/** TF ops TF.js runs only through executeAsync. */
const ASYNC_OPS = new Set(['If', 'StatelessIf', 'NonMaxSuppressionV3', 'NonMaxSuppressionV5', 'Where']);
const NEEDS_ASYNC = new WeakSet<tf.GraphModel>();

/** Loads a converted model from memory. */
export async function loadConversion(conversion: OnnxConversion): Promise<tf.GraphModel> {
  const { json, shard } = conversion.builder.toArtifacts();
  const model = await tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0].weights as tf.io.WeightsManifestEntry[],
      weightData: shard.buffer.slice(shard.byteOffset, shard.byteOffset + shard.byteLength) as ArrayBuffer,
    }),
  );
  const ops = [
    ...json.modelTopology.node.map((nd) => nd.op),
    ...(json.modelTopology.library.function ?? []).flatMap((f) => f.nodeDef.map((nd) => nd.op)),
  ];
  if (ops.some((op) => ASYNC_OPS.has(op))) NEEDS_ASYNC.add(model);
  return model;
}

/**
 * Runs a graph model on an NCHW (or CHW) input, transposed to the NHWC (HWC) the service feeds, through
 * `execute`, or `executeAsync` when the graph needs it; returns one output as float32.
 */
export async function runTfjs(
  model: tf.GraphModel,
  input: { data: Float32Array; shape: number[] },
  outputIndex = 0,
): Promise<{ data: Float32Array; shape: number[] }> {
  const x = tf.tidy(() =>
    tf.tensor(input.data, input.shape).transpose(input.shape.length === 4 ? [0, 2, 3, 1] : [1, 2, 0]),
  );
  try {
    // Control flow and data-dependent sizes (If, NonMaxSuppression, NonZero → Where) need executeAsync.
    const out = NEEDS_ASYNC.has(model) ? await model.executeAsync(x) : model.execute(x);
    const ys = Array.isArray(out) ? out : [out];
    try {
      const y = ys[outputIndex];
      return { data: Float32Array.from(await y.data()), shape: y.shape };
    } finally {
      tf.dispose(ys);
    }
  } finally {
    x.dispose();
  }
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Index of the largest value of each row. */
export function top1(data: Float32Array, classes: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < data.length / classes; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (data[r * classes + c] > data[r * classes + best]) best = c;
    out.push(best);
  }
  return out;
}

/** Converts, runs both runtimes, disposes the model; returns what the assertions need. */
export async function parity(
  bytes: Uint8Array,
  batch = 2,
  outputIndex = 0,
): Promise<{
  diff: number;
  ref: Float32Array;
  got: Float32Array;
  shape: number[];
  conversion: OnnxConversion;
}> {
  const conversion = convertOnnx(bytes);
  const [, h, w, c] = conversion.input.shape;
  const input = randomInput(batch, c, h, w);
  const ref = await runOrt(bytes, input, outputIndex);
  const model = await loadConversion(conversion);
  try {
    const got = await runTfjs(model, input, outputIndex);
    return { diff: maxAbsDiff(ref, got.data), ref, got: got.data, shape: got.shape, conversion };
  } finally {
    model.dispose();
  }
}

/**
 * Runs one random [3, h, w] image (seeded) on onnxruntime and on the loaded conversion, for graphs whose input
 * size is known only at run time; `leaked` counts the tensors the TF.js run left behind (0 when it is clean).
 */
export async function runBothOnImage(
  bytes: Uint8Array,
  model: tf.GraphModel,
  h: number,
  w: number,
  seed: number,
): Promise<{ ref: Float32Array; got: { data: Float32Array; shape: number[] }; leaked: number }> {
  const input = { data: randomInput(1, 3, h, w, seed).data, shape: [3, h, w] };
  const before = tf.memory().numTensors;
  const ref = await runOrt(bytes, input);
  const got = await runTfjs(model, input);
  return { ref, got, leaked: tf.memory().numTensors - before };
}

/**
 * `runBothOnImage` for each [h, w, seed]: the same number of values, within 1e-4 of onnxruntime, and no tensor
 * left behind by the TF.js run.
 */
export async function expectSameAsOrtOnImages(
  bytes: Uint8Array,
  model: tf.GraphModel,
  images: readonly (readonly [number, number, number])[],
): Promise<void> {
  for (const [h, w, seed] of images) {
    const { ref, got, leaked } = await runBothOnImage(bytes, model, h, w, seed);
    expect(got.data.length).toBe(ref.length);
    expect(maxAbsDiff(ref, got.data)).toBeLessThanOrEqual(1e-4);
    expect(leaked).toBe(0);
  }
}
