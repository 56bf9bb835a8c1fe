import { convertOnnx, ConversionError, supportedOps } from '../../src/convert/onnx/convert-onnx';
import { efficientNetOps, mobilenetV3Ops, resnetOps, shapeChain, withUnsupportedOp } from './models';

const ops = (bytes: Uint8Array): Record<string, number> => convertOnnx(bytes).stats.opHistogram;

describe('BatchNormalization folding', () => {
  it('folds every Conv→BN pair into the conv weights: no BN, Mul or extra Add is left', () => {
    const r = convertOnnx(resnetOps());
    expect(r.stats.foldedBatchNorms).toBe(5);
    const hist = r.stats.opHistogram;
    for (const op of ['FusedBatchNorm', 'FusedBatchNormV3', 'Mul', 'Sub', 'Rsqrt'])
      expect(hist[op]).toBeUndefined();
    expect(hist.AddV2).toBe(1); // the residual connection only
    expect(hist._FusedConv2D).toBe(5);
  });

  it('fuses the following Relu into the conv kernel', () => {
    const r = convertOnnx(resnetOps());
    expect(r.stats.fusedActivations).toBe(3);
    const convs = r.builder.nodes.filter((n) => n.op === '_FusedConv2D');
    const fused = convs.map((n) =>
      (n.attr.fused_ops as { list: { s: string[] } }).list.s.map((s) => Buffer.from(s, 'base64').toString()),
    );
    expect(fused.filter((f) => f.join() === 'BiasAdd,Relu')).toHaveLength(3);
  });

  it('folds BN into depthwise and channel-multiplier convolutions too', () => {
    const r = convertOnnx(mobilenetV3Ops());
    expect(r.stats.foldedBatchNorms).toBe(3);
    expect(r.stats.opHistogram.FusedDepthwiseConv2dNative).toBe(2);
  });
});

describe('constant folding', () => {
  it('evaluates Shape→Gather→Unsqueeze→Cast→Slice→Mul→Concat chains at conversion time', () => {
    const r = convertOnnx(shapeChain());
    expect(r.stats.foldedConstantNodes).toBe(7);
    expect(Object.keys(r.stats.opHistogram).sort()).toEqual([
      'Const',
      'Identity',
      'Placeholder',
      'Reshape',
      '_FusedConv2D',
      '_FusedMatMul',
    ]);
    // The batch dimension stays dynamic: the folded Reshape target is [-1, 256].
    const reshape = r.builder.nodes.find((n) => n.op === 'Reshape');
    expect(reshape).toBeDefined();
    const { json, shard } = r.builder.toArtifacts();
    const weights = json.weightsManifest[0].weights;
    let offset = 0;
    for (const w of weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      if (w.name === reshape?.input[1]) {
        expect(
          Array.from(
            new Int32Array(shard.buffer.slice(shard.byteOffset + offset, shard.byteOffset + offset + 4 * n)),
          ),
        ).toEqual([-1, 256]);
      }
      offset += 4 * n;
    }
  });

  it('leaves no Shape/Gather/Unsqueeze plumbing from x.view(x.size(0), -1) in the EfficientNet-style graph', () => {
    const hist = ops(efficientNetOps());
    for (const op of ['Shape', 'GatherV2', 'ExpandDims', 'Pack', 'Cast', 'StridedSlice'])
      expect(hist[op]).toBeUndefined();
  });
});

describe('unsupported ops', () => {
  it('fails naming the op, the node and the supported list', () => {
    expect(() => convertOnnx(withUnsupportedOp())).toThrow(ConversionError);
    let message = '';
    try {
      convertOnnx(withUnsupportedOp());
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('unsupported ONNX op "LpNormalization" at node "/head/LpNormalization"');
    expect(message).toContain(`Supported ops: ${supportedOps().runtime.join(', ')}.`);
    expect(message).toContain('Supported only on constant inputs');
    expect(message).toMatch(/Conv, .*LayerNormalization/);
  });

  it('lists the runtime ops the issue asks for', () => {
    const wanted = [
      'Conv',
      'BatchNormalization',
      'Relu',
      'Clip',
      'HardSigmoid',
      'HardSwish',
      'Sigmoid',
      'Erf',
      'Gelu',
      'Add',
      'Sub',
      'Mul',
      'Div',
      'Pow',
      'GlobalAveragePool',
      'AveragePool',
      'MaxPool',
      'Flatten',
      'Reshape',
      'Transpose',
      'Concat',
      'Pad',
      'Identity',
      'Dropout',
      'Gemm',
      'MatMul',
      'LayerNormalization',
      'ReduceMean',
      'Sqrt',
      'Softmax',
    ];
    expect(wanted.filter((op) => !supportedOps().runtime.includes(op))).toEqual([]);
  });
});
