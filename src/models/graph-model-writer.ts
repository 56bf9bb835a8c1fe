/**
 * Writes TF.js graph models (model.json + one weight shard) from TypeScript, with no Python.
 *
 * The format is a tensorflow.GraphDef in proto3-JSON form plus a weights manifest; `tf.loadGraphModel`
 * executes it on every backend. Rules that matter (from tfjs-converter's operation_mapper):
 * - every `Const` node takes its value from the manifest entry with the same name;
 * - `Placeholder` nodes are the inputs; nodes nobody consumes are the outputs unless a signature says otherwise;
 * - string attrs are base64 bytes; Conv2D needs `dilations`.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';

/** One AttrValue in proto3-JSON form. */
export type AttrValue = Record<string, unknown>;

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** Builders for AttrValue objects. */
export const attr = {
  s: (v: string): AttrValue => ({ s: b64(v) }),
  i: (v: number): AttrValue => ({ i: String(v) }),
  f: (v: number): AttrValue => ({ f: v }),
  b: (v: boolean): AttrValue => ({ b: v }),
  type: (t: TfDataType): AttrValue => ({ type: t }),
  ints: (v: number[]): AttrValue => ({ list: { i: v.map(String) } }),
  floats: (v: number[]): AttrValue => ({ list: { f: v } }),
  strs: (v: string[]): AttrValue => ({ list: { s: v.map(b64) } }),
  shape: (d: number[]): AttrValue => ({ shape: { dim: d.map((x) => ({ size: String(x) })) } }),
};

export type TfDataType = 'DT_FLOAT' | 'DT_INT32' | 'DT_BOOL';

/** A NodeDef in proto3-JSON form. */
export interface NodeDef {
  name: string;
  op: string;
  input: string[];
  attr: Record<string, AttrValue>;
}

interface WeightEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}

/**
 * A FunctionDef in proto3-JSON form, as tfjs-converter's operation_mapper reads `library.function`: the branches
 * of `If`/`StatelessIf`. Input args act as placeholders named after the arg; `ret` maps each output arg to a node
 * output (`node:k`). Const nodes inside a function read their value from the model's weights manifest by node
 * name (the function's executor shares its parent's weight map), so their names are unique model-wide.
 */
export interface FunctionDef {
  signature: {
    name: string;
    inputArg: { name: string; type: TfDataType }[];
    outputArg: { name: string; type: TfDataType }[];
  };
  nodeDef: NodeDef[];
  ret: Record<string, string>;
}

/** The JSON written to model.json. */
export interface GraphModelJson {
  format: 'graph-model';
  generatedBy: string;
  convertedBy: string;
  modelTopology: { node: NodeDef[]; library: { function?: FunctionDef[] }; versions: { producer: number } };
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[];
  signature: {
    inputs: Record<string, { name: string; dtype: string; tensorShape: unknown }>;
    outputs: Record<string, { name: string; dtype: string }>;
  };
  userDefinedMetadata?: Record<string, unknown>;
}

/**
 * Accumulates nodes and weights, then writes a graph model directory.
 *
 * Usage: `const g = new GraphBuilder(); const x = g.placeholder('input', [-1, 64, 64, 3]);`
 * `const k = g.constFloat('conv/kernel', [3, 3, 3, 8], data); g.op('conv', 'Conv2D', [x, k], {...});`
 * `g.output('logits', 'fc/BiasAdd'); await g.write(dir);`
 */
export class GraphBuilder {
  readonly nodes: NodeDef[] = [];
  private readonly weights: WeightEntry[] = [];
  private readonly inputs: Record<string, { name: string; dtype: string; tensorShape: unknown }> = {};
  private readonly outputs: Record<string, { name: string; dtype: string }> = {};
  private readonly names = new Set<string>();
  private readonly functions: FunctionDef[] = [];

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`graph node name "${name}" is used twice`);
    this.names.add(name);
  }

  /** A model input. `shape` uses -1 for unknown dimensions. Returns the node name. */
  placeholder(name: string, shape: number[], dtype: TfDataType = 'DT_FLOAT'): string {
    this.claim(name);
    this.nodes.push({ name, op: 'Placeholder', input: [], attr: { dtype: attr.type(dtype), shape: attr.shape(shape) } });
    this.inputs[name] = { name: `${name}:0`, dtype, tensorShape: attr.shape(shape).shape };
    return name;
  }

  /** A float32 constant stored in the weight shard. */
  constFloat(name: string, shape: number[], data: ArrayLike<number>): string {
    return this.constant(name, shape, 'float32', Float32Array.from(data));
  }

  /** An int32 constant (axes, shapes, paddings) stored in the weight shard. */
  constInt(name: string, shape: number[], data: ArrayLike<number>): string {
    return this.constant(name, shape, 'int32', Int32Array.from(data));
  }

  private constant(name: string, shape: number[], dtype: 'float32' | 'int32', data: Float32Array | Int32Array): string {
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) {
      throw new Error(`constant "${name}": shape [${shape.join(',')}] needs ${size} values, got ${data.length}`);
    }
    this.claim(name);
    this.nodes.push({
      name,
      op: 'Const',
      input: [],
      attr: { dtype: attr.type(dtype === 'float32' ? 'DT_FLOAT' : 'DT_INT32'), value: { tensor: {} } },
    });
    this.weights.push({ name, shape, dtype, data });
    return name;
  }

  /** Any other op. Returns the node name, usable as an input of later nodes. */
  op(name: string, op: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    this.claim(name);
    for (const input of inputs) {
      const base = input.replace(/^\^/, '').replace(/:\d+$/, '');
      if (!this.names.has(base)) throw new Error(`node "${name}" reads "${input}", which is not defined yet`);
    }
    this.nodes.push({ name, op, input: inputs, attr: attrs });
    return name;
  }

  /**
   * Adds a function to the library. Its Const nodes' values go to the weights manifest under the node names,
   * which must not clash with any other node or weight of the model.
   */
  addFunction(def: FunctionDef, consts: { name: string; shape: number[]; data: Float32Array | Int32Array }[]): void {
    if (this.functions.some((f) => f.signature.name === def.signature.name)) {
      throw new Error(`function "${def.signature.name}" is defined twice`);
    }
    for (const c of consts) {
      const size = c.shape.reduce((a, b) => a * b, 1);
      if (size !== c.data.length) {
        throw new Error(`constant "${c.name}": shape [${c.shape.join(',')}] needs ${size} values, got ${c.data.length}`);
      }
      this.claim(c.name);
      const dtype = c.data instanceof Float32Array ? 'float32' : 'int32';
      this.weights.push({ name: c.name, shape: c.shape, dtype, data: c.data });
    }
    this.functions.push(def);
  }

  /** The functions of the library (If branches). */
  functionDefs(): readonly FunctionDef[] {
    return this.functions;
  }

  /** Declares a named model output (signature), so that it stays an output even if other nodes consume it. */
  output(key: string, nodeName: string, dtype: TfDataType = 'DT_FLOAT'): void {
    if (!this.names.has(nodeName)) throw new Error(`output "${key}" names unknown node "${nodeName}"`);
    this.outputs[key] = { name: `${nodeName}:0`, dtype };
  }

  /** Number of parameters (elements of float constants). */
  parameterCount(): number {
    return this.weights.filter((w) => w.dtype === 'float32').reduce((n, w) => n + w.data.length, 0);
  }

  /** Builds model.json and the little-endian weight shard in manifest order. */
  toArtifacts(
    meta: { generatedBy?: string; userDefinedMetadata?: Record<string, unknown> } = {},
  ): { json: GraphModelJson; shard: Buffer } {
    const shard = Buffer.concat(
      this.weights.map((w) => Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength)),
    );
    const json: GraphModelJson = {
      format: 'graph-model',
      generatedBy: meta.generatedBy ?? 'antenna-tfjs-service',
      convertedBy: 'antenna-tfjs-service graph-model-writer',
      modelTopology: {
        node: this.nodes,
        library: this.functions.length > 0 ? { function: this.functions } : {},
        versions: { producer: 1286 },
      },
      weightsManifest: [
        {
          paths: ['group1-shard1of1.bin'],
          weights: this.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype })),
        },
      ],
      signature: { inputs: this.inputs, outputs: this.outputs },
    };
    if (meta.userDefinedMetadata) json.userDefinedMetadata = meta.userDefinedMetadata;
    return { json, shard };
  }

  /** Writes `dir/model.json` and `dir/group1-shard1of1.bin`. */
  async write(dir: string, meta: { generatedBy?: string; userDefinedMetadata?: Record<string, unknown> } = {}): Promise<void> {
    const { json, shard } = this.toArtifacts(meta);
    await fsp.mkdir(dir, { recursive: true });
    await fsp.writeFile(path.join(dir, 'group1-shard1of1.bin'), shard);
    await fsp.writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
  }
}
