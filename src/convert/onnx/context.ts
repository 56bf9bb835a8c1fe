/**
 * Values and layout bookkeeping shared by the op handlers.
 *
 * Layout strategy: ONNX models from PyTorch compute in NCHW; TF.js kernels want NHWC. Instead of wrapping ops in
 * transposes, every runtime value carries `perm`, the axis permutation that turns the ONNX tensor into the TF
 * tensor (`tf = onnx.transpose(perm)`, so TF dim k is ONNX dim perm[k]). Feature maps live as perm [0,2,3,1]
 * (NHWC) from the input placeholder on. Ops remap their axis attributes through perm; constants (weights,
 * per-channel scales) are re-laid out at conversion time; an ONNX Transpose only changes the tag and emits nothing.
 * A real TF Transpose is emitted only where an op needs ONNX memory order (a Reshape that mixes channel and spatial
 * dims, for example), and the converter counts those.
 *
 * Flatten/Reshape of an NHWC feature map into [N, C·H·W] keeps NHWC memory order and records `flat`: the feature
 * index order differs from ONNX's, and a following Gemm/MatMul permutes its weight rows to match (no transpose).
 */
import { AttrValue } from '../../models/graph-model-writer';
import { ConstTensor, sizeOf, transposeConst } from '../tensor';
import { onnx, OnnxAttrs } from './onnx-proto';
import { stridedSliceAttrs, tfAttr, TfGraph, TfNode } from './tf-graph';

/** A producer that per-channel Mul/Add and one activation can still be folded into. */
export interface FuseRecord {
  node: TfNode;
  /** Weight names: kernel whose last TF dim (flattened with the one before, for depthwise) is the output channel. */
  kernel: string;
  bias: string;
  outChannels: number;
  activated: boolean;
}

/** Flattened feature map whose feature order is ONNX dims `dims` permuted by `order`. */
export interface FlatLayout {
  dims: number[];
  order: number[];
}

/** A tensor computed at run time by the TF graph. */
export interface RtValue {
  kind: 'rt';
  ref: string;
  /** ONNX-order shape; -1 is unknown at conversion time (the batch). */
  shape: number[];
  perm: number[];
  dtype: 'float32' | 'int32' | 'bool';
  flat?: FlatLayout;
  fuse?: FuseRecord;
}

/** A tensor known at conversion time. */
export interface ConstValue {
  kind: 'const';
  t: ConstTensor;
}

export type Value = RtValue | ConstValue;

/** One ONNX node as the handlers see it. */
export interface NodeInfo {
  op: string;
  /** Base name for the TF nodes this ONNX node turns into. */
  name: string;
  inputNames: string[];
  outputNames: string[];
  attrs: OnnxAttrs;
  opset: number;
}

/** Thrown for models the converter cannot translate; the message names the node. */
export class ConversionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConversionError';
  }
}

export const identityPerm = (rank: number): number[] => Array.from({ length: rank }, (_, i) => i);
export const isIdentityPerm = (perm: readonly number[]): boolean => perm.every((p, i) => p === i);
export const samePerm = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((p, i) => p === b[i]);
export function invertPerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}
export const NHWC: readonly number[] = Object.freeze([0, 2, 3, 1]);

/** Counters reported after conversion. */
export interface ConversionStats {
  foldedBatchNorms: number;
  /** Per-channel normalisations moved from before the model's resize to after it (normalize-after-resize.ts). */
  normalizationsAfterResize: number;
  foldedConstantNodes: number;
  foldedIntoConv: number;
  fusedActivations: number;
  insertedTransposes: number;
  layoutOnlyTransposes: number;
}

/** Converts an ONNX subgraph (an `If` branch) in `ctx`, reading outer values from `scope`; returns its outputs. */
export type SubgraphConverter = (
  graph: onnx.IGraphProto,
  scope: Map<string, Value>,
  ctx: ConvertContext,
) => Value[];

/**
 * How many times each value is read: by the nodes (and, recursively, by the nodes of their branch subgraphs,
 * which read outer values too: uncounted, such a value could be folded away) and by the graph's outputs.
 */
export function countConsumers(nodes: onnx.INodeProto[], outputs: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (name: string): void => {
    if (name) counts.set(name, (counts.get(name) ?? 0) + 1);
  };
  const visit = (ns: onnx.INodeProto[]): void => {
    for (const n of ns) {
      for (const i of n.input ?? []) add(i);
      for (const a of n.attribute ?? []) if (a.g) visit(a.g.node ?? []);
    }
  };
  visit(nodes);
  for (const o of outputs) add(o);
  return counts;
}

/** State shared by the handlers while one model converts. */
export class ConvertContext {
  readonly stats: ConversionStats = {
    foldedBatchNorms: 0,
    normalizationsAfterResize: 0,
    foldedConstantNodes: 0,
    foldedIntoConv: 0,
    fusedActivations: 0,
    insertedTransposes: 0,
    layoutOnlyTransposes: 0,
  };

  constructor(
    readonly graph: TfGraph,
    private readonly consumerCounts: Map<string, number>,
    /** Batch size baked into the export when its batch axis is not dynamic, else null. */
    readonly fixedBatch: number | null,
    /** The values visible to the nodes being converted (ONNX name → value); branches add their own. */
    readonly scope: Map<string, Value> = new Map(),
    /** Converts subgraphs (If branches); set by the converter. */
    readonly subgraph: SubgraphConverter | null = null,
  ) {}

  /**
   * True when the only dim unknown at conversion time is the batch (rank-4 image input): `Shape` then folds to a
   * constant with NaN for it. False for a rank-3 image of dynamic size: shapes are computed at run time.
   */
  batchAsNaN = true;

  /** A context for a branch function built in `graph`, seeing `scope`. */
  branch(graph: TfGraph, scope: Map<string, Value>, counts: Map<string, number>): ConvertContext {
    const c = new ConvertContext(graph, counts, this.fixedBatch, scope, this.subgraph);
    c.batchAsNaN = this.batchAsNaN;
    return c;
  }

  /** How many nodes (and graph outputs) read the ONNX value `name`. */
  consumers(name: string): number {
    return this.consumerCounts.get(name) ?? 0;
  }

  /** TF shape of a value (-1 unknown). */
  tfShape(v: RtValue): number[] {
    return v.perm.map((p) => v.shape[p]);
  }

  /** True when the TF tensor has ONNX memory order, ignoring size-1 dims. */
  effectivelyIdentity(v: RtValue): boolean {
    if (v.flat) return false;
    const order = v.perm.filter((p) => v.shape[p] !== 1);
    return order.every((p, i) => i === 0 || p > order[i - 1]);
  }

  /** An int32 shape vector for TF Reshape; at most one unknown dim. */
  reshapeVector(dims: number[], where: string): number[] {
    if (dims.filter((d) => d < 0).length > 1) {
      throw new ConversionError(
        `${where}: the shape [${dims.join(',')}] has more than one dimension unknown at conversion time`,
      );
    }
    return dims.map((d) => (d < 0 ? -1 : d));
  }

  /** Emits a constant in TF form (float32 weight or int32). */
  emitConst(base: string, t: ConstTensor): string {
    if (t.dtype === 'float32') {
      const data = t.data instanceof Float32Array ? t.data.slice() : Float32Array.from(t.data);
      return this.graph.constFloat(base, t.shape, data);
    }
    if (Array.from(t.data).some((x) => Number.isNaN(x))) {
      throw new ConversionError(
        `${base}: a constant depends on the batch size, which is unknown at conversion time`,
      );
    }
    // int64 bounds such as INT64_MAX ("to the end") saturate rather than wrap in int32.
    return this.graph.constInt(
      base,
      t.shape,
      Array.from(t.data, (x) => Math.max(-2147483648, Math.min(2147483647, x))),
    );
  }

  /** A constant used where a runtime tensor is needed, in ONNX layout. */
  constAsRt(base: string, t: ConstTensor): RtValue {
    return {
      kind: 'rt',
      ref: this.emitConst(base, t),
      shape: [...t.shape],
      perm: identityPerm(t.shape.length),
      dtype: t.dtype === 'float32' ? 'float32' : t.dtype === 'bool' ? 'bool' : 'int32',
    };
  }

  /**
   * Lays a constant out to broadcast against `v` in TF: padded to v's rank and permuted like v.
   * Scalars and single values stay scalars.
   */
  alignConst(t: ConstTensor, v: RtValue): ConstTensor {
    if (sizeOf(t.shape) === 1) return { dtype: t.dtype, shape: [], data: t.data.slice(0, 1) };
    const rank = v.perm.length;
    if (t.shape.length > rank) throw new Error('constant has a higher rank than the tensor it combines with');
    const padded = { ...t, shape: [...new Array<number>(rank - t.shape.length).fill(1), ...t.shape] };
    return isIdentityPerm(v.perm) ? padded : transposeConst(padded, v.perm);
  }

  /** Turns a flattened-NHWC value back into ONNX feature order. */
  plain(v: RtValue, base = 'unflatten'): RtValue {
    if (!v.flat) return v;
    const { dims, order } = v.flat;
    const tfDims = order.map((o) => dims[o]);
    const g = this.graph;
    const s1 = g.constInt(`${base}/shape_in`, [tfDims.length + 1], [-1, ...tfDims]);
    const r1 = g.op(`${base}/reshape_in`, 'Reshape', [v.ref, s1], {
      T: tfAttr.T(),
      Tshape: tfAttr.T('DT_INT32'),
    });
    const t = this.transposeRef(`${base}/transpose`, r1, [0, ...invertPerm(order).map((i) => i + 1)]);
    const s2 = g.constInt(`${base}/shape_out`, [2], [-1, sizeOf(dims)]);
    const r2 = g.op(`${base}/reshape_out`, 'Reshape', [t, s2], {
      T: tfAttr.T(),
      Tshape: tfAttr.T('DT_INT32'),
    });
    return { kind: 'rt', ref: r2, shape: v.shape, perm: [0, 1], dtype: v.dtype };
  }

  /**
   * `v`'s TF shape read at run time, reordered by `tfPerm`: the shape vector for a reshape that only moves size-1
   * dims when more than one size is unknown at conversion time (torchvision's `image[None]` on an [H, W, 3] input
   * of any size). Without it such a move was a transpose, and on a 4K image the safe transpose's pad, transpose
   * and slice cost about 2 s on wasm for a copy that moves no data.
   */
  private runTimeShapeIn(v: RtValue, tfPerm: number[], base: string): string {
    const g = this.graph;
    const type = tfAttr.T(v.dtype === 'float32' ? 'DT_FLOAT' : v.dtype === 'int32' ? 'DT_INT32' : 'DT_BOOL');
    const shape = g.op(`${base}/relayout_shape_in`, 'Shape', [v.ref], {
      T: type,
      out_type: tfAttr.T('DT_INT32'),
    });
    return g.op(
      `${base}/relayout_shape`,
      'GatherV2',
      [
        shape,
        g.constInt(`${base}/relayout_order`, [tfPerm.length], tfPerm),
        g.constInt(`${base}/relayout_axis`, [], [0]),
      ],
      {
        Tparams: tfAttr.T('DT_INT32'),
        Tindices: tfAttr.T('DT_INT32'),
        Taxis: tfAttr.T('DT_INT32'),
        batch_dims: tfAttr.i(0),
      },
    );
  }

  private transposeRef(
    base: string,
    ref: string,
    tfPerm: number[],
    tfShape: number[] = [],
    dtype: RtValue['dtype'] = 'float32',
  ): string {
    this.stats.insertedTransposes++;
    const g = this.graph;
    const type = tfAttr.T(dtype === 'float32' ? 'DT_FLOAT' : dtype === 'int32' ? 'DT_INT32' : 'DT_BOOL');
    const p = g.constInt(`${base}/perm`, [tfPerm.length], tfPerm);
    const unknown = tfShape.map((d) => d < 0);
    if (tfPerm.length < 3 || !unknown.some(Boolean) || dtype === 'bool') {
      return g.op(base, 'Transpose', [ref, p], { T: type, Tperm: tfAttr.T('DT_INT32') });
    }
    // TF.js's wasm Transpose traps (integer divide by zero) on an empty tensor of rank ≥ 3, and a size known
    // only at run time may be 0 (a feature level with no RoI). Pad each such dim by one, transpose, slice it off.
    const rank = tfPerm.length;
    const pads = g.constInt(
      `${base}/safe_pads`,
      [rank, 2],
      unknown.flatMap((u) => [0, u ? 1 : 0]),
    );
    const fill =
      dtype === 'float32'
        ? g.constFloat(`${base}/safe_fill`, [], Float32Array.of(0))
        : g.constInt(`${base}/safe_fill`, [], [0]);
    const padded = g.op(`${base}/safe_pad`, 'PadV2', [ref, pads, fill], {
      T: type,
      Tpaddings: tfAttr.T('DT_INT32'),
    });
    const moved = g.op(`${base}/safe_transpose`, 'Transpose', [padded, p], {
      T: type,
      Tperm: tfAttr.T('DT_INT32'),
    });
    const trimmed = tfPerm.map((src) => unknown[src]);
    const full = trimmed.reduce((m, t, k) => m | (t ? 0 : 1 << k), 0);
    return g.op(
      base,
      'StridedSlice',
      [
        moved,
        g.constInt(`${base}/safe_begin`, [rank], new Array<number>(rank).fill(0)),
        g.constInt(
          `${base}/safe_end`,
          [rank],
          trimmed.map((t) => (t ? -1 : 0)),
        ),
        g.constInt(`${base}/safe_strides`, [rank], new Array<number>(rank).fill(1)),
      ],
      stridedSliceAttrs(type, { begin: (1 << rank) - 1, end: full }),
    );
  }

  /** Re-lays `v` out as `perm`, emitting a Transpose only when memory order really changes. */
  withPerm(v: RtValue, perm: readonly number[], base: string): RtValue {
    const p = this.plain(v, `${base}/unflatten`);
    if (samePerm(p.perm, perm)) return p;
    const tfPerm = perm.map((d) => p.perm.indexOf(d));
    const current = p.perm.filter((d) => p.shape[d] !== 1);
    const target = perm.filter((d) => p.shape[d] !== 1);
    const unknown = p.shape.filter((d) => d < 0).length;
    if (current.every((d, i) => d === target[i])) {
      // Only size-1 dims move: a reshape is enough.
      const dims = perm.map((d) => p.shape[d]);
      const shape =
        unknown <= 1
          ? this.graph.constInt(`${base}/relayout_shape`, [dims.length], this.reshapeVector(dims, base))
          : this.runTimeShapeIn(p, tfPerm, base);
      const ref = this.graph.op(`${base}/relayout`, 'Reshape', [p.ref, shape], {
        T: tfAttr.T(),
        Tshape: tfAttr.T('DT_INT32'),
      });
      return { ...p, ref, perm: [...perm], fuse: undefined };
    }
    return {
      ...p,
      ref: this.transposeRef(`${base}/to_layout`, p.ref, tfPerm, this.tfShape(p), p.dtype),
      perm: [...perm],
      fuse: undefined,
    };
  }

  /** Reshapes to an ONNX shape (-1 for the one unknown dim); the result has identity layout. */
  reshape(v: RtValue, onnxShape: number[], base: string, tfVector?: number[]): RtValue {
    const src = this.effectivelyIdentity(v) ? v : this.withPerm(v, identityPerm(v.shape.length), base);
    const vec = tfVector ?? this.reshapeVector(onnxShape, base);
    const shape = this.graph.constInt(`${base}/shape`, [vec.length], vec);
    const ref = this.graph.op(base, 'Reshape', [src.ref, shape], {
      T: tfAttr.T(),
      Tshape: tfAttr.T('DT_INT32'),
    });
    return { kind: 'rt', ref, shape: onnxShape, perm: identityPerm(onnxShape.length), dtype: v.dtype };
  }

  /** Emits a TF op and wraps its output as a value with the given ONNX shape and layout. */
  emit(
    base: string,
    op: string,
    inputs: string[],
    attrs: Record<string, AttrValue>,
    like: { shape: number[]; perm: number[]; dtype?: RtValue['dtype'] },
  ): RtValue {
    // Some TF.js kernels (StridedSlice, on wasm) read the element type from `T`: keep it true to the value.
    const dtype = like.dtype ?? 'float32';
    const typed =
      'T' in attrs && dtype !== 'float32'
        ? { ...attrs, T: tfAttr.T(dtype === 'int32' ? 'DT_INT32' : 'DT_BOOL') }
        : attrs;
    const ref = this.graph.op(base, op, inputs, typed);
    return { kind: 'rt', ref, shape: like.shape, perm: like.perm, dtype };
  }
}
