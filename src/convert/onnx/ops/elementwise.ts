/**
 * Elementwise ops: arithmetic with broadcasting (folding per-channel constants into the producing conv), activations,
 * clipping and GELU.
 */
import { AttrValue } from '../../../models/graph-model-writer';
import { ConstTensor, sizeOf } from '../../tensor';
import {
  ConstValue,
  ConversionError,
  ConvertContext,
  identityPerm,
  NodeInfo,
  RtValue,
  Value,
} from '../context';
import { getAttr } from '../onnx-proto';
import { tfAttr } from '../tf-graph';
import { broadcastDims, FLOAT_LOWEST, OpHandler, optionalConst, runtime, T } from './common';

const BINARY_TF: Record<string, string> = {
  Add: 'AddV2',
  Sub: 'Sub',
  Mul: 'Mul',
  Div: 'RealDiv',
  Pow: 'Pow',
  Max: 'Maximum',
  Min: 'Minimum',
  Equal: 'Equal',
  Less: 'Less',
  Greater: 'Greater',
  LessOrEqual: 'LessEqual',
  GreaterOrEqual: 'GreaterEqual',
  And: 'LogicalAnd',
  Or: 'LogicalOr',
};

/** Ops whose result is bool whatever their inputs. */
const BOOL_RESULT = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or']);

/** The element type of a binary op's result: bool for comparisons, else the run-time operand's. */
function resultDtype(onnxOp: string, a: Value, b: Value): RtValue['dtype'] {
  if (BOOL_RESULT.has(onnxOp)) return 'bool';
  const rt = a.kind === 'rt' ? a : b.kind === 'rt' ? b : null;
  return rt ? rt.dtype : 'float32';
}

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

export function binary(
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

export const binaryHandler =
  (onnxOp: string): OpHandler =>
  (n, inputs, ctx) => {
    const [a, b] = [inputs[0], inputs[1]];
    if (!a || !b) throw new ConversionError(`${onnxOp} node "${n.name}" needs two inputs`);
    const single = (i: number): boolean => ctx.consumers(n.inputNames[i]) === 1;
    const r = binary(n, onnxOp, a, b, ctx, [single(0), single(1)]);
    return [{ ...r, dtype: resultDtype(onnxOp, a, b) }];
  };

export const variadicHandler =
  (onnxOp: string): OpHandler =>
  (n, inputs, ctx) => {
    const present = inputs.filter((v): v is Value => v !== null);
    if (present.length === 1) return [present[0]];
    let acc: Value = present[0];
    const rt = present.find((v): v is RtValue => v.kind === 'rt');
    for (let i = 1; i < present.length; i++)
      acc = binary(n, onnxOp, acc, present[i], ctx, [false, false], `${n.name}/${i}`);
    return [acc.kind === 'rt' && rt ? { ...acc, dtype: rt.dtype } : acc];
  };

/** Activations the fused conv/matmul kernels apply themselves. */
export type FusableActivation = 'Relu' | 'Relu6' | 'Sigmoid' | 'LeakyRelu';

export function activation(
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

export const unaryHandler =
  (tfOp: string): OpHandler =>
  (n, inputs, ctx) => {
    const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
    return [ctx.emit(n.name, tfOp, [v.ref], { T: T() }, v)];
  };

export function clipBounds(n: NodeInfo, inputs: (Value | null)[]): [number, number] {
  if (n.opset < 11) {
    return [getAttr.float(n.attrs, 'min', -Infinity), getAttr.float(n.attrs, 'max', Infinity)];
  }
  const lo = optionalConst(n, inputs, 1, 'min');
  const hi = optionalConst(n, inputs, 2, 'max');
  return [lo ? lo.data[0] : -Infinity, hi ? hi.data[0] : Infinity];
}

export function clipByValue(base: string, v: RtValue, lo: number, hi: number, ctx: ConvertContext): RtValue {
  const clamp = (x: number): number => Math.min(Math.max(x, FLOAT_LOWEST), -FLOAT_LOWEST);
  const l = ctx.graph.constFloat(`${base}/min`, [], Float32Array.of(clamp(lo)));
  const h = ctx.graph.constFloat(`${base}/max`, [], Float32Array.of(clamp(hi)));
  return ctx.emit(base, 'ClipByValue', [v.ref, l, h], { T: T() }, v);
}

export function scalarOp(base: string, op: string, v: RtValue, s: number, ctx: ConvertContext): RtValue {
  const c = ctx.graph.constFloat(`${base}/y`, [], Float32Array.of(s));
  return ctx.emit(base, op, [v.ref, c], { T: T() }, v);
}

export const clip: OpHandler = (n, inputs, ctx) => {
  const v = runtime(n, inputs, 0, ctx);
  const [lo, hi] = clipBounds(n, inputs);
  if (lo === 0 && hi === 6) return [activation(n, v, 'Relu6', ctx)];
  if (lo === 0 && hi === Infinity) return [activation(n, v, 'Relu', ctx)];
  return [clipByValue(n.name, ctx.plain(v, n.name), lo, hi, ctx)];
};

export const gelu: OpHandler = (n, inputs, ctx) => {
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
};

export const hardSigmoid: OpHandler = (n, inputs, ctx) => {
  const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  const alpha = getAttr.float(n.attrs, 'alpha', 0.2);
  const beta = getAttr.float(n.attrs, 'beta', 0.5);
  const ax = scalarOp(`${n.name}/mul`, 'Mul', v, alpha, ctx);
  const axb = scalarOp(`${n.name}/add`, 'AddV2', ax, beta, ctx);
  return [clipByValue(n.name, axb, 0, 1, ctx)];
};

export const hardSwish: OpHandler = (n, inputs, ctx) => {
  // x · relu6(x + 3) / 6
  const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  const plus3 = scalarOp(`${n.name}/add3`, 'AddV2', v, 3, ctx);
  const r6 = ctx.emit(`${n.name}/relu6`, 'Relu6', [plus3.ref], { T: T() }, v);
  const prod = ctx.emit(`${n.name}/mul`, 'Mul', [v.ref, r6.ref], { T: T() }, v);
  return [scalarOp(n.name, 'Mul', prod, 1 / 6, ctx)];
};

export const leakyRelu: OpHandler = (n, inputs, ctx) => [
  activation(n, runtime(n, inputs, 0, ctx), 'LeakyRelu', ctx, getAttr.float(n.attrs, 'alpha', 0.01)),
];

export const relu: OpHandler = (n, inputs, ctx) => [activation(n, runtime(n, inputs, 0, ctx), 'Relu', ctx)];

export const sigmoid: OpHandler = (n, inputs, ctx) => [
  activation(n, runtime(n, inputs, 0, ctx), 'Sigmoid', ctx),
];

/** ONNX Not → LogicalNot. */
export const not: OpHandler = (n, inputs, ctx) => {
  const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  return [ctx.emit(n.name, 'LogicalNot', [v.ref], {}, { ...v, dtype: 'bool' })];
};

/** ONNX Where(cond, x, y) → SelectV2, computed in ONNX layout (numpy broadcasting). */
export const where: OpHandler = (n, inputs, ctx) => {
  const vals = [0, 1, 2].map((i) => {
    const v = inputs[i];
    if (!v) throw new ConversionError(`Where node "${n.name}": input ${i} is missing`);
    return v;
  });
  const refs = vals.map((v, i) => {
    if (v.kind === 'const') return ctx.emitConst(`${n.name}/const${i}`, v.t);
    return ctx.withPerm(v, identityPerm(v.shape.length), `${n.name}/in${i}`).ref;
  });
  const shapes = vals.map((v) => (v.kind === 'rt' ? v.shape : v.t.shape));
  // A constant condition arrives as int32: SelectV2 needs bool.
  if (vals[0].kind === 'const')
    refs[0] = ctx.graph.op(`${n.name}/cond`, 'Cast', [refs[0]], { DstT: tfAttr.T('DT_BOOL') });
  const shape = broadcastDims(broadcastDims(shapes[0], shapes[1]), shapes[2]);
  const x = vals[1];
  const y = vals[2];
  const dtype: RtValue['dtype'] =
    x.kind === 'rt' ? x.dtype : y.kind === 'rt' ? y.dtype : x.t.dtype === 'float32' ? 'float32' : 'int32';
  return [ctx.emit(n.name, 'SelectV2', refs, { T: T() }, { shape, perm: identityPerm(shape.length), dtype })];
};
