/**
 * What every op family shares: the handler signature and input readers.
 */
import { AttrValue, TfDataType } from '../../../models/graph-model-writer';
import { ConstTensor } from '../../tensor';
import { ConversionError, ConvertContext, NodeInfo, RtValue, Value } from '../context';
import { tfAttr } from '../tf-graph';

/** Translates one node. `inputs[i]` is null for an omitted optional input. */
export type OpHandler = (n: NodeInfo, inputs: (Value | null)[], ctx: ConvertContext) => Value[];

export const FLOAT_LOWEST = -3.4028234663852886e38;
export const T = (): AttrValue => tfAttr.T();

/** The TF dtype of a run-time value. */
export const tfType = (dtype: RtValue['dtype']): TfDataType =>
  dtype === 'float32' ? 'DT_FLOAT' : dtype === 'int32' ? 'DT_INT32' : 'DT_BOOL';

// ---------------------------------------------------------------------------------------------------------------
// Input helpers

export function runtime(n: NodeInfo, inputs: (Value | null)[], i: number, ctx: ConvertContext): RtValue {
  const v = inputs[i];
  if (!v) throw new ConversionError(`${n.op} node "${n.name}": input ${i} is missing`);
  return v.kind === 'rt' ? v : ctx.constAsRt(`${n.name}/const_${i}`, v.t);
}

export function constant(n: NodeInfo, inputs: (Value | null)[], i: number, what: string): ConstTensor {
  const v = inputs[i];
  if (!v) throw new ConversionError(`${n.op} node "${n.name}": the ${what} input is missing`);
  if (v.kind !== 'const') {
    throw new ConversionError(
      `${n.op} node "${n.name}": the ${what} (${n.inputNames[i]}) must be known at conversion time (an initializer ` +
        'or a constant expression), but it is computed at run time',
    );
  }
  return v.t;
}

export function optionalConst(
  n: NodeInfo,
  inputs: (Value | null)[],
  i: number,
  what: string,
): ConstTensor | null {
  return inputs[i] ? constant(n, inputs, i, what) : null;
}

/** Broadcast of two ONNX shapes where -1 is unknown. */
export function broadcastDims(a: number[], b: number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x === 1) out.push(y);
    else if (y === 1) out.push(x);
    else if (x === -1) out.push(y);
    else if (y === -1 || x === y) out.push(x);
    else throw new ConversionError(`cannot broadcast [${a.join(',')}] with [${b.join(',')}]`);
  }
  return out;
}
