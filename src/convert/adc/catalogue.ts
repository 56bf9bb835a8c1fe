/**
 * The AMI Data Companion's models and pipelines as data: what `npm run import-adc` reproduces. Everything here is
 * read from ADC's source (RolnickLab/ami-data-companion at ADC_COMMIT); each entry names the file and lines it
 * comes from, `api/` meaning `trapdata/api/` and `ml/` meaning `trapdata/ml/`. Keys are not stored: ADC derives
 * each from the name (`adcKey`), and so does the importer.
 */
import type { CropInterpolation } from '../../models/manifest';
import { IMAGENET_MEAN, IMAGENET_STD } from '../model-dir';

/** The ADC commit this catalogue was read from (the head of its main branch, 2026-04-14). */
export const ADC_COMMIT = 'a33746a265c814d32e54e1a7cbcb48a99f348789';

const CLASSIFICATION = 'https://object-arbutus.cloud.computecanada.ca/ami-models/moths/classification/';
const LOCALIZATION = 'https://object-arbutus.cloud.computecanada.ca/ami-models/moths/localization/';
const INSECT_ORDERS = 'https://object-arbutus.cloud.computecanada.ca/ami-models/insect_orders/';

/**
 * How ADC builds each network (scripts/adc/export-onnx.py builds the same from torchvision and timm):
 * - `torchvision-resnet50`: torchvision resnet50 with a new fc (`Resnet50ClassifierLowRes.get_model`,
 *   ml/models/classification.py:283-297);
 * - `timm-resnet50`: timm "resnet50" (`Resnet50TimmClassifier.get_model`, :300-313), the same keys as torchvision's;
 * - `turing-resnet50`: ADC's `Resnet50` module (:110-131): resnet50's children but avgpool and fc as a Sequential
 *   `backbone`, an adaptive average pool, a bias-less `classifier`;
 * - `timm-convnext-tiny-in22k`: timm "convnext_tiny_in22k" (`ConvNeXtOrderClassifier.get_model`, :139-153);
 * - `fasterrcnn-resnet50-fpn`: torchvision's, 2 classes, 500 detections per image, FrozenBatchNorm2d in the
 *   backbone (`MothObjectDetector_FasterRCNN_2023.get_model`, ml/models/localization.py:257-272).
 */
export type AdcArchitecture =
  | 'torchvision-resnet50'
  | 'timm-resnet50'
  | 'turing-resnet50'
  | 'timm-convnext-tiny-in22k'
  | 'fasterrcnn-resnet50-fpn';

interface AdcModelBase {
  /** ADC's `name`; the algorithm key is `adcKey(name)`. */
  name: string;
  description: string;
  /** ADC's `weights_path`, shown verbatim as the algorithm's `uri` in /info (api/api.py:113,127). */
  weightsUrl: string;
  architecture: AdcArchitecture;
  /** Where ADC defines the class, for whoever checks this entry against a newer ADC. */
  source: string;
}

/** ADC's one detector. */
export interface AdcDetector extends AdcModelBase {
  kind: 'detector';
  architecture: 'fasterrcnn-resnet50-fpn';
  /** torchvision's GeneralizedRCNNTransform defaults, which ADC keeps. */
  minSize: number;
  maxSize: number;
  /** ADC keeps boxes with `score > threshold` (strict; localization.py:280). */
  scoreThreshold: number;
  maxDetections: number;
}

/** One of ADC's classifiers. */
export interface AdcClassifier extends AdcModelBase {
  kind: 'classifier';
  /** ADC's `labels_path`: the category map's `uri` in /info (api/api.py:99). */
  labelsUrl: string;
  /** Square input side: every ADC classifier stretches the crop to it. */
  inputSize: number;
  /**
   * `bilinear-antialias`: ToTensor, Resize((s, s), antialias=True), Normalize (`Resnet50Classifier.get_transforms`,
   * classification.py:254-265); `pil-bilinear`: Resize((s, s)) on the PIL crop, ToTensor, Normalize (Turing
   * :206-214, ConvNeXt :166-175).
   */
  interpolation: Extract<CropInterpolation, 'bilinear-antialias' | 'pil-bilinear'>;
  mean: [number, number, number];
  std: [number, number, number];
  /** One rank for every label of the model (`default_taxon_rank`, ml/models/base.py:81). */
  taxonRank: 'SPECIES' | 'SUPERFAMILY' | 'ORDER';
  /**
   * ADC replaces integer labels with GBIF names over the network and rewrites the file (`lookup_gbif_names`,
   * ml/models/base.py:150-179); only Panama 2023 sets it.
   */
  lookupGbifNames?: true;
}

export type AdcModel = AdcDetector | AdcClassifier;

const HALF: [number, number, number] = [0.5, 0.5, 0.5];

/** ResNet-50s at 128 px with ADC's antialiased tensor resize and ImageNet normalisation. */
const R128 = {
  inputSize: 128,
  interpolation: 'bilinear-antialias',
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
} as const;

/** The Turing ResNet-50s: PIL resize to 300 px, mean and std 0.5 (classification.py:190-214). */
const TURING = {
  architecture: 'turing-resnet50',
  inputSize: 300,
  interpolation: 'pil-bilinear',
  mean: HALF,
  std: HALF,
  taxonRank: 'SPECIES',
} as const;

/**
 * `MothObjectDetector_FasterRCNN_2023`, ml/models/localization.py:247-287 (API class: `APIMothDetector`,
 * api/models/localization.py:11).
 */
export const ADC_DETECTOR: AdcDetector = {
  kind: 'detector',
  name: 'FasterRCNN for AMI Moth Traps 2023',
  description:
    'Model trained on GBIF images and synthetic data in 2023. Accurate but can be slow on a machine without GPU.',
  weightsUrl: `${LOCALIZATION}fasterrcnn_resnet50_fpn_tz53qv9v.pt`,
  architecture: 'fasterrcnn-resnet50-fpn',
  source: 'ml/models/localization.py:247-287',
  minSize: 800,
  maxSize: 1333,
  scoreThreshold: 0.8,
  maxDetections: 500,
};

/** The classifiers ADC's API serves (api/models/classification.py:188-233), in the order of its pipelines. */
export const ADC_CLASSIFIERS: readonly AdcClassifier[] = Object.freeze([
  {
    kind: 'classifier',
    name: 'Panama Species Classifier 2023',
    description: 'Trained on November 11th, 2023 using a corrected species list of 1060 classes.',
    weightsUrl: `${CLASSIFICATION}panama_resetnet50_best_5aeb515a.pth`,
    labelsUrl: `${CLASSIFICATION}03_moths_centralAmerica_category_map-202311110-with-names.json`,
    architecture: 'torchvision-resnet50',
    ...R128,
    taxonRank: 'SPECIES',
    lookupGbifNames: true,
    source: 'ml/models/classification.py:506-523 (PanamaMothSpeciesClassifierMixedResolution2023)',
  },
  {
    kind: 'classifier',
    name: 'Panama Species Classifier - Apr 2024',
    description:
      'Trained on April 17, 2024 for 636 species. https://wandb.ai/moth-ai/ami-gbif-fine-grained/runs/1sekgkan/overview',
    weightsUrl: `${CLASSIFICATION}panama_resnet50_baseline_20240417_edbb46dd.pth`,
    labelsUrl: `${CLASSIFICATION}03_ami-gbif_fine-grained_c-america_category_map-with_names.json`,
    architecture: 'timm-resnet50',
    ...R128,
    taxonRank: 'SPECIES',
    source: 'ml/models/classification.py:586-604 (PanamaMothSpeciesClassifier2024)',
  },
  {
    kind: 'classifier',
    name: 'Quebec & Vermont Species Classifier - Apr 2024',
    description:
      'Trained on April 17, 2024 for 2,497 species. https://wandb.ai/moth-ai/ami-gbif-fine-grained/runs/1x53zmp2/overview',
    weightsUrl: `${CLASSIFICATION}quebec-vermont_resnet50_baseline_20240417_950de764.pth`,
    labelsUrl: `${CLASSIFICATION}01_ami-gbif_fine-grained_ne-america_category_map-with_names.json`,
    architecture: 'timm-resnet50',
    ...R128,
    taxonRank: 'SPECIES',
    source: 'ml/models/classification.py:546-563 (QuebecVermontMothSpeciesClassifier2024)',
  },
  {
    kind: 'classifier',
    name: 'UK & Denmark Species Classifier - Apr 2024',
    description:
      'Trained on April 17, 2024 for 2,603 species. https://wandb.ai/moth-ai/ami-gbif-fine-grained/runs/x5u7jcbf/overview',
    weightsUrl: `${CLASSIFICATION}uk-denmark_resnet50_baseline_20240417_55250a8b.pth`,
    labelsUrl: `${CLASSIFICATION}02_ami-gbif_fine-grained_w-europe_category_map-with_names.json`,
    architecture: 'timm-resnet50',
    ...R128,
    taxonRank: 'SPECIES',
    source: 'ml/models/classification.py:566-583 (UKDenmarkMothSpeciesClassifier2024)',
  },
  {
    kind: 'classifier',
    name: 'Turing Costa Rica Species Classifier',
    description: 'Trained on 4th June 2024 by Turing team using Resnet50 model.',
    weightsUrl: `${CLASSIFICATION}turing-costarica_v03_resnet50_2024-06-04-16-17_state.pt`,
    labelsUrl: `${CLASSIFICATION}03_costarica_data_category_map.json`,
    ...TURING,
    source: 'ml/models/classification.py:418-428 (TuringCostaRicaSpeciesClassifier)',
  },
  {
    kind: 'classifier',
    name: 'Turing Anguilla Species Classifier',
    description: 'Trained on 28th June 2024 by Turing team using Resnet50 model.',
    weightsUrl: `${CLASSIFICATION}turing-anguilla_v01_resnet50_2024-06-28-17-01_state.pt`,
    labelsUrl: `${CLASSIFICATION}01_anguilla_data_category_map.json`,
    ...TURING,
    source: 'ml/models/classification.py:431-441 (TuringAnguillaSpeciesClassifier)',
  },
  {
    kind: 'classifier',
    name: 'Turing Kenya and Uganda Species Classifier',
    description: 'Trained on 19th November 2024 by Turing team using Resnet50 model.',
    weightsUrl: `${CLASSIFICATION}turing-kenya-uganda_v01_resnet50_2024-11-19-18-44_state.pt`,
    labelsUrl: `${CLASSIFICATION}01_kenya-uganda_data_category_map.json`,
    ...TURING,
    source: 'ml/models/classification.py:444-454 (TuringKenyaUgandaSpeciesClassifier)',
  },
  {
    kind: 'classifier',
    name: 'Global Species Classifier - Aug 2024',
    description:
      'Trained on August 28th, 2024 for 29,176 species. https://wandb.ai/moth-ai/global-moth-classifier/runs/h0cuqrbc/overview',
    weightsUrl: `${CLASSIFICATION}global_resnet50_20240828_b06d3b3a.pth`,
    labelsUrl: `${CLASSIFICATION}global_category_map_with_names_20240828.json`,
    architecture: 'timm-resnet50',
    ...R128,
    taxonRank: 'SPECIES',
    source: 'ml/models/classification.py:526-543 (GlobalMothSpeciesClassifier)',
  },
  {
    kind: 'classifier',
    name: 'Moth / Non-Moth Classifier',
    description: 'Trained on April 17, 2024',
    weightsUrl: `${CLASSIFICATION}moth-nonmoth_resnet50_20240417_b4fe3efe.pth`,
    labelsUrl: `${CLASSIFICATION}05-moth-nonmoth_category_map.json`,
    architecture: 'torchvision-resnet50',
    ...R128,
    taxonRank: 'SUPERFAMILY', // BinaryClassifier, classification.py:316-321
    source: 'ml/models/classification.py:357-369 (MothNonMothClassifier)',
  },
  {
    kind: 'classifier',
    name: 'Insect Order Classifier',
    description: 'ConvNeXt-T based insect order classifier for 16 classes trained by Mila in January 2025',
    weightsUrl: `${INSECT_ORDERS}convnext_tiny_in22k_worder0.5_wbinary0.5_run2_checkpoint.pt`,
    labelsUrl: `${INSECT_ORDERS}insect_order_category_map.json`,
    architecture: 'timm-convnext-tiny-in22k',
    inputSize: 128,
    interpolation: 'pil-bilinear',
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    taxonRank: 'ORDER',
    source: 'ml/models/classification.py:607-612 (InsectOrderClassifier2025)',
  },
]);

/** The moth/non-moth filter that ADC's filtered pipelines run first. */
export const ADC_BINARY_NAME = 'Moth / Non-Moth Classifier';

/**
 * The binary filter's labels (trapdata/common/constants.py:3-4): ADC's filtered pipelines send boxes labelled
 * exactly "moth" on to the species classifier and return those labelled "nonmoth" as they are (api/api.py:235-265).
 */
export const ADC_MOTH_LABEL = 'moth';
export const ADC_NONMOTH_LABEL = 'nonmoth';

/** One of ADC's pipelines: a slug and its terminal classifier (by name). */
export interface AdcPipeline {
  slug: string;
  classifier: string;
  /** True when the moth/non-moth filter runs first (`should_filter_detections`, api/api.py:75-79). */
  filtered: boolean;
}

/**
 * `CLASSIFIER_CHOICES` (api/api.py:55-66), in /info's order. Each pipeline's name and description are its terminal
 * classifier's, its version 1 (`make_pipeline_config_response`, api/api.py:133-168).
 */
export const ADC_PIPELINES: readonly AdcPipeline[] = Object.freeze([
  { slug: 'panama_moths_2023', classifier: 'Panama Species Classifier 2023', filtered: true },
  { slug: 'panama_moths_2024', classifier: 'Panama Species Classifier - Apr 2024', filtered: true },
  {
    slug: 'quebec_vermont_moths_2023',
    classifier: 'Quebec & Vermont Species Classifier - Apr 2024',
    filtered: true,
  },
  { slug: 'uk_denmark_moths_2023', classifier: 'UK & Denmark Species Classifier - Apr 2024', filtered: true },
  {
    slug: 'costa_rica_moths_turing_2024',
    classifier: 'Turing Costa Rica Species Classifier',
    filtered: true,
  },
  { slug: 'anguilla_moths_turing_2024', classifier: 'Turing Anguilla Species Classifier', filtered: true },
  {
    slug: 'kenya-uganda_moths_turing_2024',
    classifier: 'Turing Kenya and Uganda Species Classifier',
    filtered: true,
  },
  { slug: 'global_moths_2024', classifier: 'Global Species Classifier - Aug 2024', filtered: true },
  { slug: 'moth_binary', classifier: ADC_BINARY_NAME, filtered: false },
  { slug: 'insect_orders_2025', classifier: 'Insect Order Classifier', filtered: false },
]);

/** ADC's pipeline and algorithm `version`: never set, so 1 everywhere (api/api.py:166, api/schemas.py:214-220). */
export const ADC_VERSION = 1;

/**
 * ADC's algorithm key: `slugify(name)` (ml/models/base.py:122-127, trapdata/common/utils.py:29-44): spaces to
 * "_", lower case, every character but [a-z0-9_] dropped, "_" stripped from both ends, then "__" replaced by "_"
 * in one pass (so "a - b" gives "a_b", and three underscores give two).
 */
export function adcKey(name: string): string {
  return name
    .replaceAll(' ', '_')
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '')
    .replace(/^_+|_+$/g, '')
    .replaceAll('__', '_');
}

/** The file name ADC looks for: the URL path's basename (ml/utils.py:76). */
export function adcFileName(url: string): string {
  const parts = new URL(url).pathname.split('/');
  return decodeURIComponent(parts[parts.length - 1]);
}

/** Every model of the catalogue, the detector first. */
export const ADC_MODELS: readonly AdcModel[] = Object.freeze([ADC_DETECTOR, ...ADC_CLASSIFIERS]);

/** The model with this name; throws for a name the catalogue lacks (a catalogue mistake, caught by tests). */
export function adcModel(name: string): AdcModel {
  const model = ADC_MODELS.find((m) => m.name === name);
  if (!model) throw new Error(`the ADC catalogue has no model named "${name}"`);
  return model;
}
