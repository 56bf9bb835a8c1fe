/**
 * Reads a detector's raw output tensors, in any layout a detector manifest can describe, into one list of
 * candidate rows per image. Pure: it sees typed arrays and shapes, never tensors.
 *
 * Layouts (B is absent when the input has no batch dimension):
 * - separate: boxes `[B, K, 4]`, scores `[B, K]` or per class `[B, K, C]`, optional class ids `[B, K]`;
 * - packed: `[B, K, D]` rows, e.g. CenterNet x1,y1,x2,y2,score,class;
 * - packed channels-first: `[B, D, K]`, e.g. ultralytics `[1, 4+nc, N]` (cx,cy,w,h then per-class scores).
 * Either may come with a `[B]` count of valid rows (TF Object Detection API `num_detections`); rows past it are
 * padding.
 */
import { lastPackedColumn, type DetectorOutput } from '../models/manifest';

/** One output tensor's values and shape. */
export interface OutputData {
  values: ArrayLike<number>;
  shape: number[];
}

/** One candidate box as the graph gave it: box numbers in the manifest's format, before any mapping. */
export interface RawDetection {
  box: [number, number, number, number];
  /** The box score: the score column, or the best per-class score. */
  score: number;
  /** Class id (the class column or tensor, or the argmax of the per-class scores); null when not read. */
  classId: number | null;
  /** The full per-class score vector, when the graph gives one and classes are read. */
  classScores: number[] | null;
}

/** What the reader needs beyond the manifest. */
export interface ReadOptions {
  /** Images in the call. */
  batch: number;
  /** False when the graph has no batch dimension (outputs lack the leading B). */
  batched: boolean;
  /** Rows scoring below this are skipped (NaN too). */
  scoreThreshold: number;
  /** Rows scoring exactly `scoreThreshold` are skipped too (`score > threshold`, as ADC keeps boxes). */
  strictThreshold?: boolean;
  /** Read class ids / vectors (the manifest has `class_labels`); otherwise classes are ignored, as in ADC. */
  classes: boolean;
}

/** The output names to request from the model, in the order `readDetections` expects their data. */
export function detectorOutputNames(output: DetectorOutput, classes: boolean): string[] {
  const names = output.packed ? [output.packed.tensor] : [output.boxes ?? 'boxes', output.scores ?? 'scores'];
  if (!output.packed && classes && output.classes !== undefined) names.push(output.classes);
  if (output.num_detections !== undefined) names.push(output.num_detections); // always last
  return names;
}

const shapeText = (shape: number[]): string => `[${shape.join(', ')}]`;

/**
 * Checks the shapes and returns, per image, the rows scoring at least `scoreThreshold`. Throws an error naming
 * the manifest field and the actual shape when the outputs do not match the manifest.
 */
export function readDetections(
  output: DetectorOutput,
  data: OutputData[],
  options: ReadOptions,
): RawDetection[][] {
  // Give every output a leading batch dim so one indexing scheme serves both cases.
  const shaped = data.map((d) => ({ values: d.values, shape: options.batched ? d.shape : [1, ...d.shape] }));
  const b = options.batched ? options.batch : 1;
  const lead = options.batched ? `${options.batch}, ` : '';
  const counts = output.num_detections !== undefined ? shaped.pop() : undefined;
  const rows = output.packed
    ? readPacked(output.packed, shaped[0], b, lead, options)
    : readSeparate(output, shaped, b, lead, options);
  if (!counts) return rows.map((image) => image.map(({ row }) => row));
  if (counts.shape.length !== 1 || counts.shape[0] !== b) {
    throw new Error(
      `expected output.num_detections "${output.num_detections}" [${lead.replace(/, $/, '')}]; got ` +
        shapeText(counts.shape.slice(options.batched ? 0 : 1)),
    );
  }
  return rows.map((image, i) => {
    const n = counts.values[i];
    if (!(Number.isFinite(n) && n >= 0)) {
      throw new Error(`output.num_detections "${output.num_detections}" gave ${n} rows for image ${i}`);
    }
    return image.filter(({ index }) => index < n).map(({ row }) => row);
  });
}

function readSeparate(
  output: DetectorOutput,
  [boxes, scores, classes]: OutputData[],
  b: number,
  lead: string,
  options: ReadOptions,
): IndexedRow[][] {
  const k = boxes.shape[1];
  const perClass = scores.shape.length === 3;
  const c = perClass ? scores.shape[2] : 1;
  const ok =
    boxes.shape.length === 3 &&
    boxes.shape[0] === b &&
    boxes.shape[2] === 4 &&
    (scores.shape.length === 2 || perClass) &&
    scores.shape[0] === b &&
    scores.shape[1] === k &&
    (classes === undefined ||
      (classes.shape.length === 2 && classes.shape[0] === b && classes.shape[1] === k));
  if (!ok) {
    throw new Error(
      `expected output.boxes "${output.boxes}" [${lead}K, 4], output.scores "${output.scores}" [${lead}K] or ` +
        `[${lead}K, classes]` +
        (classes ? `, output.classes "${output.classes}" [${lead}K]` : '') +
        `; got ${[boxes, scores, classes]
          .filter((x): x is OutputData => x !== undefined)
          .map((x) => shapeText(x.shape.slice(options.batched ? 0 : 1)))
          .join(', ')}`,
    );
  }
  const at = (values: ArrayLike<number>, width: number) => (i: number, j: number, q: number) =>
    values[(i * k + j) * width + q];
  const box = at(boxes.values, 4);
  return collectRows(b, k, options, {
    box: (i, j) => [box(i, j, 0), box(i, j, 1), box(i, j, 2), box(i, j, 3)],
    classCount: perClass ? c : 0,
    score: at(scores.values, c),
    classId: classes ? (i, j) => classes.values[i * k + j] : () => null,
  });
}

function readPacked(
  packed: NonNullable<DetectorOutput['packed']>,
  tensor: OutputData,
  b: number,
  lead: string,
  options: ReadOptions,
): IndexedRow[][] {
  const first = packed.channels_first === true;
  const [, d0, d1] = tensor.shape;
  const [k, d] = first ? [d1, d0] : [d0, d1];
  const needed = 1 + lastPackedColumn(packed);
  if (tensor.shape.length !== 3 || tensor.shape[0] !== b || !(d >= needed)) {
    const want = first ? `[${lead}D, K]` : `[${lead}K, D]`;
    throw new Error(
      `expected output.packed.tensor "${packed.tensor}" ${want} with D ≥ ${needed} columns; got ` +
        shapeText(tensor.shape.slice(options.batched ? 0 : 1)),
    );
  }
  // Element (image i, row j, column q): channels-first strides are [D·K, 1, K], else [K·D, D, 1].
  const at = first
    ? (i: number, j: number, q: number): number => tensor.values[(i * d + q) * k + j]
    : (i: number, j: number, q: number): number => tensor.values[(i * k + j) * d + q];
  const bx = packed.box;
  const cs = packed.class_scores;
  const cls = packed.class;
  return collectRows(b, k, options, {
    box: (i, j) => [at(i, j, bx), at(i, j, bx + 1), at(i, j, bx + 2), at(i, j, bx + 3)],
    classCount: cs !== undefined ? d - cs : 0,
    score: cs !== undefined ? (i, j, q) => at(i, j, cs + q) : (i, j) => at(i, j, packed.score ?? 0),
    classId: cls !== undefined ? (i, j) => at(i, j, cls) : () => null,
  });
}

/** One layout's candidate rows, seen through accessors: image i, row j. */
interface RowSource {
  box(i: number, j: number): [number, number, number, number];
  /** Per-class score columns; 0 when the graph gives one score per row. */
  classCount: number;
  /** Class q's score with per-class columns, else the row's score (q is 0). */
  score(i: number, j: number, q: number): number;
  /** The class id column or tensor; null when there is none (unused with per-class columns). */
  classId(i: number, j: number): number | null;
}

/** A candidate row and its position among the image's K rows. */
interface IndexedRow {
  index: number;
  row: RawDetection;
}

/**
 * The rows of each image that score at least the threshold (above it when strict): the best class's score with
 * per-class columns.
 */
function collectRows(b: number, k: number, options: ReadOptions, src: RowSource): IndexedRow[][] {
  const nc = src.classCount;
  const t = options.scoreThreshold;
  // Written so that NaN never passes.
  const passes = options.strictThreshold
    ? (score: number): boolean => score > t
    : (score: number) => score >= t;
  const result: IndexedRow[][] = [];
  for (let i = 0; i < b; i++) {
    const rows: IndexedRow[] = [];
    for (let j = 0; j < k; j++) {
      let score = src.score(i, j, 0);
      let classId: number | null;
      let classScores: number[] | null = null;
      if (nc > 0) {
        // Argmax, the first one on ties.
        classId = 0;
        for (let q = 1; q < nc; q++) {
          const v = src.score(i, j, q);
          if (v > score) {
            score = v;
            classId = q;
          }
        }
        if (options.classes && passes(score)) {
          classScores = Array.from({ length: nc }, (_, q) => src.score(i, j, q));
        }
      } else {
        classId = src.classId(i, j);
      }
      if (!passes(score)) continue;
      rows.push({
        index: j,
        row: { box: src.box(i, j), score, classId: options.classes ? classId : null, classScores },
      });
    }
    result.push(rows);
  }
  return result;
}

/** The number of classes the outputs give per box (per-class score columns), or null when they give ids. */
export function classScoreCount(output: DetectorOutput, data: OutputData[], batched: boolean): number | null {
  if (output.packed) {
    const p = output.packed;
    if (p.class_scores === undefined) return null;
    const shape = batched ? data[0].shape : [1, ...data[0].shape];
    const d = p.channels_first === true ? shape[1] : shape[2];
    return d - p.class_scores;
  }
  const scores = data[1].shape;
  const rank = batched ? 3 : 2;
  return scores.length === rank ? scores[rank - 1] : null;
}
