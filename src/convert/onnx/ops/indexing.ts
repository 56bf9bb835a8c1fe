/**
 * Slicing and indexing on run-time tensors: Split, Slice, Gather (tfjs-converter's slice_join family).
 *
 * Each op keeps the input's layout tag: an ONNX axis is mapped to its TF axis through `perm`, so a split or slice
 * along the channels of an NHWC-tagged feature map works on TF axis 3 with no transpose.
 */
import { constValues, normAxis } from '../../tensor';
import { ConversionError, RtValue } from '../context';
import { getAttr } from '../onnx-proto';
import { tfAttr } from '../tf-graph';
import { constant, OpHandler, optionalConst, runtime, T } from './common';

const INT32_MAX = 2147483647;
/** Bounds at or beyond this mean "to the end" (exporters write INT64_MAX or INT32_MAX). */
const INT_BIG = INT32_MAX;
const clampInt32 = (v: number): number => Math.max(-INT32_MAX, Math.min(INT32_MAX, v));

/** ONNX Split (opset 2–18: sizes as attribute, as input from 13, or `num_outputs` from 18). */
export const split: OpHandler = (n, inputs, ctx) => {
  const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  const rank = v.shape.length;
  const axis = normAxis(getAttr.int(n.attrs, 'axis', 0), rank);
  const dim = v.shape[axis];
  const count = n.outputNames.length;
  const given = n.opset >= 13 ? optionalConst(n, inputs, 1, 'split') : null;
  let sizes = given ? constValues(given) : getAttr.ints(n.attrs, 'split');
  if (!sizes) {
    if (dim < 0) {
      throw new ConversionError(
        `Split node "${n.name}": an equal split needs axis ${axis} to be known at conversion time`,
      );
    }
    // Equal parts, the last one smaller when the dim does not divide (opset 18's num_outputs rule).
    const part = Math.ceil(dim / count);
    sizes = Array.from({ length: count }, (_, i) => Math.max(0, Math.min(part, dim - i * part)));
  }
  if (sizes.length !== count) {
    throw new ConversionError(`Split node "${n.name}": ${sizes.length} split sizes for ${count} outputs`);
  }
  const tfAxis = v.perm.indexOf(axis);
  const sz = ctx.graph.constInt(`${n.name}/size_splits`, [count], sizes);
  const ax = ctx.graph.constInt(`${n.name}/axis`, [], [tfAxis]);
  const ref = ctx.graph.op(n.name, 'SplitV', [v.ref, sz, ax], {
    T: T(),
    Tlen: tfAttr.T('DT_INT32'),
    num_split: tfAttr.i(count),
  });
  return sizes.map((s, k): RtValue => {
    const shape = [...v.shape];
    shape[axis] = s;
    return { kind: 'rt', ref: k === 0 ? ref : `${ref}:${k}`, shape, perm: v.perm, dtype: v.dtype };
  });
};

/** ONNX Slice (starts/ends/axes/steps constant) as a TF StridedSlice in the input's layout. */
export const slice: OpHandler = (n, inputs, ctx) => {
  const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  const rank = v.shape.length;
  let starts: number[];
  let ends: number[];
  let axes: number[];
  let steps: number[];
  if (n.opset >= 10) {
    starts = constValues(constant(n, inputs, 1, 'starts'));
    ends = constValues(constant(n, inputs, 2, 'ends'));
    const a = optionalConst(n, inputs, 3, 'axes');
    const s = optionalConst(n, inputs, 4, 'steps');
    axes = a ? constValues(a) : starts.map((_, i) => i);
    steps = s ? constValues(s) : starts.map(() => 1);
  } else {
    starts = getAttr.ints(n.attrs, 'starts') ?? [];
    ends = getAttr.ints(n.attrs, 'ends') ?? [];
    axes = getAttr.ints(n.attrs, 'axes') ?? starts.map((_, i) => i);
    steps = starts.map(() => 1);
  }
  if ([...starts, ...ends].some((x) => Number.isNaN(x))) {
    throw new ConversionError(`Slice node "${n.name}": the bounds depend on the batch size`);
  }
  // Per ONNX axis: begin, end, stride, and whether begin/end mean "from the first" / "to the last".
  const begin = new Array<number>(rank).fill(0);
  const end = new Array<number>(rank).fill(0);
  const stride = new Array<number>(rank).fill(1);
  const beginMask = new Array<boolean>(rank).fill(true);
  const endMask = new Array<boolean>(rank).fill(true);
  const shape = [...v.shape];
  axes.forEach((a0, j) => {
    const a = normAxis(a0, rank);
    const st = steps[j];
    if (st === 0) throw new ConversionError(`Slice node "${n.name}": a step of 0`);
    const dim = v.shape[a];
    stride[a] = st;
    beginMask[a] = false;
    endMask[a] = false;
    if (dim < 0) {
      // Unknown size: TF's python-style clamping matches ONNX's for these bounds.
      begin[a] = clampInt32(starts[j]);
      end[a] = clampInt32(ends[j]);
      if (st > 0 && ends[j] >= INT_BIG) endMask[a] = true;
      if (st < 0 && ends[j] <= -INT_BIG) endMask[a] = true;
      shape[a] = -1;
      return;
    }
    const clamp = (x: number, lo: number, hi: number): number => Math.min(Math.max(x, lo), hi);
    let s = starts[j] < 0 ? starts[j] + dim : starts[j];
    let e = ends[j] < 0 ? ends[j] + dim : ends[j];
    if (st > 0) {
      s = clamp(s, 0, dim);
      e = clamp(e, 0, dim);
      shape[a] = Math.max(0, Math.ceil((e - s) / st));
    } else {
      s = clamp(s, -1, dim - 1);
      e = clamp(e, -1, dim - 1);
      shape[a] = Math.max(0, Math.ceil((s - e) / -st));
      // e = -1 is "past the first element"; TF would read it as the last one.
      if (e < 0) endMask[a] = true;
    }
    begin[a] = s;
    end[a] = e;
  });
  const tfAxes = v.perm;
  const mask = (m: boolean[]): number => tfAxes.reduce((acc, p, k) => acc | (m[p] ? 1 << k : 0), 0);
  const g = ctx.graph;
  const b = g.constInt(
    `${n.name}/begin`,
    [rank],
    tfAxes.map((p) => begin[p]),
  );
  const e = g.constInt(
    `${n.name}/end`,
    [rank],
    tfAxes.map((p) => end[p]),
  );
  const s = g.constInt(
    `${n.name}/strides`,
    [rank],
    tfAxes.map((p) => stride[p]),
  );
  return [
    ctx.emit(
      n.name,
      'StridedSlice',
      [v.ref, b, e, s],
      {
        T: T(),
        Index: tfAttr.T('DT_INT32'),
        begin_mask: tfAttr.i(mask(beginMask)),
        end_mask: tfAttr.i(mask(endMask)),
        ellipsis_mask: tfAttr.i(0),
        new_axis_mask: tfAttr.i(0),
        shrink_axis_mask: tfAttr.i(0),
      },
      { shape, perm: v.perm, dtype: v.dtype },
    ),
  ];
};

/** ONNX Gather on a run-time tensor: GatherV2 along the mapped axis; negative constant indices are normalised. */
export const gather: OpHandler = (n, inputs, ctx) => {
  const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  const rank = v.shape.length;
  const axis = normAxis(getAttr.int(n.attrs, 'axis', 0), rank);
  const dim = v.shape[axis];
  const idxIn = inputs[1];
  if (!idxIn) throw new ConversionError(`Gather node "${n.name}": the indices input is missing`);
  let indexRef: string;
  let indexShape: number[];
  if (idxIn.kind === 'const') {
    const idx = constValues(idxIn.t).map((i) => {
      if (i < 0 && dim < 0) {
        throw new ConversionError(
          `Gather node "${n.name}": negative index ${i} on axis ${axis}, whose size is unknown at conversion time`,
        );
      }
      const k = i < 0 ? i + dim : i;
      if (dim >= 0 && (k < 0 || k >= dim))
        throw new ConversionError(`Gather node "${n.name}": index ${i} is out of range for size ${dim}`);
      return k;
    });
    indexShape = idxIn.t.shape;
    indexRef = ctx.graph.constInt(`${n.name}/indices`, indexShape, idx);
  } else {
    const iv = idxIn;
    indexShape = iv.shape;
    const plain = ctx.withPerm(
      iv,
      iv.perm.map((_, i) => i),
      `${n.name}/indices`,
    );
    indexRef = plain.dtype === 'int32' ? plain.ref : castToInt(ctx, `${n.name}/indices_int`, plain);
  }
  const r = indexShape.length;
  const tfAxis = v.perm.indexOf(axis);
  const ax = ctx.graph.constInt(`${n.name}/axis`, [], [tfAxis]);
  const shape = [...v.shape.slice(0, axis), ...indexShape, ...v.shape.slice(axis + 1)];
  const moved = (p: number): number => (p < axis ? p : p + r - 1);
  const perm = [
    ...v.perm.slice(0, tfAxis).map(moved),
    ...Array.from({ length: r }, (_, i) => axis + i),
    ...v.perm.slice(tfAxis + 1).map(moved),
  ];
  return [
    ctx.emit(
      n.name,
      'GatherV2',
      [v.ref, indexRef, ax],
      { Tparams: T(), Tindices: tfAttr.T('DT_INT32'), Taxis: tfAttr.T('DT_INT32'), batch_dims: tfAttr.i(0) },
      { shape, perm, dtype: v.dtype },
    ),
  ];
};

function castToInt(ctx: Parameters<OpHandler>[2], base: string, v: RtValue): string {
  return ctx.graph.op(base, 'Cast', [v.ref], { DstT: tfAttr.T('DT_INT32') });
}
