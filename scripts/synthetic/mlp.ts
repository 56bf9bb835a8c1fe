/**
 * Deterministic training of a one-hidden-layer MLP with softmax cross-entropy, in plain JS (float64).
 * Standardises the features, He-initialises from a seeded generator, and runs Adam on shuffled mini-batches.
 */
import { seededRng } from '../../src/util/rng';
import type { ClassifierHead } from './classifier-model';

export interface TrainOptions {
  hidden: number;
  epochs: number;
  batch: number;
  learningRate: number;
  l2: number;
  seed: number;
}

/** Fits a head on `features` (rows) and integer `labels`; the same inputs always give the same weights. */
export function trainMlp(
  features: number[][],
  labels: number[],
  classes: number,
  o: TrainOptions,
): ClassifierHead {
  const n = features.length;
  const f = features[0].length;
  const h = o.hidden;
  const mean = new Array<number>(f).fill(0);
  const invStd = new Array<number>(f).fill(0);
  for (const row of features) row.forEach((v, j) => (mean[j] += v / n));
  for (const row of features) row.forEach((v, j) => (invStd[j] += (v - mean[j]) ** 2 / n));
  for (let j = 0; j < f; j++) invStd[j] = 1 / Math.sqrt(invStd[j] + 1e-8);
  const x = features.map((row) => row.map((v, j) => (v - mean[j]) * invStd[j]));

  const rng = seededRng(o.seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const w1 = Array.from({ length: f * h }, () => normal() * Math.sqrt(2 / f));
  const b1 = new Array<number>(h).fill(0);
  const w2 = Array.from({ length: h * classes }, () => normal() * Math.sqrt(2 / h));
  const b2 = new Array<number>(classes).fill(0);
  const params = [w1, b1, w2, b2];
  const m = params.map((p) => new Array<number>(p.length).fill(0));
  const v = params.map((p) => new Array<number>(p.length).fill(0));
  let step = 0;
  const order = Array.from({ length: n }, (_, i) => i);
  const hid = new Array<number>(h);
  const out = new Array<number>(classes);
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let start = 0; start < n; start += o.batch) {
      const idx = order.slice(start, start + o.batch);
      const grads = params.map((p) => new Array<number>(p.length).fill(0));
      for (const r of idx) {
        const xr = x[r];
        for (let k = 0; k < h; k++) {
          let s = b1[k];
          for (let j = 0; j < f; j++) s += xr[j] * w1[j * h + k];
          hid[k] = s > 0 ? s : 0;
        }
        let max = -Infinity;
        for (let c = 0; c < classes; c++) {
          let s = b2[c];
          for (let k = 0; k < h; k++) s += hid[k] * w2[k * classes + c];
          out[c] = s;
          max = Math.max(max, s);
        }
        let sum = 0;
        for (let c = 0; c < classes; c++) sum += out[c] = Math.exp(out[c] - max);
        for (let c = 0; c < classes; c++) out[c] = out[c] / sum - (c === labels[r] ? 1 : 0); // dL/dlogit
        for (let k = 0; k < h; k++) {
          let dh = 0;
          for (let c = 0; c < classes; c++) {
            grads[2][k * classes + c] += hid[k] * out[c];
            dh += w2[k * classes + c] * out[c];
          }
          if (hid[k] <= 0) continue;
          grads[1][k] += dh;
          for (let j = 0; j < f; j++) grads[0][j * h + k] += xr[j] * dh;
        }
        for (let c = 0; c < classes; c++) grads[3][c] += out[c];
      }
      step++;
      const lr = (o.learningRate * Math.sqrt(1 - 0.999 ** step)) / (1 - 0.9 ** step);
      params.forEach((p, pi) => {
        const decay = pi === 0 || pi === 2 ? o.l2 : 0;
        for (let i = 0; i < p.length; i++) {
          const gr = grads[pi][i] / idx.length + decay * p[i];
          m[pi][i] = 0.9 * m[pi][i] + 0.1 * gr;
          v[pi][i] = 0.999 * v[pi][i] + 0.001 * gr * gr;
          p[i] -= (lr * m[pi][i]) / (Math.sqrt(v[pi][i]) + 1e-8);
        }
      });
    }
  }
  return { mean, invStd, w1, b1, w2, b2, hidden: h, classes };
}

/** Argmax predictions of a head in JS (for the build log). */
export function predictMlp(head: ClassifierHead, row: number[]): number {
  const { hidden: h, classes } = head;
  const xr = row.map((v, j) => (v - head.mean[j]) * head.invStd[j]);
  const hid = Array.from({ length: h }, (_, k) =>
    Math.max(
      0,
      xr.reduce((s, xv, j) => s + xv * head.w1[j * h + k], head.b1[k]),
    ),
  );
  let best = 0;
  let bestV = -Infinity;
  for (let c = 0; c < classes; c++) {
    const s = hid.reduce((acc, hv, k) => acc + hv * head.w2[k * classes + c], head.b2[c]);
    if (s > bestV) [best, bestV] = [c, s];
  }
  return best;
}
