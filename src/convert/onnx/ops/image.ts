/**
 * Image ops: Resize and RoiAlign.
 *
 * Resize on a statically known shape is translated exactly, whatever `coordinate_transformation_mode` and
 * `nearest_mode` say: the source index (nearest) or the two neighbours and their weight (linear) of every output
 * row and column are computed here, in float32 like onnxruntime, and the graph gathers them with GatherV2 along
 * each resized axis (linear adds one lerp per axis, which is bilinear interpolation factored by axis). TF's
 * ResizeNearestNeighbor/ResizeBilinear would cover only some of the ONNX modes, and round ties differently.
 */
import { constValues } from '../../tensor';
import { AttrValue } from '../../../models/graph-model-writer';
import { ConversionError, ConvertContext, NHWC, NodeInfo, RtValue } from '../context';
import { getAttr } from '../onnx-proto';
import { tfAttr } from '../tf-graph';
import { OpHandler, optionalConst, runtime, T } from './common';

const f = Math.fround;

type CoordMode =
  'half_pixel' | 'pytorch_half_pixel' | 'align_corners' | 'asymmetric' | 'tf_half_pixel_for_nn';
type NearestMode = 'round_prefer_floor' | 'round_prefer_ceil' | 'floor' | 'ceil';

const COORD_MODES: readonly string[] = [
  'half_pixel',
  'pytorch_half_pixel',
  'align_corners',
  'asymmetric',
  'tf_half_pixel_for_nn',
];
const NEAREST_MODES: readonly string[] = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];

/** ONNX's output → input coordinate map (float32 arithmetic, as onnxruntime computes it). */
export function originalCoordinate(
  mode: CoordMode,
  x: number,
  scale: number,
  lengthIn: number,
  lengthOut: number,
): number {
  switch (mode) {
    case 'half_pixel':
      return f(f(f(x + 0.5) / scale) - 0.5);
    case 'pytorch_half_pixel':
      return lengthOut > 1 ? f(f(f(x + 0.5) / scale) - 0.5) : 0;
    case 'align_corners':
      return lengthOut === 1 ? 0 : f(f(x * (lengthIn - 1)) / (lengthOut - 1));
    case 'asymmetric':
      return f(x / scale);
    case 'tf_half_pixel_for_nn':
      return f(f(x + 0.5) / scale);
  }
}

/** ONNX's nearest-pixel rule, clamped to the input. */
export function nearestIndex(mode: NearestMode, x: number, lengthIn: number): number {
  let i: number;
  switch (mode) {
    case 'round_prefer_floor':
      i = x === Math.trunc(x) + 0.5 ? Math.floor(x) : roundHalfAway(x);
      break;
    case 'round_prefer_ceil':
      i = roundHalfAway(x);
      break;
    case 'floor':
      i = Math.floor(x);
      break;
    case 'ceil':
      i = Math.ceil(x);
      break;
  }
  return Math.min(Math.max(i, 0), lengthIn - 1);
}

/** C's round(): halves away from zero. */
const roundHalfAway = (x: number): number => Math.sign(x) * Math.round(Math.abs(x));

/** Output sizes and per-axis scales from the `scales` or `sizes` input. */
function resizeTargets(
  n: NodeInfo,
  inputs: Parameters<OpHandler>[1],
  v: RtValue,
): { out: number[]; scales: number[] } {
  const rank = v.shape.length;
  let scalesIn: number[] | null = null;
  let sizesIn: number[] | null = null;
  if (n.opset < 11) {
    const s = optionalConst(n, inputs, 1, 'scales');
    scalesIn = s ? constValues(s) : null;
  } else {
    const s = optionalConst(n, inputs, 2, 'scales');
    const z = optionalConst(n, inputs, 3, 'sizes');
    scalesIn = s && s.shape[0] !== 0 ? constValues(s) : null;
    sizesIn = z && z.shape[0] !== 0 ? constValues(z) : null;
  }
  const axesAttr = getAttr.ints(n.attrs, 'axes');
  const axes = axesAttr ?? Array.from({ length: rank }, (_, i) => i);
  const out = [...v.shape];
  const scales = new Array<number>(rank).fill(1);
  if (sizesIn) {
    axes.forEach((a0, j) => {
      const a = a0 < 0 ? a0 + rank : a0;
      // A NaN size is the batch read through Shape: unchanged.
      if (Number.isNaN(sizesIn[j])) return;
      out[a] = sizesIn[j];
      scales[a] = v.shape[a] > 0 ? f(sizesIn[j] / v.shape[a]) : NaN;
    });
  } else if (scalesIn) {
    axes.forEach((a0, j) => {
      const a = a0 < 0 ? a0 + rank : a0;
      scales[a] = f(scalesIn[j]);
      out[a] = v.shape[a] < 0 ? -1 : Math.floor(v.shape[a] * scalesIn[j]);
    });
  } else {
    throw new ConversionError(`Resize node "${n.name}": neither scales nor sizes is given`);
  }
  if (getAttr.string(n.attrs, 'keep_aspect_ratio_policy', 'stretch') !== 'stretch') {
    throw new ConversionError(
      `Resize node "${n.name}": keep_aspect_ratio_policy other than stretch is not supported`,
    );
  }
  return { out, scales };
}

/** Gathers `indices` along ONNX axis `axis` of `v` (layout kept). */
function gatherAxis(ctx: ConvertContext, base: string, v: RtValue, axis: number, indices: number[]): RtValue {
  const tfAxis = v.perm.indexOf(axis);
  const idx = ctx.graph.constInt(`${base}/indices`, [indices.length], indices);
  const ax = ctx.graph.constInt(`${base}/axis`, [], [tfAxis]);
  const shape = [...v.shape];
  shape[axis] = indices.length;
  return ctx.emit(
    base,
    'GatherV2',
    [v.ref, idx, ax],
    { Tparams: T(), Tindices: tfAttr.T('DT_INT32'), Taxis: tfAttr.T('DT_INT32'), batch_dims: tfAttr.i(0) },
    { shape, perm: v.perm, dtype: v.dtype },
  );
}

/** ONNX Resize (opset 10–18) in nearest or linear mode on known spatial sizes. */
export const resize: OpHandler = (n, inputs, ctx) => {
  let v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  const mode = getAttr.string(n.attrs, 'mode', 'nearest');
  const coord = getAttr.string(
    n.attrs,
    'coordinate_transformation_mode',
    n.opset < 11 ? 'asymmetric' : 'half_pixel',
  );
  const nearestMode = getAttr.string(n.attrs, 'nearest_mode', 'round_prefer_floor');
  if (mode !== 'nearest' && mode !== 'linear') {
    throw new ConversionError(
      `Resize node "${n.name}": mode "${mode}" is not supported (nearest and linear are)`,
    );
  }
  if (!COORD_MODES.includes(coord)) {
    throw new ConversionError(
      `Resize node "${n.name}": coordinate_transformation_mode "${coord}" is not supported (${COORD_MODES.join(', ')} are)`,
    );
  }
  if (!NEAREST_MODES.includes(nearestMode)) {
    throw new ConversionError(`Resize node "${n.name}": nearest_mode "${nearestMode}" is not supported`);
  }
  if (getAttr.int(n.attrs, 'antialias', 0) !== 0) {
    throw new ConversionError(`Resize node "${n.name}": antialias is not supported`);
  }
  const sizesIn = n.opset >= 11 ? inputs[3] : null;
  if (sizesIn && sizesIn.kind === 'rt') return [resizeDynamic(n, v, sizesIn, mode, coord, nearestMode, ctx)];
  const { out, scales } = resizeTargets(n, inputs, v);
  const rank = v.shape.length;
  for (let a = 0; a < rank; a++) {
    const lengthIn = v.shape[a];
    const lengthOut = out[a];
    if (lengthIn === lengthOut && scales[a] === 1) continue;
    if (lengthIn < 0 || lengthOut < 0) {
      throw new ConversionError(
        `Resize node "${n.name}": axis ${a} has a size unknown at conversion time; only known sizes are resized`,
      );
    }
    if (mode === 'linear' && a < rank - 2) {
      // onnxruntime interpolates linearly over the last two (or three) axes only, as PyTorch does.
      throw new ConversionError(`Resize node "${n.name}": linear resize of axis ${a} is not supported`);
    }
    const base = `${n.name}/axis${a}`;
    const src = Array.from({ length: lengthOut }, (_, x) =>
      originalCoordinate(coord as CoordMode, x, scales[a], lengthIn, lengthOut),
    );
    if (mode === 'nearest') {
      v = gatherAxis(
        ctx,
        base,
        v,
        a,
        src.map((x) => nearestIndex(nearestMode as NearestMode, x, lengthIn)),
      );
      continue;
    }
    const clamped = src.map((x) => Math.min(Math.max(x, 0), lengthIn - 1));
    const i0 = clamped.map((x) => Math.min(Math.trunc(x), lengthIn - 1));
    const i1 = i0.map((i) => Math.min(i + 1, lengthIn - 1));
    const w = clamped.map((x, k) => f(x - i0[k]));
    const lo = gatherAxis(ctx, `${base}/lo`, v, a, i0);
    const hi = gatherAxis(ctx, `${base}/hi`, v, a, i1);
    const tfAxis = v.perm.indexOf(a);
    const wShape = v.perm.map((_, k) => (k === tfAxis ? lengthOut : 1));
    const wRef = ctx.graph.constFloat(`${base}/weight`, wShape, Float32Array.from(w));
    const diff = ctx.emit(`${base}/diff`, 'Sub', [hi.ref, lo.ref], { T: T() }, lo);
    const scaled = ctx.emit(`${base}/scaled`, 'Mul', [diff.ref, wRef], { T: T() }, lo);
    v = ctx.emit(base, 'AddV2', [lo.ref, scaled.ref], { T: T() }, lo);
  }
  return [v];
};

/**
 * ONNX RoiAlign (avg mode, fixed sampling_ratio) → CropAndResize + AvgPool, with torchvision's sampling:
 * each output bin averages sampling_ratio² bilinear samples at roi_start + (k + 0.5)·bin/sampling_ratio.
 *
 * CropAndResize samples a regular grid between two corners, so the corners are chosen to fall on the first and last
 * sample points. RoiAlign clamps samples within one pixel outside the map to the edge and zeroes those further out;
 * CropAndResize zeroes everything outside. Padding the map by one edge-replicated pixel on each side (MirrorPad
 * SYMMETRIC) makes the two agree exactly. `output_half_pixel` (opset < 16, torchvision's aligned=False) also widens
 * RoIs to at least one pixel, as onnxruntime and torchvision do.
 */
export const roiAlign: OpHandler = (n, inputs, ctx) => {
  const x0 = runtime(n, inputs, 0, ctx);
  if (x0.shape.length !== 4) throw new ConversionError(`RoiAlign node "${n.name}": X must be rank 4`);
  const x = ctx.withPerm(x0, NHWC, `${n.name}/x`);
  const rois = ctx.withPerm(runtime(n, inputs, 1, ctx), [0, 1], `${n.name}/rois`);
  const batchIdx = runtime(n, inputs, 2, ctx);
  const mode = getAttr.string(n.attrs, 'mode', 'avg');
  if (mode !== 'avg')
    throw new ConversionError(`RoiAlign node "${n.name}": mode "${mode}" is not supported (avg is)`);
  const ph = getAttr.int(n.attrs, 'output_height', 1);
  const pw = getAttr.int(n.attrs, 'output_width', 1);
  const sr = getAttr.int(n.attrs, 'sampling_ratio', 0);
  if (sr <= 0) {
    throw new ConversionError(
      `RoiAlign node "${n.name}": sampling_ratio ${sr} (adaptive, data-dependent) is not supported; export with a fixed one`,
    );
  }
  const scale = getAttr.float(n.attrs, 'spatial_scale', 1);
  const coord = getAttr.string(
    n.attrs,
    'coordinate_transformation_mode',
    n.opset >= 16 ? 'half_pixel' : 'output_half_pixel',
  );
  const halfPixel = coord === 'half_pixel';
  const g = ctx.graph;
  const b = `${n.name}/`;
  const fc = (name: string, v: number): string => g.constFloat(b + name, [], Float32Array.of(v));
  const op = (
    name: string,
    tfOp: string,
    ins: string[],
    attrs: Record<string, AttrValue> = { T: T() },
  ): string => g.op(b + name, tfOp, ins, attrs);
  // [R, 4] x1,y1,x2,y2 in map pixels, shifted by the one-pixel pad.
  const scaled = op('scaled', 'Mul', [rois.ref, fc('spatial_scale', scale)]);
  const shifted = op('shifted', 'AddV2', [scaled, fc('offset', 1 - (halfPixel ? 0.5 : 0))]);
  const cols = op(
    'columns',
    'SplitV',
    [shifted, g.constInt(`${b}sizes`, [4], [1, 1, 1, 1]), g.constInt(`${b}axis1`, [], [1])],
    {
      T: T(),
      Tlen: tfAttr.T('DT_INT32'),
      num_split: tfAttr.i(4),
    },
  );
  const [x1, y1, x2, y2] = [0, 1, 2, 3].map((k) => (k === 0 ? cols : `${cols}:${k}`));
  // Sample spacing d = extent / (bins · sampling_ratio); first sample at start + d/2, last at start + (n − ½)·d.
  const corners = (lo: string, hi: string, bins: number, axis: string): [string, string] => {
    let extent = op(`${axis}_extent`, 'Sub', [hi, lo]);
    if (!halfPixel) extent = op(`${axis}_extent_min1`, 'Maximum', [extent, fc(`${axis}_one`, 1)]);
    const count = bins * sr;
    const d = op(`${axis}_step`, 'RealDiv', [extent, fc(`${axis}_count`, count)]);
    const first = op(`${axis}_first`, 'AddV2', [
      lo,
      op(`${axis}_half_step`, 'Mul', [d, fc(`${axis}_half`, 0.5)]),
    ]);
    const last = op(`${axis}_last`, 'AddV2', [
      lo,
      op(`${axis}_span`, 'Mul', [d, fc(`${axis}_n_minus_half`, count - 0.5)]),
    ]);
    return [first, last];
  };
  const [ya, yb] = corners(y1, y2, ph, 'y');
  const [xa, xb] = corners(x1, x2, pw, 'x');
  const boxesPx = op('boxes_px', 'ConcatV2', [ya, xa, yb, xb, g.constInt(`${b}concat_axis`, [], [1])], {
    T: T(),
    N: tfAttr.i(4),
    Tidx: tfAttr.T('DT_INT32'),
  });
  // Padded map [N, H+2, W+2, C]; CropAndResize normalises by (H+2−1, W+2−1) = (H+1, W+1).
  const padded = op(
    'padded',
    'MirrorPad',
    [x.ref, g.constInt(`${b}paddings`, [4, 2], [0, 0, 1, 1, 1, 1, 0, 0])],
    {
      T: T(),
      Tpaddings: tfAttr.T('DT_INT32'),
      mode: tfAttr.s('SYMMETRIC'),
    },
  );
  let norm: string;
  const [H, W] = [x.shape[2], x.shape[3]];
  if (H > 0 && W > 0) {
    norm = g.constFloat(`${b}norm`, [4], Float32Array.of(H + 1, W + 1, H + 1, W + 1));
  } else {
    const shape = op('map_shape', 'Shape', [x.ref], { T: T(), out_type: tfAttr.T('DT_INT32') });
    const hw = g.sliceInt32Vector(`${b}map_hw`, shape, 1, 3, { constBase: `${b}hw` }); // [2] H, W
    const hwf = op('map_hw_float', 'Cast', [hw], { DstT: tfAttr.T('DT_FLOAT') });
    const hw1 = op('map_hw_plus1', 'AddV2', [hwf, fc('one', 1)]);
    norm = op('norm', 'ConcatV2', [hw1, hw1, g.constInt(`${b}norm_axis`, [], [0])], {
      T: T(),
      N: tfAttr.i(2),
      Tidx: tfAttr.T('DT_INT32'),
    });
  }
  const boxes = op('boxes', 'RealDiv', [boxesPx, norm]);
  const plainIdx = ctx.withPerm(batchIdx, [0], `${n.name}/batch_indices`);
  const idx =
    plainIdx.dtype === 'int32'
      ? plainIdx.ref
      : op('box_ind', 'Cast', [plainIdx.ref], { DstT: tfAttr.T('DT_INT32') });
  const crops = op(
    'crops',
    'CropAndResize',
    [padded, boxes, idx, g.constInt(`${b}crop_size`, [2], [ph * sr, pw * sr])],
    {
      T: T(),
      method: tfAttr.s('bilinear'),
      extrapolation_value: tfAttr.f(0),
    },
  );
  const R = rois.shape[0];
  const outShape = [R, x.shape[1], ph, pw];
  if (sr === 1) return [{ kind: 'rt', ref: crops, shape: outShape, perm: [...NHWC], dtype: 'float32' }];
  return [
    ctx.emit(
      n.name,
      'AvgPool',
      [crops],
      {
        T: T(),
        ksize: tfAttr.ints([1, sr, sr, 1]),
        strides: tfAttr.ints([1, sr, sr, 1]),
        padding: tfAttr.s('VALID'),
        data_format: tfAttr.s('NHWC'),
      },
      { shape: outShape, perm: [...NHWC] },
    ),
  ];
};

/**
 * Resize to sizes computed at run time (torchvision's transform and FPN on images of any size): TF's own
 * ResizeBilinear / ResizeNearestNeighbor over the last two ONNX axes, for the mode pairs whose formulas match
 * ONNX's — linear with half_pixel or pytorch_half_pixel (TF's half_pixel_centers; the clamping at the borders
 * agrees), linear or nearest with align_corners, nearest asymmetric+floor (PyTorch's nearest).
 */
function resizeDynamic(
  n: NodeInfo,
  v: RtValue,
  sizes: RtValue,
  mode: string,
  coord: string,
  nearestMode: string,
  ctx: ConvertContext,
): RtValue {
  if (v.shape.length !== 4) {
    throw new ConversionError(`Resize node "${n.name}": sizes computed at run time need a rank-4 input`);
  }
  let halfPixel: boolean;
  let alignCorners = false;
  if (coord === 'align_corners' && (mode === 'linear' || nearestMode === 'round_prefer_ceil')) {
    halfPixel = false;
    alignCorners = true;
  } else if (mode === 'linear' && (coord === 'half_pixel' || coord === 'pytorch_half_pixel')) {
    halfPixel = true;
  } else if (mode === 'nearest' && coord === 'asymmetric' && nearestMode === 'floor') {
    halfPixel = false;
  } else {
    throw new ConversionError(
      `Resize node "${n.name}": with sizes computed at run time, ${mode} resize with ` +
        `coordinate_transformation_mode "${coord}"${mode === 'nearest' ? ` and nearest_mode "${nearestMode}"` : ''} ` +
        'is not supported (linear half_pixel/pytorch_half_pixel/align_corners, nearest asymmetric+floor are)',
    );
  }
  const g = ctx.graph;
  const x = ctx.withPerm(v, NHWC, `${n.name}/x`);
  const s = ctx.withPerm(sizes, [0], `${n.name}/sizes`);
  const hw = g.op(
    `${n.name}/hw`,
    'GatherV2',
    [s.ref, g.constInt(`${n.name}/hw_index`, [2], [2, 3]), g.constInt(`${n.name}/axis`, [], [0])],
    {
      Tparams: tfAttr.T('DT_INT32'),
      Tindices: tfAttr.T('DT_INT32'),
      Taxis: tfAttr.T('DT_INT32'),
      batch_dims: tfAttr.i(0),
    },
  );
  const size =
    s.dtype === 'int32' ? hw : g.op(`${n.name}/hw_int`, 'Cast', [hw], { DstT: tfAttr.T('DT_INT32') });
  return ctx.emit(
    n.name,
    mode === 'linear' ? 'ResizeBilinear' : 'ResizeNearestNeighbor',
    [x.ref, size],
    { T: T(), align_corners: tfAttr.b(alignCorners), half_pixel_centers: tfAttr.b(halfPixel) },
    { shape: [x.shape[0], x.shape[1], -1, -1], perm: [...NHWC], dtype: 'float32' },
  );
}
