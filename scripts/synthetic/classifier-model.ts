/**
 * The default classifiers: a fixed, hand-designed feature extractor followed by a small MLP whose weights the
 * build script fits (scripts/synthetic/mlp.ts). Both classifiers share the extractor design; only the head differs.
 *
 * Features of a 64×64 crop in [0, 1] (FEATURE_COUNT values), each averaged over three radial zones (centre,
 * middle ring, corners), so that they barely change when the insect is rotated:
 * - a soft colour histogram: softmax over 27 RGB prototypes (a 3×3×3 grid), 1×1 convolution;
 * - edge and blob energy: |Sobel x|, |Sobel y|, |Laplacian|, |diagonal| of the grey image at two scales;
 * - 16 seeded random 5×5 colour filters with ReLU (plus their global maxima), a cheap generic texture bank.
 */
import { attr, GraphBuilder, type AttrValue } from '../../src/models/graph-model-writer';
import { seededRng } from '../../src/util/rng';

export const CLASSIFIER_INPUT = { width: 64, height: 64 } as const;
const PROTOTYPE_LEVELS = [0.15, 0.5, 0.85];
const PROTOTYPE_SHARPNESS = 1 / 0.04; // 1/τ for the colour softmax
const RANDOM_FILTERS = 16;
export const FEATURE_COUNT = 27 * 3 + 4 * 3 * 2 + RANDOM_FILTERS * 3 + RANDOM_FILTERS;

/** Fitted head: standardisation then a one-hidden-layer MLP. */
export interface ClassifierHead {
  mean: number[];
  invStd: number[];
  w1: number[]; // [FEATURE_COUNT, hidden] row-major
  b1: number[];
  w2: number[]; // [hidden, classes]
  b2: number[];
  hidden: number;
  classes: number;
}

const f32 = { T: attr.type('DT_FLOAT') };
const conv = (padding: string): Record<string, AttrValue> => ({
  ...f32,
  strides: attr.ints([1, 1, 1, 1]),
  padding: attr.s(padding),
  data_format: attr.s('NHWC'),
  dilations: attr.ints([1, 1, 1, 1]),
});

/** [1, s, s, 1] masks: centre disk, middle ring, outer corners (radius in units of the half-side). */
function zoneMasks(s: number): number[][] {
  const zones = [
    [0, 0.4],
    [0.4, 0.75],
    [0.75, 10],
  ];
  return zones.map(([lo, hi]) => {
    const m: number[] = [];
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const r = Math.hypot((x + 0.5) / s - 0.5, (y + 0.5) / s - 0.5) * 2;
        m.push(r >= lo && r < hi ? 1 : 0);
      }
    }
    const mean = m.reduce((a, b) => a + b, 0) / m.length;
    return m.map((v) => v / mean); // so that mean(mask · f) is the zone's mean of f
  });
}

/** Adds the feature extractor; returns the node of the `[B, FEATURE_COUNT]` feature vector. */
function addFeatures(g: GraphBuilder, input: string): string {
  const { width: s } = CLASSIFIER_INPUT;
  const axes12 = g.constInt('f/axes12', [2], [1, 2]);
  const zoneMeans = (name: string, feature: string, size: number): string[] =>
    zoneMasks(size).map((m, z) => {
      const masked = g.op(
        `${name}/z${z}/mul`,
        'Mul',
        [feature, g.constFloat(`${name}/z${z}/mask`, [1, size, size, 1], m)],
        f32,
      );
      return g.op(`${name}/z${z}/mean`, 'Mean', [masked, axes12], {
        ...f32,
        Tidx: attr.type('DT_INT32'),
        keep_dims: attr.b(false),
      });
    });

  // Colour histogram: logits_k = (2 x·p_k − |p_k|²)/τ; the |x|² term is the same for every k.
  const protos: number[][] = [];
  for (const r of PROTOTYPE_LEVELS)
    for (const gg of PROTOTYPE_LEVELS) for (const b of PROTOTYPE_LEVELS) protos.push([r, gg, b]);
  const kc: number[] = [];
  for (let c = 0; c < 3; c++) for (const p of protos) kc.push(2 * p[c] * PROTOTYPE_SHARPNESS);
  const colourLogits = g.op(
    'f/colour/conv',
    'Conv2D',
    [input, g.constFloat('f/colour/k', [1, 1, 3, protos.length], kc)],
    conv('VALID'),
  );
  const colourBias = protos.map((p) => -(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]) * PROTOTYPE_SHARPNESS);
  const colour = g.op(
    'f/colour/softmax',
    'Softmax',
    [
      g.op(
        'f/colour/bias',
        'BiasAdd',
        [colourLogits, g.constFloat('f/colour/b', [protos.length], colourBias)],
        { ...f32, data_format: attr.s('NHWC') },
      ),
    ],
    f32,
  );

  // Edges on the grey image at full and half resolution.
  const grey = g.op(
    'f/grey',
    'Conv2D',
    [input, g.constFloat('f/grey/k', [1, 1, 3, 1], [1 / 3, 1 / 3, 1 / 3])],
    conv('VALID'),
  );
  const edgeKernel = g.constFloat(
    'f/edge/k',
    [3, 3, 1, 4],
    [
      // per (ky, kx): [sobel x, sobel y, laplacian, diagonal]
      -1, -1, 0, -2, /**/ 0, -2, 1, -1, /**/ 1, -1, 0, 0, -2, 0, 1, -1, /**/ 0, 0, -4, 0, /**/ 2, 0, 1, 1, -1,
      1, 0, 0, /**/ 0, 2, 1, 1, /**/ 1, 1, 0, 2,
    ],
  );
  const edges1 = g.op(
    'f/edge1',
    'Abs',
    [g.op('f/edge1/conv', 'Conv2D', [grey, edgeKernel], conv('SAME'))],
    f32,
  );
  const half = g.op('f/grey2', 'AvgPool', [grey], {
    ...f32,
    ksize: attr.ints([1, 2, 2, 1]),
    strides: attr.ints([1, 2, 2, 1]),
    padding: attr.s('VALID'),
    data_format: attr.s('NHWC'),
  });
  const edges2 = g.op(
    'f/edge2',
    'Abs',
    [g.op('f/edge2/conv', 'Conv2D', [half, edgeKernel], conv('SAME'))],
    f32,
  );

  // Seeded random colour filters, zero-mean per filter so that they respond to pattern, not brightness.
  const rng = seededRng(0x51ec7);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const kr = new Array<number>(5 * 5 * 3 * RANDOM_FILTERS);
  for (let f = 0; f < RANDOM_FILTERS; f++) {
    const vals = Array.from({ length: 75 }, normal);
    const mean = vals.reduce((a, b) => a + b, 0) / 75;
    const norm = Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0));
    vals.forEach((v, i) => (kr[i * RANDOM_FILTERS + f] = (v - mean) / norm));
  }
  const random = g.op(
    'f/random',
    'Relu',
    [
      g.op(
        'f/random/conv',
        'Conv2D',
        [input, g.constFloat('f/random/k', [5, 5, 3, RANDOM_FILTERS], kr)],
        conv('SAME'),
      ),
    ],
    f32,
  );
  const randomMax = g.op('f/random/max', 'Max', [random, axes12], {
    ...f32,
    Tidx: attr.type('DT_INT32'),
    keep_dims: attr.b(false),
  });

  const parts = [
    ...zoneMeans('f/colour', colour, s),
    ...zoneMeans('f/edge1', edges1, s),
    ...zoneMeans('f/edge2', edges2, s / 2),
    ...zoneMeans('f/random', random, s),
    randomMax,
  ];
  return g.op('features', 'ConcatV2', [...parts, g.constInt('f/axis1', [], [1])], {
    ...f32,
    Tidx: attr.type('DT_INT32'),
    N: attr.i(parts.length),
  });
}

/** The extractor alone (output `features`), used by the build script to compute training features. */
export function buildFeatureGraph(): GraphBuilder {
  const g = new GraphBuilder();
  const x = g.placeholder('image', [-1, CLASSIFIER_INPUT.height, CLASSIFIER_INPUT.width, 3]);
  g.output('features', addFeatures(g, x));
  return g;
}

/** Extractor + fitted head; output `logits` [B, classes]. */
export function buildClassifierGraph(head: ClassifierHead): GraphBuilder {
  const g = new GraphBuilder();
  const x = g.placeholder('image', [-1, CLASSIFIER_INPUT.height, CLASSIFIER_INPUT.width, 3]);
  const feats = addFeatures(g, x);
  const centred = g.op(
    'head/centre',
    'Sub',
    [feats, g.constFloat('head/mean', [FEATURE_COUNT], head.mean)],
    f32,
  );
  const scaled = g.op(
    'head/scale',
    'Mul',
    [centred, g.constFloat('head/inv_std', [FEATURE_COUNT], head.invStd)],
    f32,
  );
  const matmul = { ...f32, transpose_a: attr.b(false), transpose_b: attr.b(false) };
  const h1 = g.op(
    'head/fc1',
    'MatMul',
    [scaled, g.constFloat('head/w1', [FEATURE_COUNT, head.hidden], head.w1)],
    matmul,
  );
  const a1 = g.op(
    'head/relu',
    'Relu',
    [
      g.op('head/fc1/bias', 'BiasAdd', [h1, g.constFloat('head/b1', [head.hidden], head.b1)], {
        ...f32,
        data_format: attr.s('NHWC'),
      }),
    ],
    f32,
  );
  const h2 = g.op(
    'head/fc2',
    'MatMul',
    [a1, g.constFloat('head/w2', [head.hidden, head.classes], head.w2)],
    matmul,
  );
  const logits = g.op('logits', 'BiasAdd', [h2, g.constFloat('head/b2', [head.classes], head.b2)], {
    ...f32,
    data_format: attr.s('NHWC'),
  });
  g.output('logits', logits);
  return g;
}
