/**
 * `npm run inspect`: what a model file or directory contains, without running it.
 *
 * Handles a TF.js graph-model directory (or its model.json), an .onnx file and a SavedModel directory. Everything
 * is read from the files (JSON and protobuf); no backend is initialised.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { integerInput, readManifest } from '../models/manifest';
import { checkManifestAgainstModel, type TensorFacts } from './manifest-check';
import { graphHasNms } from './model-dir';
import { readUltralyticsMetadata } from './ultralytics-metadata';
import { supportedOps } from './onnx/convert-onnx';
import { decodeOnnxModel, toNum, valueInfoDims } from './onnx/onnx-proto';
import { parseSavedModel } from './saved-model';
import { sizeOf } from './tensor';

/** One input or output. */
export interface InspectTensor {
  name: string;
  dtype: string;
  /** Dims as text (`-1`/`?` or the symbolic name for dynamic ones). */
  shape: string;
}

/** The report printed by the CLI (`--json` prints it as is). */
export interface InspectReport {
  kind: 'tfjs-graph-model' | 'onnx' | 'tf-saved-model';
  path: string;
  inputs: InspectTensor[];
  outputs: InspectTensor[];
  opHistogram: Record<string, number>;
  parameters: number;
  /** Further facts, as label → value lines. */
  details: [string, string][];
  notes: string[];
  /** Where manifest.json disagrees with the model (model directories only); each names the field. */
  problems: string[];
}

const dims = (d: (number | string)[] | null): string => (d ? `[${d.join(',')}]` : '[?]');

interface GraphJsonNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { type?: string; shape?: { dim?: { size?: string }[]; unknownRank?: boolean } }>;
}
interface TensorShapeJson {
  dim?: { size?: string | number }[];
  unknownRank?: boolean;
}
interface SignatureEntry {
  name: string;
  dtype?: string;
  tensorShape?: TensorShapeJson;
}
interface WeightEntryJson {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype?: string };
}
const shapeFromJson = (s: TensorShapeJson | undefined): number[] | null =>
  !s || s.unknownRank ? null : (s.dim ?? []).map((d) => Number(d.size ?? -1));

interface GraphJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  modelTopology?: { node?: GraphJsonNode[] };
  weightsManifest?: { paths: string[]; weights: WeightEntryJson[] }[];
  signature?: {
    inputs?: Record<string, SignatureEntry>;
    outputs?: Record<string, SignatureEntry>;
  };
  userDefinedMetadata?: Record<string, unknown>;
}

async function inspectGraphModel(jsonPath: string): Promise<InspectReport> {
  const dir = path.dirname(jsonPath);
  const json = JSON.parse(await fsp.readFile(jsonPath, 'utf8')) as GraphJson;
  const nodes = json.modelTopology?.node ?? [];
  const hist: Record<string, number> = {};
  const consumed = new Set<string>();
  for (const n of nodes) {
    hist[n.op] = (hist[n.op] ?? 0) + 1;
    for (const i of n.input ?? []) consumed.add(i.replace(/^\^/, '').replace(/:\d+$/, ''));
  }
  const inputs: InspectTensor[] = nodes
    .filter((n) => n.op === 'Placeholder')
    .map((n) => ({
      name: n.name,
      dtype: (n.attr?.dtype?.type ?? 'DT_FLOAT').replace(/^DT_/, '').toLowerCase(),
      shape: n.attr?.shape?.shape?.unknownRank
        ? '[?]'
        : dims((n.attr?.shape?.shape?.dim ?? []).map((d) => Number(d.size ?? -1))),
    }));
  const placeholders = nodes.filter((n) => n.op === 'Placeholder');
  const sigIn = json.signature?.inputs ?? {};
  const sigOut = json.signature?.outputs;
  const nodeOf = (tensor: string): string => tensor.replace(/:0$/, '');
  const inputFacts: TensorFacts[] = placeholders.map((n) => {
    const key = Object.entries(sigIn).find(([, e]) => nodeOf(e.name) === n.name)?.[0] ?? n.name;
    const shape = n.attr?.shape?.shape?.unknownRank
      ? null
      : (n.attr?.shape?.shape?.dim ?? []).map((d) => Number(d.size ?? -1));
    return key === n.name ? { key, shape } : { key, node: n.name, shape };
  });
  const outputFacts: TensorFacts[] =
    sigOut && Object.keys(sigOut).length > 0
      ? Object.entries(sigOut).map(([key, o]) => ({
          key,
          node: nodeOf(o.name),
          shape: shapeFromJson(o.tensorShape),
        }))
      : nodes
          .filter((n) => n.op !== 'Const' && !consumed.has(n.name))
          .map((n) => ({ key: n.name, shape: null }));
  const outputs: InspectTensor[] = outputFacts.map((o) => {
    const dtype = sigOut?.[o.key]?.dtype;
    return {
      name: o.node === undefined || o.node === o.key ? o.key : `${o.key} (${o.node}:0)`,
      dtype: dtype ? dtype.replace(/^DT_/, '').toLowerCase() : '?',
      shape: o.shape ? dims(o.shape) : '[?] (not recorded in model.json)',
    };
  });
  let parameters = 0;
  let weightCount = 0;
  let shardBytes = 0;
  let shards = 0;
  const dtypes: Record<string, number> = {};
  const quantized: Record<string, number> = {};
  for (const group of json.weightsManifest ?? []) {
    for (const w of group.weights) {
      weightCount++;
      dtypes[w.dtype] = (dtypes[w.dtype] ?? 0) + 1;
      const q = w.quantization?.dtype;
      if (q) quantized[q] = (quantized[q] ?? 0) + 1;
      if (w.dtype === 'float32' || w.dtype === 'float16') parameters += sizeOf(w.shape);
    }
    for (const p of group.paths) {
      shards++;
      shardBytes += (await fsp.stat(path.join(dir, p)).catch(() => ({ size: 0 }))).size;
    }
  }
  const count = (h: Record<string, number>): string =>
    Object.entries(h)
      .sort(([, a], [, b]) => b - a)
      .map(([k, n]) => `${k} ×${n}`)
      .join(', ');
  const details: [string, string][] = [
    ['format', `TF.js ${json.format ?? 'graph-model'}`],
    ['generated by', json.generatedBy ?? '?'],
    ['weights', `${weightCount} tensors in ${shards} shard(s), ${(shardBytes / 1e6).toFixed(1)} MB`],
    ['weight dtypes', count(dtypes) || '(none)'],
    [
      'quantisation',
      Object.keys(quantized).length > 0
        ? `${count(quantized)} (stored quantised, dequantised to float32 on load)`
        : 'none (full-precision weights)',
    ],
  ];
  const problems: string[] = [];
  const notes: string[] = [];
  const manifestPath = path.join(dir, 'manifest.json');
  if (await fsp.stat(manifestPath).catch(() => null)) {
    try {
      const { manifest, categoryMap } = await readManifest(dir);
      details.push([
        'manifest',
        `${manifest.kind} "${manifest.algorithm.key}" v${manifest.algorithm.version} (${manifest.algorithm.name})`,
      ]);
      const inp = manifest.input;
      details.push([
        'preprocessing',
        `${inp.width !== undefined ? `${inp.width}×${inp.height}` : 'native size'} ${inp.resize} ${inp.color_order}, ` +
          (integerInput(inp)
            ? `${inp.dtype} 0..255 as they are`
            : `scale ${inp.scale}, mean [${inp.mean?.join(', ')}], std [${inp.std?.join(', ')}]`),
      ]);
      if (manifest.kind === 'classifier') {
        details.push(['output', `${manifest.output.name ?? '(only output)'} as ${manifest.output.kind}`]);
      } else {
        const di = manifest.input;
        details.push([
          'input layout',
          `${di.layout ?? 'NHWC'}, batch ${di.batch ?? '(from the graph)'}` +
            (di.pad_value !== undefined ? `, pad ${di.pad_value}` : ''),
        ]);
        const o = manifest.output;
        const outs = o.packed
          ? `packed "${o.packed.tensor}"${o.packed.channels_first ? ' channels-first' : ''}: box at ${o.packed.box}` +
            (o.packed.score !== undefined ? `, score at ${o.packed.score}` : '') +
            (o.packed.class !== undefined ? `, class at ${o.packed.class}` : '') +
            (o.packed.class_scores !== undefined ? `, class scores from ${o.packed.class_scores}` : '')
          : `boxes "${o.boxes}", scores "${o.scores}"${o.classes ? `, classes "${o.classes}"` : ''}`;
        details.push([
          'output',
          `${outs}; ${o.box_format} ${o.coordinates}; NMS ${o.nms ?? 'service'}; score ≥ ${o.score_threshold}`,
        ]);
        if (manifest.class_labels) {
          details.push([
            'class labels',
            `${manifest.class_labels.report ? 'reported' : 'not reported'}` +
              (manifest.class_labels.keep ? `, keep ${manifest.class_labels.keep.join(', ')}` : ''),
          ]);
        }
      }
      problems.push(
        ...checkManifestAgainstModel(manifest, categoryMap, { inputs: inputFacts, outputs: outputFacts }),
      );
      if (categoryMap) {
        const head = categoryMap.labels.slice(0, 3).join(', ');
        details.push([
          'category map',
          `${categoryMap.labels.length} labels (${head}${categoryMap.labels.length > 3 ? ', …' : ''})`,
        ]);
      }
    } catch (err) {
      notes.push(`manifest.json is invalid: ${(err as Error).message}`);
    }
  } else {
    notes.push('no manifest.json: the service needs one next to model.json (see models/README.md)');
  }
  return {
    kind: 'tfjs-graph-model',
    path: jsonPath,
    inputs,
    outputs,
    opHistogram: hist,
    parameters,
    details,
    notes,
    problems,
  };
}

async function inspectOnnx(file: string): Promise<InspectReport> {
  const model = decodeOnnxModel(await fsp.readFile(file));
  const graph = model.graph ?? {};
  const inits = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const elem = (t: number | null | undefined): string =>
    ({ 1: 'float32', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64' })[t ?? 0] ??
    `type${t ?? '?'}`;
  const tensor = (v: {
    name?: string | null;
    type?: { tensorType?: { elemType?: number | null } | null } | null;
  }): InspectTensor => ({
    name: v.name ?? '',
    dtype: elem(v.type?.tensorType?.elemType),
    shape: valueInfoDims(v),
  });
  const hist: Record<string, number> = {};
  for (const n of graph.node ?? []) {
    const op = n.domain ? `${n.domain}::${n.opType ?? ''}` : (n.opType ?? '');
    hist[op] = (hist[op] ?? 0) + 1;
  }
  let parameters = 0;
  for (const t of graph.initializer ?? []) {
    if (t.dataType === 1 || t.dataType === 10 || t.dataType === 11)
      parameters += sizeOf((t.dims ?? []).map(toNum));
  }
  const { runtime, constantOnly } = supportedOps();
  const known = new Set([...runtime, ...constantOnly]);
  const unsupported = Object.keys(hist).filter((op) => !known.has(op));
  const opsets = (model.opsetImport ?? [])
    .map((o) => `${o.domain || 'ai.onnx'} ${toNum(o.version)}`)
    .join(', ');
  const notes: string[] = [];
  notes.push(
    unsupported.length === 0
      ? 'every op is supported by `npm run convert -- onnx` (constant-only ops must have constant inputs)'
      : `ops the converter does not support: ${unsupported.join(', ')}`,
  );
  const details: [string, string][] = [];
  const yolo = readUltralyticsMetadata(model);
  if (yolo) {
    details.push([
      'ultralytics metadata',
      `task ${yolo.task ?? '?'}, imgsz ${yolo.imgsz?.join('x') ?? '?'}, stride ${yolo.stride ?? '?'}, ` +
        `${yolo.names?.length ?? 0} names${yolo.names ? ` (${yolo.names.slice(0, 3).join(', ')}${yolo.names.length > 3 ? ', …' : ''})` : ''}`,
    ]);
    notes.push(
      'ultralytics export: `npm run convert -- onnx <file> --out <dir> --kind detector` needs no other flags',
    );
  }
  if (graphHasNms(graph)) {
    details.push([
      'NMS',
      'in the graph (NonMaxSuppression): a converted detector gets output.nms "in-graph"',
    ]);
  }
  return {
    kind: 'onnx',
    path: file,
    inputs: (graph.input ?? []).filter((i) => !inits.has(i.name ?? '')).map(tensor),
    outputs: (graph.output ?? []).map(tensor),
    opHistogram: hist,
    parameters,
    problems: [],
    details: [
      ['format', `ONNX IR ${toNum(model.irVersion)}, opset ${opsets}`],
      ['producer', `${model.producerName || '?'} ${model.producerVersion || ''}`.trim()],
      ['graph', `${graph.node?.length ?? 0} nodes, ${graph.initializer?.length ?? 0} initializers`],
      ...details,
    ],
    notes,
  };
}

async function inspectSavedModel(dir: string): Promise<InspectReport> {
  const info = parseSavedModel(await fsp.readFile(path.join(dir, 'saved_model.pb')));
  const mg = info.metaGraphs.find((m) => m.tags.includes('serve')) ?? info.metaGraphs[0];
  if (!mg) throw new Error(`${dir}/saved_model.pb has no meta graph`);
  const sig = mg.signatures.find((s) => s.key === 'serving_default') ?? mg.signatures[0];
  const t = (x: { key: string; name: string; dtype: string; shape: number[] | null }): InspectTensor => ({
    name: `${x.key} (${x.name})`,
    dtype: x.dtype,
    shape: dims(x.shape),
  });
  const version = mg.tensorflowVersion;
  const notes = [
    'a SavedModel runs only on the native backend (libtensorflow): `npm run convert -- saved-model <dir> --out ' +
      '<model dir> --kind detector|classifier` imports it; pure tfjs (wasm/cpu) cannot load it.',
  ];
  const [major, minor] = (version ?? '').split('.').map(Number);
  if (version && (major > 2 || (major === 2 && minor > 11))) {
    notes.push(
      `written by TensorFlow ${version}: it may use ops that tfjs-node's own libtensorflow 2.9.1 lacks; ` +
        '`npm run native` builds the backend on libtensorflow 2.21',
    );
  }
  if (info.metaGraphs.length > 1)
    notes.push(`${info.metaGraphs.length} meta graphs; showing tags [${mg.tags.join(',')}]`);
  return {
    kind: 'tf-saved-model',
    path: dir,
    inputs: sig ? sig.inputs.map(t) : [],
    outputs: sig ? sig.outputs.map(t) : [],
    opHistogram: mg.opHistogram,
    parameters: mg.parameters,
    problems: [],
    details: [
      ['format', `TensorFlow SavedModel, tags [${mg.tags.join(',')}]`],
      ['written by', version ? `TensorFlow ${version}` : 'unknown TensorFlow version'],
      ['signatures', mg.signatures.map((s) => s.key).join(', ') || '(none)'],
      // predict() takes and returns signature keys, not the tensor names in parentheses above.
      [
        'manifest names',
        sig
          ? `input.name ${sig.inputs.map((i) => `"${i.key}"`).join(' or ') || '(none)'}, output names ` +
            `${sig.outputs.map((o) => `"${o.key}"`).join(', ') || '(none)'} (signature keys of ${sig.key})`
          : '(no signature)',
      ],
      [
        'graph',
        `${mg.functions} functions, ${mg.variables} variables (parameters counted from variable shapes)`,
      ],
    ],
    notes,
  };
}

/** Inspects a model directory, model.json, .onnx file or SavedModel directory. */
export async function inspectPath(target: string): Promise<InspectReport> {
  const stat = await fsp.stat(target).catch(() => null);
  if (!stat) throw new Error(`${target}: no such file or directory`);
  if (stat.isDirectory()) {
    if (await fsp.stat(path.join(target, 'model.json')).catch(() => null))
      return inspectGraphModel(path.join(target, 'model.json'));
    if (await fsp.stat(path.join(target, 'saved_model.pb')).catch(() => null))
      return inspectSavedModel(target);
    throw new Error(
      `${target}: neither model.json (TF.js graph model) nor saved_model.pb (SavedModel) is in it`,
    );
  }
  if (target.endsWith('.json')) return inspectGraphModel(target);
  if (target.endsWith('.pb')) return inspectSavedModel(path.dirname(target));
  return inspectOnnx(target);
}

/** Human-readable report. */
export function formatReport(r: InspectReport): string {
  const lines: string[] = [`${r.path}`];
  for (const [k, v] of r.details) lines.push(`  ${k}: ${v}`);
  lines.push('inputs:');
  for (const t of r.inputs) lines.push(`  ${t.name}  ${t.dtype}  ${t.shape}`);
  lines.push('outputs:');
  for (const t of r.outputs) lines.push(`  ${t.name}  ${t.dtype}  ${t.shape}`);
  lines.push(`parameters: ${r.parameters.toLocaleString('en-US')}`);
  const ops = Object.entries(r.opHistogram).sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
  lines.push(`ops (${ops.reduce((n, [, c]) => n + c, 0)} nodes, ${ops.length} types):`);
  const width = Math.max(...ops.map(([op]) => op.length), 4);
  for (const [op, count] of ops) lines.push(`  ${op.padEnd(width)}  ${count}`);
  for (const note of r.notes) lines.push(`note: ${note}`);
  for (const problem of r.problems) lines.push(`mismatch: ${problem}`);
  return `${lines.join('\n')}\n`;
}
