/**
 * Shape manipulation: Flatten, Reshape, Transpose (a layout tag only), Squeeze, Unsqueeze, Concat, Pad, Shape.
 */
import { constValues, makeConst, normAxis, sizeOf, transposeConst } from '../../tensor';
import {
  ConversionError,
  ConvertContext,
  identityPerm,
  invertPerm,
  NodeInfo,
  RtValue,
  Value,
} from '../context';
import { resolveStaticReshape, shapeOps } from '../fold';
import { getAttr, tensorFromProto } from '../onnx-proto';
import { tfAttr } from '../tf-graph';
import { constant, OpHandler, optionalConst, runtime, T, tfType } from './common';

/** Flatten-like reshape to [N, rest] that keeps NHWC memory order and tags the feature order. */
function flattenKeepingLayout(n: NodeInfo, v: RtValue, ctx: ConvertContext): RtValue {
  const rest = v.shape.slice(1);
  const features = sizeOf(rest);
  const shape = ctx.graph.constInt(`${n.name}/shape`, [2], [-1, features]);
  const ref = ctx.graph.op(n.name, 'Reshape', [v.ref, shape], { T: T(), Tshape: tfAttr.T('DT_INT32') });
  return {
    kind: 'rt',
    ref,
    shape: [v.shape[0], features],
    perm: [0, 1],
    dtype: v.dtype,
    flat: { dims: rest, order: v.perm.slice(1).map((p) => p - 1) },
  };
}

export const flatten: OpHandler = (n, inputs, ctx) => {
  const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  const rank = v.shape.length;
  const axis = normAxis(getAttr.int(n.attrs, 'axis', 1), rank + 1);
  const lead = v.shape.slice(0, axis);
  const tail = v.shape.slice(axis);
  const leadUnknown = lead.some((d) => d < 0);
  const tailUnknown = tail.some((d) => d < 0);
  if (tailUnknown && !leadUnknown) return [ctx.reshape(v, [sizeOf(lead), -1], n.name)];
  if (tailUnknown) {
    // Both sides vary at run time: [prod(shape[:axis]), prod(shape[axis:])] computed in the graph.
    const x = ctx.withPerm(v, identityPerm(rank), n.name);
    const g = ctx.graph;
    const shp = g.op(`${n.name}/shape`, 'Shape', [x.ref], { T: T(), out_type: tfAttr.T('DT_INT32') });
    const part = (name: string, begin: number, end: number): string => {
      const sl = g.sliceInt32Vector(`${n.name}/${name}`, shp, begin, end);
      return g.op(`${n.name}/${name}_prod`, 'Prod', [sl, g.constInt(`${n.name}/${name}_axes`, [1], [0])], {
        T: tfAttr.T('DT_INT32'),
        Tidx: tfAttr.T('DT_INT32'),
        keep_dims: tfAttr.b(true),
      });
    };
    const target = g.op(
      `${n.name}/target`,
      'ConcatV2',
      [part('lead', 0, axis), part('tail', axis, rank), g.constInt(`${n.name}/axis`, [], [0])],
      {
        T: tfAttr.T('DT_INT32'),
        N: tfAttr.i(2),
        Tidx: tfAttr.T('DT_INT32'),
      },
    );
    return [
      ctx.emit(
        n.name,
        'Reshape',
        [x.ref, target],
        { T: T(), Tshape: tfAttr.T('DT_INT32') },
        { shape: [-1, -1], perm: [0, 1], dtype: v.dtype },
      ),
    ];
  }
  const outShape = [lead.some((d) => d < 0) ? -1 : sizeOf(lead), sizeOf(tail)];
  if (!ctx.effectivelyIdentity(v) && axis === 1 && v.perm[0] === 0) return [flattenKeepingLayout(n, v, ctx)];
  return [ctx.reshape(v, outShape, n.name)];
};

export const reshape: OpHandler = (n, inputs, ctx) => {
  const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  const targetIn = inputs[1];
  if (targetIn && targetIn.kind === 'rt') {
    // A target computed at run time (sizes that follow the image): ONNX order in, ONNX order out. A 0 in it
    // ("copy this dim") is not expected from such exports and would be read by TF as a real 0.
    const rank = targetIn.shape[0];
    if (rank < 0) throw new ConversionError(`Reshape node "${n.name}": the output rank must be known`);
    const x = ctx.withPerm(v, identityPerm(v.shape.length), n.name);
    const shape = resolveInferredSize(n, x, intVector(n, targetIn, 'shape', ctx), ctx);
    return [
      ctx.emit(
        n.name,
        'Reshape',
        [x.ref, shape],
        { T: T(), Tshape: tfAttr.T('DT_INT32') },
        { shape: new Array<number>(rank).fill(-1), perm: identityPerm(rank), dtype: v.dtype },
      ),
    ];
  }
  const target = constValues(constant(n, inputs, 1, 'shape'));
  const allowZero = getAttr.int(n.attrs, 'allowzero', 0) === 1;
  const inShape = v.shape;
  if (ctx.fixedBatch !== null && inShape[0] < 0 && target[0] === ctx.fixedBatch) target[0] = NaN;
  const out = target.map((d, i) => (d === 0 && !allowZero ? inShape[i] : d));
  const unknown = out.map((d, i) => (Number.isNaN(d) || d < 0 ? i : -1)).filter((i) => i >= 0);
  const knownIn = inShape.filter((d) => d >= 0).reduce((p, q) => p * q, 1);
  const inUnknown = inShape.some((d) => d < 0);
  let onnxShape: number[];
  if (unknown.length === 0) {
    onnxShape = out;
  } else if (!inUnknown) {
    onnxShape = resolveStaticReshape(
      inShape,
      out.map((d) => (Number.isNaN(d) ? -1 : d)),
      true,
    );
  } else if (unknown.length === 1) {
    onnxShape = out.map((d) => (Number.isNaN(d) ? -1 : d));
  } else if (
    unknown.length === 2 &&
    inShape[0] < 0 &&
    inShape.slice(1).every((d) => d >= 0) &&
    unknown[0] === 0 &&
    (Number.isNaN(out[0]) || target[0] === 0)
  ) {
    // `x.view(x.size(0), -1)`: dim 0 is the batch, the other unknown is inferred.
    const knownOut = out.filter((d, i) => i !== 0 && d >= 0).reduce((p, q) => p * q, 1);
    onnxShape = out.map((d, i) => (i === 0 ? -1 : d < 0 || Number.isNaN(d) ? knownIn / knownOut : d));
  } else {
    throw new ConversionError(
      `Reshape node "${n.name}": target [${target.map((d) => (Number.isNaN(d) ? 'batch' : d)).join(',')}] for input ` +
        `[${inShape.join(',')}] cannot be resolved at conversion time`,
    );
  }
  const isFlatten =
    onnxShape.length === 2 &&
    inShape.length > 2 &&
    onnxShape[0] === inShape[0] &&
    onnxShape[1] === sizeOf(inShape.slice(1));
  if (!ctx.effectivelyIdentity(v) && isFlatten && v.perm[0] === 0 && inShape.slice(1).every((d) => d >= 0)) {
    return [flattenKeepingLayout(n, v, ctx)];
  }
  return [ctx.reshape(v, onnxShape, n.name)];
};

export const transpose: OpHandler = (n, inputs, ctx) => {
  const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  const rank = v.shape.length;
  const p = getAttr.ints(n.attrs, 'perm') ?? identityPerm(rank).reverse();
  // out = in.transpose(p); TF keeps its tensor: out.transpose(r) = tf with r = p⁻¹ ∘ perm.
  const pinv = invertPerm(p);
  const perm = v.perm.map((q) => pinv[q]);
  ctx.stats.layoutOnlyTransposes++;
  const keepFuse = ctx.consumers(n.inputNames[0]) === 1 ? v.fuse : undefined;
  return [{ ...v, shape: p.map((i) => v.shape[i]), perm, fuse: keepFuse }];
};

/** Squeeze and Unsqueeze become one Reshape to `shape` (ONNX order), laid out by `perm` like the input. */
function reshapeKeepingLayout(
  n: NodeInfo,
  v: ReturnType<ConvertContext['plain']>,
  shape: number[],
  perm: number[],
  ctx: ConvertContext,
): Value {
  const vec = ctx.reshapeVector(
    perm.map((p) => shape[p]),
    n.name,
  );
  const sc = ctx.graph.constInt(`${n.name}/shape`, [vec.length], vec);
  return ctx.emit(
    n.name,
    'Reshape',
    [v.ref, sc],
    { T: T(), Tshape: tfAttr.T('DT_INT32') },
    { shape, perm, dtype: v.dtype },
  );
}

export const squeeze: OpHandler = (n, inputs, ctx) => {
  const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  const a = n.opset >= 13 ? optionalConst(n, inputs, 1, 'axes') : null;
  const axesList = n.opset >= 13 ? (a ? constValues(a) : null) : getAttr.ints(n.attrs, 'axes');
  const rank = v.shape.length;
  const axes = (axesList ?? v.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((x) =>
    normAxis(x, rank),
  );
  const shape = shapeOps.squeezeShape(v.shape, axes);
  const perm = v.perm.filter((p) => !axes.includes(p)).map((p) => p - axes.filter((x) => x < p).length);
  if (shape.filter((d) => d < 0).length > 1) {
    // Several sizes unknown: a reshape vector cannot say it, TF Squeeze can.
    const dims = axes.map((a) => v.perm.indexOf(a));
    return [
      ctx.emit(
        n.name,
        'Squeeze',
        [v.ref],
        { T: T(), squeeze_dims: tfAttr.ints(dims) },
        { shape, perm, dtype: v.dtype },
      ),
    ];
  }
  return [reshapeKeepingLayout(n, v, shape, perm, ctx)];
};

export const unsqueeze: OpHandler = (n, inputs, ctx) => {
  const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  const axesList =
    n.opset >= 13 ? constValues(constant(n, inputs, 1, 'axes')) : (getAttr.ints(n.attrs, 'axes') ?? []);
  const rank = v.shape.length + axesList.length;
  const axes = axesList.map((x) => normAxis(x, rank));
  const shape = shapeOps.unsqueezeShape(v.shape, axes);
  const oldToNew: number[] = [];
  for (let i = 0; i < rank; i++) if (!axes.includes(i)) oldToNew.push(i);
  const perm = [...v.perm.map((p) => oldToNew[p]), ...axes];
  if (shape.filter((d) => d < 0).length > 1) {
    // Several sizes unknown: append the new axes with ExpandDims (TF order puts them last, as `perm` says).
    let ref = v.ref;
    axes.forEach((_, k) => {
      const dim = ctx.graph.constInt(`${n.name}/dim${k}`, [], [-1]);
      ref = ctx.graph.op(k === axes.length - 1 ? n.name : `${n.name}/expand${k}`, 'ExpandDims', [ref, dim], {
        T: T(),
        Tdim: tfAttr.T('DT_INT32'),
      });
    });
    return [{ kind: 'rt', ref, shape, perm, dtype: v.dtype }];
  }
  return [reshapeKeepingLayout(n, v, shape, perm, ctx)];
};

export const concat: OpHandler = (n, inputs, ctx) => {
  const present = inputs.filter((v): v is Value => v !== null);
  const rank = present[0].kind === 'rt' ? present[0].shape.length : present[0].t.shape.length;
  const axis = normAxis(getAttr.int(n.attrs, 'axis', 0), rank);
  const firstRt = present.find((v): v is RtValue => v.kind === 'rt');
  if (!firstRt)
    throw new ConversionError(`Concat node "${n.name}": all inputs constant; should have been folded`);
  const layout = ctx.plain(firstRt, n.name).perm;
  const refs: string[] = [];
  const shapes: number[][] = [];
  present.forEach((v, i) => {
    if (v.kind === 'rt') {
      const r = ctx.withPerm(v, layout, `${n.name}/in${i}`);
      refs.push(r.ref);
      shapes.push(r.shape);
    } else {
      refs.push(ctx.emitConst(`${n.name}/const${i}`, transposeConst(v.t, layout)));
      shapes.push(v.t.shape);
    }
  });
  const shape = [...shapes[0]];
  shape[axis] = shapes.some((sh) => sh[axis] < 0) ? -1 : shapes.reduce((s, sh) => s + sh[axis], 0);
  const ax = ctx.graph.constInt(`${n.name}/axis`, [], [layout.indexOf(axis)]);
  return [
    ctx.emit(
      n.name,
      'ConcatV2',
      [...refs, ax],
      { T: T(), N: tfAttr.i(refs.length), Tidx: tfAttr.T('DT_INT32') },
      { shape, perm: layout, dtype: firstRt.dtype },
    ),
  ];
};

export const pad: OpHandler = (n, inputs, ctx) => {
  const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  const rank = v.shape.length;
  const mode = getAttr.string(n.attrs, 'mode', 'constant');
  let pads: number[];
  let value = 0;
  const padsIn = inputs[1];
  if (n.opset >= 11 && padsIn && padsIn.kind === 'rt') {
    if (inputs[3])
      throw new ConversionError(`Pad node "${n.name}": axes with run-time pads are not supported`);
    const cv = optionalConst(n, inputs, 2, 'constant_value');
    return [padDynamic(n, v, padsIn, cv ? cv.data[0] : 0, mode, ctx)];
  }
  if (n.opset >= 11) {
    pads = constValues(constant(n, inputs, 1, 'pads'));
    const cv = optionalConst(n, inputs, 2, 'constant_value');
    if (cv) value = cv.data[0];
    const axesIn = optionalConst(n, inputs, 3, 'axes');
    if (axesIn) {
      const axes = constValues(axesIn).map((a) => normAxis(a, rank));
      const full = new Array<number>(2 * rank).fill(0);
      axes.forEach((a, j) => {
        full[a] = pads[j];
        full[a + rank] = pads[j + axes.length];
      });
      pads = full;
    }
  } else {
    pads = getAttr.ints(n.attrs, 'pads') ?? [];
    value = getAttr.float(n.attrs, 'value', 0);
  }
  if (pads.some((p) => p < 0))
    throw new ConversionError(`Pad node "${n.name}": negative pads (cropping) are not supported`);
  const tfPads = v.perm.flatMap((p) => [pads[p], pads[p + rank]]);
  const shape = v.shape.map((d, i) => (d < 0 ? d : d + pads[i] + pads[i + rank]));
  const pc = ctx.graph.constInt(`${n.name}/paddings`, [rank, 2], tfPads);
  if (mode === 'constant') {
    const fill = ctx.graph.constFloat(`${n.name}/value`, [], Float32Array.of(value));
    return [
      ctx.emit(
        n.name,
        'PadV2',
        [v.ref, pc, fill],
        { T: T(), Tpaddings: tfAttr.T('DT_INT32') },
        { shape, perm: v.perm },
      ),
    ];
  }
  if (mode === 'reflect') {
    return [
      ctx.emit(
        n.name,
        'MirrorPad',
        [v.ref, pc],
        { T: T(), Tpaddings: tfAttr.T('DT_INT32'), mode: tfAttr.s('REFLECT') },
        { shape, perm: v.perm },
      ),
    ];
  }
  throw new ConversionError(
    `Pad node "${n.name}": mode "${mode}" is not supported (constant and reflect are)`,
  );
};

export const shapeOf: OpHandler = (n, inputs, ctx) => {
  const v = runtime(n, inputs, 0, ctx);
  const rank = v.shape.length;
  const start = normAxis(
    Math.max(Math.min(getAttr.int(n.attrs, 'start', 0), rank), -rank) % (rank + 1),
    rank + 1,
  );
  const endRaw = getAttr.int(n.attrs, 'end', rank);
  const end = endRaw < 0 ? endRaw + rank : Math.min(endRaw, rank);
  const dims = v.shape.slice(start, end);
  if (dims.some((d) => d < 0) && !ctx.batchAsNaN) {
    // Sizes known only at run time: TF Shape (TF order) gathered into ONNX order.
    const g = ctx.graph;
    const tfShape = g.op(`${n.name}/tf_shape`, 'Shape', [v.ref], { T: T(), out_type: tfAttr.T('DT_INT32') });
    const order = g.constInt(
      `${n.name}/onnx_order`,
      [dims.length],
      Array.from({ length: dims.length }, (_, i) => v.perm.indexOf(start + i)),
    );
    const ref = g.op(n.name, 'GatherV2', [tfShape, order, g.constInt(`${n.name}/axis`, [], [0])], {
      Tparams: tfAttr.T('DT_INT32'),
      Tindices: tfAttr.T('DT_INT32'),
      Taxis: tfAttr.T('DT_INT32'),
      batch_dims: tfAttr.i(0),
    });
    return [{ kind: 'rt', ref, shape: [dims.length], perm: [0], dtype: 'int32' }];
  }
  ctx.stats.foldedConstantNodes++;
  return [
    {
      kind: 'const',
      t: makeConst(
        'int64',
        [Math.max(0, end - start)],
        v.shape.slice(start, end).map((d) => (d < 0 ? NaN : d)),
      ),
    },
  ];
};

/**
 * Pad with pads computed at run time (torchvision batches images padded up to a multiple of the stride): ONNX's
 * [begin..., end...] becomes TF's [rank, 2] paddings in the input's TF axis order. Pads are assumed non-negative,
 * as those exports produce.
 */
function padDynamic(
  n: NodeInfo,
  v: RtValue,
  pads: RtValue,
  value: number,
  mode: string,
  ctx: ConvertContext,
): RtValue {
  if (mode !== 'constant') {
    throw new ConversionError(`Pad node "${n.name}": mode "${mode}" with run-time pads is not supported`);
  }
  const rank = v.shape.length;
  const g = ctx.graph;
  const p = ctx.withPerm(pads, [0], `${n.name}/pads`);
  const asInt =
    p.dtype === 'int32' ? p.ref : g.op(`${n.name}/pads_int`, 'Cast', [p.ref], { DstT: tfAttr.T('DT_INT32') });
  const twoByRank = g.op(
    `${n.name}/pads_2xr`,
    'Reshape',
    [asInt, g.constInt(`${n.name}/pads_shape`, [2], [2, rank])],
    {
      T: tfAttr.T('DT_INT32'),
      Tshape: tfAttr.T('DT_INT32'),
    },
  );
  const rankByTwo = g.op(
    `${n.name}/pads_rx2`,
    'Transpose',
    [twoByRank, g.constInt(`${n.name}/pads_perm`, [2], [1, 0])],
    {
      T: tfAttr.T('DT_INT32'),
      Tperm: tfAttr.T('DT_INT32'),
    },
  );
  const paddings = g.op(
    `${n.name}/paddings`,
    'GatherV2',
    [rankByTwo, g.constInt(`${n.name}/tf_order`, [rank], v.perm), g.constInt(`${n.name}/axis0`, [], [0])],
    {
      Tparams: tfAttr.T('DT_INT32'),
      Tindices: tfAttr.T('DT_INT32'),
      Taxis: tfAttr.T('DT_INT32'),
      batch_dims: tfAttr.i(0),
    },
  );
  const fill = g.constFloat(`${n.name}/value`, [], Float32Array.of(value));
  return ctx.emit(
    n.name,
    'PadV2',
    [v.ref, paddings, fill],
    { T: T(), Tpaddings: tfAttr.T('DT_INT32') },
    { shape: v.shape.map(() => -1), perm: v.perm, dtype: v.dtype },
  );
}

/** A run-time int vector (shape, sizes) as int32 in ONNX order. */
/**
 * A run-time reshape target `[r]` with its -1 (if any) replaced in the graph by the size libtensorflow's Reshape
 * infers: the product of the input's non-zero dims over the product of the target's other non-zero entries. On a
 * non-empty tensor that is `numel / product`, as everywhere; on an empty one TF.js's own Reshape (wasm, cpu) refuses
 * (`x.reshape(n, -1)` with n = 0: "Cannot infer the missing size in [0,-1] when there are 0 elements"), which is
 * every torchvision detector's path where no proposal survives the RPN, so the target is resolved before it.
 */
function resolveInferredSize(n: NodeInfo, x: RtValue, target: string, ctx: ConvertContext): string {
  const g = ctx.graph;
  const int = { T: tfAttr.T('DT_INT32') };
  const b = `${n.name}/infer`;
  const one = g.constInt(`${b}/one`, [], [1]);
  const nonZeroProduct = (name: string, v: string): string =>
    g.op(
      `${b}/${name}`,
      'Prod',
      [g.op(`${b}/${name}_nonzero`, 'Maximum', [v, one], int), g.constInt(`${b}/${name}_axes`, [1], [0])],
      {
        ...int,
        Tidx: tfAttr.T('DT_INT32'),
        keep_dims: tfAttr.b(false),
      },
    );
  const inferred = g.op(`${b}/is_inferred`, 'Equal', [target, g.constInt(`${b}/minus_one`, [], [-1])], int);
  const others = g.op(`${b}/others`, 'SelectV2', [inferred, one, target], int);
  const shape = g.op(`${b}/input_shape`, 'Shape', [x.ref], {
    T: tfAttr.T(tfType(x.dtype)),
    out_type: tfAttr.T('DT_INT32'),
  });
  const missing = g.op(
    `${b}/missing`,
    'FloorDiv',
    [nonZeroProduct('input', shape), nonZeroProduct('others', others)],
    int,
  );
  return g.op(`${b}/target`, 'SelectV2', [inferred, missing, target], int);
}

function intVector(n: NodeInfo, v: RtValue, what: string, ctx: ConvertContext): string {
  const p = ctx.withPerm(v, identityPerm(v.shape.length), `${n.name}/${what}`);
  return p.dtype === 'int32'
    ? p.ref
    : ctx.graph.op(`${n.name}/${what}_int`, 'Cast', [p.ref], { DstT: tfAttr.T('DT_INT32') });
}

/** ONNX Range with bounds computed at run time → TF Range. */
export const range: OpHandler = (n, inputs, ctx) => {
  const vals = [0, 1, 2].map((i) => runtime(n, inputs, i, ctx));
  const dtype = vals.find((v) => inputs[vals.indexOf(v)]?.kind === 'rt')?.dtype ?? vals[0].dtype;
  const tf = dtype === 'float32' ? 'DT_FLOAT' : 'DT_INT32';
  const scalars = vals.map((v, i) => {
    // Range wants scalars: [1] vectors from shape arithmetic are reshaped.
    const r = ctx.graph.op(
      `${n.name}/scalar${i}`,
      'Reshape',
      [v.ref, ctx.graph.constInt(`${n.name}/scalar_shape${i}`, [0], [])],
      {
        T: tfAttr.T(tf),
        Tshape: tfAttr.T('DT_INT32'),
      },
    );
    return v.dtype === dtype ? r : ctx.graph.op(`${n.name}/cast${i}`, 'Cast', [r], { DstT: tfAttr.T(tf) });
  });
  return [ctx.emit(n.name, 'Range', scalars, { Tidx: tfAttr.T(tf) }, { shape: [-1], perm: [0], dtype })];
};

/** ONNX ConstantOfShape with a run-time shape → TF Fill. */
export const constantOfShape: OpHandler = (n, inputs, ctx) => {
  const shapeV = runtime(n, inputs, 0, ctx);
  const t = getAttr.tensor(n.attrs, 'value');
  const value = t ? tensorFromProto(t) : makeConst('float32', [1], [0]);
  const float = value.dtype === 'float32';
  const dims = intVector(n, shapeV, 'dims', ctx);
  const fill = float
    ? ctx.graph.constFloat(`${n.name}/value`, [], Float32Array.of(value.data[0]))
    : ctx.graph.constInt(`${n.name}/value`, [], [value.data[0]]);
  const rank = shapeV.shape[0];
  if (rank < 0) throw new ConversionError(`ConstantOfShape node "${n.name}": the output rank must be known`);
  const shape = new Array<number>(rank).fill(-1);
  return [
    ctx.emit(
      n.name,
      'Fill',
      [dims, fill],
      { T: tfAttr.T(float ? 'DT_FLOAT' : 'DT_INT32'), index_type: tfAttr.T('DT_INT32') },
      { shape, perm: identityPerm(rank), dtype: float ? 'float32' : 'int32' },
    ),
  ];
};

/**
 * ONNX Expand to a run-time shape. ONNX broadcasts both ways (a 1 in `shape` keeps the input's size); TF's
 * BroadcastTo would not, so the input is multiplied by ones of `shape`, which broadcasts like ONNX.
 */
export const expand: OpHandler = (n, inputs, ctx) => {
  const x0 = runtime(n, inputs, 0, ctx);
  const shapeIn = inputs[1];
  if (!shapeIn) throw new ConversionError(`Expand node "${n.name}": the shape input is missing`);
  const x = ctx.withPerm(x0, identityPerm(x0.shape.length), `${n.name}/x`);
  const tf = x.dtype === 'float32' ? 'DT_FLOAT' : 'DT_INT32';
  let dims: string;
  let rank: number;
  if (shapeIn.kind === 'const') {
    const s = constValues(shapeIn.t);
    if (s.some((d) => Number.isNaN(d)))
      throw new ConversionError(`Expand node "${n.name}": the shape depends on the batch size`);
    dims = ctx.graph.constInt(`${n.name}/dims`, [s.length], s);
    rank = s.length;
  } else {
    dims = intVector(n, shapeIn, 'dims', ctx);
    rank = shapeIn.shape[0];
  }
  if (rank < 0) throw new ConversionError(`Expand node "${n.name}": the output rank must be known`);
  const one =
    x.dtype === 'float32'
      ? ctx.graph.constFloat(`${n.name}/one`, [], Float32Array.of(1))
      : ctx.graph.constInt(`${n.name}/one`, [], [1]);
  const ones = ctx.graph.op(`${n.name}/ones`, 'Fill', [dims, one], {
    T: tfAttr.T(tf),
    index_type: tfAttr.T('DT_INT32'),
  });
  const outRank = Math.max(rank, x.shape.length);
  const shape = new Array<number>(outRank).fill(-1);
  return [
    ctx.emit(
      n.name,
      'Mul',
      [x.ref, ones],
      { T: tfAttr.T(tf) },
      { shape, perm: identityPerm(outRank), dtype: x.dtype },
    ),
  ];
};

/** ONNX ReduceProd on a run-time tensor → TF Prod. */
export const reduceProd: OpHandler = (n, inputs, ctx) => {
  const v = ctx.withPerm(
    runtime(n, inputs, 0, ctx),
    identityPerm(runtime(n, inputs, 0, ctx).shape.length),
    n.name,
  );
  const rank = v.shape.length;
  const keep = getAttr.int(n.attrs, 'keepdims', 1) === 1;
  const a = n.opset >= 18 ? optionalConst(n, inputs, 1, 'axes') : null;
  const axes = (a ? constValues(a) : getAttr.ints(n.attrs, 'axes')) ?? identityPerm(rank);
  const ax = axes.map((x) => normAxis(x, rank));
  const shape = keep
    ? v.shape.map((d, i) => (ax.includes(i) ? 1 : d))
    : v.shape.filter((_, i) => !ax.includes(i));
  return [
    ctx.emit(
      n.name,
      'Prod',
      [v.ref, ctx.graph.constInt(`${n.name}/axes`, [ax.length], ax)],
      {
        T: tfAttr.T(v.dtype === 'float32' ? 'DT_FLOAT' : 'DT_INT32'),
        Tidx: tfAttr.T('DT_INT32'),
        keep_dims: tfAttr.b(keep),
      },
      { shape, perm: identityPerm(shape.length), dtype: v.dtype },
    ),
  ];
};
