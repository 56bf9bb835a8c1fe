/**
 * `npm run import-adc` end to end, with torch: ADC-format checkpoints with random weights and 10 classes
 * (scripts/adc/make-checkpoints.py --classes 10) are imported, and the service's /info over the imported directory
 * is compared with what ADC's own API answered for the same files (test/fixtures/adc/info.json, captured with
 * scripts/adc/run-adc.sh). Checkpoints that do not fit fail naming the file and the difference.
 *
 * Needs a Python that imports torch, torchvision and timm (ADC_PYTHON, the importer's managed venv, or python3;
 * `npm run import-adc` sets one up). The checkpoints are taken from ADC_CHECKPOINTS, else from the cache
 * (`$XDG_CACHE_HOME/antenna-adc-import/checkpoints-classes-10`), made there by make-checkpoints.py the first time
 * (about 10 minutes on 2 cores). The import itself takes 2 to 3 minutes, most of it exporting the detector.
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describeService } from '../../src/bootstrap';
import { main } from '../../src/cli/import-adc';
import { defaultConfig } from '../../src/config';
import { ADC_MODELS, ADC_PIPELINES, adcKey } from '../../src/convert/adc/catalogue';
import { EXPORT_SCRIPT } from '../../src/convert/adc/import';
import { modelFiles } from '../../src/convert/adc/plan';
import { pythonCandidates, pythonSettings } from '../../src/convert/adc/python-env';
import type { ProcessingServiceInfoResponse } from '../../src/contract/types';
import { registeredPipelines } from '../../src/pipelines/registry';
import { loadGraphModelFromDir } from '../../src/models/graph-model-loader';
import { createLogger } from '../../src/util/logger';
import { initTestBackend } from '../helpers/backend';
import { expectSchema } from '../helpers/schemas';

const ROOT = path.join(__dirname, '..', '..');
const ADC_INFO = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'adc', 'info.json'), 'utf8'),
) as ProcessingServiceInfoResponse;

const python = pythonCandidates(pythonSettings()).find(
  ([p]) => spawnSync(p, [EXPORT_SCRIPT, '--versions']).status === 0,
)?.[0];
const cacheHome = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
const CHECKPOINTS =
  process.env.ADC_CHECKPOINTS || path.join(cacheHome, 'antenna-adc-import', 'checkpoints-classes-10');
const skip = python
  ? null
  : 'SKIPPED: no Python here imports torch, torchvision and timm (npm run import-adc sets one up, or set ADC_PYTHON)';
const maybe = skip ? it.skip : it;
const title = (t: string): string => (skip ? `${t} (${skip})` : t);

const everyFile = ADC_MODELS.flatMap((m) =>
  Object.values(modelFiles(m)).filter((f): f is string => f !== null),
);
const BINARY_WEIGHTS = 'moth-nonmoth_resnet50_20240417_b4fe3efe.pth';
const BINARY_LABELS = '05-moth-nonmoth_category_map.json';

/** Runs the CLI, returning its exit status and what it wrote to stderr. */
async function importAdc(folder: string, out: string): Promise<{ status: number; stderr: string }> {
  const chunks: string[] = [];
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    chunks.push(String(chunk));
    return true;
  });
  try {
    return { status: await main([folder, '--out', out]), stderr: chunks.join('') };
  } finally {
    spy.mockRestore();
  }
}

/** Makes the checkpoints with ADC's formats and --classes 10 where they are missing. */
function ensureCheckpoints(py: string): void {
  if (everyFile.every((f) => fs.existsSync(path.join(CHECKPOINTS, f)))) return;
  process.stdout.write(`making ADC-format checkpoints in ${CHECKPOINTS} (about 10 minutes)\n`);
  const r = spawnSync(
    py,
    [path.join(ROOT, 'scripts', 'adc', 'make-checkpoints.py'), '--out', CHECKPOINTS, '--classes', '10'],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'inherit', 'pipe'],
    },
  );
  if (r.status !== 0) throw new Error(`make-checkpoints.py failed: ${r.stderr.slice(-2000)}`);
}

/**
 * PyTorch's logits for a checkpoint, with the architecture the export script builds. argv: the script, the
 * architecture, the class count, the checkpoint, a file of float32 [2, 3, S, S], S.
 */
const TORCH_LOGITS = `
import importlib.util, json, sys, warnings, numpy as np, torch
warnings.filterwarnings("ignore")  # timm's notice about the deprecated name convnext_tiny_in22k
spec = importlib.util.spec_from_file_location("export_onnx", sys.argv[1])
ex = importlib.util.module_from_spec(spec); spec.loader.exec_module(ex)
model = ex.ARCHITECTURES[sys.argv[2]](int(sys.argv[3]))
model.load_state_dict(ex.read_state_dict(sys.argv[4])); model.eval()
s = int(sys.argv[6])
x = torch.from_numpy(np.fromfile(sys.argv[5], dtype=np.float32).reshape(2, 3, s, s))
with torch.no_grad(): print(json.dumps(model(x).tolist()))
`;

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'import-adc-torch-'));

describe('npm run import-adc on ADC-format checkpoints', () => {
  const out = tmp();
  let imported: { status: number; stderr: string } = { status: -1, stderr: '' };

  beforeAll(async () => {
    if (!python) return;
    ensureCheckpoints(python);
    imported = await importAdc(CHECKPOINTS, out);
    if (imported.status !== 0) process.stdout.write(imported.stderr);
  }, 45 * 60_000);

  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  maybe(title('imports all eleven models and ten pipelines'), () => {
    expect(imported.status).toBe(0);
    expect(imported.stderr).toMatch(/done in \d+ s: 11 model directories and 10 pipelines/);
    expect(fs.readdirSync(out).sort()).toEqual(
      [...ADC_MODELS.map((m) => adcKey(m.name)), 'pipelines.json'].sort(),
    );
  });

  maybe(
    title("the service's /info equals ADC's, but for the detector's category map, which is null"),
    async () => {
      const config = defaultConfig({ modelsDir: out, enabledPipelines: ADC_PIPELINES.map((p) => p.slug) });
      const { info } = await describeService(
        config,
        registeredPipelines(out),
        { modelsDir: out, batches: { detectorBatchSize: 1, classifierBatchSize: 1 } },
        createLogger('silent'),
      );
      expectSchema('info', info);
      // ADC sends the detector an empty map object; Antenna's protocol wants null for a detector.
      const expected = ADC_INFO.pipelines.map((p) => ({
        ...p,
        algorithms: p.algorithms.map((a) =>
          a.task_type === 'localization' ? { ...a, category_map: null } : a,
        ),
      }));
      expect(ADC_INFO.pipelines[0].algorithms[0].category_map).toEqual({
        data: [],
        labels: [],
        version: null,
        description: null,
        uri: null,
      });
      expect(info.pipelines).toEqual(expected);
    },
  );

  maybe(title('manifests carry each model’s preprocessing'), () => {
    const manifest = (dir: string) =>
      JSON.parse(fs.readFileSync(path.join(out, dir, 'manifest.json'), 'utf8')) as {
        input: Record<string, unknown>;
      };
    expect(manifest('moth_nonmoth_classifier').input).toMatchObject({
      width: 128,
      interpolation: 'bilinear-antialias',
      std: [0.229, 0.224, 0.225],
    });
    expect(manifest('turing_costa_rica_species_classifier').input).toMatchObject({
      width: 300,
      interpolation: 'pil-bilinear',
      mean: [0.5, 0.5, 0.5],
    });
    expect(manifest('insect_order_classifier').input).toMatchObject({
      width: 128,
      interpolation: 'pil-bilinear',
    });
    expect(manifest('fasterrcnn_for_ami_moth_traps_2023').input).toMatchObject({
      resize: 'shorter-side',
      min_size: 800,
      max_size: 1333,
    });
  });
  // The whole chain for each classifier architecture: checkpoint → export → converter → TF.js, against the same
  // checkpoint in PyTorch, on one batch of random inputs (normalised pixels, NCHW there and NHWC here).
  maybe.each([
    ['moth_nonmoth_classifier', BINARY_WEIGHTS, 'torchvision-resnet50', 128, 2],
    ['global_species_classifier_aug_2024', 'global_resnet50_20240828_b06d3b3a.pth', 'timm-resnet50', 128, 10],
    [
      'turing_costa_rica_species_classifier',
      'turing-costarica_v03_resnet50_2024-06-04-16-17_state.pt',
      'turing-resnet50',
      300,
      10,
    ],
    [
      'insect_order_classifier',
      'convnext_tiny_in22k_worder0.5_wbinary0.5_run2_checkpoint.pt',
      'timm-convnext-tiny-in22k',
      128,
      10,
    ],
  ])(
    title('%s (%s): logits as PyTorch computes them from the checkpoint'),
    async (key, weights, arch, size, classes) => {
      const [n, s] = [2, Number(size)];
      const input = Float32Array.from({ length: n * 3 * s * s }, (_, i) => Math.sin(i * 12.9898) * 1.7);
      const file = path.join(out, `${key}.input.bin`);
      fs.writeFileSync(file, Buffer.from(input.buffer));
      const reference = spawnSync(
        python ?? 'python3',
        ['-c', TORCH_LOGITS, EXPORT_SCRIPT, arch, String(classes), weights, file, String(s)],
        {
          encoding: 'utf8',
          cwd: CHECKPOINTS,
        },
      );
      expect(reference.stderr).toBe('');
      const expected = JSON.parse(reference.stdout) as number[][];
      await initTestBackend();
      const model = await loadGraphModelFromDir(path.join(out, key));
      try {
        const got = tf.tidy(() => {
          const x = tf.tensor4d(input, [n, 3, s, s]).transpose([0, 2, 3, 1]);
          return (model.predict(x) as tf.Tensor).arraySync() as number[][];
        });
        const diff = Math.max(...got.flatMap((row, i) => row.map((v, j) => Math.abs(v - expected[i][j]))));
        const range = Math.max(...expected.flat().map(Math.abs));
        process.stdout.write(
          `${key}: max abs logit diff ${diff.toExponential(2)} (logits up to ±${range.toFixed(2)})\n`,
        );
        expect(range).toBeGreaterThan(0.5);
        expect(diff / range).toBeLessThanOrEqual(2e-5); // float32 rounding through 50-odd layers
      } finally {
        model.dispose();
      }
    },
    300_000,
  );
});

describe('checkpoints that do not fit', () => {
  const folder = tmp();
  afterAll(() => fs.rmSync(folder, { recursive: true, force: true }));

  /**
   * Imports a folder `name` holding the moth/non-moth checkpoint rewritten by `edit` (Python, with `s` the state
   * dict read and `out` the file to write) and its category map, or `labels` in its place.
   */
  async function importEdited(
    name: string,
    edit: string,
    labels?: string,
  ): Promise<{ dir: string; status: number; stderr: string }> {
    const dir = path.join(folder, name);
    fs.mkdirSync(dir);
    if (labels) fs.writeFileSync(path.join(dir, BINARY_LABELS), labels);
    else fs.copyFileSync(path.join(CHECKPOINTS, BINARY_LABELS), path.join(dir, BINARY_LABELS));
    const script = `import argparse, sys, torch\ns = torch.load(sys.argv[1])\nout = sys.argv[2]\n${edit}`;
    const args = ['-c', script, path.join(CHECKPOINTS, BINARY_WEIGHTS), path.join(dir, BINARY_WEIGHTS)];
    expect(spawnSync(python ?? 'python3', args, { encoding: 'utf8' }).stderr).toBe('');
    return { dir, ...(await importAdc(dir, path.join(dir, 'out'))) };
  }

  maybe(
    title('a category map of another length: the file and the head’s shapes'),
    async () => {
      const r = await importEdited('shape', 'torch.save(s, out)', '{"moth": 0, "nonmoth": 1, "other": 2}');
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(
        `error: ${path.join(r.dir, BINARY_WEIGHTS)} does not fit ADC's torchvision-resnet50 for moth_nonmoth_classifier: ` +
          'shape differences: fc.weight [2, 2048] in the file, [3, 2048] in the model, fc.bias [2] in the file, [3] in ' +
          `the model (the model's 3 classes come from the 3 labels of ${path.join(r.dir, BINARY_LABELS)}`,
      );
      expect(r.stderr).toContain(`nothing was written to ${path.join(r.dir, 'out')}`);
      expect(fs.existsSync(path.join(r.dir, 'out'))).toBe(false);
    },
    120_000,
  );

  maybe(
    title('a missing and an unexpected key: the file and both keys'),
    async () => {
      const r = await importEdited(
        'keys',
        'del s["fc.bias"]\ns["head.weight"] = s["fc.weight"]\ntorch.save(s, out)',
      );
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(
        `error: ${path.join(r.dir, BINARY_WEIGHTS)} does not fit ADC's torchvision-resnet50 for moth_nonmoth_classifier: ` +
          'missing keys: fc.bias; unexpected keys: head.weight\n',
      );
    },
    120_000,
  );

  maybe(
    title('a checkpoint that pickles more than data is refused, naming the file and what it references'),
    async () => {
      // As torch.load(weights_only=True) in ADC's torch, only tensors, numbers, strings and containers are read.
      const r = await importEdited(
        'pickle',
        'torch.save({"model_state_dict": s, "args": argparse.Namespace(lr=0.1)}, out)',
      );
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(
        `error: ${path.join(r.dir, BINARY_WEIGHTS)}: cannot be read as ADC reads it: it references argparse.Namespace; ` +
          'only tensors, numbers, strings, lists and dicts are read',
      );
    },
    120_000,
  );
});
