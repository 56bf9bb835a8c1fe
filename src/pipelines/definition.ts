/**
 * What a registry entry is: a slug and a factory. `create()` is cheap (it may read manifests but loads no
 * model), so the main thread can describe pipelines for /info while the inference thread compiles them.
 */
import type { BatchDefaults, Pipeline } from './pipeline';

export interface PipelineContext {
  /** MODELS_DIR, absolute. */
  modelsDir: string;
  batches: BatchDefaults;
}

export interface PipelineDefinition {
  readonly slug: string;
  create(ctx: PipelineContext): Promise<Pipeline>;
}

/** Helper for one-file pipelines: `definePipeline('my-slug', async (ctx) => new Pipeline(...))`. */
export function definePipeline(
  slug: string,
  create: (ctx: PipelineContext) => Promise<Pipeline>,
): PipelineDefinition {
  return Object.freeze({ slug, create });
}
