/**
 * The default model pipeline end to end in the engine: ADC-style stage gating, no tensor leaks (also when an
 * image fails to decode), and the same answers whether images are batched or not.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import type { ImageBytes } from '../../src/images/bytes-image';
import { readImageHeader } from '../../src/images/sniff';
import { readDeclaredPipelines } from '../../src/pipelines/declared';
import { LocalEngine, type EngineResult } from '../../src/runtime/engine';
import { testBackend } from '../helpers/backend';

const root = path.join(__dirname, '..', '..');
const sample = (file: string, id = file): ImageBytes => {
  const bytes = new Uint8Array(fs.readFileSync(path.join(root, 'samples', file)));
  return { id, url: `http://samples/${file}`, bytes, header: readImageHeader(bytes) };
};

describe('tfjs_synthetic_moths_2026 in the engine', () => {
  const engine = new LocalEngine({
    definitions: readDeclaredPipelines(path.join(root, 'models')).filter(
      (d) => d.slug === 'tfjs_synthetic_moths_2026',
    ),
    context: {
      modelsDir: path.join(root, 'models'),
      batches: { detectorBatchSize: 4, classifierBatchSize: 16 },
    },
    backend: testBackend(),
    decoder: 'sharp',
  });
  beforeAll(async () => {
    await engine.start();
    await engine.whenReady('tfjs_synthetic_moths_2026');
  }, 60_000);
  afterAll(() => engine.close());

  const run = (images: ImageBytes[], config = {}): Promise<EngineResult> =>
    engine.run({ pipeline: 'tfjs_synthetic_moths_2026', images, given: [], config });

  test('moths get filter + species (terminal); non-moths only the filter (terminal false)', async () => {
    const { detections } = await run([sample('trap-1600x1200.jpg')]);
    expect(detections.length).toBeGreaterThan(0);
    for (const d of detections) {
      const [filter, species] = d.classifications;
      expect(filter.algorithm.key).toBe('tfjs_synthetic_moth_nonmoth_classifier_2026');
      expect(filter.terminal).toBe(false);
      expect(filter.labels).toEqual(['moth', 'nonmoth']);
      if (filter.classification === 'moth') {
        expect(d.classifications).toHaveLength(2);
        expect(species.terminal).toBe(true);
        expect(species.labels).toBeNull(); // large maps are not repeated per detection
        expect(species.classification).toBe(
          // independent argmax over the full score vector, against the species category map
          JSON.parse(
            fs.readFileSync(path.join(root, 'models', 'species-classifier', 'category_map.json'), 'utf8'),
          ).labels[species.scores.indexOf(Math.max(...species.scores))],
        );
        expect(species.scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      } else {
        expect(d.classifications).toHaveLength(1);
      }
    }
  });

  test('numTensors is unchanged after runs, including one where an image fails to decode', async () => {
    const before = tf.memory().numTensors;
    await run([sample('trap-1024x768.jpg')]);
    expect(tf.memory().numTensors).toBe(before);
    const png = await sharp({ create: { width: 640, height: 480, channels: 3, background: 'white' } })
      .png()
      .toBuffer();
    const corrupt = new Uint8Array(png);
    corrupt.fill(0x55, 60, corrupt.length - 20); // header intact, pixel data destroyed
    const out = await run([
      sample('trap-1024x768.jpg', 'ok'),
      { id: 'bad', url: 'x', bytes: corrupt, header: readImageHeader(corrupt) },
    ]);
    expect(out.failures.map((f) => [f.imageId, f.code])).toEqual([['bad', 'IMAGE_DECODE_FAILED']]);
    expect(out.detections.every((d) => d.source_image_id === 'ok')).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);

  test('batched and unbatched runs give the same detections and scores', async () => {
    const files = ['trap-1024x768.jpg', 'trap-1600x1200.jpg'];
    const together = await run(
      files.map((f) => sample(f)),
      { detector_batch_size: 2, classifier_batch_size: 32 },
    );
    const apart = await run(
      files.map((f) => sample(f)),
      { detector_batch_size: 1, classifier_batch_size: 1 },
    );
    const strip = (r: EngineResult) =>
      r.detections.map((d) => ({
        id: d.source_image_id,
        bbox: d.bbox,
        cls: d.classifications.map((c) => [c.classification, c.scores]),
      }));
    const a = strip(together);
    const b = strip(apart);
    expect(a.map((d) => [d.id, d.bbox])).toEqual(b.map((d) => [d.id, d.bbox]));
    a.forEach((d, i) =>
      d.cls.forEach(([label, scores], j) => {
        expect(label).toBe(b[i].cls[j][0]);
        (scores as number[]).forEach((s, k) => expect(s).toBeCloseTo((b[i].cls[j][1] as number[])[k], 5));
      }),
    );
  }, 60_000);
});
