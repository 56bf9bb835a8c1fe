/**
 * Convolution and pooling, NHWC in TF. Kernels are re-laid out here: OIHW → HWIO, depthwise → [H, W, C, M].
 */
import { AttrValue } from '../../../models/graph-model-writer';
import { ConstTensor, constValues, makeConst, normAxis, transposeConst } from '../../tensor';
import { ConversionError, ConvertContext, identityPerm, NHWC, NodeInfo, RtValue } from '../context';
import { getAttr } from '../onnx-proto';
import { tfAttr } from '../tf-graph';
import { constant, FLOAT_LOWEST, OpHandler, optionalConst, runtime, T } from './common';

interface SpatialPads {
  out: [number, number];
  /** [top, bottom, left, right] as the op computes. */
  pads: [number, number, number, number];
}

function spatialPads(
  n: NodeInfo,
  inHW: [number, number],
  k: [number, number],
  s: [number, number],
  d: [number, number],
  ceilMode = false,
): SpatialPads & { extra: [number, number] } {
  const autoPad = getAttr.string(n.attrs, 'auto_pad', 'NOTSET');
  const given = getAttr.ints(n.attrs, 'pads') ?? [0, 0, 0, 0];
  const out: [number, number] = [0, 0];
  const pads: [number, number, number, number] = [0, 0, 0, 0];
  const extra: [number, number] = [0, 0];
  for (let i = 0; i < 2; i++) {
    const inSize = inHW[i];
    if (inSize < 0 && (autoPad !== 'NOTSET' || ceilMode)) {
      throw new ConversionError(
        `${n.op} node "${n.name}": the spatial size must be known at conversion time for auto_pad or ceil_mode`,
      );
    }
    const dk = (k[i] - 1) * d[i] + 1;
    let p0: number;
    let p1: number;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const total = Math.max((Math.ceil(inSize / s[i]) - 1) * s[i] + dk - inSize, 0);
      p0 = autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
      p1 = total - p0;
    } else if (autoPad === 'VALID') {
      p0 = 0;
      p1 = 0;
    } else {
      p0 = given[i];
      p1 = given[i + 2];
    }
    let o: number;
    if (ceilMode) {
      o = Math.ceil((inSize + p0 + p1 - dk) / s[i]) + 1;
      if ((o - 1) * s[i] >= inSize + p0) o--;
      extra[i] = Math.max(0, (o - 1) * s[i] + dk - (inSize + p0 + p1));
    } else {
      o = inSize < 0 ? -1 : Math.floor((inSize + p0 + p1 - dk) / s[i]) + 1;
    }
    out[i] = o;
    pads[i * 2] = p0;
    pads[i * 2 + 1] = p1;
  }
  return { out, pads, extra };
}

/** TF's own padding for `SAME`: [top, bottom, left, right]. */
function tfSamePads(
  inHW: [number, number],
  k: [number, number],
  s: [number, number],
  d: [number, number],
): number[] {
  const r: number[] = [];
  for (let i = 0; i < 2; i++) {
    const dk = (k[i] - 1) * d[i] + 1;
    const total = Math.max((Math.ceil(inHW[i] / s[i]) - 1) * s[i] + dk - inHW[i], 0);
    r.push(Math.floor(total / 2), total - Math.floor(total / 2));
  }
  return r;
}

function paddingAttrs(
  inHW: [number, number],
  k: [number, number],
  s: [number, number],
  d: [number, number],
  pads: number[],
): Record<string, AttrValue> {
  if (pads.every((p) => p === 0)) return { padding: tfAttr.s('VALID') };
  // SAME depends on the input size: only when it is known.
  if (inHW.every((x) => x > 0) && tfSamePads(inHW, k, s, d).every((p, i) => p === pads[i]))
    return { padding: tfAttr.s('SAME') };
  return {
    padding: tfAttr.s('EXPLICIT'),
    explicit_paddings: tfAttr.ints([0, 0, pads[0], pads[1], pads[2], pads[3], 0, 0]),
  };
}

function emitFusedConv(
  ctx: ConvertContext,
  base: string,
  x: RtValue,
  kernel: ConstTensor,
  bias: Float32Array,
  depthwise: boolean,
  s: [number, number],
  d: [number, number],
  pad: Record<string, AttrValue>,
  outShape: number[],
): RtValue {
  const g = ctx.graph;
  const kname = g.constFloat(`${base}/kernel`, kernel.shape, kernel.data as Float32Array);
  const bname = g.constFloat(`${base}/bias`, [bias.length], bias);
  const attrs: Record<string, AttrValue> = {
    T: T(),
    num_args: tfAttr.i(1),
    fused_ops: tfAttr.strs(['BiasAdd']),
    strides: tfAttr.ints([1, s[0], s[1], 1]),
    data_format: tfAttr.s('NHWC'),
    dilations: tfAttr.ints([1, d[0], d[1], 1]),
    ...pad,
  };
  if (!depthwise) attrs.epsilon = tfAttr.f(0);
  const v = ctx.emit(
    base,
    depthwise ? 'FusedDepthwiseConv2dNative' : '_FusedConv2D',
    [x.ref, kname, bname],
    attrs,
    {
      shape: outShape,
      perm: [...NHWC],
    },
  );
  v.fuse = {
    node: ctx.graph.node(v.ref),
    kernel: kname,
    bias: bname,
    outChannels: bias.length,
    activated: false,
  };
  return v;
}

export const conv: OpHandler = (n, inputs, ctx) => {
  const x0 = runtime(n, inputs, 0, ctx);
  if (x0.shape.length !== 4)
    throw new ConversionError(`Conv node "${n.name}": only 2-D convolutions (rank-4 input) are supported`);
  const x = ctx.withPerm(x0, NHWC, n.name);
  const w = constant(n, inputs, 1, 'weight');
  const b = optionalConst(n, inputs, 2, 'bias');
  const [O, Ig, kh, kw] = w.shape;
  const group = getAttr.int(n.attrs, 'group', 1);
  // A channel count lost to a run-time Pad is the weight's.
  const C = x.shape[1] < 0 ? Ig * group : x.shape[1];
  if (C !== Ig * group)
    throw new ConversionError(`Conv node "${n.name}": input has ${C} channels, weight expects ${Ig * group}`);
  const s = (getAttr.ints(n.attrs, 'strides') ?? [1, 1]) as [number, number];
  const d = (getAttr.ints(n.attrs, 'dilations') ?? [1, 1]) as [number, number];
  const inHW: [number, number] = [x.shape[2], x.shape[3]];
  const { out, pads } = spatialPads(n, inHW, [kh, kw], s, d);
  const outShape = [x.shape[0], O, out[0], out[1]];
  const pad = paddingAttrs(inHW, [kh, kw], s, d, pads);
  const bias = b ? Float32Array.from(b.data) : new Float32Array(O);
  if (group === 1) {
    return [emitFusedConv(ctx, n.name, x, transposeConst(w, [2, 3, 1, 0]), bias, false, s, d, pad, outShape)];
  }
  if (Ig === 1 && group === C) {
    // [C·M, 1, kh, kw] → [C, M, kh, kw] → [kh, kw, C, M]; TF output channel c·M + m matches ONNX's.
    const mult = O / C;
    const k = transposeConst({ ...w, shape: [C, mult, kh, kw] }, [2, 3, 0, 1]);
    return [emitFusedConv(ctx, n.name, x, k, bias, true, s, d, pad, outShape)];
  }
  // Grouped: one conv per group on a channel slice, then concat.
  const Og = O / group;
  const parts: string[] = [];
  const hwio = transposeConst(w, [2, 3, 1, 0]); // [kh, kw, Ig, O]
  for (let gi = 0; gi < group; gi++) {
    const base = `${n.name}/group${gi}`;
    const begin = ctx.graph.constInt(`${base}/begin`, [4], [0, 0, 0, gi * Ig]);
    const size = ctx.graph.constInt(`${base}/size`, [4], [-1, -1, -1, Ig]);
    const slice = ctx.emit(
      `${base}/slice`,
      'Slice',
      [x.ref, begin, size],
      { T: T(), Index: tfAttr.T('DT_INT32') },
      x,
    );
    const kg = new Float32Array(kh * kw * Ig * Og);
    for (let i = 0; i < kh * kw * Ig; i++) {
      for (let o = 0; o < Og; o++) kg[i * Og + o] = hwio.data[i * O + gi * Og + o];
    }
    const kt = makeConst('float32', [kh, kw, Ig, Og], kg);
    const conv = emitFusedConv(
      ctx,
      base,
      slice,
      kt,
      bias.slice(gi * Og, (gi + 1) * Og),
      false,
      s,
      d,
      pad,
      outShape,
    );
    parts.push(conv.ref);
  }
  const axis = ctx.graph.constInt(`${n.name}/axis`, [], [3]);
  return [
    ctx.emit(
      n.name,
      'ConcatV2',
      [...parts, axis],
      { T: T(), N: tfAttr.i(group), Tidx: tfAttr.T('DT_INT32') },
      {
        shape: outShape,
        perm: [...NHWC],
      },
    ),
  ];
};

export const pool =
  (kind: 'max' | 'avg'): OpHandler =>
  (n, inputs, ctx) => {
    const x0 = runtime(n, inputs, 0, ctx);
    if (x0.shape.length !== 4)
      throw new ConversionError(`${n.op} node "${n.name}": only 2-D pooling is supported`);
    const x = ctx.withPerm(x0, NHWC, n.name);
    const k = getAttr.ints(n.attrs, 'kernel_shape') as [number, number];
    const s = (getAttr.ints(n.attrs, 'strides') ?? [1, 1]) as [number, number];
    const d = (getAttr.ints(n.attrs, 'dilations') ?? [1, 1]) as [number, number];
    if (d.some((v) => v !== 1))
      throw new ConversionError(`${n.op} node "${n.name}": dilated pooling is not supported`);
    const ceil = getAttr.int(n.attrs, 'ceil_mode', 0) === 1;
    const includePad = getAttr.int(n.attrs, 'count_include_pad', 0) === 1;
    const inHW: [number, number] = [x.shape[2], x.shape[3]];
    const { out, pads, extra } = spatialPads(n, inHW, k, s, d, ceil);
    const outShape = [x.shape[0], x.shape[1], out[0], out[1]];
    const tfOp = kind === 'max' ? 'MaxPool' : 'AvgPool';
    const poolAttrs = (padding: string): Record<string, AttrValue> => ({
      T: T(),
      ksize: tfAttr.ints([1, k[0], k[1], 1]),
      strides: tfAttr.ints([1, s[0], s[1], 1]),
      padding: tfAttr.s(padding),
      data_format: tfAttr.s('NHWC'),
    });
    const full = [pads[0], pads[1] + extra[0], pads[2], pads[3] + extra[1]];
    const noPad = full.every((p) => p === 0);
    const same = inHW.every((x) => x > 0) && tfSamePads(inHW, k, s, d).every((p, i) => p === full[i]);
    if (noPad)
      return [ctx.emit(n.name, tfOp, [x.ref], poolAttrs('VALID'), { shape: outShape, perm: [...NHWC] })];
    if (same && (kind === 'max' || (!includePad && extra.every((e) => e === 0)))) {
      return [ctx.emit(n.name, tfOp, [x.ref], poolAttrs('SAME'), { shape: outShape, perm: [...NHWC] })];
    }
    // Explicit padding: pad, pool VALID, and for averages rescale by the true element count per window.
    const paddings = ctx.graph.constInt(
      `${n.name}/paddings`,
      [4, 2],
      [0, 0, full[0], full[1], full[2], full[3], 0, 0],
    );
    const fill = ctx.graph.constFloat(
      `${n.name}/pad_value`,
      [],
      Float32Array.of(kind === 'max' ? FLOAT_LOWEST : 0),
    );
    const padded = ctx.emit(
      `${n.name}/pad`,
      'PadV2',
      [x.ref, paddings, fill],
      { T: T(), Tpaddings: tfAttr.T('DT_INT32') },
      x,
    );
    const pooled = ctx.emit(
      kind === 'max' ? n.name : `${n.name}/sum`,
      tfOp,
      [padded.ref],
      poolAttrs('VALID'),
      {
        shape: outShape,
        perm: [...NHWC],
      },
    );
    if (kind === 'max') return [pooled];
    const counts = (i: number): number[] => {
      const lo = includePad ? -pads[i * 2] : 0;
      const hi = includePad ? inHW[i] + pads[i * 2 + 1] : inHW[i];
      return Array.from({ length: out[i] }, (_, o) => {
        const start = o * s[i] - pads[i * 2];
        return Math.max(0, Math.min(start + k[i], hi) - Math.max(start, lo));
      });
    };
    const [ch, cw] = [counts(0), counts(1)];
    const factor = new Float32Array(out[0] * out[1]);
    for (let i = 0; i < out[0]; i++)
      for (let j = 0; j < out[1]; j++) factor[i * out[1] + j] = (k[0] * k[1]) / (ch[i] * cw[j]);
    if (factor.every((f) => f === 1)) return [pooled];
    const fc = ctx.graph.constFloat(`${n.name}/count_scale`, [1, out[0], out[1], 1], factor);
    return [ctx.emit(n.name, 'Mul', [pooled.ref, fc], { T: T() }, pooled)];
  };

export function reduce(
  n: NodeInfo,
  v0: RtValue,
  tfOp: string,
  axes: number[],
  keep: boolean,
  ctx: ConvertContext,
  base = n.name,
): RtValue {
  const v = ctx.plain(v0, base);
  const rank = v.shape.length;
  const ax = [...new Set(axes.map((a) => normAxis(a, rank)))].sort((p, q) => p - q);
  const tfAxes = ax.map((a) => v.perm.indexOf(a));
  const axesConst = ctx.graph.constInt(`${base}/axes`, [tfAxes.length], tfAxes);
  const shape = keep
    ? v.shape.map((dim, i) => (ax.includes(i) ? 1 : dim))
    : v.shape.filter((_, i) => !ax.includes(i));
  const perm = keep
    ? v.perm
    : v.perm.filter((p) => !ax.includes(p)).map((p) => p - ax.filter((a) => a < p).length);
  return ctx.emit(
    base,
    tfOp,
    [v.ref, axesConst],
    { T: T(), Tidx: tfAttr.T('DT_INT32'), keep_dims: tfAttr.b(keep) },
    { shape, perm, dtype: v.dtype },
  );
}

export const reduceHandler =
  (tfOp: string, axesInputSince: number): OpHandler =>
  (n, inputs, ctx) => {
    const v = runtime(n, inputs, 0, ctx);
    const keep = getAttr.int(n.attrs, 'keepdims', 1) === 1;
    let axes: number[] | null;
    if (n.opset >= axesInputSince) {
      const a = optionalConst(n, inputs, 1, 'axes');
      axes = a ? constValues(a) : null;
    } else {
      axes = getAttr.ints(n.attrs, 'axes');
    }
    if (!axes || axes.length === 0) {
      if (getAttr.int(n.attrs, 'noop_with_empty_axes', 0) === 1) return [v];
      axes = identityPerm(v.shape.length);
    }
    return [reduce(n, v, tfOp, axes, keep, ctx)];
  };

export const globalPool =
  (tfOp: string): OpHandler =>
  (n, inputs, ctx) => {
    const v = runtime(n, inputs, 0, ctx);
    return [reduce(n, v, tfOp, identityPerm(v.shape.length).slice(2), true, ctx)];
  };

export const maxPool: OpHandler = (n, inputs, ctx) => {
  if (n.outputNames[1] && ctx.consumers(n.outputNames[1]) > 0) {
    throw new ConversionError(`MaxPool node "${n.name}": the Indices output is not supported`);
  }
  return pool('max')(n, inputs, ctx);
};
