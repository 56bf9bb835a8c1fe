/**
 * Fidelity to ADC (the AMI Data Companion): our `POST /process` on ADC's models, imported by `npm run import-adc`,
 * against the answers ADC's own API gave for the same checkpoints and the same 4096×2160 images
 * (test/fixtures/adc/references.json), held to the bars of bench/adc-compare.ts: ≥ 98 % of boxes matched at
 * IoU ≥ 0.9 both ways; the same stages, `terminal` flags and top-1 labels in ≥ 98 % of matched pairs; full score
 * vectors within 2e-3. On the suite's backend (TFJS_BACKEND: wasm, or tensorflow after `npm run native`).
 *
 * The checkpoints are random-weight models with ADC's exact architectures and 10 classes (1.1 GB, made with
 * torch), so the test runs only where ADC_MODELS names their import:
 *
 *     scratch/adc/venv/bin/python scripts/adc/make-checkpoints.py --out /tmp/adc-ckpt --classes 10   # deterministic
 *     npm run import-adc -- /tmp/adc-ckpt --out /tmp/adc-models
 *     ADC_MODELS=/tmp/adc-models npm run jest -- test/adc/fidelity.test.ts   # TFJS_BACKEND=tensorflow: native
 *
 * scripts/adc/capture-references.py made the references from the same checkpoints with ADC's API on PyTorch 1.13
 * (scripts/adc/run-adc.sh). PyTorch 1.x computes the detector resize's source positions in float64 where PyTorch 2
 * (ADC's own lock) uses float32, so this test serves the detector with `interpolation: torch1-bilinear`, the one
 * field it changes in the imported manifests (docs/adc-fidelity.md).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import request from 'supertest';
import {
  ADC_DETECTOR,
  BARS,
  compareDetections,
  describeAgreement,
  type Agreement,
  type Box,
  withAdcTorchResize,
} from '../../bench/adc-compare';
import type { Service } from '../../src/bootstrap';
import type { PipelineResultsResponse } from '../../src/contract/types';
import { testBackend } from '../helpers/backend';
import { testService } from '../helpers/service';
import { serveDirectory, type SampleServer } from '../helpers/static-server';

const ROOT = path.resolve(__dirname, '..', '..');
const MODELS = process.env.ADC_MODELS;

interface TrimmedClassification {
  key: string;
  terminal: boolean;
  classification: string;
  scores: number[];
}

interface References {
  images: Record<string, string>;
  answers: Record<string, Record<string, { bbox: Box['bbox']; classifications: TrimmedClassification[] }[]>>;
}

const references = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'adc', 'references.json'), 'utf8'),
) as References;

const theirs = (pipeline: string, image: string): Box[] =>
  references.answers[pipeline][image].map((d) => ({
    bbox: d.bbox,
    classifications: d.classifications.map((c) => ({ ...c, algorithm: { key: c.key } })),
  }));

const skip = MODELS
  ? fs.existsSync(path.join(MODELS, ADC_DETECTOR, 'manifest.json'))
    ? null
    : `ADC_MODELS=${MODELS} holds no ${ADC_DETECTOR}/manifest.json`
  : 'set ADC_MODELS to an import of make-checkpoints.py --classes 10 (see the head of this file)';

const cases = Object.keys(references.answers).flatMap((pipeline) =>
  Object.keys(references.images).map((image) => [pipeline, image] as const),
);

describe(`our /process against ADC's on its pipelines (${testBackend()})`, () => {
  let tmp: string;
  let svc: Service;
  let images: SampleServer;

  beforeAll(async () => {
    if (skip !== null) return;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'adc-fidelity-'));
    withAdcTorchResize(MODELS!, tmp, 1); // the references' PyTorch: 1.13
    images = await serveDirectory(path.join(ROOT, 'samples'));
    svc = await testService({
      modelsDir: tmp,
      enabledPipelines: Object.keys(references.answers),
      imageUrlPolicy: 'default',
      imageDownloadTimeoutMs: 30_000,
    });
  }, 600_000);

  afterAll(async () => {
    await svc?.close();
    await images?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  (skip === null ? it.each(cases) : it.skip.each(cases))(
    `%s on %s meets every bar${skip === null ? '' : ` (SKIPPED: ${skip})`}`,
    async (pipeline, image) => {
      const res = await request(svc.app.callback())
        .post('/process')
        .send({
          pipeline,
          source_images: [{ id: '1', url: images.url(image) }],
          detections: [],
          config: {},
        });
      expect(res.status).toBe(200);
      const answer = res.body as PipelineResultsResponse;
      const a: Agreement = compareDetections(answer.detections, theirs(pipeline, image));
      process.stdout.write(`adc fidelity ${testBackend()} ${pipeline} ${image}: ${describeAgreement(a)}\n`);
      for (const d of a.disagreements) process.stdout.write(`  ${d}\n`);
      expect(a.oursMatched).toBeGreaterThanOrEqual(BARS.matchedShare);
      expect(a.theirsMatched).toBeGreaterThanOrEqual(BARS.matchedShare);
      expect(a.agreeingShare).toBeGreaterThanOrEqual(BARS.agreeingShare);
      expect(a.maxScoreDiff).toBeLessThanOrEqual(BARS.scoreDiff);
    },
    600_000,
  );
});
