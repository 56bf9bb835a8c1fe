/**
 * WASM_THREADS: the wasm backend's threaded SIMD build inside an inference thread (src/runtime/wasm-threads.ts).
 * Both engines run in worker threads, as in the service, so the process-wide changes the threaded build needs
 * (a `Worker` shim, a widened `os.cpus` in that thread) never reach this Jest worker.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import type { DetectionResponse } from '../../src/contract/types';
import type { BackendChoice } from '../../src/tf/backend';
import { WorkerEngine } from '../../src/runtime/worker-engine';
import type { WorkerInit } from '../../src/runtime/worker-protocol';
import { readImageHeader } from '../../src/images/sniff';
import { itOffNative } from '../helpers/backend';

const PIPELINE = 'tfjs_synthetic_moths_2026';
const init = (wasmThreads: number): WorkerInit => ({
  slugs: [PIPELINE],
  context: { modelsDir: 'models', batches: { detectorBatchSize: 2, classifierBatchSize: 8 } },
  backend: 'wasm',
  decoder: 'auto',
  wasmThreads,
});

async function detect(engine: WorkerEngine): Promise<DetectionResponse[]> {
  await engine.whenReady(PIPELINE);
  const bytes = new Uint8Array(
    await fsp.readFile(path.join(__dirname, '..', '..', 'samples', 'trap-1024x768.jpg')),
  );
  const result = await engine.run({
    pipeline: PIPELINE,
    images: [{ id: '1', url: 'x', bytes, header: readImageHeader(bytes) }],
    given: [],
    config: {},
  });
  return result.detections;
}

itOffNative(
  'two XNNPACK threads give the single-threaded detections and classifications',
  'WASM_THREADS is a setting of the wasm backend',
  async () => {
    const choices: BackendChoice[] = [];
    const onEvent = (e: { type: string; choice?: BackendChoice }): void => {
      if (e.type === 'backend' && e.choice) choices.push(e.choice);
    };
    const single = new WorkerEngine(init(1), { onEvent });
    const threaded = new WorkerEngine(init(2), { onEvent });
    try {
      const [a, b] = await Promise.all([detect(single), detect(threaded)]);
      const reasons = choices.map((c) => c.reasons[c.reasons.length - 1]).sort();
      expect(reasons).toEqual([
        'wasm initialised (SIMD, single thread in Node)',
        'wasm initialised (threaded SIMD build, 2 XNNPACK threads)',
      ]);
      expect(a.length).toBeGreaterThan(0);
      expect(b).toHaveLength(a.length);
      // Threads split the sums of each op differently, so floats may differ in the last bits: boxes within a
      // pixel, the same labels, scores within 1e-4.
      a.forEach((d, i) => {
        for (const k of ['x1', 'y1', 'x2', 'y2'] as const)
          expect(Math.abs(b[i].bbox[k] - d.bbox[k])).toBeLessThan(1);
        expect(b[i].classifications.map((c) => c.classification)).toEqual(
          d.classifications.map((c) => c.classification),
        );
        b[i].classifications.forEach((c, j) =>
          expect(Math.abs(c.scores[0] - d.classifications[j].scores[0])).toBeLessThan(1e-4),
        );
      });
    } finally {
      await Promise.all([single.close(), threaded.close()]);
    }
  },
  120_000,
);
