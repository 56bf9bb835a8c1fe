/**
 * The one registry. /info, /readyz, the request schema's pipeline enum and the pull worker's slugs all come
 * from here. Two kinds of entries:
 * - code pipelines, below: one file exporting a `definePipeline(...)`, one line in `pipelineRegistry`;
 * - model pipelines declared in `MODELS_DIR/pipelines.json` (./declared.ts): no code at all.
 */
import type { PipelineDefinition } from './definition';
import { constantPipeline } from './constant';
import { readDeclaredPipelines } from './declared';
import { randomDetectionRandomSpeciesPipeline } from './random-detection-random-species';

export const pipelineRegistry: readonly PipelineDefinition[] = Object.freeze([
  constantPipeline,
  randomDetectionRandomSpeciesPipeline,
]);

/** Code pipelines, then those declared in `modelsDir/pipelines.json`. Slugs must be unique. */
export function registeredPipelines(modelsDir: string): readonly PipelineDefinition[] {
  const all = [...pipelineRegistry, ...readDeclaredPipelines(modelsDir)];
  const seen = new Set<string>();
  for (const d of all) {
    if (seen.has(d.slug)) throw new Error(`pipeline slug ${d.slug} is registered twice`);
    seen.add(d.slug);
  }
  return Object.freeze(all);
}

/** The registered definitions that ENABLED_PIPELINES selects (all when empty). Unknown names are an error. */
export function selectPipelines(
  enabled: string[],
  registry: readonly PipelineDefinition[],
): PipelineDefinition[] {
  if (enabled.length === 0) return [...registry];
  const known = new Set(registry.map((d) => d.slug));
  const unknown = enabled.filter((slug) => !known.has(slug));
  if (unknown.length > 0) {
    throw new Error(
      `ENABLED_PIPELINES names unknown pipelines: ${unknown.join(', ')} (registered: ${[...known].join(', ')})`,
    );
  }
  return registry.filter((d) => enabled.includes(d.slug));
}
