/**
 * `npm run import-adc` without torch: the ADC catalogue against ADC's own /info (test/fixtures/adc/info.json, GET
 * /info of ADC's API on scripts/adc/make-checkpoints.py --classes 10 files), the pipelines.json and manifests it
 * leads to, ADC's category-map files, and the messages for files that cannot be imported.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../../src/cli/import-adc';
import {
  ADC_CLASSIFIERS,
  ADC_DETECTOR,
  ADC_MODELS,
  ADC_PIPELINES,
  adcFileName,
  adcKey,
} from '../../src/convert/adc/catalogue';
import { CheckpointError, exportOnnx, mismatchMessage, type ExportJob } from '../../src/convert/adc/export';
import { adcCategoryMap } from '../../src/convert/adc/labels';
import {
  classifierOptions,
  declaredPipeline,
  detectorOptions,
  modelFiles,
  planImport,
} from '../../src/convert/adc/plan';
import { ensurePython, findPython, PythonSetupError } from '../../src/convert/adc/python-env';
import { CategoryMapError } from '../../src/convert/category-map';
import { planDetectorManifest } from '../../src/convert/detector-plan';
import { manifestAlgorithm } from '../../src/convert/model-dir';
import type { ProcessingServiceInfoResponse } from '../../src/contract/types';
import { parsePipelinesFile } from '../../src/models/pipelines-file';
import type { CommandResult } from '../../src/util/run-command';

const ADC_INFO = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'adc', 'info.json'), 'utf8'),
) as ProcessingServiceInfoResponse;
const adcAlgorithms = new Map(ADC_INFO.pipelines.flatMap((p) => p.algorithms.map((a) => [a.key, a])));
const everyFile = new Set(
  ADC_MODELS.flatMap((m) => {
    const f = modelFiles(m);
    return f.labels ? [f.weights, f.labels] : [f.weights];
  }),
);
const classifier = (name: string) => {
  const c = ADC_CLASSIFIERS.find((m) => m.name === name);
  if (!c) throw new Error(name);
  return c;
};
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'import-adc-'));

describe('the ADC catalogue, against ADC’s own /info', () => {
  test('keys derived from names as ADC slugifies them, in /info order', () => {
    expect(ADC_MODELS.map((m) => adcKey(m.name)).sort()).toEqual([...adcAlgorithms.keys()].sort());
    expect(adcKey('Global Species Classifier - Aug 2024')).toBe('global_species_classifier_aug_2024');
    // One pass of "__" → "_", as Python's str.replace: three underscores leave two.
    expect(adcKey('_a  -  b_')).toBe('a__b');
  });

  test('every algorithm: name, description, version 1, weights URL as uri, task type', () => {
    for (const model of ADC_MODELS) {
      const adc = adcAlgorithms.get(adcKey(model.name));
      expect({
        ...manifestAlgorithm(detectorOrClassifierAlgorithm(model)),
        task_type: taskType(model),
      }).toEqual({
        key: adc?.key,
        name: adc?.name,
        version: adc?.version,
        version_name: adc?.version_name,
        description: adc?.description,
        uri: adc?.uri,
        task_type: adc?.task_type,
      });
    }
  });

  test('category-map uri and taxon rank per classifier', () => {
    for (const model of ADC_CLASSIFIERS) {
      const map = adcAlgorithms.get(adcKey(model.name))?.category_map;
      expect(map?.uri).toBe(model.labelsUrl);
      expect(new Set(map?.data.map((d) => d.taxon_rank))).toEqual(new Set([model.taxonRank]));
    }
  });

  test('pipelines.json: ADC’s slugs, names, descriptions, versions and algorithm order', () => {
    const file = parsePipelinesFile({ pipelines: ADC_PIPELINES.map(declaredPipeline) }, 'generated');
    expect(file.pipelines.map((p) => [p.slug, p.name, p.version, p.description])).toEqual(
      ADC_INFO.pipelines.map((p) => [p.slug, p.name, p.version, p.description]),
    );
    for (const [i, p] of file.pipelines.entries()) {
      const dirs = [p.detector, ...p.classifiers.map((c) => c.model)];
      expect(dirs).toEqual(ADC_INFO.pipelines[i].algorithms.map((a) => a.key));
    }
  });

  test('filtered pipelines: moth/non-moth on every box, the species model only on "moth"', () => {
    const panama = declaredPipeline(ADC_PIPELINES[0]);
    expect(panama.classifiers).toEqual([
      { model: 'moth_nonmoth_classifier', terminal: false },
      {
        model: 'panama_species_classifier_2023',
        terminal: true,
        only_if: { model: 'moth_nonmoth_classifier', labels: ['moth'] },
      },
    ]);
    const binary = declaredPipeline(ADC_PIPELINES.find((p) => p.slug === 'moth_binary') ?? ADC_PIPELINES[0]);
    expect(binary.classifiers).toEqual([{ model: 'moth_nonmoth_classifier', terminal: true }]);
    const orders = declaredPipeline(ADC_PIPELINES[ADC_PIPELINES.length - 1]);
    expect(orders.classifiers).toEqual([{ model: 'insect_order_classifier', terminal: true }]);
  });

  test('file names are the basenames of ADC’s URLs', () => {
    expect(modelFiles(ADC_DETECTOR)).toEqual({
      weights: 'fasterrcnn_resnet50_fpn_tz53qv9v.pt',
      labels: null,
    });
    expect(modelFiles(classifier('Insect Order Classifier'))).toEqual({
      weights: 'convnext_tiny_in22k_worder0.5_wbinary0.5_run2_checkpoint.pt',
      labels: 'insect_order_category_map.json',
    });
    expect(adcFileName('https://h/a/b%20c.pt?x=1')).toBe('b c.pt');
  });
});

/** The manifest `algorithm` options, for either kind. */
function detectorOrClassifierAlgorithm(model: (typeof ADC_MODELS)[number]) {
  const paths = { onnx: 'x.onnx', outDir: 'out' };
  if (model.kind === 'detector') return detectorOptions(paths).algorithm;
  return classifierOptions(model, paths, {
    data: [],
    labels: [],
    version: null,
    description: null,
    uri: null,
  }).algorithm;
}
const taskType = (model: (typeof ADC_MODELS)[number]): string =>
  model.kind === 'detector' ? 'localization' : 'classification';

describe('manifests ADC’s preprocessing leads to', () => {
  const paths = { onnx: 'x.onnx', outDir: 'out' };
  const map = { data: [], labels: [], version: null, description: null, uri: null };

  test.each([
    ['Moth / Non-Moth Classifier', 128, 'bilinear-antialias', [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]],
    [
      'Global Species Classifier - Aug 2024',
      128,
      'bilinear-antialias',
      [0.485, 0.456, 0.406],
      [0.229, 0.224, 0.225],
    ],
    ['Turing Costa Rica Species Classifier', 300, 'pil-bilinear', [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]],
    ['Insect Order Classifier', 128, 'pil-bilinear', [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]],
  ])('%s: %d px, %s, mean and std', (name, size, interpolation, mean, std) => {
    const o = classifierOptions(classifier(name), paths, map);
    expect(o).toMatchObject({ inputSize: [size, size], interpolation, mean, std, outputKind: 'logits' });
  });

  test('the detector: torchvision’s resize by the service, ImageNet normalisation, ADC’s strict 0.8 and 500 boxes', () => {
    const options = detectorOptions(paths);
    // A torchvision detection export as the converter describes it: [H, W, 3] of any size, boxes/labels/scores.
    const { manifest } = planDetectorManifest(
      {
        input: { name: 'images', shape: [-1, -1, 3], layout: 'HWC' },
        outputs: [
          { key: 'boxes', onnxName: 'boxes', shape: [-1, 4], dtype: 'float32' },
          { key: 'labels', onnxName: 'labels', shape: [-1], dtype: 'int32' },
          { key: 'scores', onnxName: 'scores', shape: [-1], dtype: 'float32' },
        ],
      },
      {
        ...options,
        algorithm: manifestAlgorithm(options.algorithm),
        labels: null,
        ultralytics: null,
        graphHasNms: true,
      },
    );
    expect(manifest.input).toEqual({
      resize: 'shorter-side',
      min_size: 800,
      max_size: 1333,
      layout: 'NHWC',
      batch: 'none',
      color_order: 'RGB',
      scale: 1 / 255,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      name: 'images',
    });
    expect(manifest.output).toEqual({
      boxes: 'boxes',
      scores: 'scores',
      classes: 'labels',
      box_format: 'xyxy',
      coordinates: 'pixels',
      nms: 'in-graph',
      score_threshold: 0.8,
      score_threshold_strict: true,
      request_overrides: false,
      max_detections: 500,
    });
    // Labels ignored, as ADC ignores them; so no category map, which Antenna requires of a detector.
    expect(manifest.class_labels).toBeUndefined();
  });
});

describe('which models and pipelines a folder completes', () => {
  test('every file: every model and pipeline', () => {
    const plan = planImport(everyFile);
    expect(plan.models).toHaveLength(11);
    expect(plan.pipelines.map((p) => p.slug)).toEqual(ADC_PIPELINES.map((p) => p.slug));
    expect(plan.skipped).toEqual([]);
    expect(plan.incomplete).toEqual([]);
  });

  test('detector and moth/non-moth only: moth_binary, and each other pipeline says what it lacks', () => {
    const binary = modelFiles(classifier('Moth / Non-Moth Classifier'));
    const plan = planImport(
      new Set(['fasterrcnn_resnet50_fpn_tz53qv9v.pt', binary.weights, binary.labels ?? '']),
    );
    expect(plan.pipelines.map((p) => p.slug)).toEqual(['moth_binary']);
    const orders = plan.skipped.find((s) => s.pipeline.slug === 'insect_orders_2025');
    expect(orders?.missing).toEqual([
      'convnext_tiny_in22k_worder0.5_wbinary0.5_run2_checkpoint.pt',
      'insect_order_category_map.json',
    ]);
  });

  test('a classifier without its category map is left out and reported', () => {
    const files = new Set(everyFile);
    files.delete('01_anguilla_data_category_map.json');
    const plan = planImport(files);
    expect(plan.incomplete.map((i) => [adcKey(i.model.name), i.missing])).toEqual([
      ['turing_anguilla_species_classifier', ['01_anguilla_data_category_map.json']],
    ]);
    expect(plan.pipelines.map((p) => p.slug)).not.toContain('anguilla_moths_turing_2024');
    expect(plan.pipelines).toHaveLength(9);
  });

  test('no detector: no pipeline', () => {
    const files = new Set(everyFile);
    files.delete('fasterrcnn_resnet50_fpn_tz53qv9v.pt');
    expect(planImport(files).pipelines).toEqual([]);
  });
});

describe('ADC’s category-map files', () => {
  const species = classifier('Panama Species Classifier - Apr 2024');

  test('listed by index whatever the file order, with the model’s rank and the labels URL', () => {
    const { categoryMap, warnings } = adcCategoryMap(
      { 'Aus bus': 2, 'Cus dus': 0, 'Eus fus': 1 },
      species,
      'f.json',
    );
    expect(categoryMap).toEqual({
      data: [
        { index: 0, label: 'Cus dus', taxon_rank: 'SPECIES' },
        { index: 1, label: 'Eus fus', taxon_rank: 'SPECIES' },
        { index: 2, label: 'Aus bus', taxon_rank: 'SPECIES' },
      ],
      labels: ['Cus dus', 'Eus fus', 'Aus bus'],
      version: null,
      description: null,
      uri: species.labelsUrl,
    });
    expect(warnings).toEqual([]);
  });

  test.each([
    [['a', 'b'], 'f.json: ADC reads a category map as a JSON object {"label": index, ...}'],
    [{ a: '0', b: 1 }, 'f.json: "a" maps to "0"; ADC\'s category maps map each label to an integer index'],
    [{ a: 0.5 }, 'f.json: "a" maps to 0.5; ADC\'s category maps map each label to an integer index'],
    [{ a: 0, b: 2 }, 'f.json: "b" has index 2; indices must be 0..1'],
    [{ a: 0, b: 0 }, 'f.json: index 0 is used by both "a" and "b"'],
  ])('%j is refused: %s', (raw, message) => {
    expect(() => adcCategoryMap(raw, species, 'f.json')).toThrow(new CategoryMapError(message));
  });

  test('the moth/non-moth map must hold ADC’s two labels', () => {
    expect(() =>
      adcCategoryMap({ Moth: 0, nonmoth: 1 }, classifier('Moth / Non-Moth Classifier'), 'b.json'),
    ).toThrow(
      'b.json: ADC\'s filtered pipelines send boxes labelled "moth" to the species model and return those labelled ' +
        '"nonmoth"; this map lacks "moth"',
    );
  });

  test('integer labels of Panama 2023, which ADC would swap for GBIF names online, are kept and warned about', () => {
    const { categoryMap, warnings } = adcCategoryMap(
      { '1234': 0, 'Aus bus': 1 },
      classifier('Panama Species Classifier 2023'),
      'p.json',
    );
    expect(categoryMap.labels).toEqual(['1234', 'Aus bus']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^p\.json: 1 labels are integers \(e\.g\. "1234"\); ADC would replace them with GBIF/,
    );
  });
});

describe('messages for checkpoints that do not fit', () => {
  const mismatch = {
    event: 'mismatch' as const,
    key: 'panama_species_classifier_apr_2024',
    file: '/ckpt/panama_resnet50_baseline_20240417_edbb46dd.pth',
    arch: 'timm-resnet50',
    missing: [],
    missing_count: 0,
    unexpected: [],
    unexpected_count: 0,
    shapes: [
      { key: 'fc.weight', checkpoint: [636, 2048], model: [10, 2048] },
      { key: 'fc.bias', checkpoint: [636], model: [10] },
    ],
    shapes_count: 2,
  };
  const job: ExportJob = {
    key: mismatch.key,
    arch: 'timm-resnet50',
    weights: mismatch.file,
    classes: 10,
    size: 128,
    out: 'x.onnx',
    labelsFile: '/ckpt/labels.json',
  };

  test('a head sized by another category map: the file, the shapes and the likely cause', () => {
    expect(mismatchMessage(mismatch, job)).toBe(
      "/ckpt/panama_resnet50_baseline_20240417_edbb46dd.pth does not fit ADC's timm-resnet50 for " +
        'panama_species_classifier_apr_2024: shape differences: fc.weight [636, 2048] in the file, [10, 2048] in the ' +
        "model, fc.bias [636] in the file, [10] in the model (the model's 10 classes come from the 10 labels of " +
        '/ckpt/labels.json; the checkpoint has 636: is it the category map that goes with these weights?)',
    );
  });

  test('missing and unexpected keys: the first few of each and how many in all', () => {
    const message = mismatchMessage({
      ...mismatch,
      missing: ['a', 'b', 'c', 'd', 'e'],
      missing_count: 7,
      unexpected: ['module.x'],
      unexpected_count: 1,
      shapes: [],
      shapes_count: 0,
    });
    expect(message).toBe(
      "/ckpt/panama_resnet50_baseline_20240417_edbb46dd.pth does not fit ADC's timm-resnet50 for " +
        'panama_species_classifier_apr_2024: missing keys: a, b, c, d, e, … (7 in all); unexpected keys: module.x',
    );
  });

  test('events from the export script become one error naming every bad file', async () => {
    const dir = tmp();
    // A stand-in for the export script: the same events a real run prints for two bad files.
    const script = path.join(dir, 'fake-export.py');
    const events = [
      { event: 'failed', key: 'a', file: '/ckpt/a.pth', message: 'cannot be read by torch.load: truncated' },
      { ...mismatch, key: 'b', file: '/ckpt/b.pth' },
    ];
    fs.writeFileSync(script, events.map((e) => `${JSON.stringify(e)}\n`).join(''));
    const lines: string[] = [];
    const run = exportOnnx(
      'cat',
      script,
      [
        { ...job, key: 'a' },
        { ...job, key: 'b' },
      ],
      dir,
      {
        log: (l) => lines.push(l),
        detail: () => undefined,
      },
    );
    await expect(run).rejects.toThrow(CheckpointError);
    await expect(run).rejects.toThrow(
      /^2 checkpoints cannot be imported:\n {2}\/ckpt\/a\.pth: cannot be read by torch\.load: truncated\n {2}\/ckpt\/b\.pth does not fit/,
    );
    expect(lines).toEqual([
      '[1/2] a: a.pth cannot be read (details below)',
      '[2/2] b: b.pth does not fit (details below)',
    ]);
  });
});

describe('the Python that reads checkpoints', () => {
  const settings = { python: null, venvDir: '/nonexistent/venv', pipIndex: null };

  test('ADC_PYTHON that cannot run the export is an error naming it', async () => {
    await expect(findPython({ ...settings, python: '/bin/false' }, 'x.py')).rejects.toThrow(
      new PythonSetupError(
        'ADC_PYTHON=/bin/false cannot run the export (it needs torch >= 1.13, torchvision and timm): exit status 1',
      ),
    );
  });

  /** A `run` where no Python imports torch and `apt-get` is present or not. */
  const noTorch =
    (apt: boolean) =>
    (command: string, args: string[]): Promise<CommandResult> => {
      const fail = { status: 1, stdout: '', stderr: 'ModuleNotFoundError: No module named torch' };
      if (command === 'sh') return Promise.resolve({ status: apt ? 0 : 1, stdout: '', stderr: '' });
      return Promise.resolve(args.includes('--versions') || args[0] === '-c' ? fail : { ...fail, status: 0 });
    };

  test.each([
    [
      true,
      1000,
      /needs root \(this runs as uid 1000\)\. Install them \(Debian\/Ubuntu: apt-get install python3-torch/,
    ],
    [false, 0, /and there is no apt-get\. Install them \(Debian\/Ubuntu: apt-get install python3-torch/],
  ])('no torch anywhere, apt-get %s, uid %d: says what to install', async (apt, uid, message) => {
    const io = { log: () => undefined, detail: () => undefined, uid, run: noTorch(apt) };
    const setup = ensurePython(settings, 'x.py', io);
    await expect(setup).rejects.toThrow(PythonSetupError);
    await expect(setup).rejects.toThrow(message);
  });
});

describe('npm run import-adc, before any Python', () => {
  let stderr: string[] = [];
  beforeEach(() => {
    stderr = [];
    jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      stderr.push(String(chunk));
      return true;
    });
  });
  afterEach(() => jest.restoreAllMocks());

  test('bad usage: exit 2 with the usage', async () => {
    expect(await main(['folder'])).toBe(2);
    expect(stderr.join('')).toMatch(/^error: import-adc needs --out <models dir>\n\nUsage:/);
  });

  test('a folder with none of ADC’s files: exit 1, naming the files it looks for', async () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'model.pth'), '');
    expect(await main([dir, '--out', path.join(dir, 'out')])).toBe(1);
    expect(stderr.join('')).toMatch(
      new RegExp(
        `^error: ${dir} holds none of ADC's models: ADC names its checkpoints fasterrcnn_resnet50_fpn_tz53qv9v\\.pt, `,
      ),
    );
    expect(fs.existsSync(path.join(dir, 'out'))).toBe(false);
  });

  test('a bad category map stops it before Python, naming the file; nothing is written', async () => {
    const dir = tmp();
    const binary = modelFiles(classifier('Moth / Non-Moth Classifier'));
    fs.writeFileSync(path.join(dir, binary.weights), '');
    fs.writeFileSync(path.join(dir, binary.labels ?? ''), '{"moth": 0, "nonmoth": "1"}');
    expect(await main([dir, '--out', path.join(dir, 'out')])).toBe(1);
    const text = stderr.join('');
    expect(text).toContain(
      `error: ${path.join(dir, binary.labels ?? '')}: "nonmoth" maps to "1"; ADC's category maps map each label to an integer index\n`,
    );
    expect(text).toContain(`nothing was written to ${path.join(dir, 'out')}`);
    expect(fs.existsSync(path.join(dir, 'out'))).toBe(false);
  });
});
