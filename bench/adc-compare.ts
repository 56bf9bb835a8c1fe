/**
 * Compares two `/process` answers for the same image and pipeline box by box: ours and ADC's (or any two
 * services). The measures are the ones a move from ADC is held to:
 *
 * - boxes: each box of one answer matched to the best unmatched box of the other at IoU ≥ 0.9, greedily by IoU,
 *   both ways (the share of ours with a partner in ADC's, and of ADC's in ours);
 * - for matched pairs: the same classification stages (algorithm keys in order), the same `terminal` flags, the
 *   same top-1 label per stage;
 * - for matched pairs: the largest difference between full score vectors, stage by stage.
 *
 * Detection order is not compared: ADC answers non-moths first, then moths, and Antenna does not depend on it.
 *
 * As a command, on two live services (e.g. ADC started with scripts/adc/run-adc.sh, and this service with the
 * same checkpoints imported by `npm run import-adc`):
 *
 *     npx ts-node --transpile-only bench/adc-compare.ts http://127.0.0.1:2000 http://127.0.0.1:2010 \
 *       quebec_vermont_moths_2023 http://127.0.0.1:8000/trap-4k-1.jpg [more image URLs...]
 *
 * prints one line of measures per image and exits 1 when an image misses the bars (98 %, 98 %, 2e-3).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { BoundingBox, ClassificationResponse, PipelineResultsResponse } from '../src/contract/types';
import { iou } from '../src/algorithms/geometry/iou';

/** ADC's one detector, the directory `npm run import-adc` writes for it. */
export const ADC_DETECTOR = 'fasterrcnn_for_ami_moth_traps_2023';

/**
 * Writes into `into` a models directory like `models` (an import of ADC's files), every model linked, with the
 * detector's resize as the PyTorch that ADC runs on computes it. Imports default to PyTorch 2's arithmetic, which
 * ADC pins; PyTorch 1.x computes the resize's source positions in float64 and lands up to 0.03 of a byte apart,
 * enough to move boxes of a detector near its threshold (docs/adc-fidelity.md). The ADC that
 * scripts/adc/run-adc.sh starts on a CPU host runs Debian's PyTorch 1.13.
 */
export function withAdcTorchResize(models: string, into: string, torchMajor: number): void {
  for (const entry of fs.readdirSync(models)) {
    if (entry !== ADC_DETECTOR) fs.symlinkSync(path.join(models, entry), path.join(into, entry));
  }
  const detector = path.join(into, ADC_DETECTOR);
  fs.mkdirSync(detector);
  for (const file of fs.readdirSync(path.join(models, ADC_DETECTOR))) {
    if (file !== 'manifest.json')
      fs.symlinkSync(path.join(models, ADC_DETECTOR, file), path.join(detector, file));
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(models, ADC_DETECTOR, 'manifest.json'), 'utf8')) as {
    input: Record<string, unknown>;
  };
  manifest.input.interpolation = torchMajor < 2 ? 'torch1-bilinear' : 'torch-bilinear';
  fs.writeFileSync(path.join(detector, 'manifest.json'), JSON.stringify(manifest, null, 2));
}

/** The bars an answer must meet against ADC's. */
export const BARS = Object.freeze({ iou: 0.9, matchedShare: 0.98, agreeingShare: 0.98, scoreDiff: 2e-3 });

/** What one comparison found. */
export interface Agreement {
  ours: number;
  theirs: number;
  /** Pairs matched at IoU ≥ 0.9. */
  matched: number;
  /** matched / ours, and matched / theirs (1 when the answer has no boxes). */
  oursMatched: number;
  theirsMatched: number;
  /** Matched pairs whose stages, terminal flags and top-1 labels all agree. */
  agreeing: number;
  agreeingShare: number;
  /** Largest |score difference| over every stage of every matched pair. */
  maxScoreDiff: number;
  /** The first few pairs that disagree and boxes left unmatched, described, for a report. */
  disagreements: string[];
}

/** What the comparison reads of a detection: a full `DetectionResponse`, or a trimmed reference of one. */
export interface Box {
  bbox: BoundingBox;
  classifications: (Pick<ClassificationResponse, 'terminal' | 'classification' | 'scores'> & {
    algorithm: { key: string };
  })[];
}

/** Pairs of indices (ours, theirs) at IoU ≥ `threshold`, best IoU first, each box used once. */
export function matchBoxes(
  ours: BoundingBox[],
  theirs: BoundingBox[],
  threshold = BARS.iou,
): [number, number][] {
  const candidates: [number, number, number][] = [];
  ours.forEach((a, i) =>
    theirs.forEach((b, j) => {
      const v = iou(a, b);
      if (v >= threshold) candidates.push([v, i, j]);
    }),
  );
  candidates.sort((x, y) => y[0] - x[0] || x[1] - y[1] || x[2] - y[2]);
  const usedA = new Set<number>();
  const usedB = new Set<number>();
  const pairs: [number, number][] = [];
  for (const [, i, j] of candidates) {
    if (usedA.has(i) || usedB.has(j)) continue;
    usedA.add(i);
    usedB.add(j);
    pairs.push([i, j]);
  }
  return pairs;
}

const stages = (b: Box): string =>
  b.classifications
    .map((c) => `${c.algorithm.key}${c.terminal ? '' : ' (not terminal)'}: ${c.classification}`)
    .join(', ');

/** Compares the detections of one image in two answers. */
export function compareDetections(ours: Box[], theirs: Box[]): Agreement {
  const pairs = matchBoxes(
    ours.map((d) => d.bbox),
    theirs.map((d) => d.bbox),
  );
  let agreeing = 0;
  let maxScoreDiff = 0;
  const disagreements: string[] = [];
  for (const [i, j] of pairs) {
    const a = ours[i].classifications;
    const b = theirs[j].classifications;
    const same =
      a.length === b.length &&
      a.every(
        (c, k) =>
          c.algorithm.key === b[k].algorithm.key &&
          c.terminal === b[k].terminal &&
          c.classification === b[k].classification,
      );
    if (same) agreeing++;
    else if (disagreements.length < 5) {
      disagreements.push(
        `box ${JSON.stringify(ours[i].bbox)}: ours [${stages(ours[i])}], theirs [${stages(theirs[j])}]`,
      );
    }
    a.forEach((c, k) => {
      const other = b[k];
      if (!other || other.algorithm.key !== c.algorithm.key) return;
      if (c.scores.length !== other.scores.length) {
        maxScoreDiff = Infinity;
        return;
      }
      c.scores.forEach((s, q) => (maxScoreDiff = Math.max(maxScoreDiff, Math.abs(s - other.scores[q]))));
    });
  }
  // Unmatched boxes, each with its best IoU on the other side: a box just under the threshold, or one missing.
  const unmatched = (side: string, boxes: Box[], others: Box[], used: Set<number>): void => {
    boxes.forEach((d, i) => {
      if (used.has(i) || disagreements.length >= 10) return;
      const best = Math.max(0, ...others.map((o) => iou(d.bbox, o.bbox)));
      disagreements.push(`${side} box ${JSON.stringify(d.bbox)} unmatched (best IoU ${best.toFixed(3)})`);
    });
  };
  unmatched('our', ours, theirs, new Set(pairs.map(([i]) => i)));
  unmatched('their', theirs, ours, new Set(pairs.map(([, j]) => j)));
  const share = (n: number, of: number): number => (of === 0 ? 1 : n / of);
  return {
    ours: ours.length,
    theirs: theirs.length,
    matched: pairs.length,
    oursMatched: share(pairs.length, ours.length),
    theirsMatched: share(pairs.length, theirs.length),
    agreeing,
    agreeingShare: share(agreeing, pairs.length),
    maxScoreDiff,
    disagreements,
  };
}

/** True when an agreement meets every bar. */
export function meetsBars(a: Agreement): boolean {
  return (
    a.oursMatched >= BARS.matchedShare &&
    a.theirsMatched >= BARS.matchedShare &&
    a.agreeingShare >= BARS.agreeingShare &&
    a.maxScoreDiff <= BARS.scoreDiff
  );
}

/** One line for a report. */
export function describeAgreement(a: Agreement): string {
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  return (
    `boxes ours ${a.ours}, theirs ${a.theirs}, matched ${a.matched} (${pct(a.oursMatched)} of ours, ` +
    `${pct(a.theirsMatched)} of theirs); stages, terminal flags and top-1 agree on ${a.agreeing} ` +
    `(${pct(a.agreeingShare)}); largest score difference ${a.maxScoreDiff.toExponential(2)}`
  );
}

async function post(base: string, pipeline: string, url: string): Promise<PipelineResultsResponse> {
  const res = await fetch(`${base}/process`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ pipeline, source_images: [{ id: '1', url }], detections: [], config: {} }),
  });
  if (!res.ok) throw new Error(`${base}/process answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return (await res.json()) as PipelineResultsResponse;
}

async function main(argv: string[]): Promise<number> {
  const [ours, theirs, pipeline, ...urls] = argv;
  if (!ours || !theirs || !pipeline || urls.length === 0) {
    process.stderr.write(
      'usage: bench/adc-compare.ts <our base URL> <ADC base URL> <pipeline> <image URL>...\n',
    );
    return 2;
  }
  let ok = true;
  for (const url of urls) {
    const [a, b] = [await post(ours, pipeline, url), await post(theirs, pipeline, url)];
    const agreement = compareDetections(a.detections, b.detections);
    ok &&= meetsBars(agreement);
    process.stdout.write(`${url}: ${describeAgreement(agreement)}\n`);
    for (const d of agreement.disagreements) process.stdout.write(`  ${d}\n`);
  }
  return ok ? 0 : 1;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
