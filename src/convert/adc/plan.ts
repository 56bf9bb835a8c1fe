/**
 * What `npm run import-adc` does with a folder, worked out before anything runs: which ADC models have their
 * files there, which pipelines they complete, the converter's options for each model and the pipelines.json
 * entries. Pure, so the catalogue's mapping onto manifests and pipelines is tested without torch or a converter.
 */
import type { AlgorithmCategoryMap } from '../../contract/types';
import type { DeclaredPipeline } from '../../models/pipelines-file';
import {
  IMAGENET_MEAN,
  IMAGENET_STD,
  type OnnxDetectorDirOptions,
  type OnnxModelDirOptions,
} from '../model-dir';
import {
  ADC_BINARY_NAME,
  ADC_DETECTOR,
  ADC_MODELS,
  ADC_MOTH_LABEL,
  ADC_PIPELINES,
  ADC_VERSION,
  adcFileName,
  adcKey,
  adcModel,
  type AdcClassifier,
  type AdcModel,
  type AdcPipeline,
} from './catalogue';

/** The files one model needs, under ADC's basenames. */
export function modelFiles(model: AdcModel): { weights: string; labels: string | null } {
  return {
    weights: adcFileName(model.weightsUrl),
    labels: model.kind === 'classifier' ? adcFileName(model.labelsUrl) : null,
  };
}

/** The model directory (under the models dir) a model is written to: its ADC key. */
export const modelDirName = (model: AdcModel): string => adcKey(model.name);

/** The models a pipeline runs, in stage order: detector, the filter when filtered, the terminal classifier. */
export function pipelineModels(pipeline: AdcPipeline): AdcModel[] {
  const terminal = adcModel(pipeline.classifier);
  return pipeline.filtered ? [ADC_DETECTOR, adcModel(ADC_BINARY_NAME), terminal] : [ADC_DETECTOR, terminal];
}

/** What a folder holds, in the catalogue's terms. */
export interface ImportPlan {
  /** Models with every file present, detector first. */
  models: AdcModel[];
  /** Pipelines whose models are all present, in ADC's order. */
  pipelines: AdcPipeline[];
  /** Pipelines left out, each with the files it lacks. */
  skipped: { pipeline: AdcPipeline; missing: string[] }[];
  /** Models with some of their files present but not all: likely a mistake worth a warning. */
  incomplete: { model: AdcModel; missing: string[] }[];
}

/** Plans the import from the names of the files in the folder. */
export function planImport(files: ReadonlySet<string>): ImportPlan {
  const missingOf = (model: AdcModel): string[] => {
    const { weights, labels } = modelFiles(model);
    return [weights, ...(labels ? [labels] : [])].filter((f) => !files.has(f));
  };
  const models = ADC_MODELS.filter((m) => missingOf(m).length === 0);
  // A classifier with one of its two files: the other was probably forgotten.
  const incomplete = ADC_MODELS.map((model) => ({ model, missing: missingOf(model) })).filter(
    (m) => m.model.kind === 'classifier' && m.missing.length === 1,
  );
  const pipelines: AdcPipeline[] = [];
  const skipped: ImportPlan['skipped'] = [];
  for (const pipeline of ADC_PIPELINES) {
    const missing = [...new Set(pipelineModels(pipeline).flatMap(missingOf))];
    if (missing.length === 0) pipelines.push(pipeline);
    else skipped.push({ pipeline, missing });
  }
  return { models, pipelines, skipped, incomplete };
}

/**
 * The pipelines.json entry of an ADC pipeline: ADC's slug, the terminal classifier's name and description,
 * version 1; filtered pipelines run the moth/non-moth model on every box (`terminal: false`) and the species model
 * only on boxes it labels "moth" (`terminal: true`), as api/api.py:235-287 does.
 */
export function declaredPipeline(pipeline: AdcPipeline): DeclaredPipeline {
  const terminal = adcModel(pipeline.classifier);
  const binary = modelDirName(adcModel(ADC_BINARY_NAME));
  return {
    slug: pipeline.slug,
    name: terminal.name,
    version: ADC_VERSION,
    description: terminal.description,
    detector: modelDirName(ADC_DETECTOR),
    classifiers: pipeline.filtered
      ? [
          { model: binary, terminal: false },
          {
            model: modelDirName(terminal),
            terminal: true,
            only_if: { model: binary, labels: [ADC_MOTH_LABEL] },
          },
        ]
      : [{ model: modelDirName(terminal), terminal: true }],
  };
}

/** The algorithm block of a manifest: ADC's key, name, description, version 1 and weights URL. */
function algorithm(model: AdcModel): OnnxModelDirOptions['algorithm'] {
  return {
    key: adcKey(model.name),
    name: model.name,
    version: ADC_VERSION,
    versionName: null,
    description: model.description,
    uri: model.weightsUrl,
  };
}

/**
 * The converter's options for a classifier: the category map already built (`adcCategoryMap`), the input at ADC's
 * size, its resize method and normalisation, logits out (the service applies the softmax ADC applies).
 */
export function classifierOptions(
  model: AdcClassifier,
  paths: { onnx: string; outDir: string },
  categoryMap: AlgorithmCategoryMap,
): OnnxModelDirOptions {
  return {
    onnxPath: paths.onnx,
    outDir: paths.outDir,
    algorithm: algorithm(model),
    labels: categoryMap,
    labelsSource: adcFileName(model.labelsUrl),
    inputSize: [model.inputSize, model.inputSize],
    mean: model.mean,
    std: model.std,
    interpolation: model.interpolation,
    outputKind: 'logits',
  };
}

/**
 * The converter's options for the detector, exported without its transform's resize and normalisation
 * (scripts/adc/export-onnx.py): the service resizes as torchvision does (`shorter-side`, 800/1333), scales to
 * [0, 1] and normalises with ImageNet's mean and std; NMS stays in the graph; ADC's strict `score > 0.8`, 500 boxes,
 * no request overrides; the detector's labels are ignored, as ADC ignores them.
 */
export function detectorOptions(paths: { onnx: string; outDir: string }): OnnxDetectorDirOptions {
  const d = ADC_DETECTOR;
  return {
    onnxPath: paths.onnx,
    outDir: paths.outDir,
    algorithm: algorithm(d),
    resize: 'shorter-side',
    minSize: d.minSize,
    maxSize: d.maxSize,
    scale: 1 / 255,
    mean: IMAGENET_MEAN, // torchvision's GeneralizedRCNNTransform defaults, which ADC keeps
    std: IMAGENET_STD,
    nms: 'in-graph',
    boxFormat: 'xyxy',
    scoreThreshold: d.scoreThreshold,
    scoreThresholdStrict: true,
    maxDetections: d.maxDetections,
    requestOverrides: false,
    reportClasses: false,
  };
}
