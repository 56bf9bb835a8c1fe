/**
 * ONNX → TF.js graph model, in memory.
 *
 * Steps: decode the protobuf; fold BatchNormalization into the preceding Conv (ONNX level, exact in float64); move
 * an input normalisation past the model's own resize (normalize-after-resize.ts); walk the nodes in their (topological) order, folding nodes whose inputs are all constant and translating the
 * rest with the op handlers; declare the outputs; drop dead nodes. The model input becomes an NHWC placeholder
 * [-1, H, W, C] (a rank-3 CHW image, as torchvision detection exports take, becomes an HWC placeholder with its
 * dynamic height and width kept): the service feeds NHWC, and with the layout tags of context.ts no transpose is
 * needed anywhere in a CNN classifier.
 */
import { GraphBuilder, TfDataType } from '../../models/graph-model-writer';
import { ConstTensor } from '../tensor';
import {
  ConversionError,
  ConversionStats,
  ConvertContext,
  countConsumers,
  identityPerm,
  NodeInfo,
  RtValue,
  SubgraphConverter,
  Value,
} from './context';
import { FOLDABLE_OPS, foldNode } from './fold';
import { handlerFor, RUNTIME_OPS } from './handlers';
import { moveNormalizationPastResize } from './normalize-after-resize';
import {
  attrsOf,
  decodeOnnxModel,
  getAttr,
  onnx,
  tensorFromProto,
  toNum,
  valueInfoShape,
} from './onnx-proto';
import { sanitizeName, tfAttr, TfGraph } from './tf-graph';

export { ConversionError };

/** Options for `convertOnnx`. */
export interface OnnxConvertOptions {
  /** Input [height, width]; required when the ONNX input has dynamic spatial dims, checked against it otherwise. */
  inputSize?: [number, number];
  /** Progress lines (the CLI passes a stderr writer). */
  log?: (line: string) => void;
}

/**
 * The converted model's input, as a manifest needs it.
 *
 * - YOLO / classifier exports (`[1|N, 3, H, W]`): rank 4, onnxLayout 'NCHW', layout 'NHWC', shape `[-1, H, W, 3]`
 *   (the batch is always dynamic in the converted graph; `fixedBatch` says whether the export baked one in).
 * - torchvision detection exports (`[3, H, W]`, dynamic H/W): rank 3, onnxLayout 'CHW', layout 'HWC',
 *   shape `[-1, -1, 3]`, fixedBatch null: one whole image per run, no batch dimension.
 */
export interface OnnxInputInfo {
  /** Placeholder name in the TF graph. */
  name: string;
  onnxName: string;
  /** Layout of the ONNX input. */
  onnxLayout: 'NCHW' | 'NHWC' | 'CHW' | 'HWC';
  /** Layout of the converted model's input: what the service feeds. */
  layout: 'NHWC' | 'HWC';
  rank: 3 | 4;
  /** Converted input shape in `layout` order; -1 marks a dynamic dim. */
  shape: number[];
  /** ONNX input shape; -1 marks a dynamic dim. */
  onnxShape: number[];
  /** The batch size the ONNX export fixed (1 for ultralytics exports), or null when dynamic or absent. */
  fixedBatch: number | null;
}

/** One output of the converted model. */
export interface OnnxOutputInfo {
  /** Signature key (and node name) in the TF graph. */
  key: string;
  onnxName: string;
  /** ONNX-order shape; -1 marks a dim known only at run time (batch, detection count). */
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
}

/** The result of a conversion. */
export interface OnnxConversion {
  builder: GraphBuilder;
  input: OnnxInputInfo;
  outputs: OnnxOutputInfo[];
  /** The ONNX file's metadata_props (ultralytics writes names, imgsz, stride, task there). */
  metadata: Record<string, string>;
  /**
   * True when the graph holds control flow (If) or ops with data-dependent output sizes (NonMaxSuppression,
   * NonZero → Where): TF.js runs it only through `executeAsync`.
   */
  needsAsync: boolean;
  opset: number;
  producer: string;
  /** True when the last op before the (single) output is Softmax: the model emits probabilities. */
  endsWithSoftmax: boolean;
  stats: ConversionStats & {
    onnxNodes: number;
    tfNodes: number;
    parameters: number;
    opHistogram: Record<string, number>;
  };
  warnings: string[];
}

/** Ops the converter accepts: translated at run time, and evaluated when their inputs are constant. */
export function supportedOps(): { runtime: readonly string[]; constantOnly: readonly string[] } {
  return { runtime: RUNTIME_OPS, constantOnly: FOLDABLE_OPS.filter((op) => !RUNTIME_OPS.includes(op)) };
}

function unsupportedOpMessage(op: string, node: string, domain: string): string {
  const { runtime, constantOnly } = supportedOps();
  const qualified = domain ? `${domain}::${op}` : op;
  return (
    `unsupported ONNX op "${qualified}" at node "${node}". Supported ops: ${runtime.join(', ')}. ` +
    `Supported only on constant inputs (folded at conversion time): ${constantOnly.join(', ')}.`
  );
}

/** TF ops TF.js runs only through executeAsync. */
const ASYNC_OPS = new Set(['If', 'StatelessIf', 'NonMaxSuppressionV3', 'NonMaxSuppressionV5', 'Where']);

const TF_DTYPE: Record<RtValue['dtype'], TfDataType> = {
  float32: 'DT_FLOAT',
  int32: 'DT_INT32',
  bool: 'DT_BOOL',
};

/**
 * Folds `BatchNormalization(Conv(x, W, b))` into `Conv(x, W', b')` when the conv output feeds only the BN:
 * W'[o] = W[o]·s[o], b' = (b − mean)·s + beta, s = gamma / sqrt(var + eps). Returns the remaining nodes.
 */
function foldBatchNorms(
  nodes: onnx.INodeProto[],
  consts: Map<string, ConstTensor>,
  graphOutputs: string[],
): { nodes: onnx.INodeProto[]; folded: number } {
  const consumers = countConsumers(nodes, graphOutputs);
  const producer = new Map<string, onnx.INodeProto>();
  for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n);
  const removed = new Set<onnx.INodeProto>();
  let folded = 0;
  for (const bn of nodes) {
    if (bn.opType !== 'BatchNormalization' || (bn.domain ?? '') !== '') continue;
    const inputs = bn.input ?? [];
    const x = inputs[0];
    const conv = producer.get(x);
    if (!conv || conv.opType !== 'Conv' || consumers.get(x) !== 1) continue;
    if ((bn.output ?? []).slice(1).some((o) => o && (consumers.get(o) ?? 0) > 0)) continue;
    const attrs = attrsOf(bn);
    if (getAttr.int(attrs, 'training_mode', 0) === 1) continue;
    const params = inputs.slice(1, 5).map((name) => consts.get(name));
    const w = consts.get(conv.input?.[1] ?? '');
    const convBias = conv.input?.[2] ? consts.get(conv.input[2]) : undefined;
    if (!w || params.some((p) => !p) || (conv.input?.[2] && !convBias)) continue;
    const [gamma, beta, mean, variance] = params as ConstTensor[];
    const eps = getAttr.float(attrs, 'epsilon', 1e-5);
    const O = w.shape[0];
    const per = w.data.length / O;
    const newW = new Float32Array(w.data.length);
    const newB = new Float32Array(O);
    for (let o = 0; o < O; o++) {
      const s = gamma.data[o] / Math.sqrt(variance.data[o] + eps);
      for (let i = 0; i < per; i++) newW[o * per + i] = w.data[o * per + i] * s;
      newB[o] = ((convBias ? convBias.data[o] : 0) - mean.data[o]) * s + beta.data[o];
    }
    const base = `${conv.name || x}/bn_folded`;
    consts.set(`${base}/weight`, { dtype: 'float32', shape: [...w.shape], data: newW });
    consts.set(`${base}/bias`, { dtype: 'float32', shape: [O], data: newB });
    conv.input = [conv.input?.[0] ?? '', `${base}/weight`, `${base}/bias`];
    conv.output = [bn.output?.[0] ?? ''];
    if (!conv.name) conv.name = bn.name;
    removed.add(bn);
    folded++;
  }
  return { nodes: nodes.filter((n) => !removed.has(n)), folded };
}

function detectLayout(shape: number[]): OnnxInputInfo['onnxLayout'] {
  const ch = (d: number): boolean => d === 1 || d === 3 || d === 4;
  if (shape.length === 3) return ch(shape[0]) || !ch(shape[2]) ? 'CHW' : 'HWC';
  if (ch(shape[1])) return 'NCHW';
  if (ch(shape[3])) return 'NHWC';
  return 'NCHW';
}

/**
 * Walks nodes in their (topological) order: folds those whose inputs are all constant and translates the rest with
 * the op handlers, reading and writing `ctx.scope`.
 */
function convertNodes(
  nodes: onnx.INodeProto[],
  ctx: ConvertContext,
  opset: number,
  log: (line: string) => void,
  producerOp: Map<string, string>,
): void {
  const values = ctx.scope;
  const convertStart = Date.now();
  let lastLog = convertStart;
  const foldable = new Set(FOLDABLE_OPS);
  nodes.forEach((node, index) => {
    const op = node.opType ?? '';
    const domain = node.domain ?? '';
    const name = sanitizeName(node.name || `${op}_${index}`);
    if (domain !== '' && domain !== 'ai.onnx')
      throw new ConversionError(unsupportedOpMessage(op, node.name || name, domain));
    const inputs = (node.input ?? []).map((i) => {
      if (!i) return null;
      const v = values.get(i);
      if (!v)
        throw new ConversionError(
          `${op} node "${node.name || name}" reads "${i}", which no earlier node produces`,
        );
      return v;
    });
    const info: NodeInfo = {
      op,
      name,
      inputNames: node.input ?? [],
      outputNames: node.output ?? [],
      attrs: attrsOf(node),
      opset,
    };
    let outs: Value[] | null = null;
    try {
      if (inputs.every((v) => v === null || v.kind === 'const') && foldable.has(op)) {
        const r = foldNode(
          op,
          inputs.map((v) => (v && v.kind === 'const' ? v.t : null)),
          info.attrs,
        );
        if (r) {
          outs = r.map((t) => ({ kind: 'const', t }));
          if (op !== 'Constant') ctx.stats.foldedConstantNodes++;
        }
      }
      if (!outs) {
        const handler = handlerFor(op);
        if (!handler) throw new ConversionError(unsupportedOpMessage(op, node.name || name, ''));
        outs = handler(info, inputs, ctx);
      }
    } catch (err) {
      if (err instanceof ConversionError) throw err;
      throw new ConversionError(`${op} node "${node.name || name}": ${(err as Error).message}`);
    }
    outs.forEach((v, k) => {
      const outName = info.outputNames[k];
      if (outName) {
        values.set(outName, v);
        producerOp.set(outName, op);
      }
    });
    if (Date.now() - lastLog > 1000) {
      lastLog = Date.now();
      // ETA from the pace so far: large models (ResNet-50, EfficientNet) take long enough to want one.
      const eta = ((lastLog - convertStart) / (index + 1)) * (nodes.length - index - 1);
      log(
        `converted ${index + 1}/${nodes.length} nodes (${op} ${node.name ?? ''}), ETA ${Math.ceil(eta / 1000)} s`,
      );
    }
  });
}

/**
 * Converts an ONNX model, serialized or already decoded (a caller that reads the file's metadata first passes
 * its decoded model rather than decoding the bytes twice). A decoded model is used up: Conv+BatchNormalization
 * folding rewrites its Conv nodes in place, so read what else you need from it first and convert it once.
 * Throws ConversionError with the node name when something is unsupported.
 */
export function convertOnnx(
  source: Uint8Array | onnx.ModelProto,
  options: OnnxConvertOptions = {},
): OnnxConversion {
  const log = options.log ?? ((): void => undefined);
  const warnings: string[] = [];
  const warn = (w: string): void => {
    warnings.push(w);
    log(`warning: ${w}`);
  };
  const model = source instanceof onnx.ModelProto ? source : decodeOnnxModel(source);
  const graph = model.graph;
  if (!graph) throw new ConversionError('the file has no graph');
  const opset =
    toNum((model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version) || 1;
  // Parity tests cover opset 11 (torchvision detection exports) through 20 (Gelu).
  if (opset < 11 || opset > 20) warn(`opset ${opset} is outside the tested range 11–20`);
  log(
    `decoded ONNX: ${graph.node?.length ?? 0} nodes, ${graph.initializer?.length ?? 0} initializers, opset ${opset}, ` +
      `producer ${model.producerName || '?'} ${model.producerVersion || ''}`.trim(),
  );

  const consts = new Map<string, ConstTensor>();
  for (const init of graph.initializer ?? []) consts.set(init.name ?? '', tensorFromProto(init));
  const graphOutputs = (graph.output ?? []).map((o) => o.name ?? '');
  const folded = foldBatchNorms([...(graph.node ?? [])], consts, graphOutputs);
  if (folded.folded > 0) log(`folded ${folded.folded} BatchNormalization nodes into their convolutions`);
  const normalization = moveNormalizationPastResize(folded.nodes, consts, graph.input ?? [], graphOutputs);
  const nodes = normalization.nodes;
  if (normalization.moved > 0)
    log(`moved ${normalization.moved} input normalization(s) past the model's resize`);

  // The image input.
  const realInputs = (graph.input ?? []).filter((i) => !consts.has(i.name ?? ''));
  if (realInputs.length !== 1) {
    throw new ConversionError(
      `expected one image input, found ${realInputs.length}: ${realInputs.map((i) => i.name).join(', ') || '(none)'}`,
    );
  }
  const inputInfo = realInputs[0];
  const onnxInputName = inputInfo.name ?? 'input';
  const inShape = valueInfoShape(inputInfo);
  if (!inShape || (inShape.length !== 4 && inShape.length !== 3)) {
    throw new ConversionError(
      `input "${onnxInputName}" must be a rank-4 image batch or a rank-3 image, got ${inShape ? `[${inShape.join(',')}]` : 'no shape'}`,
    );
  }
  const rank: 3 | 4 = inShape.length === 3 ? 3 : 4;
  const layout = detectLayout(inShape);
  const [hAxis, wAxis, cAxis] = {
    NCHW: [2, 3, 1],
    NHWC: [1, 2, 3],
    CHW: [1, 2, 0],
    HWC: [0, 1, 2],
  }[layout];
  for (const [i, axis] of [hAxis, wAxis].entries()) {
    const want = options.inputSize?.[i];
    if (inShape[axis] < 0) {
      // A rank-3 image (torchvision detection) takes any size: the graph resizes it itself.
      if (rank === 3 && !want) continue;
      if (!want)
        throw new ConversionError(
          `input "${onnxInputName}" has dynamic height/width; pass the input size (--input-size)`,
        );
      inShape[axis] = want;
    } else if (want && want !== inShape[axis]) {
      throw new ConversionError(
        `input "${onnxInputName}" is fixed at ${inShape[hAxis]}×${inShape[wAxis]}, not ${options.inputSize?.join('×')}`,
      );
    }
  }
  if (inShape[cAxis] < 0)
    throw new ConversionError(`input "${onnxInputName}": the channel count must be fixed`);
  let fixedBatch: number | null = null;
  if (rank === 4 && inShape[0] > 0) {
    fixedBatch = inShape[0];
    warn(
      `input "${onnxInputName}" has a fixed batch size of ${fixedBatch}; the converted model accepts any batch, but ` +
        're-export with dynamic_axes={"input": {0: "batch"}} so that no batch-dependent constant is baked in',
    );
    inShape[0] = -1;
  }

  const tf = TfGraph.create();
  const values = new Map<string, Value>();
  const subgraph: SubgraphConverter = (g, scope, c) => {
    for (const init of g.initializer ?? [])
      scope.set(init.name ?? '', { kind: 'const', t: tensorFromProto(init) });
    convertNodes(g.node ?? [], c, opset, log, new Map());
    return (g.output ?? []).map((o) => {
      const v = scope.get(o.name ?? '');
      if (!v) throw new ConversionError(`subgraph output "${o.name}" is never produced`);
      return v;
    });
  };
  const ctx = new ConvertContext(tf, countConsumers(nodes, graphOutputs), fixedBatch, values, subgraph);
  ctx.stats.foldedBatchNorms = folded.folded;
  ctx.stats.normalizationsAfterResize = normalization.moved;
  ctx.batchAsNaN = rank === 4;
  const inputName = sanitizeName(onnxInputName);
  const hwc = [inShape[hAxis], inShape[wAxis], inShape[cAxis]];
  const tfInputShape = rank === 4 ? [-1, ...hwc] : hwc;
  const placeholder = tf.placeholder(inputName, tfInputShape);
  for (const [name, t] of consts) values.set(name, { kind: 'const', t });
  values.set(onnxInputName, {
    kind: 'rt',
    ref: placeholder,
    shape: inShape,
    // TF dim k is ONNX dim perm[k].
    perm: rank === 4 ? [0, hAxis, wAxis, cAxis] : [hAxis, wAxis, cAxis],
    dtype: 'float32',
  });

  const producerOp = new Map<string, string>();
  convertNodes(nodes, ctx, opset, log, producerOp);

  const outputs: OnnxConversion['outputs'] = [];
  const signature: Record<string, string> = {};
  const outputTypes: Record<string, TfDataType> = {};
  for (const o of graphOutputs) {
    const v = values.get(o);
    if (!v) throw new ConversionError(`graph output "${o}" is never produced`);
    if (v.kind === 'const') throw new ConversionError(`graph output "${o}" is a constant; nothing to run`);
    const plain: RtValue = ctx.withPerm(v, identityPerm(v.shape.length), `${sanitizeName(o)}/to_onnx_layout`);
    const key = sanitizeName(o);
    const tfType = TF_DTYPE[plain.dtype];
    const ref = tf.op(key, 'Identity', [plain.ref], { T: tfAttr.T(tfType) });
    signature[key] = ref;
    outputTypes[key] = tfType;
    outputs.push({ key, onnxName: o, shape: plain.shape, dtype: plain.dtype });
  }
  const builder = tf.finish(signature, outputTypes);
  const opHistogram: Record<string, number> = {};
  for (const n of builder.nodes) opHistogram[n.op] = (opHistogram[n.op] ?? 0) + 1;
  const stats = {
    ...ctx.stats,
    onnxNodes: graph.node?.length ?? 0,
    tfNodes: builder.nodes.filter((n) => n.op !== 'Const').length,
    parameters: builder.parameterCount(),
    opHistogram,
  };
  log(
    `converted: ${stats.onnxNodes} ONNX nodes → ${stats.tfNodes} TF ops (+${opHistogram.Const ?? 0} weights), ` +
      `${stats.parameters.toLocaleString('en-US')} parameters; folded ${stats.foldedBatchNorms} BN, ` +
      `${stats.foldedConstantNodes} constant nodes, ${stats.foldedIntoConv} per-channel ops, ` +
      `${stats.fusedActivations} activations; ${stats.insertedTransposes} transposes inserted`,
  );
  const single = graphOutputs.length === 1 ? producerOp.get(graphOutputs[0]) : undefined;
  return {
    builder,
    input: {
      name: inputName,
      onnxName: onnxInputName,
      onnxLayout: layout,
      layout: rank === 4 ? 'NHWC' : 'HWC',
      rank,
      shape: tfInputShape,
      onnxShape: [...inShape],
      fixedBatch,
    },
    needsAsync: [
      ...builder.nodes.map((nd) => nd.op),
      ...builder.functionDefs().flatMap((f) => f.nodeDef.map((nd) => nd.op)),
    ].some((op) => ASYNC_OPS.has(op)),
    metadata: Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? ''])),
    outputs,
    opset,
    producer: `${model.producerName ?? ''} ${model.producerVersion ?? ''}`.trim(),
    endsWithSoftmax: single === 'Softmax',
    stats,
    warnings,
  };
}
