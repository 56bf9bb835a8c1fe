/**
 * Image ops: Resize.
 *
 * Resize on a statically known shape is translated exactly, whatever `coordinate_transformation_mode` and
 * `nearest_mode` say: the source index (nearest) or the two neighbours and their weight (linear) of every output
 * row and column are computed here, in float32 like onnxruntime, and the graph gathers them with GatherV2 along
 * each resized axis (linear adds one lerp per axis, which is bilinear interpolation factored by axis). TF's
 * ResizeNearestNeighbor/ResizeBilinear would cover only some of the ONNX modes, and round ties differently.
 */
import { constValues } from '../../tensor';
import { ConversionError, ConvertContext, NodeInfo, RtValue } from '../context';
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
