/**
 * Softmax, LayerNormalization and BatchNormalization (one not folded into a conv).
 */
import { makeConst, normAxis } from '../../tensor';
import { ConstValue, ConversionError, identityPerm, Value } from '../context';
import { getAttr } from '../onnx-proto';
import { constant, OpHandler, optionalConst, runtime, T } from './common';
import { reduce } from './convolution';
import { binary, scalarOp } from './elementwise';

export const softmax =
  (tfOp: 'Softmax' | 'LogSoftmax'): OpHandler =>
  (n, inputs, ctx) => {
    let v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
    const rank = v.shape.length;
    const axis = normAxis(getAttr.int(n.attrs, 'axis', n.opset >= 13 ? -1 : 1), rank);
    if (n.opset < 13 && v.shape.slice(axis + 1).some((d) => d !== 1)) {
      throw new ConversionError(
        `${n.op} node "${n.name}": opset < 13 softmax over several axes is not supported`,
      );
    }
    if (v.perm[rank - 1] !== axis) v = ctx.withPerm(v, [...v.perm.filter((p) => p !== axis), axis], n.name);
    return [ctx.emit(n.name, tfOp, [v.ref], { T: T() }, v)];
  };

export const layerNorm: OpHandler = (n, inputs, ctx) => {
  const v = ctx.plain(runtime(n, inputs, 0, ctx), n.name);
  if (n.outputNames.slice(1).some((o) => o && ctx.consumers(o) > 0)) {
    throw new ConversionError(
      `LayerNormalization node "${n.name}": the Mean/InvStdDev outputs are not supported`,
    );
  }
  const rank = v.shape.length;
  const axis = normAxis(getAttr.int(n.attrs, 'axis', -1), rank);
  const eps = getAttr.float(n.attrs, 'epsilon', 1e-5);
  const axes = identityPerm(rank).slice(axis);
  const mean = reduce(n, v, 'Mean', axes, true, ctx, `${n.name}/mean`);
  const d = ctx.emit(`${n.name}/centered`, 'Sub', [v.ref, mean.ref], { T: T() }, v);
  const sq = ctx.emit(`${n.name}/square`, 'Square', [d.ref], { T: T() }, v);
  const variance = reduce(n, sq, 'Mean', axes, true, ctx, `${n.name}/variance`);
  const plusEps = scalarOp(`${n.name}/add_eps`, 'AddV2', variance, eps, ctx);
  const inv = ctx.emit(`${n.name}/rsqrt`, 'Rsqrt', [plusEps.ref], { T: T() }, plusEps);
  let y: Value = ctx.emit(`${n.name}/normalized`, 'Mul', [d.ref, inv.ref], { T: T() }, v);
  const scale = constant(n, inputs, 1, 'scale');
  y = binary(n, 'Mul', y, { kind: 'const', t: scale }, ctx, [false, false], `${n.name}/scale`);
  const b = optionalConst(n, inputs, 2, 'bias');
  if (b) y = binary(n, 'Add', y, { kind: 'const', t: b }, ctx, [false, false], `${n.name}/bias`);
  return [y];
};

export const batchNorm: OpHandler = (n, inputs, ctx) => {
  const v = runtime(n, inputs, 0, ctx);
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) =>
    constant(n, inputs, i, ['scale', 'B', 'mean', 'var'][i - 1]),
  );
  const eps = getAttr.float(n.attrs, 'epsilon', 1e-5);
  const C = scale.data.length;
  const s = new Float32Array(C);
  const sh = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    s[c] = scale.data[c] / Math.sqrt(variance.data[c] + eps);
    sh[c] = bias.data[c] - mean.data[c] * s[c];
  }
  const perChannel = (data: Float32Array): ConstValue => ({
    kind: 'const',
    t: makeConst('float32', [C, ...new Array<number>(Math.max(0, v.shape.length - 2)).fill(1)], data),
  });
  const single = ctx.consumers(n.inputNames[0]) === 1;
  const scaled = binary(n, 'Mul', v, perChannel(s), ctx, [single, false], `${n.name}/scale`);
  return [binary(n, 'Add', scaled, perChannel(sh), ctx, [single, false], `${n.name}/shift`)];
};
