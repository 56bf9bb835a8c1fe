/**
 * Resolves the names a manifest gives a SavedModel's input and outputs to **signature keys**, the names
 * tfjs-node's `TFSavedModel.predict` takes and returns when fed a named map. They are not the graph tensor
 * names: a Keras export has the key `input_1` for the tensor `serving_default_input_1:0`, and `model.inputs`
 * reports the tensor name, which `predict` refuses ("The model signatureDef input names are ...").
 */
import type { MetaGraph } from '../tf/backend';

/** Thrown when the manifest's names do not fit the SavedModel; the message lists what the signature has. */
export class SignatureError extends Error {}

/** The signature of a SavedModel as the runner feeds it. */
export interface ResolvedSignature {
  /** The signature key to feed the `[N, H, W, 3]` batch under. */
  inputKey: string;
  /** Every output signature key, sorted. */
  outputKeys: string[];
  /** The output key a manifest name refers to (a key, or the tensor name with or without `:0`), or null. */
  outputKey(name: string): string | null;
}

const sameElements = (a: string[], b: string[]): boolean =>
  a.length === b.length && a.every((x) => b.includes(x));

const stripIndex = (tensorName: string): string => tensorName.replace(/:0$/, '');

/** The key of `entries` that `name` names: a key itself, or a tensor name (`:0` optional). */
function keyFor(entries: Record<string, { name: string }>, name: string): string | null {
  if (name in entries) return name;
  const match = Object.entries(entries).find(
    ([, info]) => info.name === name || stripIndex(info.name) === stripIndex(name),
  );
  return match ? match[0] : null;
}

function describe(entries: Record<string, { name: string }>): string {
  return Object.entries(entries)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, info]) => `${key} (tensor ${info.name})`)
    .join(', ');
}

/**
 * Finds the meta graph with exactly `tags` (as tfjs-node does), its `signature`, and the input key:
 * `inputName` when given (a key, or a tensor name that is mapped to its key), else the only input.
 */
export function resolveSignature(
  metaGraphs: MetaGraph[],
  tags: string[],
  signature: string,
  inputName: string | undefined,
): ResolvedSignature {
  const graph = metaGraphs.find((g) => sameElements(g.tags, tags));
  if (!graph) {
    const found = metaGraphs.map((g) => `[${g.tags.join(', ')}]`).join(', ') || 'none';
    throw new SignatureError(`the SavedModel has no meta graph tagged [${tags.join(', ')}] (it has ${found})`);
  }
  const def = graph.signatureDefs[signature];
  if (!def) {
    const keys = Object.keys(graph.signatureDefs).sort().join(', ') || 'none';
    throw new SignatureError(`the SavedModel has no signature "${signature}" (it has ${keys})`);
  }
  const inputKeys = Object.keys(def.inputs).sort();
  let inputKey: string | null;
  if (inputName !== undefined) {
    inputKey = keyFor(def.inputs, inputName);
    if (inputKey === null) {
      throw new SignatureError(
        `input.name "${inputName}" is not an input of signature "${signature}"; set it to one of its keys: ` +
          describe(def.inputs),
      );
    }
  } else if (inputKeys.length === 1) {
    inputKey = inputKeys[0] ?? null;
  } else {
    throw new SignatureError(
      `signature "${signature}" has ${inputKeys.length} inputs; set input.name in manifest.json to one of its keys: ` +
        (describe(def.inputs) || 'none'),
    );
  }
  if (inputKey === null) throw new SignatureError(`signature "${signature}" has no inputs`);
  return {
    inputKey,
    outputKeys: Object.keys(def.outputs).sort(),
    outputKey: (name) => keyFor(def.outputs, name),
  };
}
