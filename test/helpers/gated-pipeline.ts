/**
 * A test pipeline whose classifier holds back the crops of chosen images until the test opens a gate, so a
 * test can look at what was delivered while the rest of a batch is still running (results go out per image).
 */
import type { DetectedBox, Detector, Region } from '../../src/algorithms/algorithm';
import type { ClassifierResult } from '../../src/algorithms/algorithm';
import { ConstantClassifier } from '../../src/algorithms/constant-classifier';
import { StubAlgorithm } from '../../src/algorithms/stub-algorithm';
import type { PipelineImage } from '../../src/images/pipeline-image';
import { definePipeline, type PipelineDefinition } from '../../src/pipelines/definition';
import { Pipeline } from '../../src/pipelines/pipeline';
import { testDetectorDescriptor } from './stub-detector';

/** Decodes every image and finds one box on it (the top-left quarter); records the chunks it saw. */
class QuarterDetector extends StubAlgorithm implements Detector {
  readonly kind = 'detector';
  override readonly needsPixels = true;
  constructor(private readonly seen: string[][]) {
    super(testDetectorDescriptor('quarter'));
  }
  async run(images: PipelineImage[]): Promise<DetectedBox[][]> {
    this.seen.push(images.map((i) => i.id));
    await Promise.all(images.map((i) => i.tensor()));
    return images.map((img) => [
      { bbox: { x1: 0, y1: 0, x2: img.width / 2, y2: img.height / 2 }, score: 1, inferenceTime: null },
    ]);
  }
}

/** The constant classifier, except that crops of an image whose id starts with "slow" wait for `gate`. */
class GatedClassifier extends ConstantClassifier {
  constructor(private readonly gate: Gate) {
    super();
  }
  override async run(regions: Region[]): Promise<ClassifierResult[]> {
    if (regions.some((r) => r.image.id.includes('slow'))) {
      this.gate.waiting = true;
      await this.gate.opened;
    }
    const results = await super.run(regions);
    this.gate.classified.push(...regions.map((r) => r.image.id));
    return results;
  }
}

/** What the test controls and observes. */
export interface Gate {
  /** Resolves when the test calls `open`. */
  opened: Promise<void>;
  open: () => void;
  /** True once the classifier is held at the gate. */
  waiting: boolean;
  /** Image ids of the crops classified so far (merged-job ids are tagged by the engine). */
  classified: string[];
  /** The detector's chunks, in order. */
  chunks: string[][];
}

export function createGate(): Gate {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open, waiting: false, classified: [], chunks: [] };
}

/** Slug `gated`: the quarter detector, then the gated constant classifier. */
export const gatedPipeline = (gate: Gate): PipelineDefinition =>
  definePipeline('gated', (ctx) =>
    Promise.resolve(
      new Pipeline(
        { name: 'gated', slug: 'gated', version: 1, description: null },
        new QuarterDetector(gate.chunks),
        [{ algorithm: new GatedClassifier(gate), terminal: true }],
        ctx.batches,
      ),
    ),
  );
