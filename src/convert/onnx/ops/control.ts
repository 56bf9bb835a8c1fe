/**
 * Control flow: ONNX If → TF `If` with both branches as functions of the graph's library (tfjs-converter's control
 * executor runs them through `executeAsync`).
 *
 * An ONNX branch reads outer values by name; a TF function sees only its arguments. So the outer values the two
 * branches read are passed as the If's `args`, in one order for both, and each branch converts against a scope in
 * which those values are its arguments (with their layout tags kept). Outer constants are inlined. A branch is
 * chosen at conversion time only when the condition is a constant known at conversion time.
 */
import { TfDataType } from '../../../models/graph-model-writer';
import {
  ConversionError,
  ConvertContext,
  countConsumers,
  identityPerm,
  NodeInfo,
  RtValue,
  Value,
} from '../context';
import { getAttr, onnx } from '../onnx-proto';
import { tfAttr } from '../tf-graph';
import { OpHandler } from './common';

const TF_TYPE: Record<RtValue['dtype'], TfDataType> = {
  float32: 'DT_FLOAT',
  int32: 'DT_INT32',
  bool: 'DT_BOOL',
};

/** Names a subgraph reads from outside itself (nested subgraphs included), in first-use order. */
export function outerReads(g: onnx.IGraphProto): string[] {
  const produced = new Set<string>((g.initializer ?? []).map((t) => t.name ?? ''));
  for (const i of g.input ?? []) produced.add(i.name ?? '');
  const reads: string[] = [];
  const seen = new Set<string>();
  for (const node of g.node ?? []) {
    const names = [...(node.input ?? [])];
    for (const a of node.attribute ?? []) if (a.g) names.push(...outerReads(a.g));
    for (const name of names) {
      if (name && !produced.has(name) && !seen.has(name)) {
        seen.add(name);
        reads.push(name);
      }
    }
    for (const o of node.output ?? []) produced.add(o);
  }
  return reads;
}

/** Consumer counts inside a branch: its nodes' reads and its outputs. */
const branchCounts = (g: onnx.IGraphProto): Map<string, number> =>
  countConsumers(
    g.node ?? [],
    (g.output ?? []).map((o) => o.name ?? ''),
  );

/** Converts one branch inline, in the current graph (static condition). */
function inline(n: NodeInfo, g: onnx.IGraphProto, ctx: ConvertContext): Value[] {
  if (!ctx.subgraph) throw new ConversionError(`If node "${n.name}": subgraphs are not supported here`);
  // Outer values are not the branch's to fuse into: their producers may have other readers.
  const scope = new Map<string, Value>();
  for (const [name, v] of ctx.scope) scope.set(name, v.kind === 'rt' ? { ...v, fuse: undefined } : v);
  const inner = ctx.branch(ctx.graph, scope, branchCounts(g));
  return ctx.subgraph(g, scope, inner);
}

export const ifOp: OpHandler = (n, inputs, ctx) => {
  const thenG = getAttr.graph(n.attrs, 'then_branch');
  const elseG = getAttr.graph(n.attrs, 'else_branch');
  if (!thenG || !elseG) throw new ConversionError(`If node "${n.name}": a branch is missing`);
  const cond = inputs[0];
  if (!cond) throw new ConversionError(`If node "${n.name}": the condition is missing`);
  if (cond.kind === 'const' && cond.t.data.length === 1 && !Number.isNaN(cond.t.data[0])) {
    return inline(n, cond.t.data[0] ? thenG : elseG, ctx);
  }
  if (!ctx.subgraph) throw new ConversionError(`If node "${n.name}": subgraphs are not supported here`);
  // Outer run-time values either branch reads, in one order: the If's args.
  const names = [...new Set([...outerReads(thenG), ...outerReads(elseG)])];
  const captured: [string, RtValue][] = [];
  for (const name of names) {
    const v = ctx.scope.get(name);
    if (v && v.kind === 'rt') captured.push([name, v]);
  }
  const branches = [thenG, elseG].map((g, b) => {
    const child = ctx.graph.child();
    const scope = new Map<string, Value>();
    for (const [name, v] of ctx.scope) if (v.kind === 'const') scope.set(name, v);
    for (const [name, v] of captured) {
      scope.set(name, {
        ...v,
        ref: child.arg(`${n.name}/${b ? 'else' : 'then'}/arg`, TF_TYPE[v.dtype]),
        fuse: undefined,
      });
    }
    const bctx = ctx.branch(child, scope, branchCounts(g));
    const outs = (ctx.subgraph as NonNullable<ConvertContext['subgraph']>)(g, scope, bctx).map(
      (v, k): RtValue => {
        const rt =
          v.kind === 'rt' ? v : bctx.constAsRt(`${n.name}/${b ? 'else' : 'then'}/const_out${k}`, v.t);
        // Both branches hand back ONNX layout, so the If's outputs have one layout whichever branch ran.
        return bctx.withPerm(rt, identityPerm(rt.shape.length), `${n.name}/${b ? 'else' : 'then'}/out${k}`);
      },
    );
    return { child, outs };
  });
  const [t, e] = branches;
  if (t.outs.length !== e.outs.length) {
    throw new ConversionError(
      `If node "${n.name}": the branches have ${t.outs.length} and ${e.outs.length} outputs`,
    );
  }
  const fnames = branches.map(({ child, outs }, b) =>
    child.finishFunction(
      `${n.name}_${b ? 'else' : 'then'}`,
      outs.map((o) => ({ ref: o.ref, type: TF_TYPE[o.dtype] })),
    ),
  );
  let condRef = cond.kind === 'rt' ? cond.ref : ctx.emitConst(`${n.name}/cond`, cond.t);
  if (cond.kind === 'const' || cond.dtype !== 'bool') {
    condRef = ctx.graph.op(`${n.name}/cond_bool`, 'Cast', [condRef], { DstT: tfAttr.T('DT_BOOL') });
  }
  const ref = ctx.graph.op(n.name, 'If', [condRef, ...captured.map(([, v]) => v.ref)], {
    then_branch: { func: { name: fnames[0] } },
    else_branch: { func: { name: fnames[1] } },
    Tcond: tfAttr.T('DT_BOOL'),
    Tin: { list: { type: captured.map(([, v]) => TF_TYPE[v.dtype]) } },
    Tout: { list: { type: t.outs.map((o) => TF_TYPE[o.dtype]) } },
  });
  return t.outs.map((o, k): RtValue => {
    const other = e.outs[k];
    if (o.dtype !== other.dtype) {
      throw new ConversionError(
        `If node "${n.name}": output ${k} is ${o.dtype} in one branch and ${other.dtype} in the other`,
      );
    }
    const shape =
      o.shape.length === other.shape.length
        ? o.shape.map((d, i) => (d === other.shape[i] ? d : -1))
        : o.shape;
    return {
      kind: 'rt',
      ref: k === 0 ? ref : `${ref}:${k}`,
      shape,
      perm: identityPerm(shape.length),
      dtype: o.dtype,
    };
  });
};
