/**
 * Reads the metadata of a TensorFlow SavedModel (`saved_model.pb`) with protobufjs, no TensorFlow needed.
 *
 * The schema below is the subset of TensorFlow's saved_model.proto / meta_graph.proto / graph.proto /
 * attr_value.proto / function.proto that describes signatures, ops and variable shapes (field numbers as in
 * TensorFlow; enums read as int32). Variable values live in variables/ (a TF checkpoint) and are not read.
 * Running a SavedModel still needs libtensorflow, i.e. tfjs-node(-gpu).
 */
import * as protobuf from 'protobufjs';

const SCHEMA = `
syntax = "proto3";
package tfmeta;
message SavedModel { int64 saved_model_schema_version = 1; repeated MetaGraphDef meta_graphs = 2; }
message MetaGraphDef {
  MetaInfoDef meta_info_def = 1; GraphDef graph_def = 2; map<string, SignatureDef> signature_def = 5;
}
message MetaInfoDef {
  string meta_graph_version = 1; repeated string tags = 4; string tensorflow_version = 5;
  string tensorflow_git_version = 6;
}
message GraphDef { repeated NodeDef node = 1; FunctionDefLibrary library = 2; VersionDef versions = 4; }
message VersionDef { int32 producer = 1; int32 min_consumer = 2; }
message NodeDef { string name = 1; string op = 2; repeated string input = 3; string device = 4; map<string, AttrValue> attr = 5; }
message AttrValue {
  oneof value {
    ListValue list = 1; bytes s = 2; int64 i = 3; float f = 4; bool b = 5; int32 type = 6;
    TensorShapeProto shape = 7; TensorProto tensor = 8; string placeholder = 9;
  }
  message ListValue {
    repeated bytes s = 2; repeated int64 i = 3; repeated float f = 4; repeated bool b = 5; repeated int32 type = 6;
    repeated TensorShapeProto shape = 7;
  }
}
message TensorShapeProto { message Dim { int64 size = 1; string name = 2; } repeated Dim dim = 2; bool unknown_rank = 3; }
message TensorProto { int32 dtype = 1; TensorShapeProto tensor_shape = 2; }
message SignatureDef { map<string, TensorInfo> inputs = 1; map<string, TensorInfo> outputs = 2; string method_name = 3; }
message TensorInfo { string name = 1; int32 dtype = 2; TensorShapeProto tensor_shape = 3; }
message FunctionDefLibrary { repeated FunctionDef function = 1; }
message FunctionDef { OpDef signature = 1; repeated NodeDef node_def = 3; }
message OpDef { string name = 1; }
`;

let root: protobuf.Root | null = null;

/** The protobufjs root for the schema above (also used by tests to write a saved_model.pb). */
export function savedModelRoot(): protobuf.Root {
  if (!root) root = protobuf.parse(SCHEMA, { keepCase: true }).root;
  return root;
}

const DTYPES: Record<number, string> = {
  1: 'float32',
  2: 'float64',
  3: 'int32',
  4: 'uint8',
  5: 'int16',
  6: 'int8',
  7: 'string',
  9: 'int64',
  10: 'bool',
  14: 'bfloat16',
  17: 'uint16',
  19: 'float16',
  20: 'resource',
  21: 'variant',
  22: 'uint32',
  23: 'uint64',
};

/** A TF DataType enum value as a short name. */
export function dtypeName(t: number | undefined): string {
  return t === undefined ? 'unknown' : (DTYPES[t] ?? `dtype${t}`);
}

interface Int64Like {
  toNumber(): number;
}
type Num = number | Int64Like | string | undefined;
const num = (v: Num): number =>
  v === undefined ? 0 : typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : v.toNumber();

interface ShapeMsg {
  dim?: { size?: Num; name?: string }[];
  unknown_rank?: boolean;
}
interface TensorInfoMsg {
  name?: string;
  dtype?: number;
  tensor_shape?: ShapeMsg;
}
interface NodeMsg {
  name?: string;
  op?: string;
  attr?: Record<string, { shape?: ShapeMsg; type?: number }>;
}
interface SavedModelMsg {
  meta_graphs?: {
    meta_info_def?: { tags?: string[]; tensorflow_version?: string; tensorflow_git_version?: string };
    graph_def?: {
      node?: NodeMsg[];
      library?: { function?: { signature?: { name?: string }; node_def?: NodeMsg[] }[] };
    };
    signature_def?: Record<
      string,
      {
        inputs?: Record<string, TensorInfoMsg>;
        outputs?: Record<string, TensorInfoMsg>;
        method_name?: string;
      }
    >;
  }[];
}

/** One signature input or output. */
export interface SavedModelTensor {
  key: string;
  name: string;
  dtype: string;
  /** -1 for unknown dims; null for unknown rank. */
  shape: number[] | null;
}

/** What a SavedModel's metadata says. */
export interface SavedModelInfo {
  metaGraphs: {
    tags: string[];
    tensorflowVersion: string | null;
    signatures: { key: string; method: string; inputs: SavedModelTensor[]; outputs: SavedModelTensor[] }[];
    /** Ops of the graph and of its function library together. */
    opHistogram: Record<string, number>;
    functions: number;
    variables: number;
    /** Elements of float variables, from their shape attributes. */
    parameters: number;
  }[];
}

function shapeOf(s: ShapeMsg | undefined): number[] | null {
  if (!s || s.unknown_rank) return null;
  return (s.dim ?? []).map((d) => num(d.size));
}

/** Parses saved_model.pb bytes. */
export function parseSavedModel(bytes: Uint8Array): SavedModelInfo {
  const type = savedModelRoot().lookupType('tfmeta.SavedModel');
  const msg = type.toObject(type.decode(bytes), { defaults: false, longs: Number }) as SavedModelMsg;
  return {
    metaGraphs: (msg.meta_graphs ?? []).map((mg) => {
      const hist: Record<string, number> = {};
      const nodes = [...(mg.graph_def?.node ?? [])];
      const functions = mg.graph_def?.library?.function ?? [];
      for (const f of functions) nodes.push(...(f.node_def ?? []));
      let variables = 0;
      let parameters = 0;
      for (const n of nodes) {
        const op = n.op ?? '?';
        hist[op] = (hist[op] ?? 0) + 1;
        if (op === 'VarHandleOp' || op === 'VariableV2' || op === 'Variable') {
          variables++;
          const dtype = n.attr?.dtype?.type;
          const shape = shapeOf(n.attr?.shape?.shape);
          if (shape && (dtype === 1 || dtype === 2 || dtype === 19 || dtype === 14))
            parameters += shape.reduce((a, b) => a * b, 1);
        }
      }
      const tensors = (m: Record<string, TensorInfoMsg> | undefined): SavedModelTensor[] =>
        Object.entries(m ?? {})
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([key, t]) => ({
            key,
            name: t.name ?? '',
            dtype: dtypeName(t.dtype),
            shape: shapeOf(t.tensor_shape),
          }));
      return {
        tags: mg.meta_info_def?.tags ?? [],
        tensorflowVersion: mg.meta_info_def?.tensorflow_version || null,
        signatures: Object.entries(mg.signature_def ?? {})
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([key, s]) => ({
            key,
            method: s.method_name ?? '',
            inputs: tensors(s.inputs),
            outputs: tensors(s.outputs),
          })),
        opHistogram: hist,
        functions: functions.length,
        variables,
        parameters,
      };
    }),
  };
}
