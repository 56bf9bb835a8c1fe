/**
 * Wire types of Antenna's processing-service contract (docs/antenna-protocol.md).
 * Field names are snake_case because they travel as JSON exactly like this.
 */

/** docs/antenna-protocol.md#get-info: task types that mark a detector, and those that need a category map. */
export type TaskType = 'detection' | 'localization' | 'segmentation' | 'classification' | 'tagging';

export interface CategoryMapEntry {
  index: number;
  label: string;
  taxon_rank?: string;
  [extra: string]: unknown;
}

/**
 * AlgorithmCategoryMapResponse (docs/antenna-protocol.md#category-maps). `data[i].index === i`,
 * `labels[i] === data[i].label`.
 */
export interface AlgorithmCategoryMap {
  data: CategoryMapEntry[];
  labels: string[];
  version: string | null;
  description: string | null;
  uri: string | null;
}

/** AlgorithmConfigResponse (docs/antenna-protocol.md#get-info): what /info says about one algorithm. */
export interface AlgorithmConfigResponse {
  name: string;
  key: string;
  description: string | null;
  task_type: TaskType;
  version: number;
  version_name: string | null;
  uri: string | null;
  category_map: AlgorithmCategoryMap | null;
}

/**
 * PipelineConfigResponse (docs/antenna-protocol.md#get-info). Also the item type of the pull-mode
 * registration body.
 */
export interface PipelineConfigResponse {
  name: string;
  slug: string;
  version: number;
  description: string | null;
  algorithms: AlgorithmConfigResponse[];
  stages: unknown[];
}

export interface ProcessingServiceInfoResponse {
  name: string;
  description: string | null;
  pipelines: PipelineConfigResponse[];
}

export interface SourceImage {
  id: string;
  url: string;
}

/** Absolute pixels in the stored image; (x1, y1) top-left, (x2, y2) bottom-right. */
export interface BoundingBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface AlgorithmReference {
  name: string;
  key: string;
}

/** DetectionRequest (docs/antenna-protocol.md#post-process-request), as narrowed by the request schema. */
export interface DetectionRequest {
  source_image: SourceImage;
  bbox: BoundingBox | null;
  crop_image_url?: string | null;
  algorithm: AlgorithmReference;
}

/** Per-request pipeline settings the service understands (README "Request config"); other keys are ignored. */
export interface RequestConfig {
  detection_threshold?: number;
  max_detections?: number;
  detector_batch_size?: number;
  classifier_batch_size?: number;
  seed?: number;
  [ignored: string]: unknown;
}

/**
 * PipelineRequest (docs/antenna-protocol.md#post-process-request) after normalisation (`config` and
 * `detections` default to empty).
 */
export interface PipelineRequest {
  pipeline: string;
  source_images: SourceImage[];
  detections?: DetectionRequest[] | null;
  config?: RequestConfig | null;
}

/** ClassificationResponse (docs/antenna-protocol.md#post-process-response). */
export interface ClassificationResponse {
  classification: string;
  labels: string[] | null;
  scores: number[];
  logits: number[] | null;
  inference_time: number | null;
  algorithm: AlgorithmReference;
  terminal: boolean;
  timestamp: string;
}

/** DetectionResponse (docs/antenna-protocol.md#post-process-response). */
export interface DetectionResponse {
  source_image_id: string;
  bbox: BoundingBox;
  inference_time: number | null;
  algorithm: AlgorithmReference;
  timestamp: string;
  crop_image_url: string | null;
  classifications: ClassificationResponse[];
}

/** One per-image failure, reported in `errors` (docs/antenna-protocol.md#partial-failures). */
export interface ImageError {
  image_id: string;
  url: string;
  code: string;
  error: string;
}

/** PipelineResultsResponse (docs/antenna-protocol.md#post-process-response). */
export interface PipelineResultsResponse {
  pipeline: string;
  total_time: number;
  algorithms: Record<string, never>;
  source_images: SourceImage[];
  detections: DetectionResponse[];
  errors: ImageError[] | null;
}
