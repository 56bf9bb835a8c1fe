/**
 * Detection ops: TopK, NonMaxSuppression, NonZero.
 *
 * NonMaxSuppression and NonZero have data-dependent output sizes: TF.js runs them only through the graph model's
 * `executeAsync`. Their outputs carry -1 for the size known only at run time.
 */
import { constValues, normAxis } from '../../tensor';
import { ConversionError, identityPerm, RtValue } from '../context';
import { getAttr } from '../onnx-proto';
import { tfAttr } from '../tf-graph';
import { OpHandler, optionalConst, runtime, T } from './common';

const INT32_MAX = 2147483647;

/** ONNX TopK (opset 10+: K as an input) → TopKV2 on the last TF axis; `largest=0` negates around it. */
export const topK: OpHandler = (n, inputs, ctx) => {
  const v0 = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  const rank = v0.shape.length;
  const axis = normAxis(getAttr.int(n.attrs, 'axis', -1), rank);
  const largest = getAttr.int(n.attrs, 'largest', 1) === 1;
  // sorted=0 leaves the order unspecified in ONNX; sorted is one valid order.
  const v =
    v0.perm[rank - 1] === axis ? v0 : ctx.withPerm(v0, [...v0.perm.filter((p) => p !== axis), axis], n.name);
  let kRef: string;
  let k = -1;
  const kIn = n.opset >= 10 ? inputs[1] : null;
  if (n.opset < 10) {
    k = getAttr.int(n.attrs, 'k', 1);
    kRef = ctx.graph.constInt(`${n.name}/k`, [], [k]);
  } else if (kIn && kIn.kind === 'const') {
    k = constValues(kIn.t)[0];
    kRef = ctx.graph.constInt(`${n.name}/k`, [], [k]);
  } else {
    // K computed at run time (min(pre_nms_top_n, anchors) in torchvision's RPN): a [1] int64 → int32 scalar.
    const kv = runtime(n, inputs, 1, ctx);
    const scalarShape = ctx.graph.constInt(`${n.name}/k_shape`, [0], []);
    const r = ctx.graph.op(`${n.name}/k_scalar`, 'Reshape', [kv.ref, scalarShape], {
      T: tfAttr.T('DT_INT32'),
      Tshape: tfAttr.T('DT_INT32'),
    });
    kRef =
      kv.dtype === 'int32' ? r : ctx.graph.op(`${n.name}/k_int`, 'Cast', [r], { DstT: tfAttr.T('DT_INT32') });
  }
  let x = v.ref;
  if (!largest) x = ctx.graph.op(`${n.name}/negate`, 'Neg', [x], { T: T() });
  const ref = ctx.graph.op(n.name, 'TopKV2', [x, kRef], { T: T(), sorted: tfAttr.b(true) });
  const shape = [...v.shape];
  shape[axis] = k;
  let values = `${ref}:0`;
  if (!largest) values = ctx.graph.op(`${n.name}/values`, 'Neg', [values], { T: T() });
  return [
    { kind: 'rt', ref: values, shape, perm: v.perm, dtype: v.dtype },
    { kind: 'rt', ref: `${ref}:1`, shape: [...shape], perm: v.perm, dtype: 'int32' },
  ];
};

/**
 * ONNX NonMaxSuppression for one image and one class (what torchvision exports: batched_nms offsets the boxes per
 * class and calls NMS once) → NonMaxSuppressionV3 on [N, 4] boxes and [N] scores; the selected indices [K] become
 * ONNX's [K, 3] (batch, class, box) rows.
 */
export const nonMaxSuppression: OpHandler = (n, inputs, ctx) => {
  const boxes = runtime(n, inputs, 0, ctx);
  const scores = runtime(n, inputs, 1, ctx);
  if (getAttr.int(n.attrs, 'center_point_box', 0) !== 0) {
    throw new ConversionError(`NonMaxSuppression node "${n.name}": center_point_box=1 is not supported`);
  }
  const [batch, classes] = [boxes.shape[0], scores.shape[1]];
  const oneImage = batch === 1 || (batch < 0 && ctx.fixedBatch === 1);
  if (!oneImage || classes !== 1) {
    throw new ConversionError(
      `NonMaxSuppression node "${n.name}": only one image and one class per call are supported ` +
        `(boxes [${boxes.shape.join(',')}], scores [${scores.shape.join(',')}])`,
    );
  }
  const maxOut = optionalConst(n, inputs, 2, 'max_output_boxes_per_class');
  const iou = optionalConst(n, inputs, 3, 'iou_threshold');
  const scoreTh = optionalConst(n, inputs, 4, 'score_threshold');
  // ONNX's default of 0 boxes per class selects nothing; a huge int64 means "all".
  const maxBoxes = maxOut ? Math.min(constValues(maxOut)[0], INT32_MAX) : 0;
  const g = ctx.graph;
  const b = ctx.reshape(boxes, [-1, 4], `${n.name}/boxes`);
  const s = ctx.reshape(scores, [-1], `${n.name}/scores`);
  const selected = g.op(
    n.name,
    'NonMaxSuppressionV3',
    [
      b.ref,
      s.ref,
      g.constInt(`${n.name}/max_output_size`, [], [maxBoxes]),
      g.constFloat(`${n.name}/iou_threshold`, [], Float32Array.of(iou ? iou.data[0] : 0)),
      g.constFloat(`${n.name}/score_threshold`, [], Float32Array.of(scoreTh ? scoreTh.data[0] : -3.4e38)),
    ],
    { T: T() },
  );
  // [K] → [K, 1]; zeros for the batch and class columns; [K, 3].
  const column = g.op(
    `${n.name}/column`,
    'Reshape',
    [selected, g.constInt(`${n.name}/column_shape`, [2], [-1, 1])],
    {
      T: tfAttr.T('DT_INT32'),
      Tshape: tfAttr.T('DT_INT32'),
    },
  );
  const zeros = g.op(`${n.name}/zeros`, 'ZerosLike', [column], { T: tfAttr.T('DT_INT32') });
  const ref = g.op(
    `${n.name}/rows`,
    'ConcatV2',
    [zeros, zeros, column, g.constInt(`${n.name}/axis`, [], [1])],
    {
      T: tfAttr.T('DT_INT32'),
      N: tfAttr.i(3),
      Tidx: tfAttr.T('DT_INT32'),
    },
  );
  return [{ kind: 'rt', ref, shape: [-1, 3], perm: [0, 1], dtype: 'int32' }];
};

/** ONNX NonZero → TF Where (async) on the tensor in ONNX order, transposed to ONNX's [rank, K]. */
export const nonZero: OpHandler = (n, inputs, ctx) => {
  const v0 = runtime(n, inputs, 0, ctx);
  const rank = v0.shape.length;
  const v: RtValue = ctx.withPerm(v0, identityPerm(rank), n.name);
  const g = ctx.graph;
  const cond =
    v.dtype === 'bool' ? v.ref : g.op(`${n.name}/as_bool`, 'Cast', [v.ref], { DstT: tfAttr.T('DT_BOOL') });
  const where = g.op(`${n.name}/where`, 'Where', [cond], { T: tfAttr.T('DT_BOOL') });
  const perm = g.constInt(`${n.name}/perm`, [2], [1, 0]);
  const ref = g.op(n.name, 'Transpose', [where, perm], {
    T: tfAttr.T('DT_INT32'),
    Tperm: tfAttr.T('DT_INT32'),
  });
  return [{ kind: 'rt', ref, shape: [rank, -1], perm: [0, 1], dtype: 'int32' }];
};
