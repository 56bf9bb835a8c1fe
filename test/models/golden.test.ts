/**
 * Golden tests: tiny graph models written with GraphBuilder (random weights, the real format) are loaded through
 * loadGraphModelFromDir and run on wasm (libtensorflow in the native tier); they must match the same computation
 * in eager tf ops on the cpu backend (an independent implementation) within 1e-5. Together they cover every op
 * type the default models use.
 */
import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initTestBackend } from '../helpers/backend';
import { attr, GraphBuilder, type AttrValue } from '../../src/models/graph-model-writer';
import { loadGraphModelFromDir } from '../../src/models/graph-model-loader';
import { seededRng } from '../../src/util/rng';

const TOL = 1e-5;
const f32 = { T: attr.type('DT_FLOAT') };
const idx = { Tidx: attr.type('DT_INT32') };
const nhwc = { data_format: attr.s('NHWC') };
const pool = (kh: number, kw: number, stride: number, padding: string): Record<string, AttrValue> => ({
  ...f32,
  ...nhwc,
  ksize: attr.ints([1, kh, kw, 1]),
  strides: attr.ints([1, stride, stride, 1]),
  padding: attr.s(padding),
});
const conv = (padding: string): Record<string, AttrValue> => ({
  ...f32,
  ...nhwc,
  strides: attr.ints([1, 1, 1, 1]),
  padding: attr.s(padding),
  dilations: attr.ints([1, 1, 1, 1]),
});
const gather = (batchDims: number): Record<string, AttrValue> => ({
  Tparams: attr.type('DT_FLOAT'),
  Tindices: attr.type('DT_INT32'),
  Taxis: attr.type('DT_INT32'),
  batch_dims: attr.i(batchDims),
});
const toFloat = { SrcT: attr.type('DT_BOOL'), DstT: attr.type('DT_FLOAT'), Truncate: attr.b(false) };

function randomValues(n: number, seed: number, scale = 1): number[] {
  const rng = seededRng(seed);
  return Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
}

async function roundTrip(g: GraphBuilder): Promise<{ model: tf.GraphModel; dir: string }> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'antenna-golden-'));
  await g.write(dir);
  return { model: await loadGraphModelFromDir(dir), dir };
}

/** Largest |a − b| between a model output and an expectation (plain values computed on another backend). */
async function maxAbsDiff(a: tf.Tensor, b: Expected): Promise<number> {
  expect(a.shape).toEqual(b.shape);
  const values = await a.data();
  let max = 0;
  values.forEach((v: number, i: number) => (max = Math.max(max, Math.abs(v - b.values[i]))));
  return max;
}

interface Expected {
  shape: number[];
  values: Float32Array | Int32Array | Uint8Array;
}

/**
 * Runs `fn` in eager mode on the pure-JS cpu backend (an implementation independent of the kernels the
 * model runs on) and returns plain values; the previous backend is restored afterwards.
 */
async function onCpu(inputs: { shape: number[]; values: Float32Array }, fn: (x: tf.Tensor4D) => tf.Tensor[]): Promise<Expected[]> {
  const previous = tf.getBackend();
  await tf.setBackend('cpu');
  try {
    const outs = tf.tidy(() => fn(tf.tensor4d(inputs.values, inputs.shape as [number, number, number, number])));
    const result = outs.map((t) => ({ shape: t.shape, values: t.dataSync() }));
    tf.dispose(outs);
    return result;
  } finally {
    await tf.setBackend(previous);
  }
}

beforeAll(async () => {
  await initTestBackend();
  tf.env().set('IS_TEST', true); // silences the "use tfjs-node" banner of the cpu backend used for expectations
});

describe('graph models written by GraphBuilder', () => {
  it('detector ops: Min, AvgPool, MaxPool, Neg, ResizeBilinear, Sigmoid, Greater, Cast, Minimum, Slice, Equal, Conv2D, Reshape, TopKV2, OnesLike, Cumsum, GatherV2, Floor, Prod, Relu, Sqrt', async () => {
    const g = new GraphBuilder();
    const x = g.placeholder('image', [-1, 8, 12, 3]);
    const one = g.constFloat('one', [], [1]);
    const ink = g.op('ink', 'Sub', [one, g.op('min', 'Min', [x, g.constInt('axis3', [1], [3])], { ...f32, ...idx, keep_dims: attr.b(true) })], f32);
    const down = g.op('down', 'AvgPool', [ink], pool(2, 2, 2, 'VALID')); // [B, 4, 6, 1]
    const eroded = g.op('eroded', 'Neg', [g.op('maxpool', 'MaxPool', [g.op('neg', 'Neg', [down], f32)], pool(3, 3, 1, 'SAME'))], f32);
    const smooth = g.op('smooth', 'AvgPool', [eroded], pool(1, 3, 1, 'SAME'));
    const up = g.op('up', 'ResizeBilinear', [smooth, g.constInt('size', [2], [8, 12])], { ...f32, align_corners: attr.b(false), half_pixel_centers: attr.b(true) });
    const fg = g.op('fg', 'Sigmoid', [g.op('steep', 'Mul', [g.op('diff', 'Sub', [ink, up], f32), g.constFloat('k', [], [5])], f32)], f32);
    const mask = g.op('mask', 'Cast', [g.op('gt', 'Greater', [fg, g.constFloat('half', [], [0.5])], f32)], toFloat);
    const codes = g.op('codes', 'AddV2', [g.constFloat('ys', [1, 8, 1, 2], randomValues(16, 1, 10)), g.constFloat('xs', [1, 1, 12, 2], randomValues(24, 2, 10))], f32);
    const masked = g.op('masked', 'Minimum', [g.op('codes_b', 'AddV2', [codes, g.op('zero', 'Mul', [mask, g.constFloat('z', [], [0])], f32)], f32), g.op('limit', 'Mul', [mask, g.constFloat('m', [], [100])], f32)], f32);
    const first = g.op('first', 'Slice', [masked, g.constInt('begin', [4], [0, 0, 0, 0]), g.constInt('sz', [4], [-1, -1, -1, 1])], { ...f32, Index: attr.type('DT_INT32') });
    const same = g.op('same', 'Cast', [g.op('eq', 'Equal', [first, g.op('first2', 'Slice', [codes, g.constInt('begin2', [4], [0, 0, 0, 0]), g.constInt('sz2', [4], [-1, -1, -1, 1])], { ...f32, Index: attr.type('DT_INT32') })], f32)], toFloat);
    const rank = g.op('rank', 'Conv2D', [masked, g.constFloat('rank_k', [1, 1, 2, 1], [0.5, -0.25])], conv('VALID'));
    const flat = g.op('flat', 'Reshape', [rank, g.constInt('shape', [2], [-1, 96])], { ...f32, Tshape: attr.type('DT_INT32') });
    const topk = g.op('topk', 'TopKV2', [flat, g.constInt('k5', [], [5])], { ...f32, sorted: attr.b(true) });
    const table = g.op('table', 'Reshape', [masked, g.constInt('shape2', [2], [-1, 2])], { ...f32, Tshape: attr.type('DT_INT32') }); // [B·96, 2]
    const batchIndex = g.op('batch', 'Cumsum', [g.op('ones', 'OnesLike', ['topk'], f32), g.constInt('axis0', [], [0])], { ...f32, ...idx, exclusive: attr.b(true), reverse: attr.b(false) });
    const offset = g.op('offset', 'Cast', [g.op('offset_f', 'Mul', [batchIndex, g.constFloat('n96', [], [96])], f32)], { SrcT: attr.type('DT_FLOAT'), DstT: attr.type('DT_INT32'), Truncate: attr.b(false) });
    const flatIndex = g.op('flat_index', 'AddV2', ['topk:1', offset], { T: attr.type('DT_INT32') });
    const picked = g.op('picked', 'GatherV2', [table, flatIndex, g.constInt('axis0b', [], [0])], gather(0)); // [B, 5, 2]
    const swapped = g.op('swapped', 'GatherV2', [picked, g.constInt('order', [2], [1, 0]), g.constInt('axis2', [], [2])], gather(0));
    const floored = g.op('floored', 'Floor', [g.op('scaled', 'Mul', [swapped, g.constFloat('tenth', [], [0.1])], f32)], f32);
    const prod = g.op('prod', 'Prod', [floored, g.constInt('axis2b', [1], [2])], { ...f32, ...idx, keep_dims: attr.b(false) });
    const root = g.op('root', 'Sqrt', [g.op('relu', 'Relu', [prod], f32)], f32);
    g.output('fg', fg);
    g.output('same', same);
    g.output('values', topk);
    g.output('root', root);
    g.output('swapped', swapped);

    const { model, dir } = await roundTrip(g);
    const raw = { shape: [2, 8, 12, 3], values: Float32Array.from(randomValues(2 * 8 * 12 * 3, 3), (v) => (v + 1) / 2) };
    const input = tf.tensor4d(raw.values, [2, 8, 12, 3]);
    const got = model.execute(input, ['fg', 'same', 'values', 'root', 'swapped']) as tf.Tensor[];
    const want = await onCpu(raw, (cpuInput) => {
      const inkE = tf.sub<tf.Tensor4D>(1, tf.min(cpuInput, 3, true));
      const downE = tf.avgPool(inkE, 2, 2, 'valid');
      const erodedE = tf.neg(tf.maxPool(tf.neg(downE), 3, 1, 'same'));
      const smoothE = tf.avgPool(erodedE, [1, 3], 1, 'same');
      const upE = tf.image.resizeBilinear(smoothE, [8, 12], false, true);
      const fgE = tf.sigmoid(tf.mul(tf.sub(inkE, upE), 5));
      const maskE = tf.cast(tf.greater(fgE, 0.5), 'float32');
      const codesE = tf.add(tf.tensor4d(randomValues(16, 1, 10), [1, 8, 1, 2]), tf.tensor4d(randomValues(24, 2, 10), [1, 1, 12, 2]));
      const maskedE = tf.minimum(tf.add(codesE, tf.mul(maskE, 0)), tf.mul(maskE, 100));
      const sameE = tf.cast(tf.equal(tf.slice(maskedE, [0, 0, 0, 0], [-1, -1, -1, 1]), tf.slice(codesE, [0, 0, 0, 0], [-1, -1, -1, 1])), 'float32');
      const rankE = tf.conv2d(maskedE as tf.Tensor4D, tf.tensor4d([0.5, -0.25], [1, 1, 2, 1]), 1, 'valid');
      const { values, indices } = tf.topk(tf.reshape(rankE, [-1, 96]), 5, true);
      // Per batch element on its own: tf.gather with batchDims = 1 is wrong on wasm (see detector-model.ts).
      const pickedE = tf.stack([0, 1].map((b) => tf.gather(tf.reshape(tf.slice(maskedE, [b], [1]), [96, 2]), tf.squeeze(tf.slice(indices, [b], [1]), [0]))));
      const swappedE = tf.gather(pickedE, tf.tensor1d([1, 0], 'int32'), 2);
      const rootE = tf.sqrt(tf.relu(tf.prod(tf.floor(tf.mul(swappedE, 0.1)), 2)));
      return [fgE, sameE, values, rootE, swappedE];
    });
    try {
      for (let i = 0; i < want.length; i++) expect(await maxAbsDiff(got[i], want[i])).toBeLessThanOrEqual(TOL);
    } finally {
      tf.dispose([...got, input]);
      model.dispose();
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  it('classifier ops: Conv2D (1×1, 3×3, 5×5), BiasAdd, Softmax, Abs, Relu, AvgPool, Mean, Max, ConcatV2, MatMul', async () => {
    const g = new GraphBuilder();
    const x = g.placeholder('image', [-1, 16, 16, 3]);
    const axes = g.constInt('axes12', [2], [1, 2]);
    const reduce = { ...f32, ...idx, keep_dims: attr.b(false) };
    const c1 = g.op('c1', 'BiasAdd', [g.op('c1/conv', 'Conv2D', [x, g.constFloat('k1', [1, 1, 3, 4], randomValues(12, 4))], conv('VALID')), g.constFloat('b1', [4], randomValues(4, 5))], { ...f32, ...nhwc });
    const soft = g.op('soft', 'Softmax', [c1], f32);
    const zone = g.op('zone', 'Mean', [g.op('zone/mul', 'Mul', [soft, g.constFloat('mask', [1, 16, 16, 1], randomValues(256, 6).map(Math.abs))], f32), axes], reduce);
    const grey = g.op('grey', 'Conv2D', [x, g.constFloat('kg', [1, 1, 3, 1], [1 / 3, 1 / 3, 1 / 3])], conv('VALID'));
    const half = g.op('half', 'AvgPool', [grey], pool(2, 2, 2, 'VALID'));
    const edges = g.op('edges', 'Abs', [g.op('edges/conv', 'Conv2D', [half, g.constFloat('k3', [3, 3, 1, 2], randomValues(18, 7))], conv('SAME'))], f32);
    const edgeMean = g.op('edge_mean', 'Mean', [edges, axes], reduce);
    const rnd = g.op('rnd', 'Relu', [g.op('rnd/conv', 'Conv2D', [x, g.constFloat('k5', [5, 5, 3, 3], randomValues(225, 8))], conv('SAME'))], f32);
    const rndMax = g.op('rnd_max', 'Max', [rnd, axes], reduce);
    const feats = g.op('feats', 'ConcatV2', [zone, edgeMean, rndMax, g.constInt('axis1', [], [1])], { ...f32, ...idx, N: attr.i(3) }); // [B, 9]
    const mm = { ...f32, transpose_a: attr.b(false), transpose_b: attr.b(false) };
    const scaled = g.op('scaled', 'Mul', [g.op('centred', 'Sub', [feats, g.constFloat('mean', [9], randomValues(9, 9))], f32), g.constFloat('inv', [9], randomValues(9, 10))], f32);
    const h = g.op('h', 'Relu', [g.op('h/bias', 'BiasAdd', [g.op('h/mm', 'MatMul', [scaled, g.constFloat('w1', [9, 6], randomValues(54, 11))], mm), g.constFloat('hb', [6], randomValues(6, 12))], { ...f32, ...nhwc })], f32);
    const logits = g.op('logits', 'BiasAdd', [g.op('o/mm', 'MatMul', [h, g.constFloat('w2', [6, 3], randomValues(18, 13))], mm), g.constFloat('ob', [3], randomValues(3, 14))], { ...f32, ...nhwc });
    g.output('logits', logits);
    g.output('features', feats);

    const { model, dir } = await roundTrip(g);
    const raw = { shape: [2, 16, 16, 3], values: Float32Array.from(randomValues(2 * 16 * 16 * 3, 15), (v) => (v + 1) / 2) };
    const input = tf.tensor4d(raw.values, [2, 16, 16, 3]);
    const got = model.execute(input, ['logits', 'features']) as tf.Tensor[];
    const want = await onCpu(raw, (cpuInput) => {
      const c1E = tf.add(tf.conv2d(cpuInput, tf.tensor4d(randomValues(12, 4), [1, 1, 3, 4]), 1, 'valid'), tf.tensor1d(randomValues(4, 5)));
      const zoneE = tf.mean(tf.mul(tf.softmax(c1E), tf.tensor4d(randomValues(256, 6).map(Math.abs), [1, 16, 16, 1])), [1, 2]);
      const greyE = tf.conv2d(cpuInput, tf.tensor4d([1 / 3, 1 / 3, 1 / 3], [1, 1, 3, 1]), 1, 'valid');
      const edgesE = tf.abs(tf.conv2d(tf.avgPool(greyE, 2, 2, 'valid'), tf.tensor4d(randomValues(18, 7), [3, 3, 1, 2]), 1, 'same'));
      const rndE = tf.relu(tf.conv2d(cpuInput, tf.tensor4d(randomValues(225, 8), [5, 5, 3, 3]), 1, 'same'));
      const featsE = tf.concat([zoneE, tf.mean(edgesE, [1, 2]), tf.max(rndE, [1, 2])], 1);
      const scaledE = tf.mul(tf.sub(featsE, tf.tensor1d(randomValues(9, 9))), tf.tensor1d(randomValues(9, 10)));
      const hE = tf.relu(tf.add(tf.matMul(scaledE as tf.Tensor2D, tf.tensor2d(randomValues(54, 11), [9, 6])), tf.tensor1d(randomValues(6, 12))));
      const logitsE = tf.add(tf.matMul(hE, tf.tensor2d(randomValues(18, 13), [6, 3])), tf.tensor1d(randomValues(3, 14)));
      return [logitsE, featsE];
    });
    try {
      expect(await maxAbsDiff(got[0], want[0])).toBeLessThanOrEqual(TOL);
      expect(await maxAbsDiff(got[1], want[1])).toBeLessThanOrEqual(TOL);
    } finally {
      tf.dispose([...got, input]);
      model.dispose();
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
