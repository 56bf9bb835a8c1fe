/**
 * A small ONNX model writer. The converter's tests build their networks with it (seeded random weights, the
 * real file format), and it doubles as executable documentation of the graphs torch.onnx.export produces.
 *
 * Usage:
 *   const b = new OnnxBuilder({ opset: 17 });
 *   const x = b.input('input', ['batch', 3, 32, 32]);
 *   const w = b.initializer('conv.weight', makeConst('float32', [8, 3, 3, 3], data));
 *   const y = b.op('Conv', [x, w], { pads: { ints: [1, 1, 1, 1] } });
 *   b.output(b.op('Relu', [y]), ['batch', 8, 32, 32]);
 *   const bytes = b.toBytes();
 */
import { ConstTensor } from '../tensor';
import { encodeOnnxModel, onnx, OnnxDataType, tensorToProto } from './onnx-proto';

/** One attribute value; the key says its ONNX type. */
export type OnnxAttrInput =
  | { i: number }
  | { f: number }
  | { s: string }
  | { ints: number[] }
  | { floats: number[] }
  | { t: ConstTensor }
  | { g: onnx.IGraphProto };

/** Builds an ONNX ModelProto node by node. Output names are generated unless given. */
export class OnnxBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private counter = 0;
  readonly opset: number;

  /** `namePrefix` keeps generated names unique when this builder writes a subgraph (an If branch). */
  constructor(
    private readonly options: {
      opset?: number;
      producer?: string;
      irVersion?: number;
      namePrefix?: string;
    } = {},
  ) {
    this.opset = options.opset ?? 17;
  }

  private static valueInfo(name: string, shape: (number | string)[], elemType: number): onnx.IValueInfoProto {
    return {
      name,
      type: {
        tensorType: {
          elemType,
          shape: { dim: shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
        },
      },
    };
  }

  /** A float graph input; string dims are symbolic (dynamic). */
  input(name: string, shape: (number | string)[]): string {
    this.inputs.push(OnnxBuilder.valueInfo(name, shape, OnnxDataType.FLOAT));
    return name;
  }

  /** A weight or other constant stored as an initializer. */
  initializer(name: string, t: ConstTensor): string {
    this.initializers.push(tensorToProto(name, t));
    return name;
  }

  /** A node with several outputs; returns their names. */
  node(
    opType: string,
    inputs: string[],
    attrs: Record<string, OnnxAttrInput> = {},
    opts: { outputs?: number; name?: string; outputNames?: string[] } = {},
  ): string[] {
    const id = this.counter++;
    const name = opts.name ?? `${this.options.namePrefix ?? ''}/${opType}_${id}`;
    const outputs =
      opts.outputNames ?? Array.from({ length: opts.outputs ?? 1 }, (_, k) => `${name}_output_${k}`);
    const attribute: onnx.IAttributeProto[] = Object.entries(attrs).map(([key, v]) => {
      if ('i' in v) return { name: key, type: onnx.AttributeProto.AttributeType.INT, i: v.i };
      if ('f' in v) return { name: key, type: onnx.AttributeProto.AttributeType.FLOAT, f: v.f };
      if ('s' in v)
        return { name: key, type: onnx.AttributeProto.AttributeType.STRING, s: Buffer.from(v.s, 'utf8') };
      if ('ints' in v) return { name: key, type: onnx.AttributeProto.AttributeType.INTS, ints: v.ints };
      if ('floats' in v)
        return { name: key, type: onnx.AttributeProto.AttributeType.FLOATS, floats: v.floats };
      if ('g' in v) return { name: key, type: onnx.AttributeProto.AttributeType.GRAPH, g: v.g };
      return {
        name: key,
        type: onnx.AttributeProto.AttributeType.TENSOR,
        t: tensorToProto(`${name}_${key}`, v.t),
      };
    });
    this.nodes.push({ name, opType, input: inputs, output: outputs, attribute });
    return outputs;
  }

  /** A node with one output; returns its name. */
  op(opType: string, inputs: string[], attrs: Record<string, OnnxAttrInput> = {}, name?: string): string {
    return this.node(opType, inputs, attrs, name === undefined ? {} : { name })[0];
  }

  /** A `Constant` node (the way exporters embed small tensors such as shapes and axes). */
  constant(t: ConstTensor): string {
    return this.op('Constant', [], { value: { t } });
  }

  /** Marks `name` as a graph output (float unless `elemType`, an ONNX TensorProto.DataType, says otherwise). */
  output(name: string, shape: (number | string)[], elemType: number = OnnxDataType.FLOAT): void {
    this.outputs.push(OnnxBuilder.valueInfo(name, shape, elemType));
  }

  /** The ModelProto object. */
  toModel(): onnx.IModelProto {
    return {
      irVersion: this.options.irVersion ?? (this.opset >= 19 ? 9 : 8),
      producerName: this.options.producer ?? 'antenna-tfjs-service onnx-writer',
      producerVersion: '1',
      opsetImport: [{ domain: '', version: this.opset }],
      graph: {
        name: 'main',
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
  }

  /** The serialized .onnx bytes. */
  toBytes(): Uint8Array {
    return encodeOnnxModel(this.toModel());
  }
}
