/**
 * One InferenceEngine over several, each serving its own pipelines. The service puts model-free pipelines
 * (`constant`, `random-detection-random-species`) on a LocalEngine without TensorFlow in the main thread and
 * the model pipelines on the inference thread, so the model-free ones never wait on or fail with that thread.
 */
import type { BackendChoice } from '../tf/backend';
import {
  sumStats,
  type EngineJob,
  type EngineResult,
  type EngineStats,
  type ImageDoneListener,
  type InferenceEngine,
} from './engine';
import { PipelineUnavailableError, type PipelineState } from './readiness';

export interface EngineRoute {
  engine: InferenceEngine;
  slugs: readonly string[];
}

export class EngineRouter implements InferenceEngine {
  private readonly bySlug = new Map<string, InferenceEngine>();

  /** `order`: every slug in registry order, as /readyz lists them. */
  constructor(
    private readonly routes: readonly EngineRoute[],
    private readonly order: readonly string[],
  ) {
    for (const route of routes) for (const slug of route.slugs) this.bySlug.set(slug, route.engine);
  }

  /** The TensorFlow backend in use: that of the first engine that has one. */
  backend(): BackendChoice | null {
    for (const { engine } of this.routes) {
      const choice = engine.backend();
      if (choice) return choice;
    }
    return null;
  }

  pipelineState(slug: string): PipelineState | undefined {
    return this.bySlug.get(slug)?.pipelineState(slug);
  }

  readySlugs(): string[] {
    return this.order.filter((slug) => this.pipelineState(slug)?.state === 'ready');
  }

  whenReady(slug: string): Promise<void> {
    const engine = this.bySlug.get(slug);
    if (!engine) return Promise.reject(new PipelineUnavailableError(`pipeline ${slug} is not enabled`));
    return engine.whenReady(slug);
  }

  run(job: EngineJob, onImage?: ImageDoneListener): Promise<EngineResult> {
    const engine = this.bySlug.get(job.pipeline);
    if (!engine)
      return Promise.reject(new PipelineUnavailableError(`pipeline ${job.pipeline} is not enabled`));
    return engine.run(job, onImage);
  }

  stats(): EngineStats {
    return sumStats(this.routes.map(({ engine }) => engine.stats()));
  }

  async close(): Promise<void> {
    await Promise.all(this.routes.map(({ engine }) => engine.close()));
  }
}
