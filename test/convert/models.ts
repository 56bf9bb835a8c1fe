/**
 * Test networks written as ONNX with seeded random weights, one per op group, laid out the way
 * torch.onnx.export writes torchvision models (initializer names, Constant nodes, shape chains).
 */
import { OnnxBuilder } from '../../src/convert/onnx/onnx-writer';
import { ConstTensor, intConst, makeConst } from '../../src/convert/tensor';

/**
 * A seeded xorshift32 stream. Zero-mean uniform samples stand in for normal ones (same std). The loops touch no
 * globals: Jest's sandboxed globals make Math.* calls ~50× slower, which matters for ResNet-50's 25 M weights.
 */
export class Rand {
  private s: number;

  constructor(seed: number) {
    this.s = (seed * 2654435761) >>> 0 || 1;
  }

  /** n samples, uniform in [-√3·std, √3·std) (so the std is `std`), plus `mean`. */
  fill(n: number, std: number, mean = 0): Float32Array {
    const out = new Float32Array(n);
    const scale = (std * 1.7320508075688772) / 2147483648;
    let s = this.s;
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      out[i] = (s | 0) * scale + mean;
    }
    this.s = s;
    return out;
  }

  /** n samples uniform in [lo, hi). */
  uniform(n: number, lo: number, hi: number): Float32Array {
    return this.fill(n, (hi - lo) / 3.4641016151377544, (lo + hi) / 2);
  }
}

const f32 = (shape: number[], data: ArrayLike<number>): ConstTensor => makeConst('float32', shape, data);

/** OnnxBuilder plus layer helpers with seeded weights. */
export class Net {
  readonly b: OnnxBuilder;
  readonly rng: Rand;
  private n = 0;

  constructor(opset: number, seed: number) {
    this.b = new OnnxBuilder({ opset, producer: 'pytorch' });
    this.rng = new Rand(seed);
  }

  private id(prefix: string): string {
    return `${prefix}${this.n++}`;
  }

  weight(shape: number[], std: number, name = this.id('w')): string {
    return this.b.initializer(
      name,
      f32(
        shape,
        this.rng.fill(
          shape.reduce((a, c) => a * c, 1),
          std,
        ),
      ),
    );
  }

  param(shape: number[], lo: number, hi: number, name = this.id('p')): string {
    return this.b.initializer(
      name,
      f32(
        shape,
        this.rng.uniform(
          shape.reduce((a, c) => a * c, 1),
          lo,
          hi,
        ),
      ),
    );
  }

  conv(
    x: string,
    cin: number,
    cout: number,
    k: number,
    opts: { stride?: number; pad?: number; group?: number; bias?: boolean; dilation?: number } = {},
  ): string {
    const group = opts.group ?? 1;
    const pad = opts.pad ?? Math.floor(k / 2);
    const std = Math.sqrt(2 / ((cin / group) * k * k));
    const name = this.id('conv');
    const inputs = [x, this.weight([cout, cin / group, k, k], std, `${name}.weight`)];
    if (opts.bias) inputs.push(this.param([cout], -0.1, 0.1, `${name}.bias`));
    return this.b.op(
      'Conv',
      inputs,
      {
        dilations: { ints: [opts.dilation ?? 1, opts.dilation ?? 1] },
        group: { i: group },
        kernel_shape: { ints: [k, k] },
        pads: { ints: [pad, pad, pad, pad] },
        strides: { ints: [opts.stride ?? 1, opts.stride ?? 1] },
      },
      `/${name}/Conv`,
    );
  }

  bn(x: string, c: number, gamma: [number, number] = [0.5, 1.5]): string {
    const name = this.id('bn');
    return this.b.op(
      'BatchNormalization',
      [
        x,
        this.param([c], gamma[0], gamma[1], `${name}.weight`),
        this.param([c], -0.1, 0.1, `${name}.bias`),
        this.param([c], -0.1, 0.1, `${name}.running_mean`),
        this.param([c], 0.5, 1.5, `${name}.running_var`),
      ],
      { epsilon: { f: 1e-5 }, momentum: { f: 0.9 } },
      `/${name}/BatchNormalization`,
    );
  }

  op(type: string, inputs: string[], attrs: Parameters<OnnxBuilder['op']>[2] = {}): string {
    return this.b.op(type, inputs, attrs);
  }

  ints(values: number[], scalar = false): string {
    return this.b.constant(intConst(values, scalar));
  }

  scalar(v: number): string {
    return this.b.constant(f32([], [v]));
  }

  /** Linear layer exported as Gemm(transB=1), torch's layout [out, in]. */
  gemm(x: string, cin: number, cout: number): string {
    const name = this.id('fc');
    return this.b.op(
      'Gemm',
      [
        x,
        this.weight([cout, cin], 1 / Math.sqrt(cin), `${name}.weight`),
        this.param([cout], -0.1, 0.1, `${name}.bias`),
      ],
      { alpha: { f: 1 }, beta: { f: 1 }, transB: { i: 1 } },
      `/${name}/Gemm`,
    );
  }

  /** Linear layer on a rank > 2 tensor as torch exports it: MatMul with [in, out] then Add. */
  linear(x: string, cin: number, cout: number): string {
    const mm = this.op('MatMul', [x, this.weight([cin, cout], 1 / Math.sqrt(cin))]);
    return this.op('Add', [this.param([cout], -0.1, 0.1), mm]);
  }

  bytes(): Uint8Array {
    return this.b.toBytes();
  }
}

/** Conv/BN/Relu, MaxPool with pads, residual Add, GlobalAveragePool, Squeeze, Flatten, Gemm (opset 13). */
export function resnetOps(): Uint8Array {
  const m = new Net(13, 1);
  const x = m.b.input('input', ['batch', 3, 32, 32]);
  let y = m.op('Relu', [m.bn(m.conv(x, 3, 16, 7, { stride: 2, pad: 3 }), 16)]);
  y = m.op('MaxPool', [y], {
    kernel_shape: { ints: [3, 3] },
    pads: { ints: [1, 1, 1, 1] },
    strides: { ints: [2, 2] },
  });
  const a = m.op('Relu', [m.bn(m.conv(y, 16, 8, 1), 8)]);
  const b = m.op('Relu', [m.bn(m.conv(a, 8, 8, 3, { stride: 2 }), 8)]);
  const c = m.bn(m.conv(b, 8, 32, 1), 32, [0, 0.3]);
  const down = m.bn(m.conv(y, 16, 32, 1, { stride: 2, pad: 0 }), 32);
  y = m.op('Relu', [m.op('Add', [c, down])]);
  const pooled = m.op('GlobalAveragePool', [y]);
  const squeezed = m.op('Squeeze', [pooled, m.ints([3])]);
  const flat = m.op('Flatten', [squeezed], { axis: { i: 1 } });
  m.b.output(m.gemm(flat, 32, 10), ['batch', 10]);
  return m.bytes();
}

/** MobileNetV3 ops: HardSwish, HardSigmoid, depthwise (×2 multiplier), Clip→Relu6, SE, AveragePool, Flatten of a
 * 4×4 map into Gemm (weight rows permuted), Dropout, Identity (opset 17). */
export function mobilenetV3Ops(): Uint8Array {
  const m = new Net(17, 2);
  const x = m.b.input('input', ['batch', 3, 32, 32]);
  let y = m.op('HardSwish', [m.bn(m.conv(x, 3, 16, 3, { stride: 2 }), 16)]);
  const dw = m.bn(m.conv(y, 16, 16, 3, { group: 16 }), 16);
  y = m.op('Clip', [dw, m.scalar(0), m.scalar(6)]);
  const se = m.op('GlobalAveragePool', [y]);
  const s1 = m.op('Relu', [m.conv(se, 16, 8, 1, { bias: true, pad: 0 })]);
  const s2 = m.op('HardSigmoid', [m.conv(s1, 8, 16, 1, { bias: true, pad: 0 })], {
    alpha: { f: 1 / 6 },
    beta: { f: 0.5 },
  });
  y = m.op('Mul', [s2, y]);
  y = m.bn(m.conv(y, 16, 32, 3, { group: 16, stride: 2 }), 32); // depthwise with channel multiplier 2
  y = m.op('Identity', [y]);
  y = m.op('AveragePool', [y], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } });
  y = m.op('HardSwish', [y]);
  const flat = m.op('Flatten', [y], { axis: { i: 1 } }); // [N, 32·4·4]
  let h = m.op('HardSwish', [m.gemm(flat, 32 * 4 * 4, 24)]);
  h = m.b.node('Dropout', [h], {}, { outputs: 1 })[0];
  m.b.output(m.gemm(h, 24, 10), ['batch', 10]);
  return m.bytes();
}

/** EfficientNet ops: SiLU (Sigmoid·x), grouped conv, Pad + VALID conv, ReduceMean SE, Concat on channels,
 * AveragePool with pads (count_include_pad 0 and 1, ceil_mode), Shape/Gather/Unsqueeze/Concat → Reshape,
 * MatMul + Add, Clip, Sub, Div, Pow, Softmax output (opset 13). */
export function efficientNetOps(): Uint8Array {
  const m = new Net(13, 3);
  const x = m.b.input('input', ['batch', 3, 30, 30]);
  const stem = m.bn(m.conv(x, 3, 16, 3), 16);
  let y = m.op('Mul', [stem, m.op('Sigmoid', [stem])]);
  const padded = m.op('Pad', [y, m.ints([0, 0, 1, 0, 0, 0, 0, 1]), m.scalar(0)], { mode: { s: 'constant' } });
  const strided = m.conv(padded, 16, 16, 3, { stride: 2, pad: 0, bias: true }); // 31×31 → 15×15
  const grouped = m.bn(m.conv(strided, 16, 24, 3, { group: 2 }), 24);
  y = m.op('Mul', [grouped, m.op('Sigmoid', [grouped])]);
  const se = m.op('ReduceMean', [y], { axes: { ints: [2, 3] }, keepdims: { i: 1 } });
  const s1 = m.conv(se, 24, 6, 1, { bias: true, pad: 0 });
  const s1a = m.op('Mul', [s1, m.op('Sigmoid', [s1])]);
  const gate = m.op('Sigmoid', [m.conv(s1a, 6, 24, 1, { bias: true, pad: 0 })]);
  y = m.op('Mul', [y, gate]);
  const other = m.op('Clip', [m.conv(strided, 16, 8, 1, { pad: 0 }), m.scalar(-1), m.scalar(1)]);
  y = m.op('Concat', [y, other], { axis: { i: 1 } }); // 32 channels
  const avgExcl = m.op('AveragePool', [y], {
    kernel_shape: { ints: [3, 3] },
    pads: { ints: [1, 1, 1, 1] },
    strides: { ints: [2, 2] },
    count_include_pad: { i: 0 },
  }); // 15 → 8
  const avgIncl = m.op('AveragePool', [y], {
    kernel_shape: { ints: [2, 2] },
    strides: { ints: [2, 2] },
    count_include_pad: { i: 1 },
    ceil_mode: { i: 1 },
  }); // 15 → 8 (the last window is cut off)
  y = m.op('Sub', [avgExcl, m.op('Div', [avgIncl, m.scalar(4)])]);
  y = m.op('Pow', [m.op('Relu', [y]), m.scalar(2)]);
  // x.view(x.size(0), -1)
  const shape = m.op('Shape', [y]);
  const n = m.op('Unsqueeze', [m.op('Gather', [shape, m.ints([0], true)], { axis: { i: 0 } }), m.ints([0])]);
  const target = m.op('Concat', [n, m.ints([-1])], { axis: { i: 0 } });
  const flat = m.op('Reshape', [y, target]); // [N, 32·8·8]
  const logits = m.linear(flat, 32 * 8 * 8, 10);
  m.b.output(m.op('Softmax', [logits], { axis: { i: 1 } }), ['batch', 10]);
  return m.bytes();
}

/** ConvNeXt ops: depthwise 7×7, permute → LayerNormalization → Linear(MatMul+Add) → GELU (Erf) → Linear →
 * permute back, layer scale, LayerNorm decomposition over channels (ReduceMean/Sub/Pow/Sqrt/Div), head
 * LayerNorm2d → Flatten → Gemm (opset 17). */
export function convNextOps(): Uint8Array {
  const m = new Net(17, 4);
  const C = 16;
  const x = m.b.input('input', ['batch', 3, 32, 32]);
  const layerNorm2d = (t: string, c: number): string => {
    const nhwc = m.op('Transpose', [t], { perm: { ints: [0, 2, 3, 1] } });
    const ln = m.op('LayerNormalization', [nhwc, m.param([c], 0.5, 1.5), m.param([c], -0.1, 0.1)], {
      axis: { i: -1 },
      epsilon: { f: 1e-6 },
    });
    return m.op('Transpose', [ln], { perm: { ints: [0, 3, 1, 2] } });
  };
  let y = layerNorm2d(m.conv(x, 3, C, 4, { stride: 4, pad: 0, bias: true }), C); // 8×8
  // CNBlock
  const dw = m.conv(y, C, C, 7, { group: C, pad: 3, bias: true });
  let t = m.op('Transpose', [dw], { perm: { ints: [0, 2, 3, 1] } });
  t = m.op('LayerNormalization', [t, m.param([C], 0.5, 1.5), m.param([C], -0.1, 0.1)], {
    axis: { i: -1 },
    epsilon: { f: 1e-6 },
  });
  t = m.linear(t, C, 4 * C);
  const erf = m.op('Erf', [m.op('Div', [t, m.scalar(Math.SQRT2)])]);
  t = m.op('Mul', [m.op('Mul', [t, m.op('Add', [erf, m.scalar(1)])]), m.scalar(0.5)]);
  t = m.linear(t, 4 * C, C);
  t = m.op('Transpose', [t], { perm: { ints: [0, 3, 1, 2] } });
  t = m.op('Mul', [m.param([C, 1, 1], 0.1, 0.5), t]);
  y = m.op('Add', [t, y]);
  // Downsample: channels-first LayerNorm written out, then 2×2 stride-2 conv.
  const mean = m.op('ReduceMean', [y], { axes: { ints: [1] }, keepdims: { i: 1 } });
  const centered = m.op('Sub', [y, mean]);
  const variance = m.op('ReduceMean', [m.op('Pow', [centered, m.scalar(2)])], {
    axes: { ints: [1] },
    keepdims: { i: 1 },
  });
  const normed = m.op('Div', [centered, m.op('Sqrt', [m.op('Add', [variance, m.scalar(1e-6)])])]);
  y = m.op('Add', [m.op('Mul', [normed, m.param([C, 1, 1], 0.5, 1.5)]), m.param([C, 1, 1], -0.1, 0.1)]);
  y = m.conv(y, C, 2 * C, 2, { stride: 2, pad: 0, bias: true }); // 4×4
  // Head
  y = m.op('GlobalAveragePool', [y]);
  y = layerNorm2d(y, 2 * C);
  const flat = m.op('Flatten', [y], { axis: { i: 1 } });
  m.b.output(m.gemm(flat, 2 * C, 10), ['batch', 10]);
  return m.bytes();
}

/** Opset 20 Gelu plus a few elementwise ops (LeakyRelu, Tanh, Exp, Neg, Max). */
export function miscOps(): Uint8Array {
  const m = new Net(20, 5);
  const x = m.b.input('input', ['batch', 3, 16, 16]);
  let y = m.conv(x, 3, 8, 3, { bias: true });
  y = m.op('Gelu', [y]);
  const a = m.op('LeakyRelu', [m.conv(y, 8, 8, 3)], { alpha: { f: 0.1 } });
  const b = m.op('Tanh', [m.op('Neg', [m.conv(y, 8, 8, 1, { pad: 0 })])]);
  y = m.op('Max', [a, b]);
  y = m.op('Exp', [m.op('Mul', [y, m.scalar(0.5)])]);
  y = m.op('Gelu', [m.op('ReduceMean', [y, m.ints([2, 3])], { keepdims: { i: 0 } })], {
    approximate: { s: 'tanh' },
  });
  m.b.output(m.gemm(y, 8, 5), ['batch', 5]);
  return m.bytes();
}

/** torchvision ResNet-50 layout (Bottleneck [3, 4, 6, 3], stride on the 3×3 conv) with random weights. */
export function resnet50(opts: { classes?: number; size?: number; seed?: number } = {}): Uint8Array {
  const m = new Net(17, opts.seed ?? 50);
  const size = opts.size ?? 128;
  const classes = opts.classes ?? 1000;
  const x = m.b.input('input', ['batch', 3, size, size]);
  let y = m.op('Relu', [m.bn(m.conv(x, 3, 64, 7, { stride: 2, pad: 3 }), 64)]);
  y = m.op('MaxPool', [y], {
    kernel_shape: { ints: [3, 3] },
    pads: { ints: [1, 1, 1, 1] },
    strides: { ints: [2, 2] },
    ceil_mode: { i: 0 },
  });
  let cin = 64;
  const stages: [number, number, number][] = [
    [64, 3, 1],
    [128, 4, 2],
    [256, 6, 2],
    [512, 3, 2],
  ];
  for (const [width, blocks, stride] of stages) {
    for (let i = 0; i < blocks; i++) {
      const s = i === 0 ? stride : 1;
      const out = width * 4;
      const a = m.op('Relu', [m.bn(m.conv(y, cin, width, 1, { pad: 0 }), width)]);
      const b = m.op('Relu', [m.bn(m.conv(a, width, width, 3, { stride: s }), width)]);
      const c = m.bn(m.conv(b, width, out, 1, { pad: 0 }), out, [0.1, 0.4]);
      const identity = i === 0 ? m.bn(m.conv(y, cin, out, 1, { stride: s, pad: 0 }), out) : y;
      y = m.op('Relu', [m.op('Add', [c, identity])]);
      cin = out;
    }
  }
  y = m.op('GlobalAveragePool', [y]);
  y = m.op('Flatten', [y], { axis: { i: 1 } });
  m.b.output(m.gemm(y, 2048, classes), ['batch', classes]);
  return m.bytes();
}

/** Conv, then `x.view(x.size(0), -1)` as a Shape chain, then Gemm: constant folding must remove the chain. */
export function shapeChain(): Uint8Array {
  const m = new Net(17, 6);
  const x = m.b.input('input', ['batch', 3, 8, 8]);
  const y = m.op('Relu', [m.conv(x, 3, 4, 3, { bias: true })]);
  const shape = m.op('Shape', [y]);
  const batch = m.op('Gather', [shape, m.ints([0], true)], { axis: { i: 0 } });
  const c = m.op('Cast', [m.op('Unsqueeze', [batch, m.ints([0])])], { to: { i: 7 } });
  const rest = m.op('Mul', [m.op('Slice', [shape, m.ints([1]), m.ints([2]), m.ints([0])]), m.ints([64])]);
  const target = m.op('Concat', [c, rest], { axis: { i: 0 } });
  const flat = m.op('Reshape', [y, target]);
  m.b.output(m.gemm(flat, 4 * 8 * 8, 3), ['batch', 3]);
  return m.bytes();
}

/** A graph with an op the converter does not translate. */
export function withUnsupportedOp(): Uint8Array {
  const m = new Net(17, 7);
  const x = m.b.input('input', ['batch', 3, 8, 8]);
  const y = m.b.op('Conv', [x, m.weight([4, 3, 3, 3], 0.3)], { pads: { ints: [1, 1, 1, 1] } });
  const z = m.b.op('LpNormalization', [y], { axis: { i: 1 }, p: { i: 2 } }, '/head/LpNormalization');
  m.b.output(z, ['batch', 4, 8, 8]);
  return m.bytes();
}
