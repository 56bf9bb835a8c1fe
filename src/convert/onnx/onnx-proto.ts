/**
 * Reading and writing ONNX protobufs.
 *
 * The message classes are the protobufjs static code that the onnx-proto package generates from ONNX's
 * onnx.proto (onnx v1.10, IR version 8). Fields added by later ONNX releases are skipped by the decoder, which is
 * harmless for the opset 13–17 classifiers we convert. int64 fields decode as `Long` when the `long` package is
 * installed and as numbers otherwise; `toNum` accepts both.
 */
import { onnx } from 'onnx-proto';
import { ConstDtype, ConstTensor, sizeOf } from '../tensor';

export { onnx };

/** ONNX TensorProto.DataType values we read or write. */
export const OnnxDataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
} as const;

/** Converts a protobufjs int64 (a number, a `Long`, or absent) to a JS number. */
export function toNum(v: unknown): number {
  // Typed `unknown`: the generated typings name `Long` without importing it.
  if (typeof v === 'number') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { toNumber?: unknown }).toNumber === 'function') {
    return (v as { toNumber(): number }).toNumber();
  }
  return v === null || v === undefined ? 0 : Number(v);
}

/** Decodes a serialized ModelProto. */
export function decodeOnnxModel(bytes: Uint8Array): onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}

/** Encodes a ModelProto. */
export function encodeOnnxModel(model: onnx.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** The converter's dtype for an ONNX element type, or null when it has none. */
export function constDtypeOf(dataType: number): ConstDtype | null {
  switch (dataType) {
    case OnnxDataType.FLOAT:
    case OnnxDataType.FLOAT16:
    case OnnxDataType.DOUBLE:
      return 'float32';
    case OnnxDataType.INT64:
    case OnnxDataType.INT32:
    case OnnxDataType.INT8:
    case OnnxDataType.UINT8:
      return 'int64';
    case OnnxDataType.BOOL:
      return 'bool';
    default:
      return null;
  }
}

/** Reads an initializer or Constant value. Throws for external data and element types we do not handle. */
export function tensorFromProto(t: onnx.ITensorProto): ConstTensor {
  const name = t.name ?? '(unnamed)';
  const shape = (t.dims ?? []).map(toNum);
  const n = sizeOf(shape);
  const dataType = t.dataType ?? 0;
  const dtype = constDtypeOf(dataType);
  if (!dtype) throw new Error(`tensor "${name}": ONNX element type ${dataType} is not supported`);
  if (
    t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL ||
    (t.externalData && t.externalData.length > 0)
  ) {
    throw new Error(
      `tensor "${name}" keeps its data in an external file; re-export with the weights inside the .onnx file ` +
        '(models under 2 GB: torch.onnx.export writes them inline)',
    );
  }
  const data = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  if (raw) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const read = (i: number): number => {
      switch (dataType) {
        case OnnxDataType.FLOAT:
          return view.getFloat32(i * 4, true);
        case OnnxDataType.DOUBLE:
          return view.getFloat64(i * 8, true);
        case OnnxDataType.FLOAT16:
          return halfToFloat(view.getUint16(i * 2, true));
        case OnnxDataType.INT64:
          return Number(view.getBigInt64(i * 8, true));
        case OnnxDataType.INT32:
          return view.getInt32(i * 4, true);
        case OnnxDataType.INT8:
          return view.getInt8(i);
        default:
          return view.getUint8(i); // UINT8, BOOL
      }
    };
    if (dataType === OnnxDataType.FLOAT && raw.byteOffset % 4 === 0) {
      data.set(new Float32Array(raw.buffer, raw.byteOffset, n));
    } else {
      for (let i = 0; i < n; i++) data[i] = read(i);
    }
    return { dtype, shape, data };
  }
  let values: ArrayLike<number>;
  switch (dataType) {
    case OnnxDataType.FLOAT:
      values = t.floatData ?? [];
      break;
    case OnnxDataType.DOUBLE:
      values = t.doubleData ?? [];
      break;
    case OnnxDataType.INT64:
      values = (t.int64Data ?? []).map(toNum);
      break;
    case OnnxDataType.FLOAT16:
      values = (t.int32Data ?? []).map(halfToFloat);
      break;
    default:
      values = t.int32Data ?? [];
  }
  if (values.length !== n) {
    throw new Error(
      `tensor "${name}": shape [${shape.join(',')}] needs ${n} values, the file has ${values.length}`,
    );
  }
  data.set(values);
  return { dtype, shape, data };
}

/** Writes a constant as a TensorProto with raw little-endian data (float32 → FLOAT, int64 → INT64, bool → BOOL). */
export function tensorToProto(name: string, t: ConstTensor): onnx.ITensorProto {
  const n = t.data.length;
  let raw: Uint8Array;
  let dataType: number;
  if (t.dtype === 'float32') {
    const f = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
    raw = new Uint8Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength));
    dataType = OnnxDataType.FLOAT;
  } else if (t.dtype === 'int64') {
    const b = new BigInt64Array(n);
    // ±2^63 (INT64_MAX/MIN read back as doubles) would wrap around; clamp to the int64 range.
    const max = 2n ** 63n - 1n;
    for (let i = 0; i < n; i++) {
      const v = BigInt(Math.trunc(t.data[i]));
      b[i] = v > max ? max : v < -max - 1n ? -max - 1n : v;
    }
    raw = new Uint8Array(b.buffer);
    dataType = OnnxDataType.INT64;
  } else {
    raw = Uint8Array.from(t.data, (v) => (v ? 1 : 0));
    dataType = OnnxDataType.BOOL;
  }
  return { name, dims: t.shape, dataType, rawData: raw };
}

/** Attribute values of a node, decoded by name. */
export type OnnxAttrs = Map<string, onnx.IAttributeProto>;

/** Indexes a node's attributes by name. */
export function attrsOf(node: onnx.INodeProto): OnnxAttrs {
  return new Map((node.attribute ?? []).map((a) => [a.name ?? '', a]));
}

/** Typed attribute getters with defaults. */
export const getAttr = {
  int(a: OnnxAttrs, name: string, dflt: number): number {
    const v = a.get(name);
    return v ? toNum(v.i) : dflt;
  },
  float(a: OnnxAttrs, name: string, dflt: number): number {
    const v = a.get(name);
    return v ? (v.f ?? dflt) : dflt;
  },
  ints(a: OnnxAttrs, name: string): number[] | null {
    const v = a.get(name);
    return v ? (v.ints ?? []).map(toNum) : null;
  },
  floats(a: OnnxAttrs, name: string): number[] | null {
    const v = a.get(name);
    return v ? [...(v.floats ?? [])] : null;
  },
  string(a: OnnxAttrs, name: string, dflt: string): string {
    const v = a.get(name);
    return v?.s ? Buffer.from(v.s).toString('utf8') : dflt;
  },
  tensor(a: OnnxAttrs, name: string): onnx.ITensorProto | null {
    return a.get(name)?.t ?? null;
  },
  graph(a: OnnxAttrs, name: string): onnx.IGraphProto | null {
    return a.get(name)?.g ?? null;
  },
};

/** Shape of a graph input or output from its ValueInfo; unknown or symbolic dims are -1. */
export function valueInfoShape(v: onnx.IValueInfoProto): number[] | null {
  const dims = v.type?.tensorType?.shape?.dim;
  if (!dims) return null;
  return dims.map((d) => {
    const n = toNum(d.dimValue);
    return d.dimParam || n <= 0 ? -1 : n;
  });
}

/** Human description of a ValueInfo's dims, keeping symbolic names (`[batch,3,128,128]`). */
export function valueInfoDims(v: onnx.IValueInfoProto): string {
  const dims = v.type?.tensorType?.shape?.dim;
  if (!dims) return '[?]';
  return `[${dims.map((d) => d.dimParam || (toNum(d.dimValue) > 0 ? String(toNum(d.dimValue)) : '?')).join(',')}]`;
}
