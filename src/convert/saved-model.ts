/**
 * Reads the metadata of a TensorFlow SavedModel (`saved_model.pb`) with protobufjs, no TensorFlow needed.
 *
 * The schema below is the subset of TensorFlow's saved_model.proto / meta_graph.proto / graph.proto /
 * attr_value.proto / function.proto that describes signatures, ops, variable shapes and function calls (field
 * numbers as in TensorFlow; enums read as int32). Variable values live in variables/ (a TF checkpoint) and are not
 * read. Running a SavedModel still needs libtensorflow, i.e. tfjs-node(-gpu).
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
    TensorShapeProto shape = 7; TensorProto tensor = 8; string placeholder = 9; NameAttrList func = 10;
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
message NameAttrList { string name = 1; }
message FunctionDefLibrary { repeated FunctionDef function = 1; }
message FunctionDef { OpDef signature = 1; repeated NodeDef node_def = 3; map<string, string> ret = 4; }
message OpDef { string name = 1; repeated ArgDef input_arg = 2; repeated ArgDef output_arg = 3; }
message ArgDef { string name = 1; }
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
  input?: string[];
  attr?: Record<string, { shape?: ShapeMsg; type?: number; func?: { name?: string } }>;
}
interface FunctionMsg {
  signature?: { name?: string; input_arg?: { name?: string }[]; output_arg?: { name?: string }[] };
  node_def?: NodeMsg[];
  ret?: Record<string, string>;
}
interface SavedModelMsg {
  meta_graphs?: {
    meta_info_def?: { tags?: string[]; tensorflow_version?: string; tensorflow_git_version?: string };
    graph_def?: {
      node?: NodeMsg[];
      library?: { function?: FunctionMsg[] };
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
  /**
   * The op that computes it, found by following Identity ops and function calls from the signature's tensor
   * (e.g. `Softmax` for a Keras `Dense(activation="softmax")`); null when the trail is lost.
   */
  producer: string | null;
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

/** Ops that pass a tensor through unchanged: the producer is further up. */
const PASS_THROUGH = new Set(['Identity', 'IdentityN', 'StopGradient', 'Snapshot']);
/** Ops that call the library function named in their `f` attribute; their outputs are its outputs. */
const CALLS = new Set(['StatefulPartitionedCall', 'PartitionedCall']);

/**
 * Follows a signature's output tensor to the op that computes it: through Identity ops and into the functions that
 * call ops name (Keras exports nest the model's call two or three functions deep). Tensor names are
 * `node:index` in the graph and `node:output_arg:index` inside a function (TensorFlow's function.proto).
 */
function producerOf(
  graphNodes: NodeMsg[],
  library: Map<string, FunctionMsg>,
  tensorName: string,
): string | null {
  let nodes = new Map(graphNodes.map((n) => [n.name ?? '', n]));
  let fn: FunctionMsg | null = null;
  let ref = tensorName;
  for (let step = 0; step < 64; step++) {
    const parts = ref.replace(/^\^/, '').split(':');
    const node = nodes.get(parts[0] ?? '');
    if (!node) return null; // a function's input argument, or a name not in the graph
    // Which of the node's outputs: `node:index` in the graph, `node:arg:index` in a function.
    const index = Number(parts[parts.length - 1] ?? 0) || 0;
    const op = node.op ?? '';
    if (PASS_THROUGH.has(op)) {
      const next = node.input?.filter((i) => !i.startsWith('^'))[op === 'IdentityN' ? index : 0];
      if (next === undefined) return null;
      ref = next;
      continue;
    }
    const callee = CALLS.has(op) ? node.attr?.f?.func?.name : library.has(op) ? op : undefined;
    if (callee === undefined) return op;
    const f = library.get(callee);
    const outputs = f?.signature?.output_arg ?? [];
    // A call op's outputs form one list (`node:output:k`); a direct function call names its output arg.
    const k =
      fn !== null && parts.length === 3 && !CALLS.has(op)
        ? outputs.findIndex((a) => a.name === parts[1])
        : index;
    const arg = outputs[k]?.name;
    const next = arg !== undefined ? f?.ret?.[arg] : undefined;
    if (!f || next === undefined) return null;
    fn = f;
    nodes = new Map((f.node_def ?? []).map((n) => [n.name ?? '', n]));
    ref = next;
  }
  return null;
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
      const library = new Map(functions.map((f) => [f.signature?.name ?? '', f]));
      const tensors = (m: Record<string, TensorInfoMsg> | undefined): SavedModelTensor[] =>
        Object.entries(m ?? {})
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([key, t]) => ({
            key,
            name: t.name ?? '',
            dtype: dtypeName(t.dtype),
            shape: shapeOf(t.tensor_shape),
            producer: producerOf(mg.graph_def?.node ?? [], library, t.name ?? ''),
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
