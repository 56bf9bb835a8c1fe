/**
 * Wire types of Antenna's pull-mode API (docs/antenna-protocol.md#pull-mode). Antenna may add keys to every
 * response (docs/antenna-protocol.md#forward-compatibility): the worker reads only the keys named here.
 */
import type { PipelineConfigResponse, PipelineResultsResponse, SourceImage } from '../contract/types';

/** `POST /projects/{id}/pipelines/` body (docs/antenna-protocol.md#registering-pipelines). */
export interface RegisterPipelinesRequest {
  processing_service_name: string;
  pipelines: PipelineConfigResponse[];
}

/**
 * One item of `GET /jobs/?ids_only=1` (docs/antenna-protocol.md#finding-jobs). `id` is an integer in today's
 * Antenna.
 */
export interface JobSummary {
  id: number | string;
  pipeline_slug: string | null;
}

export interface JobsListResponse {
  count: number;
  next: string | null;
  results: JobSummary[];
}

/**
 * One reserved task (docs/antenna-protocol.md#reserving-tasks). `reply_subject` is opaque: stored verbatim,
 * never parsed.
 */
export interface PullTask {
  id: string;
  image_id: string;
  image_url: string;
  reply_subject: string;
}

export interface TasksResponse {
  tasks: PullTask[];
}

/**
 * Free-form worker description sent with `/tasks/` and `/result/`
 * (docs/antenna-protocol.md#forward-compatibility).
 */
export interface ClientInfo {
  hostname: string;
  software: string;
  version: string;
  platform: string;
}

/**
 * A success result: the pipeline's response for exactly one image (docs/antenna-protocol.md#posting-results).
 */
export type PullSuccessResult = Omit<PipelineResultsResponse, 'errors' | 'source_images'> & {
  source_images: [SourceImage];
};

/**
 * A failed image (docs/antenna-protocol.md#posting-results): counted as processed and failed, not redelivered
 * within the job.
 */
export interface PullErrorResult {
  error: string;
  image_id: string;
}

export interface ResultItem {
  reply_subject: string;
  result: PullSuccessResult | PullErrorResult;
}

/** `POST /jobs/{id}/result/` body. Always an object with `results`: a bare array is a 400. */
export interface ResultsRequest {
  results: ResultItem[];
  client_info?: ClientInfo;
}
