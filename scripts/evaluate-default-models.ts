/**
 * Runs the default models on samples/ exactly as a pipeline would (wasm backend, sharp decoding, manifest
 * thresholds): detector → moth/non-moth filter on every box → species classifier on boxes labelled "moth".
 * Prints recall, false-detection rate, species accuracy, clutter filtering and timings.
 *
 * Usage: `npx ts-node --transpile-only scripts/evaluate-default-models.ts [--backend wasm|cpu]`
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { initBackend, type BackendPreference } from '../src/tf/backend';
import { loadManifestAlgorithm } from '../src/algorithms/load-manifest-algorithm';
import { ObjectDetector } from '../src/algorithms/object-detector';
import { CropClassifier } from '../src/algorithms/crop-classifier';
import type { BoundingBox } from '../src/contract/types';
import { seededRng } from '../src/util/rng';
import { jpegImage } from './synthetic/images';
import { matchBoxes } from './synthetic/matching';

const ROOT = path.resolve(__dirname, '..');

interface GroundTruth {
  images: {
    file: string;
    width: number;
    height: number;
    objects: { bbox: BoundingBox; label: string; kind: 'insect' | 'clutter' }[];
  }[];
}

async function load<T extends ObjectDetector | CropClassifier>(
  dir: string,
  type: new (...args: never[]) => T,
): Promise<T> {
  const algorithm = await loadManifestAlgorithm(path.join(ROOT, 'models', dir));
  if (!(algorithm instanceof type)) throw new Error(`models/${dir} is not a ${type.name}`);
  await algorithm.compile();
  return algorithm;
}

const argmax = (v: number[]): number => v.reduce((best, x, i) => (x > v[best] ? i : best), 0);
const pct = (a: number, b: number): string => `${((100 * a) / Math.max(b, 1)).toFixed(1)}% (${a}/${b})`;

async function main(): Promise<void> {
  const backendArg = process.argv.indexOf('--backend');
  const backend = (backendArg > 0 ? process.argv[backendArg + 1] : 'wasm') as BackendPreference;
  const choice = await initBackend(backend);
  const detector = await load('moth-detector', ObjectDetector);
  const filter = await load('moth-nonmoth-classifier', CropClassifier);
  const species = await load('species-classifier', CropClassifier);
  const truth = JSON.parse(
    await fsp.readFile(path.join(ROOT, 'samples', 'ground-truth.json'), 'utf8'),
  ) as GroundTruth;
  const options = { config: {}, rng: seededRng(0), batchSize: 32 };

  const totals = {
    insects: 0,
    found: 0,
    dets: 0,
    unmatched: 0,
    speciesRight: 0,
    speciesFound: 0,
    filteredAsNonmoth: 0,
    clutterDetected: 0,
    clutterNonmoth: 0,
  };
  console.log(`backend: ${choice.backend}`);
  for (const entry of truth.images) {
    const bytes = await fsp.readFile(path.join(ROOT, 'samples', entry.file));
    const image = jpegImage(entry.file, bytes);
    try {
      let t = performance.now();
      await image.tensor();
      const decodeMs = performance.now() - t;
      t = performance.now();
      const [boxes] = await detector.run([image], { ...options, batchSize: 1 });
      const detectMs = performance.now() - t;
      t = performance.now();
      const filtered = await filter.run(
        boxes.map((b) => ({ image, bbox: b.bbox })),
        options,
      );
      const mothIdx = filtered
        .map((r, i) => (filter.labels[argmax(r.scores)] === 'moth' ? i : -1))
        .filter((i) => i >= 0);
      const named = await species.run(
        mothIdx.map((i) => ({ image, bbox: boxes[i].bbox })),
        options,
      );
      const classifyMs = performance.now() - t;

      const speciesOf = new Map<number, string>();
      mothIdx.forEach((di, k) => speciesOf.set(di, species.labels[argmax(named[k].scores)]));
      const m = matchBoxes(
        boxes.map((b) => b.bbox),
        entry.objects.map((o) => o.bbox),
        0.5,
      );
      const s = { insects: 0, found: 0, right: 0, unmatched: m.detToGt.filter((g) => g < 0).length };
      entry.objects.forEach((o, gi) => {
        const di = m.gtToDet[gi];
        if (o.kind === 'clutter') {
          if (di >= 0) {
            totals.clutterDetected++;
            if (!speciesOf.has(di)) totals.clutterNonmoth++;
          }
          return;
        }
        s.insects++;
        if (di < 0) return;
        s.found++;
        if (!speciesOf.has(di)) totals.filteredAsNonmoth++;
        if (speciesOf.get(di) === o.label) s.right++;
      });
      totals.insects += s.insects;
      totals.found += s.found;
      totals.speciesFound += s.found;
      totals.speciesRight += s.right;
      totals.dets += boxes.length;
      totals.unmatched += s.unmatched;
      console.log(
        `${entry.file} ${entry.width}x${entry.height}: insects found ${s.found}/${s.insects}, detections ${boxes.length} ` +
          `(${s.unmatched} unmatched), species right ${s.right}/${s.found}; decode ${decodeMs.toFixed(0)} ms, ` +
          `detect ${detectMs.toFixed(0)} ms, classify ${boxes.length}+${mothIdx.length} crops ${classifyMs.toFixed(0)} ms`,
      );
    } finally {
      image.dispose();
    }
  }
  console.log('');
  console.log(`insects found (IoU >= 0.5):            ${pct(totals.found, totals.insects)}`);
  console.log(`detections unmatched to any object:    ${pct(totals.unmatched, totals.dets)}`);
  console.log(`found insects with the right species:  ${pct(totals.speciesRight, totals.speciesFound)}`);
  console.log(`found insects filtered out as nonmoth: ${pct(totals.filteredAsNonmoth, totals.speciesFound)}`);
  console.log(`detected clutter classified nonmoth:   ${pct(totals.clutterNonmoth, totals.clutterDetected)}`);
  detector.dispose();
  filter.dispose();
  species.dispose();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
