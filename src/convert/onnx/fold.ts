/**
 * Constant folding: evaluates ONNX nodes whose inputs are all known at conversion time.
 *
 * Exporters leave shape arithmetic in the graph (`Shape → Gather → Unsqueeze → Concat → Reshape` for
 * `x.view(x.size(0), -1)`, Cast chains, Constant nodes). The converter evaluates those here and emits only the
 * result, so the TF graph holds no Shape/Gather/Concat plumbing. The dynamic batch size reads as NaN (see
 * tensor.ts) and is resolved where it is consumed.
 */
import {
  binaryConst,
  castConst,
  concatConst,
  ConstTensor,
  constValues,
  gatherConst,
  intConst,
  makeConst,
  normAxis,
  sizeOf,
  sliceConst,
  transposeConst,
  unaryConst,
  allocData,
  broadcastShapes,
  broadcastTo,
} from '../tensor';
import { constDtypeOf, getAttr, OnnxAttrs, tensorFromProto } from './onnx-proto';

/** Ops the folder can evaluate when every input is a constant. */
// prettier-ignore
export const FOLDABLE_OPS: readonly string[] = Object.freeze([
  'Abs', 'Add', 'Cast', 'Ceil', 'Concat', 'Constant', 'ConstantOfShape', 'Div', 'Dropout', 'Equal', 'Exp', 'Expand',
  'Flatten', 'Floor', 'Gather', 'Greater', 'Identity', 'Less', 'Log', 'Max', 'Min', 'Mul', 'Neg', 'Not', 'Pow',
  'Range', 'Reciprocal', 'ReduceProd', 'Relu', 'Reshape', 'Sigmoid', 'Slice', 'Sqrt', 'Squeeze', 'Sub', 'Transpose',
  'Unsqueeze', 'Where',
]);

/** Resolves an ONNX Reshape target (0 = copy, -1 = infer) against a fully known input shape. */
export function resolveStaticReshape(inShape: number[], target: number[], allowZero: boolean): number[] {
  const out = target.map((d, i) => (d === 0 && !allowZero ? inShape[i] : d));
  if (out.some((d) => Number.isNaN(d))) throw new Error('the reshape target depends on the batch size');
  const infer = out.indexOf(-1);
  if (infer >= 0) {
    const known = out.reduce((n, d, i) => (i === infer ? n : n * d), 1);
    out[infer] = sizeOf(inShape) / known;
  }
  return out;
}

function axesFrom(attrs: OnnxAttrs, inputs: (ConstTensor | null)[], inputIndex: number): number[] | null {
  const fromInput = inputs[inputIndex];
  if (fromInput) return constValues(fromInput);
  return getAttr.ints(attrs, 'axes');
}

function unsqueezeShape(shape: number[], axes: number[]): number[] {
  const rank = shape.length + axes.length;
  const norm = axes.map((a) => normAxis(a, rank));
  const out: number[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : shape[j++]);
  return out;
}

function squeezeShape(shape: number[], axes: number[] | null): number[] {
  if (!axes || axes.length === 0) return shape.filter((d) => d !== 1);
  const norm = axes.map((a) => normAxis(a, shape.length));
  return shape.filter((_, i) => !norm.includes(i));
}

/** Output shape of ONNX Unsqueeze/Squeeze, shared with the runtime handlers. */
export const shapeOps = { unsqueezeShape, squeezeShape };

const toBool = (x: number): number => (Number.isNaN(x) ? NaN : x ? 1 : 0);

/**
 * Evaluates one node on constant inputs. Returns the outputs, or null when `op` is not foldable.
 * Throws with the reason when the op is foldable but its inputs are invalid.
 */
export function foldNode(op: string, inputs: (ConstTensor | null)[], attrs: OnnxAttrs): ConstTensor[] | null {
  const x = inputs[0];
  const need = (t: ConstTensor | null | undefined, what: string): ConstTensor => {
    if (!t) throw new Error(`${op} needs input ${what}`);
    return t;
  };
  const isInt = (t: ConstTensor): boolean => t.dtype !== 'float32';
  switch (op) {
    case 'Constant': {
      const t = getAttr.tensor(attrs, 'value');
      if (t) return [tensorFromProto(t)];
      const f = attrs.get('value_float');
      if (f) return [makeConst('float32', [], [f.f ?? 0])];
      const fs = getAttr.floats(attrs, 'value_floats');
      if (fs) return [makeConst('float32', [fs.length], fs)];
      const i = attrs.get('value_int');
      if (i) return [intConst([getAttr.int(attrs, 'value_int', 0)], true)];
      const is = getAttr.ints(attrs, 'value_ints');
      if (is) return [intConst(is)];
      throw new Error('Constant without a supported value attribute');
    }
    case 'Identity':
    case 'Dropout':
      return [need(x, 'x')];
    case 'Cast': {
      const to = constDtypeOf(getAttr.int(attrs, 'to', 1));
      if (!to) throw new Error(`Cast to ONNX type ${getAttr.int(attrs, 'to', 1)} is not supported`);
      return [castConst(need(x, 'x'), to)];
    }
    case 'Add':
      return [binaryConst(need(x, 'A'), need(inputs[1], 'B'), (a, b) => a + b)];
    case 'Sub':
      return [binaryConst(need(x, 'A'), need(inputs[1], 'B'), (a, b) => a - b)];
    case 'Mul':
      return [binaryConst(need(x, 'A'), need(inputs[1], 'B'), (a, b) => a * b)];
    case 'Div': {
      const a = need(x, 'A');
      return [binaryConst(a, need(inputs[1], 'B'), isInt(a) ? (p, q) => Math.trunc(p / q) : (p, q) => p / q)];
    }
    case 'Pow':
      return [binaryConst(need(x, 'X'), need(inputs[1], 'Y'), (a, b) => a ** b)];
    case 'Max':
      return [
        inputs.map((t) => need(t, 'data')).reduce((a, b) => binaryConst(a, b, (p, q) => Math.max(p, q))),
      ];
    case 'Min':
      return [
        inputs.map((t) => need(t, 'data')).reduce((a, b) => binaryConst(a, b, (p, q) => Math.min(p, q))),
      ];
    case 'Equal':
      return [binaryConst(need(x, 'A'), need(inputs[1], 'B'), (a, b) => toBool(a === b ? 1 : 0), 'bool')];
    case 'Less':
      return [binaryConst(need(x, 'A'), need(inputs[1], 'B'), (a, b) => (a < b ? 1 : 0), 'bool')];
    case 'Greater':
      return [binaryConst(need(x, 'A'), need(inputs[1], 'B'), (a, b) => (a > b ? 1 : 0), 'bool')];
    case 'Not':
      return [unaryConst(need(x, 'X'), (a) => (Number.isNaN(a) ? NaN : a ? 0 : 1), 'bool')];
    case 'Where': {
      const c = need(x, 'condition');
      const a = need(inputs[1], 'X');
      const b = need(inputs[2], 'Y');
      const shape = broadcastShapes(broadcastShapes(c.shape, a.shape), b.shape);
      const [cc, aa, bb] = [c, a, b].map((t) => broadcastTo(t, shape));
      const out = allocData(a.dtype, sizeOf(shape));
      for (let i = 0; i < out.length; i++) out[i] = cc.data[i] ? aa.data[i] : bb.data[i];
      return [{ dtype: a.dtype, shape, data: out }];
    }
    case 'Neg':
      return [unaryConst(need(x, 'X'), (a) => -a)];
    case 'Abs':
      return [unaryConst(need(x, 'X'), Math.abs)];
    case 'Sqrt':
      return [unaryConst(need(x, 'X'), Math.sqrt)];
    case 'Exp':
      return [unaryConst(need(x, 'X'), Math.exp)];
    case 'Log':
      return [unaryConst(need(x, 'X'), Math.log)];
    case 'Reciprocal':
      return [unaryConst(need(x, 'X'), (a) => 1 / a)];
    case 'Floor':
      return [unaryConst(need(x, 'X'), Math.floor)];
    case 'Ceil':
      return [unaryConst(need(x, 'X'), Math.ceil)];
    case 'Relu':
      return [unaryConst(need(x, 'X'), (a) => Math.max(a, 0))];
    case 'Sigmoid':
      return [unaryConst(need(x, 'X'), (a) => 1 / (1 + Math.exp(-a)))];
    case 'Gather':
      return [gatherConst(need(x, 'data'), need(inputs[1], 'indices'), getAttr.int(attrs, 'axis', 0))];
    case 'Concat':
      return [
        concatConst(
          inputs.filter((t): t is ConstTensor => t !== null),
          getAttr.int(attrs, 'axis', 0),
        ),
      ];
    case 'Unsqueeze': {
      const t = need(x, 'data');
      const axes = axesFrom(attrs, inputs, 1);
      if (!axes) throw new Error('Unsqueeze needs axes');
      return [{ ...t, shape: unsqueezeShape(t.shape, axes) }];
    }
    case 'Squeeze': {
      const t = need(x, 'data');
      return [{ ...t, shape: squeezeShape(t.shape, axesFrom(attrs, inputs, 1)) }];
    }
    case 'Reshape': {
      const t = need(x, 'data');
      const target = constValues(need(inputs[1], 'shape'));
      return [
        { ...t, shape: resolveStaticReshape(t.shape, target, getAttr.int(attrs, 'allowzero', 0) === 1) },
      ];
    }
    case 'Flatten': {
      const t = need(x, 'input');
      const axis = normAxis(getAttr.int(attrs, 'axis', 1), t.shape.length + 1);
      return [{ ...t, shape: [sizeOf(t.shape.slice(0, axis)), sizeOf(t.shape.slice(axis))] }];
    }
    case 'Transpose': {
      const t = need(x, 'data');
      const perm = getAttr.ints(attrs, 'perm') ?? t.shape.map((_, i) => t.shape.length - 1 - i);
      return [transposeConst(t, perm)];
    }
    case 'Slice': {
      const t = need(x, 'data');
      let starts: number[];
      let ends: number[];
      let axes: number[] | null;
      let steps: number[] | null;
      if (inputs.length > 1) {
        starts = constValues(need(inputs[1], 'starts'));
        ends = constValues(need(inputs[2], 'ends'));
        axes = inputs[3] ? constValues(inputs[3]) : null;
        steps = inputs[4] ? constValues(inputs[4]) : null;
      } else {
        starts = getAttr.ints(attrs, 'starts') ?? [];
        ends = getAttr.ints(attrs, 'ends') ?? [];
        axes = getAttr.ints(attrs, 'axes');
        steps = null;
      }
      const ax = axes ?? starts.map((_, i) => i);
      // Slicing a shape vector with NaN (batch) entries is fine: NaN only moves around.
      const big = (v: number): number =>
        v > 2 ** 52 ? Number.MAX_SAFE_INTEGER : v < -(2 ** 52) ? -Number.MAX_SAFE_INTEGER : v;
      return [sliceConst(t, starts.map(big), ends.map(big), ax, steps ?? ax.map(() => 1))];
    }
    case 'ConstantOfShape': {
      const shape = constValues(need(x, 'input'));
      if (shape.some((d) => Number.isNaN(d))) throw new Error('ConstantOfShape with a batch-dependent shape');
      const v = getAttr.tensor(attrs, 'value');
      const value = v ? tensorFromProto(v) : makeConst('float32', [1], [0]);
      const out = allocData(value.dtype, sizeOf(shape));
      out.fill(value.data[0]);
      return [{ dtype: value.dtype, shape, data: out }];
    }
    case 'Expand': {
      const t = need(x, 'input');
      const shape = constValues(need(inputs[1], 'shape'));
      if (shape.some((d) => Number.isNaN(d))) throw new Error('Expand with a batch-dependent shape');
      return [broadcastTo(t, broadcastShapes(t.shape, shape))];
    }
    case 'Range': {
      const [start, limit, delta] = [x, inputs[1], inputs[2]].map((t, i) => need(t, String(i)).data[0]);
      const n = Math.max(Math.ceil((limit - start) / delta), 0);
      const dtype = need(x, 'start').dtype;
      return [
        makeConst(
          dtype,
          [n],
          Array.from({ length: n }, (_, i) => start + i * delta),
        ),
      ];
    }
    case 'ReduceProd': {
      const t = need(x, 'data');
      const keep = getAttr.int(attrs, 'keepdims', 1) === 1;
      const axes = axesFrom(attrs, inputs, 1);
      if (t.shape.length !== 1 || (axes && axes.length !== 1))
        throw new Error('ReduceProd is folded for 1-D inputs only');
      const p = Array.from(t.data).reduce((a, b) => a * b, 1);
      return [makeConst(t.dtype, keep ? [1] : [], [p])];
    }
    default:
      return null;
  }
}
