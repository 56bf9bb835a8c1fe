/** pipelines.json for tests that serve their own detectors, followed (or not) by the shipped moth classifier. */
import * as fs from 'fs';
import * as path from 'path';

const SHIPPED = path.join(__dirname, '..', '..', 'models');

/** A pipelines.json entry: `detector` then `classifiers` (model steps), named after its slug, version 1. */
export const pipelineEntry = (
  slug: string,
  detector: string,
  classifiers: unknown[] = [],
): Record<string, unknown> => ({ slug, name: slug, version: 1, detector, classifiers });

/** The shipped moth/non-moth classifier as the one, terminal classifier step. */
export const MOTH_STEP = [{ model: 'moth-nonmoth-classifier', terminal: true }];

/** Writes `modelsDir/pipelines.json` and links the shipped moth-nonmoth-classifier beside the test's models. */
export function declarePipelines(modelsDir: string, pipelines: unknown[]): void {
  fs.symlinkSync(
    path.join(SHIPPED, 'moth-nonmoth-classifier'),
    path.join(modelsDir, 'moth-nonmoth-classifier'),
  );
  fs.writeFileSync(path.join(modelsDir, 'pipelines.json'), JSON.stringify({ pipelines }));
}
