/**
 * Dtype control and pass-through ops: Cast, Identity, Dropout (inference).
 */
import { ConversionError } from '../context';
import { getAttr } from '../onnx-proto';
import { tfAttr } from '../tf-graph';
import { OpHandler, runtime } from './common';

/** Identity and inference-mode Dropout: the value itself. */
export const alias: OpHandler = (n, inputs, ctx) => {
  if (n.op === 'Dropout' && n.outputNames[1] && ctx.consumers(n.outputNames[1]) > 0) {
    throw new ConversionError(`Dropout node "${n.name}": the mask output is not supported`);
  }
  const v = runtime(n, inputs, 0, ctx);
  return [{ ...v, fuse: ctx.consumers(n.inputNames[0]) === 1 ? v.fuse : undefined }];
};

export const cast: OpHandler = (n, inputs, ctx) => {
  const v = runtime(n, inputs, 0, ctx);
  const to = getAttr.int(n.attrs, 'to', 1);
  if ((to === 1 || to === 10 || to === 11) && v.dtype === 'float32') return [v];
  const dst = to === 1 || to === 10 || to === 11 ? 'DT_FLOAT' : to === 9 ? 'DT_BOOL' : 'DT_INT32';
  const p = ctx.plain(v, n.name);
  return [
    ctx.emit(
      n.name,
      'Cast',
      [p.ref],
      { DstT: tfAttr.T(dst) },
      { ...p, dtype: dst === 'DT_FLOAT' ? 'float32' : dst === 'DT_BOOL' ? 'bool' : 'int32' },
    ),
  ];
};
