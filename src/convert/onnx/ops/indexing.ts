/**
 * Slicing and indexing on run-time tensors: Split, Slice, Gather, ScatterElements (tfjs-converter's slice_join
 * family).
 *
 * Each op keeps the input's layout tag: an ONNX axis is mapped to its TF axis through `perm`, so a split or slice
 * along the channels of an NHWC-tagged feature map works on TF axis 3 with no transpose.
 */
import type { TfDataType } from '../../../models/graph-model-writer';
import { constValues, normAxis, sliceBounds } from '../../tensor';
import { ConversionError, ConvertContext, NodeInfo, RtValue, Value } from '../context';
import { getAttr } from '../onnx-proto';
import { stridedSliceAttrs, tfAttr } from '../tf-graph';
import { constant, OpHandler, optionalConst, runtime, T, tfType } from './common';

const INT32_MAX = 2147483647;
const INT32 = tfAttr.T('DT_INT32');
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
 * ONNX ScatterElements (reduction none) → TensorScatterUpdate, or a gather (below).
 *
 * Row scatter, when provable at conversion (see `rowScatterIndices`): on axis 0 with indices that are the same
 * along every row (torchvision's MultiScaleRoIAlign: `result.scatter(0, idx.view(-1, 1, 1, 1).expand(K, C, 7, 7),
 * level_result)`), whole rows are written with K `[K, 1]` row indices instead of a coordinate per element (12.5 M
 * for 1000 RoIs of 256×7×7: three broadcast Adds, an Expand and a Concat that took 60% of a 4K Faster R-CNN run
 * on wasm). The rows keep the updates' layout (RoiAlign's NHWC), so no transpose is needed and a Flatten → Gemm
 * after it permutes the weight rows instead; a chain of row scatters onto a ConstantOfShape becomes one gather
 * (`rowScatter`). The kernels check that `updates` is `[K, …data.shape[1:]]`; ONNX would also allow updates
 * narrower than data along the other axes, which torchvision never writes: such a graph fails at run time with
 * TF.js' shape error rather than computing a wrong result.
 *
 * Otherwise, full coordinates: element e of `indices` at position (i0, …, ir−1) writes to (i0, …, indices[e], …,
 * ir−1), the index replacing position `axis`. The other coordinates are iotas over indices' own (run-time) shape.
 *
 * Both paths assume indices in range and non-negative, as torchvision writes them. Duplicate indices: ONNX says
 * that with reduction "none" indices should not repeat (the result is then unspecified); TF.js' kernels apply the
 * updates in order, so the last write wins, like onnxruntime's CPU kernel. torchvision's indices are
 * `torch.where(levels == level)[0]`, distinct by construction.
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
  const ind0 = ctx.withPerm(runtime(n, inputs, 1, ctx), identityOrder(rank), `${b}indices`);
  const upd0 = ctx.plain(runtime(n, inputs, 2, ctx), `${b}updates`);
  // Whole rows are laid out like the updates (RoiAlign writes NHWC) when that keeps the rows on TF axis 0.
  const rowPerm = upd0.perm[0] === 0 ? upd0.perm : identityOrder(rank);
  if (axis === 0) {
    const updRows = ctx.withPerm(upd0, rowPerm, `${b}updates`);
    const rows = rowScatterIndices(ind0, updRows, rank, ctx, `${b}rows`);
    if (rows) return [rowScatter(n, data0, rows, updRows, ctx)];
  }
  const data = ctx.withPerm(data0, identityOrder(rank), `${b}data`);
  const upd = ctx.withPerm(upd0, identityOrder(rank), `${b}updates`);
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

/**
 * Row scatters onto a Fill, as the parts written so far (the data a row scatter writes into is recorded under its
 * TF tensor, so the next scatter of a chain extends it).
 */
interface RowAssembly {
  /** `[1, …]`: one row of the fill value, in `perm`. */
  fillRow: string;
  /** `[1]` int32: how many rows the data has. */
  rowCount: string;
  /** Each scatter's `[K, 1]` row indices and `[K, …]` updates, in order. */
  parts: { rows: string; updates: string }[];
  perm: number[];
}

const assemblies = new WeakMap<ConvertContext['graph'], Map<string, RowAssembly>>();

/**
 * `TensorScatterUpdate(data, rows, updates)` along axis 0, laid out like `updates` (whose TF axis 0 is the rows).
 *
 * When `data` is a Fill (ONNX ConstantOfShape) or the result of such a scatter, the chain becomes one gather:
 * `Gather(Concat([fill row, updates₁, …, updatesⱼ]), position)`, where `position[r]` is 1 + the index of the last
 * update row written to row r among the concatenated ones, or 0 (the fill row) when none is. torchvision's
 * MultiScaleRoIAlign writes each level's RoIs into a zero tensor this way; as scatters, each level copied the
 * whole `[1000, 256, 7, 7]` result (50 MB), even a level with no RoI, and the zeros were written first. The
 * gather writes it once. Later writes win as in sequential scatters: `position` is itself built by one scatter of
 * the concatenated row indices, which TF applies in order.
 */
function rowScatter(n: NodeInfo, data0: RtValue, rows: string, upd: RtValue, ctx: ConvertContext): RtValue {
  const g = ctx.graph;
  const b = `${n.name}/`;
  const shape = [data0.shape[0], ...data0.shape.slice(1).map((d, i) => (d >= 0 ? d : upd.shape[i + 1]))];
  const like = { shape, perm: upd.perm, dtype: data0.dtype };
  const known = assemblies.get(g)?.get(data0.ref) ?? fillAssembly(data0, upd.perm, ctx, `${b}fill`);
  if (!known || known.perm.some((p, i) => p !== upd.perm[i])) {
    const data = ctx.withPerm(data0, upd.perm, `${b}data`);
    return ctx.emit(
      n.name,
      'TensorScatterUpdate',
      [data.ref, rows, upd.ref],
      { T: T(), Tindices: INT32 },
      like,
    );
  }
  const a: RowAssembly = { ...known, parts: [...known.parts, { rows, updates: upd.ref }] };
  const concat = (name: string, refs: string[], type: TfDataType): string =>
    refs.length === 1
      ? refs[0]
      : g.op(`${b}${name}`, 'ConcatV2', [...refs, g.constInt(`${b}${name}_axis`, [], [0])], {
          T: tfAttr.T(type),
          N: tfAttr.i(refs.length),
          Tidx: INT32,
        });
  // [ΣK, 1] every row written, in order; position[r] = 1 + (last k with allRows[k] = r), else 0.
  const allRows = concat(
    'all_rows',
    a.parts.map((p) => p.rows),
    'DT_INT32',
  );
  const written = g.op(`${b}written`, 'Shape', [allRows], { T: INT32, out_type: INT32 });
  const count = g.sliceInt32Vector(`${b}written_count`, written, 0, 1, { shrink: true });
  const one = g.constInt(`${b}one`, [], [1]);
  const upTo = g.op(`${b}written_end`, 'AddV2', [count, one], { T: INT32 });
  const rowOfUpdate = g.op(`${b}update_positions`, 'Range', [one, upTo, one], { Tidx: INT32 });
  const none = g.op(`${b}no_update`, 'Fill', [a.rowCount, g.constInt(`${b}zero`, [], [0])], {
    T: INT32,
    index_type: INT32,
  });
  const position = g.op(`${b}position`, 'TensorScatterUpdate', [none, allRows, rowOfUpdate], {
    T: INT32,
    Tindices: INT32,
  });
  const dtype = tfType(data0.dtype);
  const source = concat('sources', [a.fillRow, ...a.parts.map((p) => p.updates)], dtype);
  const out = ctx.emit(
    n.name,
    'GatherV2',
    [source, position, g.constInt(`${b}gather_axis`, [], [0])],
    { Tparams: tfAttr.T(dtype), Tindices: INT32, Taxis: INT32, batch_dims: tfAttr.i(0) },
    like,
  );
  if (!assemblies.has(g)) assemblies.set(g, new Map());
  assemblies.get(g)!.set(out.ref, a);
  return out;
}

/** The start of an assembly when `data` is a TF Fill (ONNX ConstantOfShape at run time); else null. */
function fillAssembly(data: RtValue, perm: number[], ctx: ConvertContext, base: string): RowAssembly | null {
  if (!isFill(data.ref, ctx) || data.perm.some((p, i) => p !== i)) return null;
  const g = ctx.graph;
  const [dims, value] = ctx.graph.node(data.ref).inputs;
  const rowDims = g.op(
    `${base}/row_dims`,
    'GatherV2',
    [
      dims,
      g.constInt(`${base}/row_order`, [perm.length - 1], perm.slice(1)),
      g.constInt(`${base}/axis`, [], [0]),
    ],
    { Tparams: INT32, Tindices: INT32, Taxis: INT32, batch_dims: tfAttr.i(0) },
  );
  const rowShape = g.op(
    `${base}/row_shape`,
    'ConcatV2',
    [g.constInt(`${base}/one_row`, [1], [1]), rowDims, g.constInt(`${base}/concat_axis`, [], [0])],
    { T: INT32, N: tfAttr.i(2), Tidx: INT32 },
  );
  return {
    fillRow: g.op(`${base}/row`, 'Fill', [rowShape, value], {
      T: tfAttr.T(tfType(data.dtype)),
      index_type: INT32,
    }),
    rowCount: g.sliceInt32Vector(`${base}/row_count`, dims, 0, 1),
    parts: [],
    perm,
  };
}

/**
 * The row of each index row, `[K, 1]` int32, when `indices` (rank `rank`, ONNX order) is provably the same along
 * every axis but 0; else null and the caller keeps the general path.
 *
 * Proof by construction, on the TF graph already emitted: `indices` must be `Mul(x, Fill(dims, c))` (what ONNX
 * Expand becomes, see `shape.ts`; also ONNX Mul by a ConstantOfShape), where `x` is a value of the same rank
 * whose every dim but the first is 1 at conversion time. A Fill is constant, and x broadcast to indices' shape
 * repeats its one value per row, so `indices[k, …] = x[k or 0, 0, …] · c`. Only the K values are computed:
 * `Reshape(x, [-1, 1]) · Fill([K, 1], c)` with K read from `updates` (ONNX requires indices and updates to have
 * the same shape), which also covers an x of one row broadcast to K. The full-size Expand is then dead and
 * dropped when the graph is finished (unless something else reads it).
 */
function rowScatterIndices(
  indices: RtValue,
  updates: RtValue,
  rank: number,
  ctx: ConvertContext,
  base: string,
): string | null {
  if (indices.dtype !== 'int32' || indices.shape.length !== rank || rank < 2) return null;
  if (/:\d+$/.test(indices.ref)) return null;
  let mul;
  try {
    mul = ctx.graph.node(indices.ref);
  } catch {
    return null; // a Const or a placeholder: not the pattern
  }
  if (mul.op !== 'Mul' || mul.inputs.length !== 2) return null;
  const fillAt = mul.inputs.findIndex((r) => isFill(r, ctx));
  if (fillAt < 0) return null;
  const fill = ctx.graph.node(mul.inputs[fillAt]);
  const xRef = mul.inputs[1 - fillAt];
  const x = findRt(ctx, xRef);
  if (!x || x.flat || x.dtype !== 'int32' || x.shape.length !== rank) return null;
  if (!x.shape.every((d, i) => i === 0 || d === 1)) return null;
  // With every other dim 1, x's TF layout is [rows, 1, …] whatever its perm, so a reshape reads the rows in order.
  const g = ctx.graph;
  const column = g.op(`${base}/x`, 'Reshape', [xRef, g.constInt(`${base}/x_shape`, [2], [-1, 1])], {
    T: tfAttr.T('DT_INT32'),
    Tshape: tfAttr.T('DT_INT32'),
  });
  const updShape = g.op(`${base}/updates_shape`, 'Shape', [updates.ref], {
    T: T(),
    out_type: tfAttr.T('DT_INT32'),
  });
  const k = g.sliceInt32Vector(`${base}/k`, updShape, 0, 1);
  const dims = g.op(
    `${base}/dims`,
    'ConcatV2',
    [k, g.constInt(`${base}/one`, [1], [1]), g.constInt(`${base}/axis`, [], [0])],
    {
      T: tfAttr.T('DT_INT32'),
      N: tfAttr.i(2),
      Tidx: tfAttr.T('DT_INT32'),
    },
  );
  const c = g.op(`${base}/fill`, 'Fill', [dims, fill.inputs[1]], {
    T: tfAttr.T('DT_INT32'),
    index_type: tfAttr.T('DT_INT32'),
  });
  // [K, 1]: the row each index row writes.
  return g.op(base, 'Mul', [column, c], { T: tfAttr.T('DT_INT32') });
}

/** True when `ref` is output 0 of a TF Fill node (a tensor with one value everywhere). */
function isFill(ref: string, ctx: ConvertContext): boolean {
  if (/:\d+$/.test(ref) || ref.startsWith('^')) return false;
  try {
    const node = ctx.graph.node(ref);
    return node.op === 'Fill' && node.inputs.length === 2;
  } catch {
    return false;
  }
}

/** The run-time value in scope whose TF tensor is `ref`, if any (its conversion-time shape and layout). */
function findRt(ctx: ConvertContext, ref: string): RtValue | null {
  for (const v of ctx.scope.values()) {
    if (v.kind === 'rt' && v.ref === ref) return v;
  }
  return null;
}
