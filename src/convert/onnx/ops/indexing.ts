/**
 * Slicing and indexing on run-time tensors: Split, Slice, Gather, ScatterElements (tfjs-converter's slice_join
 * family).
 *
 * Each op keeps the input's layout tag: an ONNX axis is mapped to its TF axis through `perm`, so a split or slice
 * along the channels of an NHWC-tagged feature map works on TF axis 3 with no transpose.
 */
import { constValues, normAxis, sliceBounds } from '../../tensor';
import { ConversionError, ConvertContext, NodeInfo, RtValue, Value } from '../context';
import { getAttr } from '../onnx-proto';
import { stridedSliceAttrs, tfAttr } from '../tf-graph';
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
  // One part is the whole tensor (ONNX requires the sizes to add up): torchvision splits per-image lists so.
  if (count === 1) return [v];
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
  if (n.opset >= 10 && [1, 2].some((i) => inputs[i]?.kind === 'rt')) return [sliceDynamic(n, inputs, v, ctx)];
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
    const r = sliceBounds(starts[j], ends[j], st, dim);
    shape[a] = r.count;
    // A negative step's end -1 is "past the first element"; TF would read it as the last one.
    if (st < 0 && r.end < 0) endMask[a] = true;
    begin[a] = r.start;
    end[a] = r.end;
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
  // TF.js's wasm StridedSlice reads an int32 tensor's bytes as float32 when a stride is negative; int vectors
  // (torchvision reverses its pad list this way) go through float32, exact for sizes below 2^24.
  const viaFloat = v.dtype === 'int32' && stride.some((x) => x < 0);
  const src = viaFloat ? g.op(`${n.name}/as_float`, 'Cast', [v.ref], { DstT: tfAttr.T('DT_FLOAT') }) : v.ref;
  const sliced = ctx.emit(
    viaFloat ? `${n.name}/float` : n.name,
    'StridedSlice',
    [src, b, e, s],
    stridedSliceAttrs(T(), { begin: mask(beginMask), end: mask(endMask) }),
    { shape, perm: v.perm, dtype: viaFloat ? 'float32' : v.dtype },
  );
  if (!viaFloat) return [sliced];
  return [
    ctx.emit(
      n.name,
      'Cast',
      [sliced.ref],
      { DstT: tfAttr.T('DT_INT32') },
      { shape, perm: v.perm, dtype: 'int32' },
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
  const mayBeEmpty = v.shape.some((d) => d < 0) || indexShape.some((d) => d < 0);
  const gathered = ctx.emit(
    mayBeEmpty ? `${n.name}/gather` : n.name,
    'GatherV2',
    [v.ref, indexRef, ax],
    { Tparams: T(), Tindices: tfAttr.T('DT_INT32'), Taxis: tfAttr.T('DT_INT32'), batch_dims: tfAttr.i(0) },
    { shape, perm, dtype: v.dtype },
  );
  if (!mayBeEmpty) return [gathered];
  // TF.js's wasm GatherV2 returns its internal rank-4 view ([1, 0, 1, 1]) when the data is empty: reshape to
  // shape(x)[:axis] ++ shape(indices) ++ shape(x)[axis+1:], computed in the graph.
  const g = ctx.graph;
  const xs = g.op(`${n.name}/x_shape`, 'Shape', [v.ref], { T: T(), out_type: tfAttr.T('DT_INT32') });
  const is = g.op(`${n.name}/indices_shape`, 'Shape', [indexRef], {
    T: tfAttr.T('DT_INT32'),
    out_type: tfAttr.T('DT_INT32'),
  });
  const part = (name: string, begin: number, end: number): string =>
    g.sliceInt32Vector(`${n.name}/${name}`, xs, begin, end);
  const target = g.op(
    `${n.name}/out_shape`,
    'ConcatV2',
    [
      part('lead', 0, tfAxis),
      is,
      part('tail', tfAxis + 1, rank),
      g.constInt(`${n.name}/out_shape_axis`, [], [0]),
    ],
    { T: tfAttr.T('DT_INT32'), N: tfAttr.i(3), Tidx: tfAttr.T('DT_INT32') },
  );
  return [
    ctx.emit(
      n.name,
      'Reshape',
      [gathered.ref, target],
      { T: T(), Tshape: tfAttr.T('DT_INT32') },
      { shape, perm, dtype: v.dtype },
    ),
  ];
};

function castToInt(ctx: Parameters<OpHandler>[2], base: string, v: RtValue): string {
  return ctx.graph.op(base, 'Cast', [v.ref], { DstT: tfAttr.T('DT_INT32') });
}

/**
 * Slice with starts or ends computed at run time (torchvision slices to sizes that follow the image). Axes and
 * steps must be constant and steps positive; TF's python-style clamping then matches ONNX's. The begin/end
 * vectors are assembled in TF axis order in the graph, with the masks covering the axes not sliced.
 */
function sliceDynamic(n: NodeInfo, inputs: (Value | null)[], v: RtValue, ctx: ConvertContext): RtValue {
  const rank = v.shape.length;
  const a = optionalConst(n, inputs, 3, 'axes');
  const st = optionalConst(n, inputs, 4, 'steps');
  const g = ctx.graph;
  const vec = (i: number, what: string): { ref: string; len: number } => {
    const x = inputs[i];
    if (!x) throw new ConversionError(`Slice node "${n.name}": the ${what} input is missing`);
    if (x.kind === 'const') {
      const vals = constValues(x.t).map(clampInt32);
      return { ref: g.constInt(`${n.name}/${what}`, [vals.length], vals), len: vals.length };
    }
    const p = ctx.withPerm(x, [0], `${n.name}/${what}`);
    const ref =
      p.dtype === 'int32'
        ? p.ref
        : g.op(`${n.name}/${what}_int`, 'Cast', [p.ref], { DstT: tfAttr.T('DT_INT32') });
    if (p.shape[0] < 0) throw new ConversionError(`Slice node "${n.name}": the ${what} length must be known`);
    return { ref, len: p.shape[0] };
  };
  const starts = vec(1, 'starts');
  const ends = vec(2, 'ends');
  const axes = (a ? constValues(a) : Array.from({ length: starts.len }, (_, i) => i)).map((x) =>
    normAxis(x, rank),
  );
  const steps = st ? constValues(st) : axes.map(() => 1);
  if (steps.some((s) => s <= 0)) {
    throw new ConversionError(
      `Slice node "${n.name}": negative steps with run-time bounds are not supported`,
    );
  }
  // For TF axis k: the index of its bound in [bounds..., 0], or the trailing 0 for an axis not sliced.
  const pick = v.perm.map((p) => {
    const j = axes.indexOf(p);
    return j >= 0 ? j : axes.length;
  });
  const assemble = (b: { ref: string; len: number }, what: string): string => {
    const withZero = g.op(
      `${n.name}/${what}_padded`,
      'ConcatV2',
      [b.ref, g.constInt(`${n.name}/${what}_zero`, [1], [0]), g.constInt(`${n.name}/${what}_axis`, [], [0])],
      {
        T: tfAttr.T('DT_INT32'),
        N: tfAttr.i(2),
        Tidx: tfAttr.T('DT_INT32'),
      },
    );
    return g.op(
      `${n.name}/${what}_tf`,
      'GatherV2',
      [
        withZero,
        g.constInt(`${n.name}/${what}_pick`, [rank], pick),
        g.constInt(`${n.name}/${what}_gaxis`, [], [0]),
      ],
      {
        Tparams: tfAttr.T('DT_INT32'),
        Tindices: tfAttr.T('DT_INT32'),
        Taxis: tfAttr.T('DT_INT32'),
        batch_dims: tfAttr.i(0),
      },
    );
  };
  const mask = v.perm.reduce((acc, p, k) => acc | (axes.includes(p) ? 0 : 1 << k), 0);
  const strides = v.perm.map((p) => {
    const j = axes.indexOf(p);
    return j >= 0 ? steps[j] : 1;
  });
  const shape = v.shape.map((d, i) => (axes.includes(i) ? -1 : d));
  return ctx.emit(
    n.name,
    'StridedSlice',
    [
      v.ref,
      assemble(starts, 'begin'),
      assemble(ends, 'end'),
      g.constInt(`${n.name}/strides`, [rank], strides),
    ],
    stridedSliceAttrs(T(), { begin: mask, end: mask }),
    { shape, perm: v.perm, dtype: v.dtype },
  );
}

/**
 * ONNX ScatterElements (reduction none) → TensorScatterUpdate with full coordinates: element e of `indices` at
 * position (i0, …, ir−1) writes to (i0, …, indices[e], …, ir−1), the index replacing position `axis`. The other
 * coordinates are iotas over indices' own (run-time) shape. Indices are assumed in range and non-negative, as
 * torchvision's MultiScaleRoIAlign writes them.
 */
export const scatterElements: OpHandler = (n, inputs, ctx) => {
  if (getAttr.string(n.attrs, 'reduction', 'none') !== 'none') {
    throw new ConversionError(`ScatterElements node "${n.name}": only reduction "none" is supported`);
  }
  const data0 = runtime(n, inputs, 0, ctx);
  const rank = data0.shape.length;
  const axis = normAxis(getAttr.int(n.attrs, 'axis', 0), rank);
  const g = ctx.graph;
  const b = `${n.name}/`;
  const data = ctx.withPerm(data0, identityOrder(rank), `${b}data`);
  const ind0 = ctx.withPerm(runtime(n, inputs, 1, ctx), identityOrder(rank), `${b}indices`);
  const upd = ctx.withPerm(runtime(n, inputs, 2, ctx), identityOrder(rank), `${b}updates`);
  const ind =
    ind0.dtype === 'int32'
      ? ind0.ref
      : g.op(`${b}indices_int`, 'Cast', [ind0.ref], { DstT: tfAttr.T('DT_INT32') });
  const shape = g.op(`${b}shape`, 'Shape', [ind], {
    T: tfAttr.T('DT_INT32'),
    out_type: tfAttr.T('DT_INT32'),
  });
  const zeros = g.op(`${b}zeros`, 'ZerosLike', [ind], { T: tfAttr.T('DT_INT32') });
  const columns: string[] = [];
  for (let k = 0; k < rank; k++) {
    let col: string;
    if (k === axis) {
      col = ind;
    } else {
      const size = g.sliceInt32Vector(`${b}size${k}`, shape, k, k + 1, { shrink: true });
      const iota = g.op(
        `${b}iota${k}`,
        'Range',
        [g.constInt(`${b}zero${k}`, [], [0]), size, g.constInt(`${b}one${k}`, [], [1])],
        {
          Tidx: tfAttr.T('DT_INT32'),
        },
      );
      const along = g.op(
        `${b}iota${k}_shaped`,
        'Reshape',
        [
          iota,
          g.constInt(
            `${b}iota${k}_shape`,
            [rank],
            Array.from({ length: rank }, (_, i) => (i === k ? -1 : 1)),
          ),
        ],
        {
          T: tfAttr.T('DT_INT32'),
          Tshape: tfAttr.T('DT_INT32'),
        },
      );
      col = g.op(`${b}coord${k}`, 'AddV2', [along, zeros], { T: tfAttr.T('DT_INT32') });
    }
    columns.push(
      g.op(`${b}coord${k}_last`, 'ExpandDims', [col, g.constInt(`${b}coord${k}_dim`, [], [-1])], {
        T: tfAttr.T('DT_INT32'),
        Tdim: tfAttr.T('DT_INT32'),
      }),
    );
  }
  const stacked = g.op(`${b}coords_nd`, 'ConcatV2', [...columns, g.constInt(`${b}coords_axis`, [], [-1])], {
    T: tfAttr.T('DT_INT32'),
    N: tfAttr.i(rank),
    Tidx: tfAttr.T('DT_INT32'),
  });
  const coords = g.op(`${b}coords`, 'Reshape', [stacked, g.constInt(`${b}coords_shape`, [2], [-1, rank])], {
    T: tfAttr.T('DT_INT32'),
    Tshape: tfAttr.T('DT_INT32'),
  });
  const flat = g.op(`${b}updates_flat`, 'Reshape', [upd.ref, g.constInt(`${b}updates_shape`, [1], [-1])], {
    T: T(),
    Tshape: tfAttr.T('DT_INT32'),
  });
  return [
    ctx.emit(
      n.name,
      'TensorScatterUpdate',
      [data.ref, coords, flat],
      { T: T(), Tindices: tfAttr.T('DT_INT32') },
      { shape: data.shape, perm: identityOrder(rank), dtype: data.dtype },
    ),
  ];
};

const identityOrder = (rank: number): number[] => Array.from({ length: rank }, (_, i) => i);
