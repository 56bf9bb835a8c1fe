/**
 * The one registry. /info, /readyz, the request schema's pipeline enum and the pull worker's slugs all come
 * from here. Adding a pipeline: one file exporting a `definePipeline(...)`, one line below.
 */
import type { PipelineDefinition } from './definition';
import { constantPipeline } from './constant';
import { mothSpeciesPipeline } from './moth-species';
import { randomDetectionRandomSpeciesPipeline } from './random-detection-random-species';

export const pipelineRegistry: readonly PipelineDefinition[] = Object.freeze([
  constantPipeline,
  randomDetectionRandomSpeciesPipeline,
  mothSpeciesPipeline,
]);

/** The registered definitions that ENABLED_PIPELINES selects (all when empty). Unknown names are an error. */
export function selectPipelines(
  enabled: string[],
  registry: readonly PipelineDefinition[] = pipelineRegistry,
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
