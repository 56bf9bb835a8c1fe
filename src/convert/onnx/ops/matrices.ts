/**
 * Gemm and MatMul. Weights become [K, M] with rows permuted when the input was flattened in NHWC order.
 */
import { binaryConst, broadcastTo, ConstTensor, makeConst, sizeOf, transposeConst } from '../../tensor';
import {
  ConstValue,
  ConversionError,
  ConvertContext,
  FlatLayout,
  identityPerm,
  RtValue,
  Value,
} from '../context';
import { getAttr } from '../onnx-proto';
import { tfAttr } from '../tf-graph';
import { broadcastDims, OpHandler, runtime, T } from './common';
import { binary } from './elementwise';

/** For a flattened NHWC map: TF feature index → ONNX feature index. */
function flatIndexMap(flat: FlatLayout): Float64Array {
  const iota = makeConst(
    'int64',
    flat.dims,
    Array.from({ length: sizeOf(flat.dims) }, (_, i) => i),
  );
  return transposeConst(iota, flat.order).data as Float64Array;
}

/** [K, M] weight, rows reordered to match a flattened NHWC input. */
function weightForInput(w: ConstTensor, a: RtValue): Float32Array {
  const [K, M] = w.shape;
  const data = w.data instanceof Float32Array ? w.data : Float32Array.from(w.data);
  if (!a.flat) return data.slice();
  const map = flatIndexMap(a.flat);
  const out = new Float32Array(K * M);
  for (let k = 0; k < K; k++) out.set(data.subarray(map[k] * M, map[k] * M + M), k * M);
  return out;
}

function fusedMatMul(
  ctx: ConvertContext,
  base: string,
  aRef: string,
  weight: Float32Array,
  K: number,
  M: number,
  bias: Float32Array,
  like: { shape: number[]; perm: number[] },
  transposeA = false,
): RtValue {
  const g = ctx.graph;
  const kname = g.constFloat(`${base}/kernel`, [K, M], weight);
  const bname = g.constFloat(`${base}/bias`, [M], bias);
  const v = ctx.emit(
    base,
    '_FusedMatMul',
    [aRef, kname, bname],
    {
      T: T(),
      num_args: tfAttr.i(1),
      fused_ops: tfAttr.strs(['BiasAdd']),
      transpose_a: tfAttr.b(transposeA),
      transpose_b: tfAttr.b(false),
      epsilon: tfAttr.f(0),
    },
    like,
  );
  v.fuse = { node: ctx.graph.node(v.ref), kernel: kname, bias: bname, outChannels: M, activated: false };
  return v;
}

export const gemm: OpHandler = (n, inputs, ctx) => {
  let a = runtime(n, inputs, 0, ctx);
  const transA = getAttr.int(n.attrs, 'transA', 0) === 1;
  const transB = getAttr.int(n.attrs, 'transB', 0) === 1;
  const alpha = getAttr.float(n.attrs, 'alpha', 1);
  const beta = getAttr.float(n.attrs, 'beta', 1);
  if (a.shape.length !== 2) throw new ConversionError(`Gemm node "${n.name}": input A must be 2-D`);
  if (transA || a.perm[0] !== 0) a = ctx.withPerm(a, [0, 1], n.name);
  const bIn = inputs[1];
  if (!bIn || bIn.kind !== 'const') {
    throw new ConversionError(`Gemm node "${n.name}": a weight (B) computed at run time is not supported`);
  }
  let w = transB ? transposeConst(bIn.t, [1, 0]) : bIn.t;
  if (alpha !== 1) w = { ...w, data: w.data.map((x) => x * alpha) };
  const [K, M] = w.shape;
  const c = inputs[2];
  let bias = new Float32Array(M);
  let addLater: Value | null = null;
  const rowVector = (t: ConstTensor): boolean =>
    t.shape.length <= 2 &&
    (t.shape.length < 2 || t.shape[0] === 1) &&
    (sizeOf(t.shape) === M || sizeOf(t.shape) === 1);
  if (c && c.kind === 'const' && rowVector(c.t)) {
    bias = Float32Array.from(broadcastTo(c.t, [M]).data, (x) => x * beta);
  } else if (c) {
    addLater = c;
  }
  const outShape = [transA ? a.shape[1] : a.shape[0], M];
  const weight = transA ? Float32Array.from(w.data) : weightForInput(w, a);
  let v = fusedMatMul(ctx, n.name, a.ref, weight, K, M, bias, { shape: outShape, perm: [0, 1] }, transA);
  if (addLater) {
    const betaConst: ConstValue = { kind: 'const', t: makeConst('float32', [], [beta]) };
    let scaled: Value = addLater;
    if (beta !== 1) {
      scaled =
        addLater.kind === 'const'
          ? { kind: 'const', t: binaryConst(addLater.t, betaConst.t, (p, q) => p * q) }
          : binary(n, 'Mul', addLater, betaConst, ctx, [false, false], `${n.name}/beta`);
    }
    v = binary(n, 'Add', v, scaled, ctx, [false, false], `${n.name}/add_c`);
  }
  return [v];
};

export const matmul: OpHandler = (n, inputs, ctx) => {
  let a = runtime(n, inputs, 0, ctx);
  const bIn = inputs[1];
  if (bIn && bIn.kind === 'const' && bIn.t.shape.length === 2) {
    const [K, M] = bIn.t.shape;
    const rank = a.shape.length;
    if (rank === 2 && a.perm[0] === 0) {
      return [
        fusedMatMul(ctx, n.name, a.ref, weightForInput(bIn.t, a), K, M, new Float32Array(M), {
          shape: [a.shape[0], M],
          perm: [0, 1],
        }),
      ];
    }
    a = ctx.plain(a, n.name);
    if (a.perm[rank - 1] !== rank - 1) a = ctx.withPerm(a, identityPerm(rank), n.name);
    // [..., K] → [-1, K] → matmul → [..., M], keeping the layout of the leading dims.
    const tfIn = ctx.tfShape(a);
    const flatShape = ctx.graph.constInt(`${n.name}/rows`, [2], [-1, K]);
    const rows = ctx.graph.op(`${n.name}/to_rows`, 'Reshape', [a.ref, flatShape], {
      T: T(),
      Tshape: tfAttr.T('DT_INT32'),
    });
    const weight = bIn.t.data instanceof Float32Array ? bIn.t.data.slice() : Float32Array.from(bIn.t.data);
    const mm = fusedMatMul(ctx, `${n.name}/matmul`, rows, weight, K, M, new Float32Array(M), {
      shape: [-1, M],
      perm: [0, 1],
    });
    const outShape = [...a.shape.slice(0, -1), M];
    const tfOut = ctx.reshapeVector([...tfIn.slice(0, -1), M], n.name);
    const back = ctx.graph.constInt(`${n.name}/shape`, [tfOut.length], tfOut);
    const ref = ctx.graph.op(n.name, 'Reshape', [mm.ref, back], { T: T(), Tshape: tfAttr.T('DT_INT32') });
    return [{ kind: 'rt', ref, shape: outShape, perm: a.perm, dtype: 'float32', fuse: mm.fuse }];
  }
  // Both operands at run time: batched matmul in ONNX order.
  const b = runtime(n, inputs, 1, ctx);
  const x = ctx.withPerm(a, identityPerm(a.shape.length), `${n.name}/a`);
  const y = ctx.withPerm(b, identityPerm(b.shape.length), `${n.name}/b`);
  if (x.shape.length < 2 || y.shape.length < 2)
    throw new ConversionError(`MatMul node "${n.name}": 1-D operands are not supported`);
  const batch = broadcastDims(x.shape.slice(0, -2), y.shape.slice(0, -2));
  const shape = [...batch, x.shape[x.shape.length - 2], y.shape[y.shape.length - 1]];
  return [
    ctx.emit(
      n.name,
      'BatchMatMulV2',
      [x.ref, y.ref],
      { T: T(), adj_x: tfAttr.b(false), adj_y: tfAttr.b(false) },
      {
        shape,
        perm: identityPerm(shape.length),
      },
    ),
  ];
};
