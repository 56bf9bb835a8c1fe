/**
 * Host-side constant tensors for the converter: weights, folded shape arithmetic, and the small set of array
 * operations the converter needs to evaluate constant subgraphs and re-lay weights (transpose, broadcast, gather).
 *
 * Integer tensors (ONNX int64/int32) and booleans are held in Float64Array so that one value, NaN, can stand for
 * "unknown at conversion time": the dynamic batch dimension read by `Shape`. NaN survives Gather/Concat/Unsqueeze
 * and arithmetic, so a Reshape target built from `Shape(x)[0]` arrives as `[NaN, -1]` and the converter resolves it.
 */

export type ConstDtype = 'float32' | 'int64' | 'bool';

/** A dense row-major tensor known at conversion time. float32 data is Float32Array; int64/bool are Float64Array. */
export interface ConstTensor {
  dtype: ConstDtype;
  shape: number[];
  data: Float32Array | Float64Array;
}

/** Number of elements of a shape (1 for a scalar). */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Allocates the right array type for a dtype. */
export function allocData(dtype: ConstDtype, n: number): Float32Array | Float64Array {
  return dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
}

/** Builds a ConstTensor, checking that data matches the shape. */
export function makeConst(dtype: ConstDtype, shape: number[], values: ArrayLike<number>): ConstTensor {
  const n = sizeOf(shape);
  if (values.length !== n)
    throw new Error(`constant of shape [${shape.join(',')}] needs ${n} values, got ${values.length}`);
  const data = allocData(dtype, n);
  data.set(values);
  return { dtype, shape: [...shape], data };
}

/** A scalar or 1-D int64 constant. */
export function intConst(values: number[], scalar = false): ConstTensor {
  return makeConst('int64', scalar ? [] : [values.length], values);
}

/** `x.transpose(perm)`: output dim k is input dim perm[k]. */
export function transposeConst(t: ConstTensor, perm: readonly number[]): ConstTensor {
  const rank = t.shape.length;
  if (perm.length !== rank) throw new Error(`transpose: perm [${perm.join(',')}] does not fit rank ${rank}`);
  const outShape = perm.map((p) => t.shape[p]);
  if (perm.every((p, i) => p === i)) return { dtype: t.dtype, shape: outShape, data: t.data.slice() };
  const inStrides = stridesOf(t.shape);
  const src = perm.map((p) => inStrides[p]); // input stride per output dim
  const out = allocData(t.dtype, t.data.length);
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = t.data[off];
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]++;
      off += src[k];
      if (idx[k] < outShape[k]) break;
      off -= src[k] * outShape[k];
      idx[k] = 0;
    }
  }
  return { dtype: t.dtype, shape: outShape, data: out };
}

/** Numpy-style broadcast of two shapes; throws when incompatible. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1)
      throw new Error(`cannot broadcast [${a.join(',')}] with [${b.join(',')}]`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Materialises `t` broadcast to `shape` (which must be a valid broadcast target). */
export function broadcastTo(t: ConstTensor, shape: readonly number[]): ConstTensor {
  const rank = shape.length;
  const inShape = [...new Array<number>(rank - t.shape.length).fill(1), ...t.shape];
  const inStrides = stridesOf(inShape).map((s, i) => (inShape[i] === 1 ? 0 : s));
  const n = sizeOf(shape);
  const out = allocData(t.dtype, n);
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let o = 0; o < n; o++) {
    out[o] = t.data[off];
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]++;
      off += inStrides[k];
      if (idx[k] < shape[k]) break;
      off -= inStrides[k] * shape[k];
      idx[k] = 0;
    }
  }
  return { dtype: t.dtype, shape: [...shape], data: out };
}

/** Elementwise binary op with broadcasting. */
export function binaryConst(
  a: ConstTensor,
  b: ConstTensor,
  fn: (x: number, y: number) => number,
  outDtype: ConstDtype = a.dtype,
): ConstTensor {
  const shape = broadcastShapes(a.shape, b.shape);
  const aa = sizeOf(a.shape) === sizeOf(shape) ? a : broadcastTo(a, shape);
  const bb = sizeOf(b.shape) === sizeOf(shape) ? b : broadcastTo(b, shape);
  const out = allocData(outDtype, sizeOf(shape));
  for (let i = 0; i < out.length; i++) out[i] = fn(aa.data[i], bb.data[i]);
  return { dtype: outDtype, shape, data: out };
}

/** Elementwise unary op. */
export function unaryConst(
  t: ConstTensor,
  fn: (x: number) => number,
  outDtype: ConstDtype = t.dtype,
): ConstTensor {
  const out = allocData(outDtype, t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = fn(t.data[i]);
  return { dtype: outDtype, shape: [...t.shape], data: out };
}

/** Normalises a possibly negative axis. */
export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** ONNX Gather along `axis` with an index tensor (negative indices allowed). */
export function gatherConst(t: ConstTensor, indices: ConstTensor, axis: number): ConstTensor {
  const ax = normAxis(axis, t.shape.length);
  const outer = sizeOf(t.shape.slice(0, ax));
  const inner = sizeOf(t.shape.slice(ax + 1));
  const dim = t.shape[ax];
  const idx = Array.from(indices.data, (i) => (i < 0 ? i + dim : i));
  const outShape = [...t.shape.slice(0, ax), ...indices.shape, ...t.shape.slice(ax + 1)];
  const out = allocData(t.dtype, sizeOf(outShape));
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (const i of idx) {
      if (!(i >= 0 && i < dim)) throw new Error(`gather index ${i} is out of range for dimension ${dim}`);
      const base = (a * dim + i) * inner;
      for (let k = 0; k < inner; k++) out[o++] = t.data[base + k];
    }
  }
  return { dtype: t.dtype, shape: outShape, data: out };
}

/** Concatenation along an axis. */
export function concatConst(ts: ConstTensor[], axis: number): ConstTensor {
  const rank = ts[0].shape.length;
  const ax = normAxis(axis, rank);
  const outer = sizeOf(ts[0].shape.slice(0, ax));
  const outShape = [...ts[0].shape];
  outShape[ax] = ts.reduce((n, t) => n + t.shape[ax], 0);
  const dtype = ts[0].dtype;
  const out = allocData(dtype, sizeOf(outShape));
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (const t of ts) {
      const chunk = sizeOf(t.shape.slice(ax));
      for (let k = 0; k < chunk; k++) out[o++] = t.data[a * chunk + k];
    }
  }
  return { dtype, shape: outShape, data: out };
}

/**
 * ONNX Slice's bounds on one axis of known size `dim`: a negative start or end counts from the end, then both
 * clamp to [0, dim] for a positive step, or to [-1, dim - 1] for a negative one (end -1: past the first
 * element). Returns the resolved start and end and how many elements the slice takes.
 */
export function sliceBounds(
  start: number,
  end: number,
  step: number,
  dim: number,
): { start: number; end: number; count: number } {
  const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);
  const s = start < 0 ? start + dim : start;
  const e = end < 0 ? end + dim : end;
  if (step > 0) {
    const [s1, e1] = [clamp(s, 0, dim), clamp(e, 0, dim)];
    return { start: s1, end: e1, count: Math.max(0, Math.ceil((e1 - s1) / step)) };
  }
  const [s1, e1] = [clamp(s, -1, dim - 1), clamp(e, -1, dim - 1)];
  return { start: s1, end: e1, count: Math.max(0, Math.ceil((s1 - e1) / -step)) };
}

/** ONNX Slice on constants (starts/ends/axes/steps already read). */
export function sliceConst(
  t: ConstTensor,
  starts: number[],
  ends: number[],
  axes: number[],
  steps: number[],
): ConstTensor {
  const rank = t.shape.length;
  const begin = new Array<number>(rank).fill(0);
  const step = new Array<number>(rank).fill(1);
  const count = [...t.shape];
  axes.forEach((axis, j) => {
    const ax = normAxis(axis, rank);
    const dim = t.shape[ax];
    const st = steps[j] ?? 1;
    const r = sliceBounds(starts[j], ends[j], st, dim);
    count[ax] = r.count;
    begin[ax] = r.start;
    step[ax] = st;
  });
  const inStrides = stridesOf(t.shape);
  const out = allocData(t.dtype, sizeOf(count));
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let off = 0;
    for (let k = 0; k < rank; k++) off += (begin[k] + idx[k] * step[k]) * inStrides[k];
    out[o] = t.data[off];
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k] < count[k]) break;
      idx[k] = 0;
    }
  }
  return { dtype: t.dtype, shape: count, data: out };
}

/** Reads a constant as plain numbers (e.g. an int64 axes or shape vector). */
export function constValues(t: ConstTensor): number[] {
  return Array.from(t.data);
}

/** Converts the element type, truncating toward zero for float→int like ONNX Cast. */
export function castConst(t: ConstTensor, to: ConstDtype): ConstTensor {
  if (to === t.dtype) return t;
  if (to === 'float32') return unaryConst(t, (x) => x, 'float32');
  if (to === 'bool') return unaryConst(t, (x) => (Number.isNaN(x) ? NaN : x !== 0 ? 1 : 0), 'bool');
  return unaryConst(t, (x) => Math.trunc(x), 'int64');
}
