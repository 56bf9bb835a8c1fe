/**
 * ONNX op → TF graph translation, one handler per ONNX op type, in a frozen table.
 *
 * Handlers receive runtime values (with their layout tag, see context.ts) and constants, and return the values of
 * the node's outputs. Weights are re-laid out here: Conv kernels OIHW → HWIO, depthwise kernels → [H, W, C, M],
 * Gemm/MatMul weights → [K, M] with rows permuted when the input was flattened in NHWC order.
 */
import { AttrValue } from '../../models/graph-model-writer';
import {
  binaryConst,
  broadcastTo,
  ConstTensor,
  constValues,
  makeConst,
  normAxis,
  sizeOf,
  transposeConst,
} from '../tensor';
import {
  ConstValue,
  ConversionError,
  ConvertContext,
  FlatLayout,
  identityPerm,
  invertPerm,
  NHWC,
  NodeInfo,
  RtValue,
  Value,
} from './context';
import { resolveStaticReshape, shapeOps } from './fold';
import { getAttr } from './onnx-proto';
import { tfAttr } from './tf-graph';

/** Translates one node. `inputs[i]` is null for an omitted optional input. */
export type OpHandler = (n: NodeInfo, inputs: (Value | null)[], ctx: ConvertContext) => Value[];

const FLOAT_LOWEST = -3.4028234663852886e38;
const T = (): AttrValue => tfAttr.T();

// ---------------------------------------------------------------------------------------------------------------
// Input helpers

function runtime(n: NodeInfo, inputs: (Value | null)[], i: number, ctx: ConvertContext): RtValue {
  const v = inputs[i];
  if (!v) throw new ConversionError(`${n.op} node "${n.name}": input ${i} is missing`);
  return v.kind === 'rt' ? v : ctx.constAsRt(`${n.name}/const_${i}`, v.t);
}

function constant(n: NodeInfo, inputs: (Value | null)[], i: number, what: string): ConstTensor {
  const v = inputs[i];
  if (!v) throw new ConversionError(`${n.op} node "${n.name}": the ${what} input is missing`);
  if (v.kind !== 'const') {
    throw new ConversionError(
      `${n.op} node "${n.name}": the ${what} (${n.inputNames[i]}) must be known at conversion time (an initializer ` +
        'or a constant expression), but it is computed at run time',
    );
  }
  return v.t;
}

function optionalConst(n: NodeInfo, inputs: (Value | null)[], i: number, what: string): ConstTensor | null {
  return inputs[i] ? constant(n, inputs, i, what) : null;
}

/** Broadcast of two ONNX shapes where -1 is unknown. */
function broadcastDims(a: number[], b: number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x === 1) out.push(y);
    else if (y === 1) out.push(x);
    else if (x === -1) out.push(y);
    else if (y === -1 || x === y) out.push(x);
    else throw new ConversionError(`cannot broadcast [${a.join(',')}] with [${b.join(',')}]`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Elementwise

const BINARY_TF: Record<string, string> = {
  Add: 'AddV2',
  Sub: 'Sub',
  Mul: 'Mul',
  Div: 'RealDiv',
  Pow: 'Pow',
  Max: 'Maximum',
  Min: 'Minimum',
};

/**
 * Folds a per-channel scale or shift into the producing conv/matmul when nothing else reads the value.
 * Returns false when the constant is not per-output-channel.
 */
function tryFoldAffine(
  v: RtValue,
  aligned: ConstTensor,
  kind: 'scale' | 'shift',
  ctx: ConvertContext,
): boolean {
  const f = v.fuse;
  if (!f || f.activated) return false;
  const O = f.outChannels;
  const rank = v.perm.length;
  const perChannel =
    aligned.shape.length === 0 ||
    (aligned.shape.length === rank &&
      aligned.shape.every((d, i) => (i === rank - 1 ? d === O || d === 1 : d === 1)));
  if (!perChannel) return false;
  const values = aligned.data;
  const at = (c: number): number => (values.length === 1 ? values[0] : values[c]);
  const bias = ctx.graph.weight(f.bias);
  if (kind === 'scale') {
    const kernel = ctx.graph.weight(f.kernel);
    for (let i = 0; i < kernel.length; i++) kernel[i] *= at(i % O);
    for (let c = 0; c < O; c++) bias[c] *= at(c);
  } else {
    for (let c = 0; c < O; c++) bias[c] += at(c);
  }
  ctx.stats.foldedIntoConv++;
  return true;
}

function binary(
  n: NodeInfo,
  onnxOp: string,
  a: Value,
  b: Value,
  ctx: ConvertContext,
  singleUse: [boolean, boolean],
  base = n.name,
): RtValue {
  if (a.kind === 'const' && b.kind === 'const') {
    throw new ConversionError(
      `${onnxOp} node "${n.name}": both inputs are constant and should have been folded`,
    );
  }
  // Fold per-channel constants into the producing conv/matmul.
  if (onnxOp === 'Mul' || onnxOp === 'Add' || onnxOp === 'Sub' || onnxOp === 'Div') {
    const rtFirst = a.kind === 'rt';
    const v = (rtFirst ? a : b) as RtValue;
    const c = rtFirst ? b : a;
    const use = rtFirst ? singleUse[0] : singleUse[1];
    const orderOk = rtFirst || onnxOp === 'Mul' || onnxOp === 'Add';
    if (
      c.kind === 'const' &&
      use &&
      orderOk &&
      v.fuse &&
      c.t.dtype === 'float32' &&
      c.t.shape.length <= v.shape.length
    ) {
      const out = broadcastDims(v.shape, c.t.shape);
      if (out.every((d, i) => d === v.shape[i])) {
        let aligned = ctx.alignConst(c.t, v);
        if (onnxOp === 'Div') aligned = { ...aligned, data: aligned.data.map((x) => 1 / x) };
        if (onnxOp === 'Sub') aligned = { ...aligned, data: aligned.data.map((x) => -x) };
        const kind = onnxOp === 'Mul' || onnxOp === 'Div' ? 'scale' : 'shift';
        if (tryFoldAffine(v, aligned, kind, ctx)) return { ...v };
      }
    }
  }
  const tfOp = BINARY_TF[onnxOp];
  const attrs = { T: T() };
  if (a.kind === 'rt' && b.kind === 'rt') {
    let x = ctx.plain(a, `${base}/a`);
    let y = ctx.plain(b, `${base}/b`);
    if (x.shape.length !== y.shape.length) {
      x = ctx.withPerm(x, identityPerm(x.shape.length), `${base}/a`);
      y = ctx.withPerm(y, identityPerm(y.shape.length), `${base}/b`);
    } else if (x.perm.join() !== y.perm.join()) {
      // Keep the layout of the larger operand, re-lay out the other one.
      if (sizeOf(y.shape.map(Math.abs)) > sizeOf(x.shape.map(Math.abs)))
        x = ctx.withPerm(x, y.perm, `${base}/a`);
      else y = ctx.withPerm(y, x.perm, `${base}/b`);
    }
    const shape = broadcastDims(x.shape, y.shape);
    return ctx.emit(base, tfOp, [x.ref, y.ref], attrs, { shape, perm: x.perm });
  }
  const rtFirst = a.kind === 'rt';
  let v = ctx.plain((rtFirst ? a : b) as RtValue, `${base}/x`);
  const c = (rtFirst ? b : a) as ConstValue;
  if (c.t.shape.length > v.shape.length) v = ctx.withPerm(v, identityPerm(v.shape.length), base);
  const shape = broadcastDims(v.shape, c.t.shape);
  let perm = v.perm;
  let constT: ConstTensor;
  if (c.t.shape.length > v.shape.length) {
    perm = identityPerm(shape.length);
    constT = c.t;
  } else {
    constT = ctx.alignConst(c.t, v);
  }
  if (onnxOp === 'Pow' && rtFirst && constT.shape.length === 0) {
    const e = constT.data[0];
    if (e === 2) return ctx.emit(base, 'Square', [v.ref], attrs, { shape, perm });
    if (e === 0.5) return ctx.emit(base, 'Sqrt', [v.ref], attrs, { shape, perm });
    if (e === 1) return { ...v, shape, fuse: undefined };
  }
  const cref = ctx.emitConst(`${base}/${rtFirst ? 'y' : 'x'}`, constT);
  const ins = rtFirst ? [v.ref, cref] : [cref, v.ref];
  return ctx.emit(base, tfOp, ins, attrs, { shape, perm });
}

const binaryHandler =
  (onnxOp: string): OpHandler =>
  (n, inputs, ctx) => {
    const [a, b] = [inputs[0], inputs[1]];
    if (!a || !b) throw new ConversionError(`${onnxOp} node "${n.name}" needs two inputs`);
    const single = (i: number): boolean => ctx.consumers(n.inputNames[i]) === 1;
    return [binary(n, onnxOp, a, b, ctx, [single(0), single(1)])];
  };

const variadicHandler =
  (onnxOp: string): OpHandler =>
  (n, inputs, ctx) => {
    const present = inputs.filter((v): v is Value => v !== null);
    if (present.length === 1) return [present[0]];
    let acc: Value = present[0];
    for (let i = 1; i < present.length; i++)
      acc = binary(n, onnxOp, acc, present[i], ctx, [false, false], `${n.name}/${i}`);
    return [acc];
  };

/** Activations the fused conv/matmul kernels apply themselves. */
type FusableActivation = 'Relu' | 'Relu6' | 'Sigmoid' | 'LeakyRelu';

function activation(
  n: NodeInfo,
  v: RtValue,
  act: FusableActivation,
  ctx: ConvertContext,
  alpha = 0.2,
): RtValue {
  const f = v.fuse;
  if (f && !f.activated && ctx.consumers(n.inputNames[0]) === 1) {
    f.node.attrs.fused_ops = tfAttr.strs(['BiasAdd', act]);
    if (act === 'LeakyRelu') f.node.attrs.leakyrelu_alpha = tfAttr.f(alpha);
    f.activated = true;
    ctx.stats.fusedActivations++;
    return { ...v };
  }
  const p = ctx.plain(v, n.name);
  const attrs: Record<string, AttrValue> = { T: T() };
  if (act === 'LeakyRelu') attrs.alpha = tfAttr.f(alpha);
  return ctx.emit(n.name, act, [p.ref], attrs, p);
}

const unaryHandler =
  (tfOp: string): OpHandler =>
  (n, inputs, ctx) => {
    const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
    return [ctx.emit(n.name, tfOp, [v.ref], { T: T() }, v)];
  };

function clipBounds(n: NodeInfo, inputs: (Value | null)[]): [number, number] {
  if (n.opset < 11) {
    return [getAttr.float(n.attrs, 'min', -Infinity), getAttr.float(n.attrs, 'max', Infinity)];
  }
  const lo = optionalConst(n, inputs, 1, 'min');
  const hi = optionalConst(n, inputs, 2, 'max');
  return [lo ? lo.data[0] : -Infinity, hi ? hi.data[0] : Infinity];
}

function clipByValue(base: string, v: RtValue, lo: number, hi: number, ctx: ConvertContext): RtValue {
  const clamp = (x: number): number => Math.min(Math.max(x, FLOAT_LOWEST), -FLOAT_LOWEST);
  const l = ctx.graph.constFloat(`${base}/min`, [], Float32Array.of(clamp(lo)));
  const h = ctx.graph.constFloat(`${base}/max`, [], Float32Array.of(clamp(hi)));
  return ctx.emit(base, 'ClipByValue', [v.ref, l, h], { T: T() }, v);
}

function scalarOp(base: string, op: string, v: RtValue, s: number, ctx: ConvertContext): RtValue {
  const c = ctx.graph.constFloat(`${base}/y`, [], Float32Array.of(s));
  return ctx.emit(base, op, [v.ref, c], { T: T() }, v);
}

// ---------------------------------------------------------------------------------------------------------------
// Convolution and pooling

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
    if (inSize < 0)
      throw new ConversionError(
        `${n.op} node "${n.name}": the spatial size must be known at conversion time`,
      );
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
      o = Math.floor((inSize + p0 + p1 - dk) / s[i]) + 1;
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
  if (tfSamePads(inHW, k, s, d).every((p, i) => p === pads[i])) return { padding: tfAttr.s('SAME') };
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

const conv: OpHandler = (n, inputs, ctx) => {
  const x0 = runtime(n, inputs, 0, ctx);
  if (x0.shape.length !== 4)
    throw new ConversionError(`Conv node "${n.name}": only 2-D convolutions (rank-4 input) are supported`);
  const x = ctx.withPerm(x0, NHWC, n.name);
  const w = constant(n, inputs, 1, 'weight');
  const b = optionalConst(n, inputs, 2, 'bias');
  const [O, Ig, kh, kw] = w.shape;
  const group = getAttr.int(n.attrs, 'group', 1);
  const C = x.shape[1];
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

const pool =
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
    const same = tfSamePads(inHW, k, s, d).every((p, i) => p === full[i]);
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

function reduce(
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
    { shape, perm },
  );
}

const reduceHandler =
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

const globalPool =
  (tfOp: string): OpHandler =>
  (n, inputs, ctx) => {
    const v = runtime(n, inputs, 0, ctx);
    return [reduce(n, v, tfOp, identityPerm(v.shape.length).slice(2), true, ctx)];
  };

// ---------------------------------------------------------------------------------------------------------------
// Matrix multiplication

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

const gemm: OpHandler = (n, inputs, ctx) => {
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

const matmul: OpHandler = (n, inputs, ctx) => {
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

// ---------------------------------------------------------------------------------------------------------------
// Shape manipulation

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

const flatten: OpHandler = (n, inputs, ctx) => {
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

const reshape: OpHandler = (n, inputs, ctx) => {
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

const transpose: OpHandler = (n, inputs, ctx) => {
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

const squeeze: OpHandler = (n, inputs, ctx) => {
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

const unsqueeze: OpHandler = (n, inputs, ctx) => {
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

const concat: OpHandler = (n, inputs, ctx) => {
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

const pad: OpHandler = (n, inputs, ctx) => {
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

const softmax =
  (tfOp: 'Softmax' | 'LogSoftmax'): OpHandler =>
  (n, inputs, ctx) => {
    let v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
    const rank = v.shape.length;
    const axis = normAxis(getAttr.int(n.attrs, 'axis', n.opset >= 13 ? -1 : 1), rank);
    if (n.opset < 13 && v.shape.slice(axis + 1).some((d) => d !== 1)) {
      throw new ConversionError(
        `${n.op} node "${n.name}": opset < 13 softmax over several axes is not supported`,
      );
    }
    if (v.perm[rank - 1] !== axis) v = ctx.withPerm(v, [...v.perm.filter((p) => p !== axis), axis], n.name);
    return [ctx.emit(n.name, tfOp, [v.ref], { T: T() }, v)];
  };

const layerNorm: OpHandler = (n, inputs, ctx) => {
  const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  if (n.outputNames.slice(1).some((o) => o && ctx.consumers(o) > 0)) {
    throw new ConversionError(
      `LayerNormalization node "${n.name}": the Mean/InvStdDev outputs are not supported`,
    );
  }
  const rank = v.shape.length;
  const axis = normAxis(getAttr.int(n.attrs, 'axis', -1), rank);
  const eps = getAttr.float(n.attrs, 'epsilon', 1e-5);
  const axes = identityPerm(rank).slice(axis);
  const mean = reduce(n, v, 'Mean', axes, true, ctx, `${n.name}/mean`);
  const d = ctx.emit(`${n.name}/centered`, 'Sub', [v.ref, mean.ref], { T: T() }, v);
  const sq = ctx.emit(`${n.name}/square`, 'Square', [d.ref], { T: T() }, v);
  const variance = reduce(n, sq, 'Mean', axes, true, ctx, `${n.name}/variance`);
  const plusEps = scalarOp(`${n.name}/add_eps`, 'AddV2', variance, eps, ctx);
  const inv = ctx.emit(`${n.name}/rsqrt`, 'Rsqrt', [plusEps.ref], { T: T() }, plusEps);
  let y: Value = ctx.emit(`${n.name}/normalized`, 'Mul', [d.ref, inv.ref], { T: T() }, v);
  const scale = constant(n, inputs, 1, 'scale');
  y = binary(n, 'Mul', y, { kind: 'const', t: scale }, ctx, [false, false], `${n.name}/scale`);
  const b = optionalConst(n, inputs, 2, 'bias');
  if (b) y = binary(n, 'Add', y, { kind: 'const', t: b }, ctx, [false, false], `${n.name}/bias`);
  return [y];
};

const batchNorm: OpHandler = (n, inputs, ctx) => {
  const v = runtime(n, inputs, 0, ctx);
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) =>
    constant(n, inputs, i, ['scale', 'B', 'mean', 'var'][i - 1]),
  );
  const eps = getAttr.float(n.attrs, 'epsilon', 1e-5);
  const C = scale.data.length;
  const s = new Float32Array(C);
  const sh = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    s[c] = scale.data[c] / Math.sqrt(variance.data[c] + eps);
    sh[c] = bias.data[c] - mean.data[c] * s[c];
  }
  const perChannel = (data: Float32Array): ConstValue => ({
    kind: 'const',
    t: makeConst('float32', [C, ...new Array<number>(Math.max(0, v.shape.length - 2)).fill(1)], data),
  });
  const single = ctx.consumers(n.inputNames[0]) === 1;
  const scaled = binary(n, 'Mul', v, perChannel(s), ctx, [single, false], `${n.name}/scale`);
  return [binary(n, 'Add', scaled, perChannel(sh), ctx, [single, false], `${n.name}/shift`)];
};

// ---------------------------------------------------------------------------------------------------------------
// The table

const alias: OpHandler = (n, inputs, ctx) => {
  if (n.op === 'Dropout' && n.outputNames[1] && ctx.consumers(n.outputNames[1]) > 0) {
    throw new ConversionError(`Dropout node "${n.name}": the mask output is not supported`);
  }
  const v = runtime(n, inputs, 0, ctx);
  return [{ ...v, fuse: ctx.consumers(n.inputNames[0]) === 1 ? v.fuse : undefined }];
};

const HANDLERS: Readonly<Record<string, OpHandler>> = Object.freeze({
  Abs: unaryHandler('Abs'),
  Add: binaryHandler('Add'),
  AveragePool: pool('avg'),
  BatchNormalization: batchNorm,
  Cast: (n, inputs, ctx) => {
    const v = runtime(n, inputs, 0, ctx);
    const to = getAttr.int(n.attrs, 'to', 1);
    if ((to === 1 || to === 10 || to === 11) && v.dtype === 'float32') return [v];
    const dst = to === 1 || to === 10 || to === 11 ? 'DT_FLOAT' : to === 9 ? 'DT_BOOL' : 'DT_INT32';
    const p = ctx.plain(v, n.name);
    return [
      ctx.emit(
        n.name,
        'Cast',
        [p.ref],
        { DstT: tfAttr.T(dst) },
        { ...p, dtype: dst === 'DT_FLOAT' ? 'float32' : dst === 'DT_BOOL' ? 'bool' : 'int32' },
      ),
    ];
  },
  Clip: (n, inputs, ctx) => {
    const v = runtime(n, inputs, 0, ctx);
    const [lo, hi] = clipBounds(n, inputs);
    if (lo === 0 && hi === 6) return [activation(n, v, 'Relu6', ctx)];
    if (lo === 0 && hi === Infinity) return [activation(n, v, 'Relu', ctx)];
    return [clipByValue(n.name, ctx.plain(v, n.name), lo, hi, ctx)];
  },
  Concat: concat,
  Conv: conv,
  Div: binaryHandler('Div'),
  Dropout: alias,
  Elu: unaryHandler('Elu'),
  Erf: unaryHandler('Erf'),
  Exp: unaryHandler('Exp'),
  Flatten: flatten,
  Gelu: (n, inputs, ctx) => {
    // Opset 20: 0.5·x·(1 + erf(x/√2)), or the tanh approximation.
    const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
    const approx = getAttr.string(n.attrs, 'approximate', 'none');
    let inner: RtValue;
    if (approx === 'tanh') {
      const cube = ctx.emit(
        `${n.name}/cube`,
        'Pow',
        [v.ref, ctx.graph.constFloat(`${n.name}/three`, [], Float32Array.of(3))],
        { T: T() },
        v,
      );
      const k = scalarOp(`${n.name}/k`, 'Mul', cube, 0.044715, ctx);
      const sum = ctx.emit(`${n.name}/sum`, 'AddV2', [v.ref, k.ref], { T: T() }, v);
      const scaled = scalarOp(`${n.name}/scaled`, 'Mul', sum, Math.sqrt(2 / Math.PI), ctx);
      inner = ctx.emit(`${n.name}/tanh`, 'Tanh', [scaled.ref], { T: T() }, v);
    } else {
      const scaled = scalarOp(`${n.name}/scaled`, 'Mul', v, Math.SQRT1_2, ctx);
      inner = ctx.emit(`${n.name}/erf`, 'Erf', [scaled.ref], { T: T() }, v);
    }
    const onePlus = scalarOp(`${n.name}/one_plus`, 'AddV2', inner, 1, ctx);
    const half = scalarOp(`${n.name}/half_x`, 'Mul', v, 0.5, ctx);
    return [ctx.emit(n.name, 'Mul', [half.ref, onePlus.ref], { T: T() }, v)];
  },
  Gemm: gemm,
  GlobalAveragePool: globalPool('Mean'),
  GlobalMaxPool: globalPool('Max'),
  HardSigmoid: (n, inputs, ctx) => {
    const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
    const alpha = getAttr.float(n.attrs, 'alpha', 0.2);
    const beta = getAttr.float(n.attrs, 'beta', 0.5);
    const ax = scalarOp(`${n.name}/mul`, 'Mul', v, alpha, ctx);
    const axb = scalarOp(`${n.name}/add`, 'AddV2', ax, beta, ctx);
    return [clipByValue(n.name, axb, 0, 1, ctx)];
  },
  HardSwish: (n, inputs, ctx) => {
    // x · relu6(x + 3) / 6
    const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
    const plus3 = scalarOp(`${n.name}/add3`, 'AddV2', v, 3, ctx);
    const r6 = ctx.emit(`${n.name}/relu6`, 'Relu6', [plus3.ref], { T: T() }, v);
    const prod = ctx.emit(`${n.name}/mul`, 'Mul', [v.ref, r6.ref], { T: T() }, v);
    return [scalarOp(n.name, 'Mul', prod, 1 / 6, ctx)];
  },
  Identity: alias,
  LayerNormalization: layerNorm,
  LeakyRelu: (n, inputs, ctx) => [
    activation(n, runtime(n, inputs, 0, ctx), 'LeakyRelu', ctx, getAttr.float(n.attrs, 'alpha', 0.01)),
  ],
  Log: unaryHandler('Log'),
  LogSoftmax: softmax('LogSoftmax'),
  MatMul: matmul,
  Max: variadicHandler('Max'),
  MaxPool: (n, inputs, ctx) => {
    if (n.outputNames[1] && ctx.consumers(n.outputNames[1]) > 0) {
      throw new ConversionError(`MaxPool node "${n.name}": the Indices output is not supported`);
    }
    return pool('max')(n, inputs, ctx);
  },
  Min: variadicHandler('Min'),
  Mul: binaryHandler('Mul'),
  Neg: unaryHandler('Neg'),
  Pad: pad,
  Pow: binaryHandler('Pow'),
  Reciprocal: unaryHandler('Reciprocal'),
  ReduceMax: reduceHandler('Max', 18),
  ReduceMean: reduceHandler('Mean', 18),
  ReduceMin: reduceHandler('Min', 18),
  ReduceSum: reduceHandler('Sum', 13),
  Relu: (n, inputs, ctx) => [activation(n, runtime(n, inputs, 0, ctx), 'Relu', ctx)],
  Reshape: reshape,
  Shape: (n, inputs, ctx) => {
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
  },
  Sigmoid: (n, inputs, ctx) => [activation(n, runtime(n, inputs, 0, ctx), 'Sigmoid', ctx)],
  Softmax: softmax('Softmax'),
  Softplus: unaryHandler('Softplus'),
  Sqrt: unaryHandler('Sqrt'),
  Squeeze: squeeze,
  Sub: binaryHandler('Sub'),
  Sum: variadicHandler('Add'),
  Tanh: unaryHandler('Tanh'),
  Transpose: transpose,
  Unsqueeze: unsqueeze,
});

/** The handler for an ONNX op type, or undefined. */
export function handlerFor(op: string): OpHandler | undefined {
  return Object.prototype.hasOwnProperty.call(HANDLERS, op) ? HANDLERS[op] : undefined;
}

/** ONNX op types translated at run time, sorted. */
export const RUNTIME_OPS: readonly string[] = Object.freeze(Object.keys(HANDLERS).sort());
