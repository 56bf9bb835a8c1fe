/**
 * Moves a per-channel image normalisation from before the model's own resize to after it (an ONNX-level rewrite,
 * run before translation).
 *
 * torchvision's detection transform normalises the image it is given, `(x − mean) / std` over `[3, H, W]`, and
 * only then resizes it to `min_size` (`F.interpolate`, bilinear): on a 4096×2160 photo the two broadcast ops
 * touch 26.5 M values each, to be shrunk to 1333×703 right after. On libtensorflow they took 1 s of a 5 s
 * Faster R-CNN run; after the resize they touch a ninth as much.
 *
 * The rewrite is exact up to float rounding. Linear (and nearest) resize writes each output value as a weighted
 * sum of input values of the same channel whose weights sum to 1, so for a map `f(v) = a·v + b` that depends only
 * on the channel, `resize(f(x)) = f(resize(x))`. Rounding differs by an ulp or so per value: the converter's
 * parity tests against onnxruntime hold as before.
 *
 * The pattern, as torchvision exports it (opset 11 and later):
 *
 *     images [C, H, W] → Sub(·, mean) → Div(·, std) → Unsqueeze(0) → Resize(linear) → …
 *                                               └→ Shape → … (the target size)
 *
 * What it requires, so that the move cannot change a result:
 * - the affine chain (Sub/Div/Mul/Add, each with one constant operand; Sub and Div with the tensor first) reads a
 *   graph input of known rank and channel count, and every constant varies only along one axis that is neither
 *   of the last two (the resized ones) and broadcasts without growing the input's shape;
 * - between the chain and the Resize only Unsqueeze / Identity nodes that add leading axes (the constants'
 *   right-aligned broadcast is unchanged);
 * - each value of the chain is read only by the next node of the chain and by Shape nodes (the shape is the same
 *   before and after the affine map, so those read the unnormalised tensor instead);
 * - the Resize is linear or nearest without antialias, and resizes no axis a constant varies along (for a size
 *   computed at run time the converter's Resize resizes only the last two axes of a rank-4 tensor).
 */
import { ConstTensor, sizeOf } from '../tensor';
import { attrsOf, getAttr, onnx, tensorFromProto, valueInfoShape } from './onnx-proto';

const AFFINE_OPS = new Set(['Sub', 'Div', 'Mul', 'Add']);
const LAYOUT_OPS = new Set(['Unsqueeze', 'Identity']);

/** Where the nodes of one matched pattern are. */
interface Match {
  /** The affine nodes, first to last. */
  affine: onnx.INodeProto[];
  /** For each affine node, which input is the tensor (the other is the constant). */
  tensorAt: number[];
  /** Unsqueeze/Identity nodes between the chain and the Resize, first to last. */
  layout: onnx.INodeProto[];
  resize: onnx.INodeProto;
  /** The graph input the chain reads. */
  source: string;
}

/**
 * Rewrites every matched pattern in `nodes` (a topologically ordered copy is returned; the nodes themselves are
 * edited in place) and returns how many normalisations moved.
 */
export function moveNormalizationPastResize(
  nodes: onnx.INodeProto[],
  consts: Map<string, ConstTensor>,
  graphInputs: onnx.IValueInfoProto[],
  graphOutputs: string[],
): { nodes: onnx.INodeProto[]; moved: number } {
  const producer = new Map<string, onnx.INodeProto>();
  for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n);
  const readers = readersOf(nodes);
  const constOf = (name: string): ConstTensor | null => {
    const c = consts.get(name);
    if (c) return c;
    const p = producer.get(name);
    const t = p?.opType === 'Constant' ? getAttr.tensor(attrsOf(p), 'value') : null;
    return t ? tensorFromProto(t) : null;
  };
  const inputShapes = new Map(graphInputs.map((v) => [v.name ?? '', valueInfoShape(v)]));

  let order = nodes;
  let moved = 0;
  for (const resize of nodes.filter((n) => n.opType === 'Resize' && !n.domain)) {
    const match = matchPattern(resize, producer, constOf);
    if (!match || !isSafe(match, readers, constOf, inputShapes.get(match.source) ?? null, graphOutputs))
      continue;
    order = rewrite(match, order, readers);
    moved++;
  }
  return { nodes: order, moved };
}

/**
 * The nodes that read each value. A node inside a branch subgraph (If) that reads an outer value is listed under
 * its If node, which is never a Shape: such a value is not moved.
 */
function readersOf(nodes: onnx.INodeProto[]): Map<string, onnx.INodeProto[]> {
  const readers = new Map<string, onnx.INodeProto[]>();
  const add = (value: string, node: onnx.INodeProto): void => {
    if (!value) return;
    const list = readers.get(value);
    if (list) list.push(node);
    else readers.set(value, [node]);
  };
  const visit = (ns: onnx.INodeProto[], owner: onnx.INodeProto | null): void => {
    for (const n of ns) {
      for (const i of n.input ?? []) add(i, owner ?? n);
      for (const a of n.attribute ?? []) if (a.g) visit(a.g.node ?? [], owner ?? n);
    }
  };
  visit(nodes, null);
  return readers;
}

/** Walks back from a Resize through layout nodes and an affine chain; null when the shape is not there. */
function matchPattern(
  resize: onnx.INodeProto,
  producer: Map<string, onnx.INodeProto>,
  constOf: (name: string) => ConstTensor | null,
): Match | null {
  const attrs = attrsOf(resize);
  const mode = getAttr.string(attrs, 'mode', 'nearest');
  if ((mode !== 'linear' && mode !== 'nearest') || getAttr.int(attrs, 'antialias', 0) !== 0) return null;
  const layout: onnx.INodeProto[] = [];
  let cur = resize.input?.[0] ?? '';
  for (let p = producer.get(cur); p && LAYOUT_OPS.has(p.opType ?? '') && !p.domain; p = producer.get(cur)) {
    layout.unshift(p);
    cur = p.input?.[0] ?? '';
  }
  const affine: onnx.INodeProto[] = [];
  const tensorAt: number[] = [];
  for (let p = producer.get(cur); p && AFFINE_OPS.has(p.opType ?? '') && !p.domain; p = producer.get(cur)) {
    const [a, b] = p.input ?? [];
    const ca = constOf(a);
    const cb = constOf(b);
    if ((ca === null) === (cb === null)) break;
    // x − c and x / c only: c − x and c / x are not per-channel affine maps of the same form after the move.
    if (ca && (p.opType === 'Sub' || p.opType === 'Div')) break;
    affine.unshift(p);
    tensorAt.unshift(ca ? 1 : 0);
    cur = ca ? b : a;
  }
  if (affine.length === 0 || producer.has(cur)) return null;
  return { affine, tensorAt, layout, resize, source: cur };
}

/** The conditions of the module comment, checked on one match. */
function isSafe(
  m: Match,
  readers: Map<string, onnx.INodeProto[]>,
  constOf: (name: string) => ConstTensor | null,
  inShape: number[] | null,
  graphOutputs: string[],
): boolean {
  if (!inShape || inShape.length < 3) return false;
  const rank = inShape.length;
  // Each constant: float, rank ≤ the input's, at most one axis of size > 1, not one of the last two, matching
  // the input's (known) size on that axis, so that the affine map keeps the input's shape.
  let varying = -1; // axis of the constants' channel, counted from the end
  for (const node of m.affine) {
    const c = (node.input ?? []).map(constOf).find((t) => t !== null);
    if (!c || c.dtype !== 'float32' || c.shape.length > rank) return false;
    if (sizeOf(c.shape) === 1) continue;
    const big = c.shape.map((d, i) => ({ d, fromEnd: c.shape.length - i })).filter(({ d }) => d !== 1);
    if (big.length !== 1 || big[0].fromEnd <= 2) return false;
    if (inShape[rank - big[0].fromEnd] !== big[0].d) return false;
    if (varying >= 0 && varying !== big[0].fromEnd) return false;
    varying = big[0].fromEnd;
  }
  // Layout nodes may only add leading axes (before the constants' right-aligned axes).
  let outRank = rank;
  for (const node of m.layout) {
    if (node.opType !== 'Unsqueeze') continue;
    const axes = getAttr.ints(attrsOf(node), 'axes') ?? constOf(node.input?.[1] ?? '')?.data;
    if (!axes) return false;
    const added = axes.length;
    outRank += added;
    const norm = Array.from(axes, (a) => (a < 0 ? a + outRank : a));
    if (norm.some((a) => a >= added)) return false;
  }
  if (!resizeKeepsChannels(m.resize, constOf, outRank, varying)) return false;
  // Every intermediate value is read by the next node of the pattern and by Shape nodes only.
  const chain = [...m.affine, ...m.layout, m.resize];
  for (let k = 0; k < chain.length - 1; k++) {
    const out = chain[k].output?.[0] ?? '';
    if ((chain[k].output ?? []).length !== 1 || graphOutputs.includes(out)) return false;
    const others = (readers.get(out) ?? []).filter((r) => r !== chain[k + 1]);
    if (others.some((r) => r.opType !== 'Shape')) return false;
  }
  return true;
}

/** True when the Resize leaves the constants' channel axis (`varying` from the end; -1: none) unchanged. */
function resizeKeepsChannels(
  resize: onnx.INodeProto,
  constOf: (name: string) => ConstTensor | null,
  rank: number,
  varying: number,
): boolean {
  if (varying < 0) return true;
  const axis = rank - varying;
  const ins = resize.input ?? [];
  // Opset 10: X, scales. Opset 11 on: X, roi, scales, sizes.
  const [scalesName, sizesName] = ins.length === 2 ? [ins[1], ''] : [ins[2], ins[3]];
  if (getAttr.ints(attrsOf(resize), 'axes')) return false; // opset 18 axes: not worth the bookkeeping
  const scales = scalesName ? constOf(scalesName) : null;
  const sizes = sizesName ? constOf(sizesName) : null;
  if (scales && scales.shape[0] > 0) return scales.data[axis] === 1;
  if (sizes && sizes.shape[0] > 0) return false; // a fixed size on the channel axis cannot be checked here
  // Sizes computed at run time: the converter resizes only the last two axes of a rank-4 tensor.
  return rank === 4 && axis < 2;
}

/** Applies one match: Shape readers and the layout nodes read the source; the chain follows the Resize. */
function rewrite(
  m: Match,
  order: onnx.INodeProto[],
  readers: Map<string, onnx.INodeProto[]>,
): onnx.INodeProto[] {
  for (const node of m.affine)
    for (const r of readers.get(node.output?.[0] ?? '') ?? []) if (r.opType === 'Shape') r.input = [m.source];
  const lastAffineOut = m.affine[m.affine.length - 1].output?.[0];
  const first = m.layout[0] ?? m.resize;
  first.input = (first.input ?? []).map((i) => (i === lastAffineOut ? m.source : i));
  // The chain now reads the resized tensor and writes the name the Resize wrote.
  const resizeOut = m.resize.output?.[0] ?? '';
  let prev = `${resizeOut}/before_normalization`;
  m.resize.output = [prev];
  m.affine.forEach((node, k) => {
    const inputs = [...(node.input ?? [])];
    inputs[m.tensorAt[k]] = prev;
    node.input = inputs;
    prev = k === m.affine.length - 1 ? resizeOut : `${node.output?.[0] ?? ''}/after_resize`;
    node.output = [prev];
  });
  const rest = order.filter((n) => !m.affine.includes(n));
  const at = rest.indexOf(m.resize);
  return [...rest.slice(0, at + 1), ...m.affine, ...rest.slice(at + 1)];
}
