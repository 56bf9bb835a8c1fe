/**
 * Checks a manifest against what a model's files say, without running it: input name, layout, batch and size;
 * output names; output shapes where the model records them (category-map width, box columns). Each problem names
 * the manifest field and the model's actual value, so a maintainer knows what to change.
 */
import type { AlgorithmCategoryMap } from '../contract/types';
import { lastPackedColumn, type ModelManifest } from '../models/manifest';

/** What the model files tell about one input or output; `shape` null when not recorded (-1 for dynamic dims). */
export interface TensorFacts {
  /** Signature key (or node name when there is no signature). */
  key: string;
  /** Node name, when it differs from the key. */
  node?: string;
  shape: number[] | null;
}

/** The facts of a model, read from model.json. */
export interface ModelFacts {
  inputs: TensorFacts[];
  outputs: TensorFacts[];
}

const dims = (s: number[]): string => `[${s.join(',')}]`;

/** Output names the manifest refers to, with the field that names each. */
function namedOutputs(m: ModelManifest): [string, string][] {
  if (m.kind === 'classifier') return m.output.name !== undefined ? [['output.name', m.output.name]] : [];
  const o = m.output;
  if (o.packed) return [['output.packed.tensor', o.packed.tensor]];
  const named: [string, string | undefined][] = [
    ['output.boxes', o.boxes],
    ['output.scores', o.scores],
    ['output.classes', o.classes],
  ];
  return named.filter((e): e is [string, string] => e[1] !== undefined);
}

/** The problems found; empty when the manifest and the model agree on everything the files record. */
export function checkManifestAgainstModel(
  manifest: ModelManifest,
  categoryMap: AlgorithmCategoryMap | null,
  model: ModelFacts,
): string[] {
  const problems: string[] = [];
  const input = manifest.input.name
    ? model.inputs.find((i) => i.key === manifest.input.name || i.node === manifest.input.name)
    : model.inputs.length === 1
      ? model.inputs[0]
      : undefined;
  if (!input) {
    problems.push(
      manifest.input.name
        ? `input.name "${manifest.input.name}" is not an input of the model; it has ${model.inputs.map((i) => `"${i.key}"`).join(', ')}`
        : `the model has ${model.inputs.length} inputs (${model.inputs.map((i) => `"${i.key}"`).join(', ')}); set input.name`,
    );
  } else if (input.shape) {
    problems.push(...checkInput(manifest, input.key, input.shape));
  }

  const outputs = new Map<string, TensorFacts>();
  for (const o of model.outputs) {
    outputs.set(o.key, o);
    if (o.node) outputs.set(o.node, o);
  }
  for (const [field, name] of namedOutputs(manifest)) {
    if (!outputs.has(name)) {
      problems.push(
        `${field} "${name}" is not an output of the model; it has ${model.outputs.map((o) => `"${o.key}"`).join(', ')}`,
      );
    }
  }
  const shapeOf = (name: string | undefined): number[] | null =>
    name === undefined ? null : (outputs.get(name)?.shape ?? null);
  const width = categoryMap?.labels.length;

  if (manifest.kind === 'classifier') {
    const name = manifest.output.name ?? (model.outputs.length === 1 ? model.outputs[0].key : undefined);
    const s = shapeOf(name);
    if (s && width !== undefined && (s.length !== 2 || (s[1] >= 0 && s[1] !== width))) {
      problems.push(
        `category_map has ${width} labels but output "${name}" has shape ${dims(s)}; expected [batch, ${width}]`,
      );
    }
    return problems;
  }

  const o = manifest.output;
  const batched = manifest.input.batch !== 'none' && !(input?.shape && input.shape.length === 3);
  const rank = batched ? 3 : 2;
  if (o.packed) {
    const s = shapeOf(o.packed.tensor);
    if (s) {
      const p = o.packed;
      const d = p.channels_first ? s[s.length - 2] : s[s.length - 1];
      const last = lastPackedColumn(p);
      if (s.length !== rank) {
        problems.push(`output.packed.tensor "${p.tensor}" has shape ${dims(s)}; expected rank ${rank}`);
      } else if (d >= 0 && d <= last) {
        problems.push(
          `output.packed "${p.tensor}" has ${d} columns (shape ${dims(s)}${p.channels_first ? ', channels first' : ''}); ` +
            `column ${last} is out of range${p.channels_first ? '' : ' (is it channels_first?)'}`,
        );
      } else if (
        d >= 0 &&
        p.class_scores !== undefined &&
        width !== undefined &&
        d - p.class_scores !== width
      ) {
        problems.push(
          `class_labels' category map has ${width} labels but output.packed "${p.tensor}" has ${d - p.class_scores} ` +
            `class-score columns (shape ${dims(s)})`,
        );
      }
    }
  } else {
    const boxes = shapeOf(o.boxes);
    if (boxes && (boxes.length !== rank || (boxes[rank - 1] >= 0 && boxes[rank - 1] !== 4))) {
      problems.push(
        `output.boxes "${o.boxes}" has shape ${dims(boxes)}; expected ${batched ? '[batch, K, 4]' : '[K, 4]'}`,
      );
    }
    const scores = shapeOf(o.scores);
    if (scores && scores.length !== rank - 1 && scores.length !== rank) {
      problems.push(
        `output.scores "${o.scores}" has shape ${dims(scores)}; expected rank ${rank - 1} or ${rank} (per class)`,
      );
    } else if (
      scores &&
      scores.length === rank &&
      width !== undefined &&
      scores[rank - 1] >= 0 &&
      scores[rank - 1] !== width
    ) {
      problems.push(
        `class_labels' category map has ${width} labels but output.scores "${o.scores}" has shape ${dims(scores)}`,
      );
    }
  }
  return problems;
}

function checkInput(manifest: ModelManifest, name: string, shape: number[]): string[] {
  const problems: string[] = [];
  const at = `the model's input "${name}" has shape ${dims(shape)}`;
  if (shape.length !== 3 && shape.length !== 4) return [`${at}; an image input is rank 3 or 4`];
  if (manifest.kind === 'classifier') {
    if (shape.length !== 4 || (shape[3] >= 0 && shape[3] !== 3))
      problems.push(`${at}; a classifier input is [batch, H, W, 3]`);
    else problems.push(...checkSize(manifest.input.width, manifest.input.height, shape[1], shape[2], at));
    return problems;
  }
  const i = manifest.input;
  const layout = i.layout ?? 'NHWC';
  const rank3 = shape.length === 3;
  const c = layout === 'NCHW' ? shape[rank3 ? 0 : 1] : shape[rank3 ? 2 : 3];
  const [h, w] =
    layout === 'NCHW'
      ? rank3
        ? [shape[1], shape[2]]
        : [shape[2], shape[3]]
      : rank3
        ? [shape[0], shape[1]]
        : [shape[1], shape[2]];
  const layoutOk = !(c >= 0 && c !== 3);
  if (!layoutOk)
    problems.push(`input.layout is "${layout}" but ${at} (${c} channels where ${layout} puts them)`);
  if (i.batch === 'none' && !rank3)
    problems.push(`input.batch is "none" but ${at} (it has a batch dimension)`);
  if (i.batch !== undefined && i.batch !== 'none' && rank3)
    problems.push(`input.batch is "${i.batch}" but ${at} (no batch dimension)`);
  if (i.batch === 'dynamic' && !rank3 && shape[0] === 1)
    problems.push(`input.batch is "dynamic" but ${at} (batch fixed at 1: use "single")`);
  if (!layoutOk) return problems; // sizes read from the wrong axes would only repeat the layout problem
  if (i.resize === 'none') {
    if (h > 0 && w > 0) problems.push(`input.resize is "none" (native size) but ${at} (fixed at ${h}×${w})`);
  } else {
    problems.push(...checkSize(i.width, i.height, h, w, at));
  }
  return problems;
}

function checkSize(
  width: number | undefined,
  height: number | undefined,
  h: number,
  w: number,
  at: string,
): string[] {
  const problems: string[] = [];
  if (h > 0 && height !== undefined && h !== height) problems.push(`input.height is ${height} but ${at}`);
  if (w > 0 && width !== undefined && w !== width) problems.push(`input.width is ${width} but ${at}`);
  return problems;
}
