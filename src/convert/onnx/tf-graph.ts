/**
 * The TF graph under construction. Nodes and weights stay editable until `finish()` (the converter folds
 * per-channel Mul/Add and activations into convolutions after emitting them), then dead nodes are dropped and
 * the rest goes to GraphBuilder in emission order, which is topological.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import {
  attr,
  AttrValue,
  FunctionDef,
  GraphBuilder,
  GraphModelJson,
  NodeDef,
  TfDataType,
} from '../../models/graph-model-writer';

/** A node of the graph being built. */
export interface TfNode {
  name: string;
  op: string;
  inputs: string[];
  attrs: Record<string, AttrValue>;
}

interface TfConst {
  name: string;
  shape: number[];
  data: Float32Array | Int32Array;
}

/** Strips a tensor reference (`name:1`, `^name`) to its node name. */
export function nodeOf(ref: string): string {
  return ref.replace(/^\^/, '').replace(/:\d+$/, '');
}

/** Makes a valid TF node name from an ONNX name (`/layer1/layer1.0/conv1/Conv` → `layer1/layer1.0/conv1/Conv`). */
export function sanitizeName(raw: string): string {
  let s = raw
    .replace(/[^A-Za-z0-9_.\-/]/g, '_')
    .replace(/^[/_-]+/, '')
    .replace(/\/+$/, '')
    .replace(/\/{2,}/g, '/');
  if (!s) s = 'node';
  if (!/^[A-Za-z0-9.]/.test(s)) s = `n${s}`;
  return s;
}

/** A finished branch function, waiting for the root graph's `finish()`. */
interface PendingFunction {
  def: FunctionDef;
  consts: TfConst[];
}

/**
 * Accumulates TF nodes and weights. A child graph (`child()`) builds one function of the library (an `If`
 * branch): it shares the root's node names, so its Const nodes can take their values from the one weights
 * manifest, and its arguments stand in for the outer values the branch reads.
 */
export class TfGraph {
  private readonly order: (TfNode | TfConst)[] = [];
  private readonly nodes = new Map<string, TfNode>();
  private readonly consts = new Map<string, TfConst>();
  private readonly placeholders = new Map<string, number[]>();
  private readonly args: { name: string; type: TfDataType }[] = [];
  private readonly functions: PendingFunction[] = [];

  private constructor(
    private readonly taken: Set<string>,
    private readonly root: TfGraph | null,
  ) {}

  /** A new, empty root graph. */
  static create(): TfGraph {
    return new TfGraph(new Set<string>(), null);
  }

  /** A graph for one function of this graph's library. */
  child(): TfGraph {
    return new TfGraph(this.taken, this.root ?? this);
  }

  /** A function argument (a placeholder inside the function). */
  arg(base: string, type: TfDataType): string {
    const name = this.uniqueName(base);
    this.args.push({ name, type });
    this.nodes.set(name, { name, op: '_Arg', inputs: [], attrs: {} });
    return name;
  }

  /**
   * Closes this child graph as function `base` with the given outputs (refs and types); the function goes to the
   * root graph's library. Returns the function's name.
   */
  finishFunction(base: string, outputs: { ref: string; type: TfDataType }[]): string {
    if (!this.root) throw new Error('finishFunction() is for child graphs');
    const fname = this.uniqueName(base).replace(/[^A-Za-z0-9_]/g, '_');
    const ids = outputs.map((_, k) => `output_${k}`);
    const live = this.liveFrom(outputs.map((o) => nodeOf(o.ref)));
    const nodeDef: NodeDef[] = [];
    const consts: TfConst[] = [];
    for (const item of this.order) {
      if (!live.has(item.name)) continue;
      if ('op' in item) {
        if (item.op === '_Arg') continue;
        nodeDef.push({ name: item.name, op: item.op, input: item.inputs, attr: item.attrs });
      } else {
        consts.push(item);
        nodeDef.push({
          name: item.name,
          op: 'Const',
          input: [],
          attr: {
            dtype: attr.type(item.data instanceof Float32Array ? 'DT_FLOAT' : 'DT_INT32'),
            value: { tensor: {} },
          },
        });
      }
    }
    const def: FunctionDef = {
      signature: {
        name: fname,
        inputArg: [...this.args],
        outputArg: outputs.map((o, k) => ({ name: ids[k], type: o.type })),
      },
      nodeDef,
      ret: Object.fromEntries(outputs.map((o, k) => [ids[k], o.ref.includes(':') ? o.ref : `${o.ref}:0`])),
    };
    this.root.functions.push({ def, consts });
    return fname;
  }

  private liveFrom(names: string[]): Set<string> {
    const live = new Set<string>();
    const stack = [...names];
    while (stack.length > 0) {
      const name = stack.pop() as string;
      if (live.has(name)) continue;
      live.add(name);
      const n = this.nodes.get(name);
      if (n) for (const input of n.inputs) stack.push(nodeOf(input));
    }
    return live;
  }

  /** A fresh node name derived from `base`. */
  uniqueName(base: string): string {
    const clean = sanitizeName(base);
    let name = clean;
    for (let k = 1; this.taken.has(name); k++) name = `${clean}_${k}`;
    this.taken.add(name);
    return name;
  }

  placeholder(base: string, shape: number[]): string {
    const name = this.uniqueName(base);
    const node: TfNode = { name, op: 'Placeholder', inputs: [], attrs: {} };
    this.placeholders.set(name, shape);
    this.nodes.set(name, node);
    this.order.push(node);
    return name;
  }

  /** A float32 weight. The array is kept by reference and may be edited until `finish()`. */
  constFloat(base: string, shape: number[], data: Float32Array): string {
    const name = this.uniqueName(base);
    const c: TfConst = { name, shape, data };
    this.consts.set(name, c);
    this.order.push(c);
    return name;
  }

  /** An int32 constant (axes, shapes, paddings). */
  constInt(base: string, shape: number[], values: ArrayLike<number>): string {
    const name = this.uniqueName(base);
    const c: TfConst = { name, shape, data: Int32Array.from(values) };
    this.consts.set(name, c);
    this.order.push(c);
    return name;
  }

  /** The editable data of a float weight. */
  weight(name: string): Float32Array {
    const c = this.consts.get(name);
    if (!c || !(c.data instanceof Float32Array)) throw new Error(`no float weight "${name}"`);
    return c.data;
  }

  op(base: string, op: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    const name = this.uniqueName(base);
    const node: TfNode = { name, op, inputs, attrs };
    this.nodes.set(name, node);
    this.order.push(node);
    return name;
  }

  /**
   * `v[begin:end]` of an int32 vector (a shape read at run time), or with `shrink` the scalar `v[begin]`, as a
   * StridedSlice named `base`. Its begin/end/strides constants are named `${constBase}_begin` etc. (`constBase`
   * defaults to `base`).
   */
  sliceInt32Vector(
    base: string,
    v: string,
    begin: number,
    end: number,
    options: { shrink?: boolean; constBase?: string } = {},
  ): string {
    const c = options.constBase ?? base;
    return this.op(
      base,
      'StridedSlice',
      [
        v,
        this.constInt(`${c}_begin`, [1], [begin]),
        this.constInt(`${c}_end`, [1], [end]),
        this.constInt(`${c}_strides`, [1], [1]),
      ],
      stridedSliceAttrs(tfAttr.T('DT_INT32'), { shrink: options.shrink ? 1 : 0 }),
    );
  }

  /** The editable node record. */
  node(name: string): TfNode {
    const n = this.nodes.get(nodeOf(name));
    if (!n) throw new Error(`no TF node "${name}"`);
    return n;
  }

  /**
   * Drops everything the outputs do not need and writes the rest into a GraphBuilder.
   * `outputs` maps signature keys to node names.
   */
  finish(outputs: Record<string, string>, types: Record<string, TfDataType> = {}): GraphBuilder {
    const live = this.liveFrom(Object.values(outputs).map(nodeOf));
    for (const p of this.placeholders.keys()) live.add(p);
    const g = new GraphBuilder();
    for (const item of this.order) {
      if (!live.has(item.name)) continue;
      if ('op' in item) {
        if (item.op === 'Placeholder') g.placeholder(item.name, this.placeholders.get(item.name) ?? []);
        else g.op(item.name, item.op, item.inputs, item.attrs);
      } else if (item.data instanceof Float32Array) {
        g.constFloat(item.name, item.shape, item.data);
      } else {
        g.constInt(item.name, item.shape, item.data);
      }
    }
    for (const [key, name] of Object.entries(outputs)) g.output(key, name, types[key]);
    for (const f of this.functions) g.addFunction(f.def, f.consts);
    return g;
  }
}

/** Shorthand attr builders for the ops we emit. */
export const tfAttr = {
  T: (t: TfDataType = 'DT_FLOAT'): AttrValue => attr.type(t),
  ...attr,
};

/**
 * StridedSlice's attributes for elements of type `t` and int32 begin/end/strides. The masks are bit sets over
 * axes: `begin`/`end` ignore that axis' bound, `shrink` drops the axis. No ellipsis, no new axes.
 */
export function stridedSliceAttrs(
  t: AttrValue,
  masks: { begin?: number; end?: number; shrink?: number } = {},
): Record<string, AttrValue> {
  return {
    T: t,
    Index: tfAttr.T('DT_INT32'),
    begin_mask: tfAttr.i(masks.begin ?? 0),
    end_mask: tfAttr.i(masks.end ?? 0),
    ellipsis_mask: tfAttr.i(0),
    new_axis_mask: tfAttr.i(0),
    shrink_axis_mask: tfAttr.i(masks.shrink ?? 0),
  };
}

/** Default shard size, as tensorflowjs_converter uses. */
export const SHARD_BYTES = 4 * 1024 * 1024;

/**
 * Writes model.json and the weights split into `group1-shardKofM.bin` files of at most `shardBytes`.
 * Returns the file names written.
 */
export async function writeShardedGraphModel(
  g: GraphBuilder,
  dir: string,
  meta: { generatedBy?: string; userDefinedMetadata?: Record<string, unknown> },
  shardBytes = SHARD_BYTES,
): Promise<{ files: string[]; json: GraphModelJson; weightBytes: number }> {
  const { json, shard } = g.toArtifacts(meta);
  json.convertedBy = 'antenna-tfjs-service onnx converter';
  const count = Math.max(1, Math.ceil(shard.length / shardBytes));
  const paths = Array.from({ length: count }, (_, k) => `group1-shard${k + 1}of${count}.bin`);
  json.weightsManifest[0].paths = paths;
  await fsp.mkdir(dir, { recursive: true });
  for (let k = 0; k < count; k++) {
    await fsp.writeFile(
      path.join(dir, paths[k]),
      shard.subarray(k * shardBytes, Math.min((k + 1) * shardBytes, shard.length)),
    );
  }
  await fsp.writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
  return { files: ['model.json', ...paths], json, weightBytes: shard.length };
}
