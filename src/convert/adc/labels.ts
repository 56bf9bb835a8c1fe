/**
 * ADC's category-map files as /info shows them: a JSON object `{label: index}` (ml/models/base.py:139-187), listed
 * in index order whatever the file order (api/api.py:85), every entry with the model's one taxon rank, the labels
 * URL as `uri`, no version and no description (api/api.py:86-100).
 */
import type { AlgorithmCategoryMap } from '../../contract/types';
import { buildCategoryMap, CategoryMapError } from '../category-map';
import { ADC_MOTH_LABEL, ADC_NONMOTH_LABEL, ADC_BINARY_NAME, type AdcClassifier } from './catalogue';

/** A category map and what the importer should tell the user about it. */
export interface AdcLabels {
  categoryMap: AlgorithmCategoryMap;
  warnings: string[];
}

/** Labels ADC's `int(label)` accepts (ml/models/base.py:150-160), which it would swap for GBIF names. */
const INTEGER_LABEL = /^\s*[+-]?\d+\s*$/;

/**
 * Builds the /info category map of `model` from its file's parsed JSON. Only ADC's own format is accepted (an
 * object of integer indices), since another shape would not load in ADC or would list different labels there.
 * Throws CategoryMapError naming `source` and the problem.
 */
export function adcCategoryMap(raw: unknown, model: AdcClassifier, source: string): AdcLabels {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CategoryMapError(`${source}: ADC reads a category map as a JSON object {"label": index, ...}`);
  }
  for (const [label, index] of Object.entries(raw)) {
    if (!Number.isInteger(index)) {
      throw new CategoryMapError(
        `${source}: "${label}" maps to ${JSON.stringify(index)}; ` +
          "ADC's category maps map each label to an integer index",
      );
    }
  }
  const categoryMap = buildCategoryMap(
    raw,
    { taxonRank: model.taxonRank, uri: model.labelsUrl, version: null, description: null },
    source,
  );
  const warnings: string[] = [];
  if (model.name === ADC_BINARY_NAME) {
    const missing = [ADC_MOTH_LABEL, ADC_NONMOTH_LABEL].filter((l) => !categoryMap.labels.includes(l));
    if (missing.length > 0) {
      throw new CategoryMapError(
        `${source}: ADC's filtered pipelines send boxes labelled "${ADC_MOTH_LABEL}" to the species model and return ` +
          `those labelled "${ADC_NONMOTH_LABEL}"; this map lacks ${missing.map((l) => `"${l}"`).join(' and ')}`,
      );
    }
  }
  const numbers = categoryMap.labels.filter((l) => INTEGER_LABEL.test(l));
  if (model.lookupGbifNames && numbers.length > 0) {
    warnings.push(
      `${source}: ${numbers.length} labels are integers (e.g. "${numbers[0]}"); ADC would replace them with GBIF ` +
        'species names looked up online and rewrite its copy of the file. They are imported as they are: take the ' +
        'file ADC rewrote, or one with names, to list names.',
    );
  }
  return { categoryMap, warnings };
}
