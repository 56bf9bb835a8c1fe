/**
 * Builds Antenna category maps from the label files model maintainers publish.
 *
 * Accepted inputs:
 * - `{ "label": index, ... }`: the format of Antenna's / AMI's published category maps;
 * - `{ "0": "label", ... }`: the inverse, keys are integer strings;
 * - `["label0", "label1", ...]`: a plain list in output order;
 * - an Antenna category map (`{ data, labels, ... }`), re-validated and re-emitted.
 * Indices must be exactly 0..N−1 (each once) and labels unique, otherwise the classifier output and the labels
 * cannot line up.
 */
import type { AlgorithmCategoryMap, CategoryMapEntry } from '../contract/types';
import { checkCategoryMap } from '../models/manifest';

/** Options for `buildCategoryMap`. */
export interface CategoryMapOptions {
  /** Rank written on every entry (SPECIES, GENUS, ...); omitted when not given. */
  taxonRank?: string;
  version?: string | null;
  description?: string | null;
  uri?: string | null;
}

/** Thrown when a label file cannot become a category map; the message says which entry is wrong. */
export class CategoryMapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CategoryMapError';
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function labelsFromIndexPairs(pairs: [string, number][], source: string): string[] {
  const labels = new Array<string | undefined>(pairs.length);
  for (const [label, index] of pairs) {
    if (!Number.isInteger(index))
      throw new CategoryMapError(`${source}: "${label}" has index ${String(index)}, not an integer`);
    if (index < 0 || index >= pairs.length) {
      throw new CategoryMapError(
        `${source}: "${label}" has index ${index}; indices must be 0..${pairs.length - 1}`,
      );
    }
    if (labels[index] !== undefined) {
      throw new CategoryMapError(
        `${source}: index ${index} is used by both "${labels[index]}" and "${label}"`,
      );
    }
    labels[index] = label;
  }
  return labels as string[];
}

/** Reads the label list, in output-index order, from any accepted input format. */
export function labelsFrom(input: unknown, source = 'labels'): string[] {
  let labels: string[];
  if (Array.isArray(input)) {
    input.forEach((l, i) => {
      if (typeof l !== 'string')
        throw new CategoryMapError(`${source}: entry ${i} is ${JSON.stringify(l)}, not a string`);
    });
    labels = input as string[];
  } else if (isRecord(input) && Array.isArray(input.data)) {
    const data = input.data as unknown[];
    labels = labelsFromIndexPairs(
      data.map((e, i) => {
        if (!isRecord(e) || typeof e.label !== 'string')
          throw new CategoryMapError(`${source}: data[${i}] has no string label`);
        return [e.label, e.index as number];
      }),
      source,
    );
  } else if (isRecord(input)) {
    const entries = Object.entries(input);
    if (entries.length > 0 && entries.every(([k, v]) => /^\d+$/.test(k) && typeof v === 'string')) {
      labels = labelsFromIndexPairs(
        entries.map(([k, v]) => [v as string, Number(k)]),
        source,
      );
    } else {
      labels = labelsFromIndexPairs(
        entries.map(([label, index]) => {
          if (typeof index !== 'number') {
            throw new CategoryMapError(
              `${source}: "${label}" maps to ${JSON.stringify(index)}; expected an integer index`,
            );
          }
          return [label, index];
        }),
        source,
      );
    }
  } else {
    throw new CategoryMapError(`${source}: expected {label: index}, a list of labels, or a category map`);
  }
  if (labels.length === 0) throw new CategoryMapError(`${source}: no labels`);
  const seen = new Map<string, number>();
  labels.forEach((l, i) => {
    if (l.length === 0) throw new CategoryMapError(`${source}: label ${i} is empty`);
    const prev = seen.get(l);
    if (prev !== undefined)
      throw new CategoryMapError(`${source}: label "${l}" appears at index ${prev} and ${i}`);
    seen.set(l, i);
  });
  return labels;
}

/** Builds and validates an Antenna category map. */
export function buildCategoryMap(
  input: unknown,
  options: CategoryMapOptions = {},
  source = 'labels',
): AlgorithmCategoryMap {
  const labels = labelsFrom(input, source);
  const previous = isRecord(input) && Array.isArray(input.data) ? (input.data as CategoryMapEntry[]) : null;
  const data: CategoryMapEntry[] = labels.map((label, index) => {
    const entry: CategoryMapEntry = { index, label };
    const rank = options.taxonRank ?? previous?.find((e) => e.index === index)?.taxon_rank;
    if (rank) entry.taxon_rank = rank;
    return entry;
  });
  const fromInput = (key: 'version' | 'description' | 'uri'): string | null => {
    const v = isRecord(input) ? input[key] : undefined;
    return typeof v === 'string' ? v : null;
  };
  const map: AlgorithmCategoryMap = {
    data,
    labels,
    version: options.version ?? fromInput('version'),
    description: options.description ?? fromInput('description'),
    uri: options.uri ?? fromInput('uri'),
  };
  checkCategoryMap(map, source);
  return map;
}
