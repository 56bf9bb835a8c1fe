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
import { getAttr } from '../onnx-proto';
import { tfAttr } from '../tf-graph';
import { constant, OpHandler, optionalConst, runtime, T } from './common';

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
  if (tail.some((d) => d < 0))
    throw new ConversionError(`Flatten node "${n.name}": flattened dims must be known`);
  const outShape = [lead.some((d) => d < 0) ? -1 : sizeOf(lead), sizeOf(tail)];
  if (!ctx.effectivelyIdentity(v) && axis === 1 && v.perm[0] === 0) return [flattenKeepingLayout(n, v, ctx)];
  return [ctx.reshape(v, outShape, n.name)];
};

export const reshape: OpHandler = (n, inputs, ctx) => {
  const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
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
  shape[axis] = shapes.reduce((s, sh) => s + sh[axis], 0);
  const ax = ctx.graph.constInt(`${n.name}/axis`, [], [layout.indexOf(axis)]);
  return [
    ctx.emit(
      n.name,
      'ConcatV2',
      [...refs, ax],
      { T: T(), N: tfAttr.i(refs.length), Tidx: tfAttr.T('DT_INT32') },
      { shape, perm: layout },
    ),
  ];
};

export const pad: OpHandler = (n, inputs, ctx) => {
  const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  const rank = v.shape.length;
  const mode = getAttr.string(n.attrs, 'mode', 'constant');
  let pads: number[];
  let value = 0;
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
