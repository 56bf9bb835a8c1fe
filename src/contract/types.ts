/**
 * Wire types of Antenna's processing-service contract (../shared/CONTRACT.md §2 and §6).
 * Field names are snake_case because they travel as JSON exactly like this.
 */

/** CONTRACT §2.5: task types that mark a detector, and those that need a category map. */
export type TaskType = 'detection' | 'localization' | 'segmentation' | 'classification' | 'tagging';

export interface CategoryMapEntry {
  index: number;
  label: string;
  taxon_rank?: string;
  [extra: string]: unknown;
}

/** CONTRACT §2.5 AlgorithmCategoryMapResponse. `data[i].index === i`, `labels[i] === data[i].label`. */
export interface AlgorithmCategoryMap {
  data: CategoryMapEntry[];
  labels: string[];
  version: string | null;
  description: string | null;
  uri: string | null;
}

/** CONTRACT §2.5 AlgorithmConfigResponse: what /info says about one algorithm. */
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

/** CONTRACT §2.5 PipelineConfigResponse. Also the item type of the pull-mode registration body. */
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

/** CONTRACT §2.6 DetectionRequest, as narrowed by the request schema. */
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

/** CONTRACT §2.6 PipelineRequest after normalisation (`config` and `detections` default to empty). */
export interface PipelineRequest {
  pipeline: string;
  source_images: SourceImage[];
  detections?: DetectionRequest[] | null;
  config?: RequestConfig | null;
}

/** CONTRACT §2.7 ClassificationResponse. */
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

/** CONTRACT §2.7 DetectionResponse. */
export interface DetectionResponse {
  source_image_id: string;
  bbox: BoundingBox;
  inference_time: number | null;
  algorithm: AlgorithmReference;
  timestamp: string;
  crop_image_url: string | null;
  classifications: ClassificationResponse[];
}

/** One per-image failure, reported in `errors` (CONTRACT §4.2). */
export interface ImageError {
  image_id: string;
  url: string;
  code: string;
  error: string;
}

/** CONTRACT §2.7 PipelineResultsResponse. */
export interface PipelineResultsResponse {
  pipeline: string;
  total_time: number;
  algorithms: Record<string, never>;
  source_images: SourceImage[];
  detections: DetectionResponse[];
  errors: ImageError[] | null;
}
