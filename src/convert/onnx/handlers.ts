/**
 * ONNX op → TF graph translation: a names-only table mapping each ONNX op type to its handler. The handlers live
 * in `ops/`, one file per op family (as tfjs-converter's executors do).
 *
 * Handlers receive runtime values (with their layout tag, see context.ts) and constants, and return the values of
 * the node's outputs.
 */
import { OpHandler } from './ops/common';
import * as control from './ops/control';
import * as conv from './ops/convolution';
import * as det from './ops/detection';
import * as dtype from './ops/dtype';
import * as ew from './ops/elementwise';
import * as image from './ops/image';
import * as idx from './ops/indexing';
import * as mat from './ops/matrices';
import * as norm from './ops/normalization';
import * as shape from './ops/shape';

export type { OpHandler };

const HANDLERS: Readonly<Record<string, OpHandler>> = Object.freeze({
  Abs: ew.unaryHandler('Abs'),
  Add: ew.binaryHandler('Add'),
  And: ew.binaryHandler('And'),
  AveragePool: conv.pool('avg'),
  BatchNormalization: norm.batchNorm,
  Cast: dtype.cast,
  Ceil: ew.unaryHandler('Ceil'),
  Clip: ew.clip,
  Concat: shape.concat,
  ConstantOfShape: shape.constantOfShape,
  Conv: conv.conv,
  Div: ew.binaryHandler('Div'),
  Dropout: dtype.alias,
  Elu: ew.unaryHandler('Elu'),
  Equal: ew.binaryHandler('Equal'),
  Erf: ew.unaryHandler('Erf'),
  Exp: ew.unaryHandler('Exp'),
  Expand: shape.expand,
  Flatten: shape.flatten,
  Gelu: ew.gelu,
  Floor: ew.unaryHandler('Floor'),
  Gather: idx.gather,
  Gemm: mat.gemm,
  GlobalAveragePool: conv.globalPool('Mean'),
  GlobalMaxPool: conv.globalPool('Max'),
  Greater: ew.binaryHandler('Greater'),
  GreaterOrEqual: ew.binaryHandler('GreaterOrEqual'),
  HardSigmoid: ew.hardSigmoid,
  HardSwish: ew.hardSwish,
  Identity: dtype.alias,
  If: control.ifOp,
  LayerNormalization: norm.layerNorm,
  LeakyRelu: ew.leakyRelu,
  Less: ew.binaryHandler('Less'),
  LessOrEqual: ew.binaryHandler('LessOrEqual'),
  Log: ew.unaryHandler('Log'),
  LogSoftmax: norm.softmax('LogSoftmax'),
  MatMul: mat.matmul,
  Max: ew.variadicHandler('Max'),
  MaxPool: conv.maxPool,
  Min: ew.variadicHandler('Min'),
  Mul: ew.binaryHandler('Mul'),
  Neg: ew.unaryHandler('Neg'),
  NonMaxSuppression: det.nonMaxSuppression,
  NonZero: det.nonZero,
  Not: ew.not,
  Or: ew.binaryHandler('Or'),
  Pad: shape.pad,
  Pow: ew.binaryHandler('Pow'),
  Range: shape.range,
  Reciprocal: ew.unaryHandler('Reciprocal'),
  ReduceMax: conv.reduceHandler('Max', 18),
  ReduceMean: conv.reduceHandler('Mean', 18),
  ReduceMin: conv.reduceHandler('Min', 18),
  ReduceProd: shape.reduceProd,
  ReduceSum: conv.reduceHandler('Sum', 13),
  Relu: ew.relu,
  Reshape: shape.reshape,
  Resize: image.resize,
  RoiAlign: image.roiAlign,
  ScatterElements: idx.scatterElements,
  Shape: shape.shapeOf,
  Sigmoid: ew.sigmoid,
  Slice: idx.slice,
  Softmax: norm.softmax('Softmax'),
  Softplus: ew.unaryHandler('Softplus'),
  Split: idx.split,
  Sqrt: ew.unaryHandler('Sqrt'),
  Squeeze: shape.squeeze,
  Sub: ew.binaryHandler('Sub'),
  Sum: ew.variadicHandler('Add'),
  Tanh: ew.unaryHandler('Tanh'),
  TopK: det.topK,
  Transpose: shape.transpose,
  Unsqueeze: shape.unsqueeze,
  Where: ew.where,
});

/** The handler for an ONNX op type, or undefined. */
export function handlerFor(op: string): OpHandler | undefined {
  return Object.prototype.hasOwnProperty.call(HANDLERS, op) ? HANDLERS[op] : undefined;
}

/** ONNX op types translated at run time, sorted. */
export const RUNTIME_OPS: readonly string[] = Object.freeze(Object.keys(HANDLERS).sort());
