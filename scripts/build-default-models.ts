/**
 * Builds the three default models and the sample images, deterministically (fixed seeds):
 *
 *   models/moth-detector/            hand-designed detector (scripts/synthetic/detector-model.ts)
 *   models/moth-nonmoth-classifier/  fixed features + MLP fitted here: moth (0) / nonmoth (1)
 *   models/species-classifier/       fixed features + MLP fitted here: five moth species
 *   samples/*.jpg, samples/ground-truth.json
 *
 * Training crops come from synthetic training scenes (seeds disjoint from the samples), cut exactly as the
 * service cuts them: the detector's own boxes plus jittered ground-truth boxes and background boxes.
 * Run with `npm run build-models`; about two minutes on two cores.
 */
import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/tf/backend';
import { loadGraphModelFromDir } from '../src/models/graph-model-loader';
import { readManifest, type ClassifierManifest, type DetectorManifest } from '../src/models/manifest';
import type { AlgorithmCategoryMap, BoundingBox } from '../src/contract/types';
import { ObjectDetector } from '../src/algorithms/object-detector';
import { cropBoxToNormalized } from '../src/algorithms/geometry/crop-box';
import { normalizePixels } from '../src/algorithms/preprocess';
import { iou } from '../src/algorithms/geometry/iou';
import { seededRng, type Rng } from '../src/util/rng';
import { buildDetectorGraph, DETECTOR_INPUT, DETECTOR_TOP_K } from './synthetic/detector-model';
import { buildClassifierGraph, buildFeatureGraph, CLASSIFIER_INPUT } from './synthetic/classifier-model';
import { predictMlp, trainMlp } from './synthetic/mlp';
import { renderScene, type Scene, type SceneSpec } from './synthetic/scene';
import { encodeJpeg, jpegImage } from './synthetic/images';
import { matchBoxes } from './synthetic/matching';
import { SPECIES } from './synthetic/shapes';

const ROOT = path.resolve(__dirname, '..');
const MODELS = path.join(ROOT, 'models');
const SAMPLES = path.join(ROOT, 'samples');

/** Detector parameters: score 0.5 at a box side of 8 input pixels (≈ 32 px on a 4K image). */
const DETECTOR_PARAMS = { minSide: 8, slope: 0.5, pad: 0 };

const log = (msg: string): void => console.log(`[build-models] ${msg}`);

function fourK(seed: number, insects: number): SceneSpec {
  return {
    width: 4096,
    height: 2160,
    seed,
    insects,
    leaves: 5,
    twigs: 4,
    specks: 120,
    shadows: 4,
    insectSize: [60, 400],
    clutterSize: [120, 450],
  };
}
function uxga(seed: number, insects: number): SceneSpec {
  return {
    width: 1600,
    height: 1200,
    seed,
    insects,
    leaves: 3,
    twigs: 2,
    specks: 40,
    shadows: 2,
    insectSize: [50, 260],
    clutterSize: [80, 280],
  };
}
function xga(seed: number, insects: number): SceneSpec {
  return {
    width: 1024,
    height: 768,
    seed,
    insects,
    leaves: 2,
    twigs: 2,
    specks: 25,
    shadows: 1,
    insectSize: [40, 180],
    clutterSize: [60, 200],
  };
}

/** Sample images: seeds 1..5, disjoint from the training seeds (≥ 1000). */
const SAMPLE_SPECS: { file: string; spec: SceneSpec }[] = [
  { file: 'trap-4k-1.jpg', spec: fourK(1, 24) },
  { file: 'trap-4k-2.jpg', spec: fourK(2, 16) },
  { file: 'trap-4k-3.jpg', spec: fourK(3, 28) },
  { file: 'trap-1600x1200.jpg', spec: uxga(4, 10) },
  { file: 'trap-1024x768.jpg', spec: xga(5, 7) },
];

const TRAIN_SPECS: SceneSpec[] = [
  ...Array.from({ length: 10 }, (_, i) => fourK(1000 + i, 22)),
  ...Array.from({ length: 12 }, (_, i) => uxga(2000 + i, 10)),
  ...Array.from({ length: 8 }, (_, i) => xga(3000 + i, 7)),
];

function algorithm(
  key: string,
  name: string,
  description: string,
  taskType: 'localization' | 'classification',
) {
  return { key, name, version: 1, version_name: 'v1', description, uri: null, task_type: taskType };
}

const PIXELS_01 = {
  color_order: 'RGB' as const,
  scale: 1 / 255,
  mean: [0, 0, 0] as [number, number, number],
  std: [1, 1, 1] as [number, number, number],
};

async function writeJson(file: string, value: unknown): Promise<void> {
  await fsp.writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

async function buildDetector(): Promise<ObjectDetector> {
  const dir = path.join(MODELS, 'moth-detector');
  await buildDetectorGraph(DETECTOR_PARAMS).write(dir);
  const manifest: DetectorManifest = {
    kind: 'detector',
    format: 'tfjs-graph-model',
    model_path: 'model.json',
    algorithm: algorithm(
      'tfjs_synthetic_moth_detector_2026',
      'TF.js Synthetic Moth Detector 2026',
      'Finds insects on a bright light sheet: foreground segmentation against the local sheet level, then connected components, all in TF.js ops. Built by scripts/build-default-models.ts for synthetic trap images.',
      'localization',
    ),
    input: {
      width: DETECTOR_INPUT.width,
      height: DETECTOR_INPUT.height,
      resize: 'letterbox',
      ...PIXELS_01,
      pad_value: 0,
    },
    output: {
      boxes: 'boxes',
      scores: 'scores',
      box_format: 'yxyx',
      coordinates: 'pixels',
      score_threshold: 0.5,
      iou_threshold: 0.45,
      max_detections: DETECTOR_TOP_K,
    },
  };
  await writeJson(path.join(dir, 'manifest.json'), manifest);
  const detector = new ObjectDetector(await readManifest(dir));
  await detector.compile();
  return detector;
}

interface Crop {
  box: BoundingBox;
  moth: boolean;
  species: number; // −1 for nonmoth
}

function jitter(box: BoundingBox, rng: Rng, amount: number): BoundingBox {
  const w = box.x2 - box.x1;
  const h = box.y2 - box.y1;
  const d = (): number => (rng.next() * 2 - 1) * amount;
  return { x1: box.x1 + d() * w, y1: box.y1 + d() * h, x2: box.x2 + d() * w, y2: box.y2 + d() * h };
}

/** Crop boxes for one training scene: detections, jittered ground truth and background. */
function cropsFor(scene: Scene, detections: BoundingBox[], rng: Rng): Crop[] {
  const crops: Crop[] = [];
  const label = (gi: number): Crop => {
    const o = scene.objects[gi];
    return o.kind === 'insect'
      ? { box: o.bbox, moth: true, species: SPECIES.indexOf(o.label as (typeof SPECIES)[number]) }
      : { box: o.bbox, moth: false, species: -1 };
  };
  const m = matchBoxes(
    detections,
    scene.objects.map((o) => o.bbox),
    0.3,
  );
  detections.forEach((box, di) =>
    crops.push(m.detToGt[di] >= 0 ? { ...label(m.detToGt[di]), box } : { box, moth: false, species: -1 }),
  );
  scene.objects.forEach((_, gi) => {
    for (let k = 0; k < 2; k++) crops.push({ ...label(gi), box: jitter(scene.objects[gi].bbox, rng, 0.08) });
  });
  for (let k = 0; k < 6; k++) {
    const side = 30 + rng.next() * Math.min(scene.width, scene.height) * 0.15;
    const x1 = rng.next() * (scene.width - side);
    const y1 = rng.next() * (scene.height - side * 0.8);
    const box = { x1, y1, x2: x1 + side, y2: y1 + side * (0.6 + rng.next() * 0.6) };
    if (scene.objects.every((o) => iou(o.bbox, box) === 0)) crops.push({ box, moth: false, species: -1 });
  }
  return crops;
}

async function collectTrainingCrops(
  detector: ObjectDetector,
  featureModel: tf.GraphModel,
): Promise<{ features: number[][]; crops: Crop[]; scene: number[] }> {
  const rng = seededRng(77);
  const features: number[][] = [];
  const crops: Crop[] = [];
  const sceneOf: number[] = [];
  let found = 0;
  let insects = 0;
  let dets = 0;
  let unmatched = 0;
  for (const [si, spec] of TRAIN_SPECS.entries()) {
    const scene = renderScene(spec);
    const image = jpegImage(`train-${si}`, await encodeJpeg(scene.rgb, scene.width, scene.height));
    try {
      const [boxes] = await detector.run([image], { config: {}, rng, batchSize: 1 });
      const m = matchBoxes(
        boxes.map((b) => b.bbox),
        scene.objects.map((o) => o.bbox),
        0.5,
      );
      scene.objects.forEach((o, gi) => {
        if (o.kind !== 'insect') return;
        insects++;
        if (m.gtToDet[gi] >= 0) found++;
      });
      dets += boxes.length;
      unmatched += m.detToGt.filter((g) => g < 0).length;
      const list = cropsFor(
        scene,
        boxes.map((b) => b.bbox),
        rng,
      );
      const pixels = await image.tensor();
      const batch = tf.tidy(() => {
        const normalized = list.map((c) =>
          cropBoxToNormalized(
            c.box,
            scene.width,
            scene.height,
            CLASSIFIER_INPUT.width,
            CLASSIFIER_INPUT.height,
          ),
        );
        const cropped = tf.image.cropAndResize(
          tf.expandDims<tf.Tensor4D>(pixels, 0),
          tf.tensor2d(normalized, [list.length, 4]),
          tf.zeros<tf.Rank.R1>([list.length], 'int32'),
          [CLASSIFIER_INPUT.height, CLASSIFIER_INPUT.width],
        );
        return normalizePixels(cropped, { width: 64, height: 64, resize: 'stretch', ...PIXELS_01 });
      });
      const out = featureModel.execute(batch, 'features') as tf.Tensor2D;
      const rows = await out.array();
      tf.dispose([batch, out]);
      features.push(...rows);
      crops.push(...list);
      sceneOf.push(...list.map(() => si));
    } finally {
      image.dispose();
    }
  }
  log(
    `detector on ${TRAIN_SPECS.length} training scenes: ${found}/${insects} insects found at IoU ≥ 0.5, ${unmatched}/${dets} detections unmatched`,
  );
  return { features, crops, scene: sceneOf };
}

function categoryMap(labels: string[], rank: string, description: string): AlgorithmCategoryMap {
  return {
    data: labels.map((label, index) => ({ index, label, taxon_rank: rank })),
    labels,
    version: 'synthetic-2026-v1',
    description,
    uri: null,
  };
}

async function writeClassifier(
  dir: string,
  key: string,
  name: string,
  description: string,
  map: AlgorithmCategoryMap,
  head: Parameters<typeof buildClassifierGraph>[0],
): Promise<void> {
  await buildClassifierGraph(head).write(dir);
  await writeJson(path.join(dir, 'category_map.json'), map);
  const manifest: ClassifierManifest = {
    kind: 'classifier',
    format: 'tfjs-graph-model',
    model_path: 'model.json',
    algorithm: algorithm(key, name, description, 'classification'),
    input: {
      width: CLASSIFIER_INPUT.width,
      height: CLASSIFIER_INPUT.height,
      resize: 'stretch',
      ...PIXELS_01,
    },
    output: { name: 'logits', kind: 'logits' },
    category_map: 'category_map.json',
  };
  await writeJson(path.join(dir, 'manifest.json'), manifest);
}

function fitAndReport(
  name: string,
  features: number[][],
  labels: number[],
  classes: number,
  validation: boolean[],
): Parameters<typeof buildClassifierGraph>[0] {
  const trainX = features.filter((_, i) => !validation[i]);
  const trainY = labels.filter((_, i) => !validation[i]);
  const options = { hidden: 32, epochs: 40, batch: 32, learningRate: 0.003, l2: 1e-3, seed: 4242 };
  const probe = trainMlp(trainX, trainY, classes, options);
  let right = 0;
  let total = 0;
  features.forEach((row, i) => {
    if (!validation[i]) return;
    total++;
    if (predictMlp(probe, row) === labels[i]) right++;
  });
  log(
    `${name}: held-out accuracy ${(right / total).toFixed(3)} (${right}/${total}, trained on ${trainX.length}); refitting on all ${features.length}`,
  );
  return trainMlp(features, labels, classes, options);
}

async function writeSamples(): Promise<void> {
  await fsp.mkdir(SAMPLES, { recursive: true });
  const images: unknown[] = [];
  for (const { file, spec } of SAMPLE_SPECS) {
    const scene = renderScene(spec);
    const jpeg = await encodeJpeg(scene.rgb, scene.width, scene.height);
    await fsp.writeFile(path.join(SAMPLES, file), jpeg);
    images.push({
      file,
      width: scene.width,
      height: scene.height,
      objects: scene.objects.map((o) => ({ bbox: o.bbox, label: o.label, kind: o.kind })),
    });
    log(
      `samples/${file}: ${scene.width}x${scene.height}, ${(jpeg.length / 1e6).toFixed(2)} MB, ${scene.objects.filter((o) => o.kind === 'insect').length} insects, ${scene.objects.filter((o) => o.kind === 'clutter').length} clutter`,
    );
  }
  await writeJson(path.join(SAMPLES, 'ground-truth.json'), { images });
}

async function main(): Promise<void> {
  const started = Date.now();
  await initBackend('wasm');
  await writeSamples();
  const detector = await buildDetector();
  const featureDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'antenna-features-'));
  try {
    await buildFeatureGraph().write(featureDir);
    const featureModel = await loadGraphModelFromDir(featureDir);
    const { features, crops, scene } = await collectTrainingCrops(detector, featureModel);
    featureModel.dispose();
    // Hold out the last fifth of the scenes to report accuracy before refitting on everything.
    const validation = scene.map((s) => s >= Math.floor(TRAIN_SPECS.length * 0.8));
    const binary = fitAndReport(
      'moth/nonmoth',
      features,
      crops.map((c) => (c.moth ? 0 : 1)),
      2,
      validation,
    );
    await writeClassifier(
      path.join(MODELS, 'moth-nonmoth-classifier'),
      'tfjs_synthetic_moth_nonmoth_classifier_2026',
      'TF.js Synthetic Moth / Non-Moth Classifier 2026',
      'Separates moths from clutter (leaves, twigs, sheet) on synthetic trap crops: fixed colour, edge and texture features with a fitted MLP.',
      categoryMap(['moth', 'nonmoth'], 'SUPERFAMILY', 'Moth (0) or not a moth (1)'),
      binary,
    );
    const insectIdx = crops.map((c, i) => (c.moth ? i : -1)).filter((i) => i >= 0);
    const species = fitAndReport(
      'species',
      insectIdx.map((i) => features[i]),
      insectIdx.map((i) => crops[i].species),
      SPECIES.length,
      insectIdx.map((i) => validation[i]),
    );
    await writeClassifier(
      path.join(MODELS, 'species-classifier'),
      'tfjs_synthetic_species_classifier_2026',
      'TF.js Synthetic Species Classifier 2026',
      'Five synthetic North American moth species: fixed colour, edge and texture features with a fitted MLP.',
      categoryMap([...SPECIES], 'SPECIES', 'Synthetic look-alikes of five North American moths'),
      species,
    );
  } finally {
    detector.dispose();
    await fsp.rm(featureDir, { recursive: true, force: true });
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
