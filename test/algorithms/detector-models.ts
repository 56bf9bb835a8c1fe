/**
 * Tiny graph-model detectors shaped like the real ones the manifest describes, written with our own graph
 * writer. Their boxes are planted constants, so tests know exactly what a correct service must return; each also
 * reads the image (a brightness-dependent score, or a pixel probe), so the graph really sees what was fed.
 *
 * - ultralytics: NCHW input fixed at batch 1, one output `[1, 4+nc, N]` (cx,cy,w,h in input pixels + class scores);
 * - centernet: NHWC dynamic batch, one packed output `[B, 100, 6]` (x1,y1,x2,y2 input pixels, score, class);
 * - nanodet: NCHW dynamic batch, separate boxes `[B, K, 4]` (xyxy normalised) and per-class scores `[B, K, C]`;
 * - torchvision: rank-3 `[3, H, W]` input at native size, in-graph NMS (dynamic ops, so executeAsync), outputs
 *   boxes `[N, 4]` xyxy source pixels, labels `[N]` and scores `[N]`.
 */
import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { attr, GraphBuilder } from '../../src/models/graph-model-writer';

const f32 = { T: attr.type('DT_FLOAT') };
const i32 = { T: attr.type('DT_INT32') };

/** A fresh temporary model directory. */
export async function tempModelDir(name: string): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), `det-${name}-`));
}

/** Writes `manifest.json` (and an optional category map) next to the model. */
export async function writeManifest(
  dir: string,
  manifest: Record<string, unknown>,
  labels?: string[],
): Promise<void> {
  await fsp.writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  if (labels) {
    await fsp.writeFile(
      path.join(dir, 'category_map.json'),
      JSON.stringify({
        data: labels.map((label, index) => ({ index, label, taxon_rank: 'ORDER' })),
        labels,
      }),
    );
  }
}

export const algorithmOf = (key: string): Record<string, unknown> => ({
  key,
  name: key,
  version: 1,
  version_name: null,
  description: null,
  uri: null,
  task_type: 'localization',
});

export const PIXELS_01 = { color_order: 'RGB', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] };

/** A detector manifest as JSON, with `input` and `output` open for a test to patch. */
export type ManifestJson = Record<string, unknown> & {
  input: Record<string, unknown>;
  output: Record<string, unknown>;
};

/** Which optional parts a test manifest carries. */
export interface TestManifestOptions {
  /** `algorithm.key` (and name). */
  key?: string;
  /** Extra `class_labels` fields; the category map is `category_map.json`. Absent: no class labels (ADC). */
  classLabels?: Record<string, unknown>;
}

/**
 * An ultralytics-shaped detector manifest (the layout {@link writeUltralytics} writes): NCHW `[1, 3, S, S]`
 * letterbox-centred on grey 114, one packed output `output0` `[1, 4+nc, N]` of cx,cy,w,h input pixels and
 * class scores, NMS on the host at IoU 0.7.
 */
export const ultralyticsManifest = (size: number, options: TestManifestOptions = {}): ManifestJson => ({
  kind: 'detector',
  format: 'tfjs-graph-model',
  model_path: 'model.json',
  algorithm: algorithmOf(options.key ?? 'tiny_yolo'),
  input: {
    width: size,
    height: size,
    resize: 'letterbox-center',
    pad_value: 114,
    layout: 'NCHW',
    ...PIXELS_01,
  },
  output: {
    packed: { tensor: 'output0', channels_first: true, box: 0, class_scores: 4 },
    box_format: 'cxcywh',
    coordinates: 'pixels',
    score_threshold: 0.25,
    iou_threshold: 0.7,
    max_detections: 300,
  },
  ...classLabelsOf(options),
});

/**
 * A torchvision-shaped detector manifest (the layout {@link writeTorchvision} writes): a rank-3 image at its
 * native size, outputs `boxes` `[N, 4]` xyxy source pixels, `labels` `[N]` and `scores` `[N]`, NMS in the graph.
 */
export const torchvisionManifest = (
  scoreThreshold: number,
  options: TestManifestOptions = {},
): ManifestJson => ({
  kind: 'detector',
  format: 'tfjs-graph-model',
  model_path: 'model.json',
  algorithm: algorithmOf(options.key ?? 'tiny_frcnn'),
  input: { resize: 'none', layout: 'NCHW', batch: 'none', ...PIXELS_01 },
  output: {
    boxes: 'boxes',
    scores: 'scores',
    classes: 'labels',
    box_format: 'xyxy',
    coordinates: 'pixels',
    nms: 'in-graph',
    score_threshold: scoreThreshold,
    max_detections: 500,
  },
  ...classLabelsOf(options),
});

const classLabelsOf = ({ classLabels }: TestManifestOptions): Record<string, unknown> =>
  classLabels ? { class_labels: { category_map: 'category_map.json', ...classLabels } } : {};

/** A planted ultralytics row: box in input pixels (cx, cy, w, h) and one score per class. */
export interface YoloRow {
  cxcywh: [number, number, number, number];
  scores: number[];
}

/**
 * `[1, 3, S, S]` → `[1, 4+nc, N]`. Row `probe` (if given) gets, on class `probeClass`, the value of input pixel
 * (channel 0, row 0, column 0) added to its planted score: the top-left corner is padding under a centred letterbox.
 */
export async function writeUltralytics(
  dir: string,
  size: number,
  rows: YoloRow[],
  probe?: { row: number; cls: number },
): Promise<void> {
  const nc = rows[0].scores.length;
  const n = rows.length;
  const d = 4 + nc;
  const planted = new Float32Array(d * n); // [1, D, N]
  rows.forEach((r, j) => {
    [...r.cxcywh, ...r.scores].forEach((v, q) => {
      planted[q * n + j] = v;
    });
  });
  const mask = new Float32Array(d * n);
  if (probe) mask[(4 + probe.cls) * n + probe.row] = 1;
  const g = new GraphBuilder();
  const x = g.placeholder('images', [1, 3, size, size]);
  const pixel = g.op(
    'probe/pixel',
    'Slice',
    [x, g.constInt('probe/begin', [4], [0, 0, 0, 0]), g.constInt('probe/size', [4], [1, 1, 1, 1])],
    i32,
  );
  const pixel3 = g.op('probe/reshape', 'Reshape', [pixel, g.constInt('probe/shape', [3], [1, 1, 1])], i32);
  const probed = g.op('probe/mul', 'Mul', [pixel3, g.constFloat('probe/mask', [1, d, n], mask)], f32);
  const out = g.op('output0', 'AddV2', [g.constFloat('planted', [1, d, n], planted), probed], f32);
  g.output('output0', out);
  await g.write(dir);
}

/** A planted CenterNet row: x1, y1, x2, y2 (input pixels), score, class. */
export type PackedRow = [number, number, number, number, number, number];

/**
 * `[B, S, S, 3]` → `[B, 100, 6]`: the planted rows (padded to 100 with zero rows); row `brightRow` gets the
 * image's mean (normalised) added to its score, so only bright images report it.
 */
export async function writeCenterNet(
  dir: string,
  size: number,
  rows: PackedRow[],
  brightRow: number,
): Promise<void> {
  const k = 100;
  const planted = new Float32Array(k * 6);
  rows.forEach((r, j) => planted.set(r, j * 6));
  const mask = new Float32Array(k * 6);
  mask[brightRow * 6 + 4] = 1;
  const g = new GraphBuilder();
  const x = g.placeholder('input_tensor', [-1, size, size, 3]);
  const mean = g.op('bright/mean', 'Mean', [x, g.constInt('bright/axes', [3], [1, 2, 3])], {
    ...f32,
    keep_dims: attr.b(true),
    Tidx: attr.type('DT_INT32'),
  }); // [B, 1, 1, 1]
  const mean3 = g.op('bright/reshape', 'Reshape', [mean, g.constInt('bright/shape', [3], [-1, 1, 1])], i32);
  const bright = g.op('bright/mul', 'Mul', [mean3, g.constFloat('bright/mask', [1, k, 6], mask)], f32); // [B, 100, 6]
  const out = g.op('detections', 'AddV2', [g.constFloat('planted', [1, k, 6], planted), bright], f32);
  g.output('detections', out);
  await g.write(dir);
}

/**
 * `[B, 3, S, S]` → boxes `[B, K, 4]` (planted, xyxy normalised) and scores `[B, K, C]` (planted, plus on row 0
 * class 0 the mean of the image's green channel, so channel order and layout matter).
 */
export async function writeNanoDet(
  dir: string,
  size: number,
  boxes: [number, number, number, number][],
  scores: number[][],
): Promise<void> {
  const k = boxes.length;
  const c = scores[0].length;
  const mask = new Float32Array(k * c);
  mask[0] = 1;
  const g = new GraphBuilder();
  const x = g.placeholder('data', [-1, 3, size, size]);
  const green = g.op(
    'green/slice',
    'Slice',
    [x, g.constInt('green/begin', [4], [0, 1, 0, 0]), g.constInt('green/size', [4], [-1, 1, -1, -1])],
    i32,
  );
  const mean = g.op('green/mean', 'Mean', [green, g.constInt('green/axes', [3], [1, 2, 3])], {
    ...f32,
    keep_dims: attr.b(true),
    Tidx: attr.type('DT_INT32'),
  });
  const mean3 = g.op('green/reshape', 'Reshape', [mean, g.constInt('green/shape', [3], [-1, 1, 1])], i32);
  const extra = g.op('green/mul', 'Mul', [mean3, g.constFloat('green/mask', [1, k, c], mask)], f32);
  const s = g.op('scores', 'AddV2', [g.constFloat('planted_scores', [1, k, c], scores.flat()), extra], f32);
  // Boxes follow the batch: planted + 0·mean, broadcast to [B, K, 4].
  const zero = g.op('boxes/zero', 'Mul', [mean3, g.constFloat('boxes/zeros', [1, 1, 1], [0])], f32);
  const b = g.op('boxes', 'AddV2', [g.constFloat('planted_boxes', [1, k, 4], boxes.flat()), zero], f32);
  g.output('boxes', b);
  g.output('scores', s);
  await g.write(dir);
}

/**
 * `[3, H, W]` → in-graph NMS over planted boxes given as fractions of the image (scaled by the image's real size,
 * read from the input's shape): boxes `[N, 4]` xyxy source pixels, labels `[N]` int32, scores `[N]`. Scores are
 * the planted ones times the image's mean (normalised), so a black image gives no box at all.
 */
export async function writeTorchvision(
  dir: string,
  fractions: [number, number, number, number][],
  scores: number[],
  labels: number[],
): Promise<void> {
  const n = fractions.length;
  const g = new GraphBuilder();
  const x = g.placeholder('images', [3, -1, -1]);
  const mean = g.op('mean', 'Mean', [x, g.constInt('mean/axes', [3], [0, 1, 2])], {
    ...f32,
    keep_dims: attr.b(false),
    Tidx: attr.type('DT_INT32'),
  }); // []
  const s = g.op('scores/all', 'Mul', [g.constFloat('planted_scores', [n], scores), mean], f32); // [N]
  // [W, H, W, H] from the input's shape [3, H, W].
  const shape = g.op('size/shape', 'Shape', [x], {
    T: attr.type('DT_FLOAT'),
    out_type: attr.type('DT_INT32'),
  });
  const whwh = g.op(
    'size/gather',
    'GatherV2',
    [shape, g.constInt('size/idx', [4], [2, 1, 2, 1]), g.constInt('size/axis', [], [0])],
    {
      Tparams: attr.type('DT_INT32'),
      Tindices: attr.type('DT_INT32'),
      Taxis: attr.type('DT_INT32'),
    },
  );
  const whwhF = g.op('size/float', 'Cast', [whwh], {
    SrcT: attr.type('DT_INT32'),
    DstT: attr.type('DT_FLOAT'),
  });
  const all = g.op('boxes/all', 'Mul', [g.constFloat('planted_boxes', [n, 4], fractions.flat()), whwhF], f32); // [N, 4]
  const keep = g.op(
    'nms',
    'NonMaxSuppressionV3',
    [
      all,
      s,
      g.constInt('nms/max', [], [100]),
      g.constFloat('nms/iou', [], [0.5]),
      g.constFloat('nms/score', [], [0.05]),
    ],
    {},
  ); // [M]
  const gather = (name: string, params: string, t: 'DT_FLOAT' | 'DT_INT32'): string =>
    g.op(name, 'GatherV2', [params, keep, g.constInt(`${name}/axis`, [], [0])], {
      Tparams: attr.type(t),
      Tindices: attr.type('DT_INT32'),
      Taxis: attr.type('DT_INT32'),
    });
  g.output('boxes', gather('boxes', all, 'DT_FLOAT'));
  g.output('scores', gather('scores', s, 'DT_FLOAT'));
  g.output('labels', gather('labels', g.constInt('planted_labels', [n], labels), 'DT_INT32'), 'DT_INT32');
  await g.write(dir);
}
