/**
 * The default detector, designed by hand: foreground segmentation plus connected components in TF ops.
 *
 * 1. ink = 1 − min(R, G, B): dark or saturated pixels are high, the white sheet is low. Work resolution ("L1")
 *    is half the model input.
 * 2. The sheet's own level is estimated at 1/16 of the input (4×4 mean, 15×15 minimum, 15×15 mean, upsampled);
 *    fg = sigmoid(FG_SLOPE · (ink − sheet − FG_OFFSET)); mask M = fg > 0.5.
 * 3. Connected components by masked max-propagation: every mask pixel starts with four codes of its position;
 *    PROPAGATION_STEPS times, each pixel takes the 5×5 maximum and pixels outside the mask are
 *    reset to −BIG. Afterwards each pixel of a blob holds the blob's maximum codes, which encode its extents, and
 *    the one pixel whose own first code equals the blob's maximum is the blob's seed.
 * 4. Seeds are ranked by extent (TopK, K = DETECTOR_TOP_K); each becomes a box (y1, x1, y2, x2) in input pixels
 *    with score = sigmoid(slope · (√(box area) − minSide)), so dirt specks fall below the threshold.
 *
 * Outputs (manifest: box_format yxyx, coordinates pixels): `boxes` [B, K, 4], `scores` [B, K].
 */
import { attr, GraphBuilder, type AttrValue } from '../../src/models/graph-model-writer';

export const DETECTOR_INPUT = { width: 1024, height: 576 } as const;
/** Seeds kept by TopK (the model's K). */
export const DETECTOR_TOP_K = 500;

const FG_SLOPE = 30;
const FG_OFFSET = 0.15;
/** Separable 5×5 max steps: information travels 2 L1 pixels (4 input pixels) per step. */
const PROPAGATION_STEPS = 32;
const STEP_KERNEL = 5;
const BIG = 1e7;
/** Code stride: a power of two no smaller than the L1 width and height. */
const S = 512;

export interface DetectorParams {
  /** √(box area) in input pixels at which the score is 0.5. */
  minSide: number;
  /** Sigmoid slope per input pixel. */
  slope: number;
  /** Pixels added to every box side (input pixels), fitted on training scenes. */
  pad: number;
}

const f32 = { T: attr.type('DT_FLOAT') };
const idx = { Tidx: attr.type('DT_INT32') };
const pool = (k: number, stride = 1, padding = 'SAME'): Record<string, AttrValue> => ({
  ...f32,
  ksize: attr.ints([1, k, k, 1]),
  strides: attr.ints([1, stride, stride, 1]),
  padding: attr.s(padding),
  data_format: attr.s('NHWC'),
});
const toFloat = { SrcT: attr.type('DT_BOOL'), DstT: attr.type('DT_FLOAT'), Truncate: attr.b(false) };
const sliceAttrs = { T: attr.type('DT_FLOAT'), Index: attr.type('DT_INT32') };

/** Builds the detector graph. */
export function buildDetectorGraph(params: DetectorParams): GraphBuilder {
  const g = new GraphBuilder();
  const { width: W, height: H } = DETECTOR_INPUT;
  const h = H / 2;
  const w = W / 2;
  const x = g.placeholder('image', [-1, H, W, 3]);
  const c = (name: string, value: number): string => g.constFloat(`const/${name}`, [], [value]);

  // Stage 1: ink at L1, [B, h, w, 1].
  const minRgb = g.op('ink/min', 'Min', [x, g.constInt('const/axis3', [1], [3])], {
    ...f32,
    ...idx,
    keep_dims: attr.b(true),
  });
  const ink = g.op('ink/ink', 'Sub', [c('one', 1), minRgb], f32);
  const ink1 = g.op('ink/l1', 'AvgPool', [ink], pool(2, 2, 'VALID'));

  // Stage 2: sheet level and foreground mask.
  const coarse = g.op('bg/coarse', 'AvgPool', [ink1], pool(4, 4, 'VALID')); // [B, h/4, w/4, 1]
  const eroded = g.op('bg/erode', 'MaxPool', [g.op('bg/neg', 'Neg', [coarse], f32)], pool(15));
  const smooth = g.op('bg/smooth', 'AvgPool', [g.op('bg/floor', 'Neg', [eroded], f32)], pool(15));
  const sheet = g.op('bg/up', 'ResizeBilinear', [smooth, g.constInt('bg/size', [2], [h, w])], {
    ...f32,
    align_corners: attr.b(false),
    half_pixel_centers: attr.b(true),
  });
  const above = g.op(
    'fg/above',
    'Sub',
    [g.op('fg/diff', 'Sub', [ink1, sheet], f32), c('fgOffset', FG_OFFSET)],
    f32,
  );
  const fg = g.op('fg/fg', 'Sigmoid', [g.op('fg/steep', 'Mul', [above, c('fgSlope', FG_SLOPE)], f32)], f32);
  const mask = g.op('fg/mask', 'Cast', [g.op('fg/gt', 'Greater', [fg, c('half', 0.5)], f32)], toFloat); // [B, h, w, 1] 0/1

  // Stage 3: per-pixel codes (y·S + x + 1, −y·S + x, x·S + y, −x·S + y) with S = 512 ≥ h, w, built by broadcasting
  // [1, h, 1, 4] + [1, 1, w, 4]. The blob maximum of each code gives (maxY, minY, maxX, minX) by floor(code / S), and
  // the first code is a unique id. Values stay below 2^24, so float32 holds them exactly.
  const ys = new Array<number>(h * 4).fill(0);
  const xs = new Array<number>(w * 4).fill(0);
  for (let i = 0; i < h; i++) ys.splice(i * 4, 4, i * S + 1, -i * S, i, i);
  for (let j = 0; j < w; j++) xs.splice(j * 4, 4, j, j, j * S, -j * S);
  const own = g.op(
    'cc/own',
    'AddV2',
    [g.constFloat('cc/ys', [1, h, 1, 4], ys), g.constFloat('cc/xs', [1, 1, w, 4], xs)],
    f32,
  ); // [1, h, w, 4]
  // limit = +BIG inside the mask, −BIG outside: min(max5x5(v), limit) keeps blob values and resets the rest.
  // Broadcast once to 4 channels: wasm's Minimum is slow when it has to broadcast.
  const limit1 = g.op(
    'cc/limit1',
    'Sub',
    [g.op('cc/limit2', 'Mul', [mask, c('big2', 2 * BIG)], f32), c('big', BIG)],
    f32,
  );
  const limit = g.op('cc/limit', 'AddV2', [limit1, g.constFloat('cc/zeros4', [4], [0, 0, 0, 0])], f32); // [B, h, w, 4]
  let v = g.op(
    'cc/init',
    'Minimum',
    [g.op('cc/own_b', 'AddV2', [own, g.op('cc/zero_b', 'Mul', [limit, c('zero', 0)], f32)], f32), limit],
    f32,
  );
  for (let s = 0; s < PROPAGATION_STEPS; s++) {
    const rows = g.op(`cc/step${s}/rows`, 'MaxPool', [v], {
      ...pool(1),
      ksize: attr.ints([1, 1, STEP_KERNEL, 1]),
    });
    const grown = g.op(`cc/step${s}/max`, 'MaxPool', [rows], {
      ...pool(1),
      ksize: attr.ints([1, STEP_KERNEL, 1, 1]),
    });
    v = g.op(`cc/step${s}/keep`, 'Minimum', [grown, limit], f32);
  }
  const begin0 = g.constInt('cc/begin0', [4], [0, 0, 0, 0]);
  const size1 = g.constInt('cc/size1', [4], [-1, -1, -1, 1]);
  const blobId = g.op('cc/blob_id', 'Slice', [v, begin0, size1], sliceAttrs);
  const ownId = g.op('cc/own_id', 'Slice', [own, begin0, size1], sliceAttrs);
  const isSeed = g.op('cc/is_seed', 'Cast', [g.op('cc/eq', 'Equal', [blobId, ownId], f32)], toFloat);
  const seed = g.op('cc/seed', 'Mul', [isSeed, mask], f32); // [B, h, w, 1]

  // Stage 4: rank seeds by about (height + width) in L1 pixels, + 3 so that every seed ranks above 1.
  const span = g.op(
    'box/span',
    'Conv2D',
    [v, g.constFloat('box/span_k', [1, 1, 4, 1], [1 / S, 1 / S, 1 / S, 1 / S])],
    {
      ...f32,
      strides: attr.ints([1, 1, 1, 1]),
      padding: attr.s('VALID'),
      data_format: attr.s('NHWC'),
      dilations: attr.ints([1, 1, 1, 1]),
    },
  );
  const rank = g.op('box/rank', 'Mul', [g.op('box/span3', 'AddV2', [span, c('three', 3)], f32), seed], f32);
  const rankFlat = g.op('box/rank_flat', 'Reshape', [rank, g.constInt('box/flat', [2], [-1, h * w])], {
    ...f32,
    Tshape: attr.type('DT_INT32'),
  });
  const topk = g.op('topk', 'TopKV2', [rankFlat, g.constInt('const/k', [], [DETECTOR_TOP_K])], {
    ...f32,
    sorted: attr.b(true),
  });
  // Gather the seeds' codes from [B·N, 4] with flat indices topk + b·N. (GatherV2 with batch_dims = 1 returns
  // rows of the wrong batch element on the wasm backend of tfjs 4.22, so the batch offset is added by hand.)
  const codes = g.op('box/codes', 'Reshape', [v, g.constInt('box/flat4', [2], [-1, 4])], {
    ...f32,
    Tshape: attr.type('DT_INT32'),
  }); // [B·N, 4]
  const ones = g.op('box/ones', 'OnesLike', ['topk'], f32); // [B, K]
  const batchIndex = g.op('box/batch', 'Cumsum', [ones, g.constInt('const/axis0', [], [0])], {
    ...f32,
    ...idx,
    exclusive: attr.b(true),
    reverse: attr.b(false),
  });
  const offset = g.op('box/offset', 'Cast', [g.op('box/offset_f', 'Mul', [batchIndex, c('n', h * w)], f32)], {
    SrcT: attr.type('DT_FLOAT'),
    DstT: attr.type('DT_INT32'),
    Truncate: attr.b(false),
  });
  const flatIndex = g.op('box/index', 'AddV2', ['topk:1', offset], { T: attr.type('DT_INT32') }); // [B, K]
  const gather = {
    Tparams: attr.type('DT_FLOAT'),
    Tindices: attr.type('DT_INT32'),
    Taxis: attr.type('DT_INT32'),
    batch_dims: attr.i(0),
  };
  const picked = g.op(
    'box/picked',
    'GatherV2',
    [codes, flatIndex, g.constInt('const/axis0b', [], [0])],
    gather,
  ); // [B, K, 4]
  // floor(code / S) = (maxY, −minY, maxX, −minX); reorder to (−minY, −minX, maxY, maxX).
  const decoded = g.op(
    'box/decoded',
    'Floor',
    [
      g.op(
        'box/shift',
        'AddV2',
        [
          g.op('box/div', 'Mul', [picked, c('inv_s', 1 / S)], f32),
          g.constFloat('box/minus_id', [4], [-1 / S, 0, 0, 0]),
        ],
        f32,
      ),
    ],
    f32,
  );
  const ordered = g.op(
    'box/ordered',
    'GatherV2',
    [decoded, g.constInt('box/order', [4], [1, 3, 0, 2]), g.constInt('const/axis2b', [], [2])],
    gather,
  );
  // L1 pixel i covers input pixels [2i, 2i + 2): y1 = 2·minY − pad, y2 = 2·(maxY + 1) + pad.
  const boxes = g.op(
    'detection_boxes',
    'AddV2',
    [
      g.op('box/scale', 'Mul', [ordered, g.constFloat('box/k', [4], [-2, -2, 2, 2])], f32),
      g.constFloat('box/b', [4], [-params.pad, -params.pad, 2 + params.pad, 2 + params.pad]),
    ],
    f32,
  );
  // Score from the box size; non-seeds (rank 0) score 0.
  const sizes = g.op(
    'box/sizes',
    'Sub',
    [
      g.op(
        'box/lo',
        'Slice',
        [boxes, g.constInt('box/b0', [3], [0, 0, 0]), g.constInt('box/s2', [3], [-1, -1, 2])],
        sliceAttrs,
      ),
      g.op(
        'box/hi',
        'Slice',
        [boxes, g.constInt('box/b2', [3], [0, 0, 2]), g.constInt('box/s2b', [3], [-1, -1, 2])],
        sliceAttrs,
      ),
    ],
    f32,
  ); // [B, K, 2] as (−height, −width)
  const area = g.op('box/area', 'Prod', [sizes, g.constInt('const/axis2', [1], [2])], {
    ...f32,
    ...idx,
    keep_dims: attr.b(false),
  }); // [B, K]
  const side = g.op('box/side', 'Sqrt', [g.op('box/area_pos', 'Relu', [area], f32)], f32);
  const logit = g.op(
    'score/logit',
    'Mul',
    [g.op('score/centred', 'Sub', [side, c('minSide', params.minSide)], f32), c('slope', params.slope)],
    f32,
  );
  const valid = g.op(
    'score/valid',
    'Cast',
    [g.op('score/gt', 'Greater', [topk, c('rank_min', 1)], f32)],
    toFloat,
  );
  const scores = g.op('detection_scores', 'Mul', [g.op('score/prob', 'Sigmoid', [logit], f32), valid], f32); // [B, K]
  g.output('boxes', boxes);
  g.output('scores', scores);
  return g;
}
