/**
 * Wire types of Antenna's pull-mode API (CONTRACT §6). Antenna may add keys to every response (§6.10): the
 * worker reads only the keys named here.
 */
import type { PipelineConfigResponse, PipelineResultsResponse, SourceImage } from '../contract/types';

/** `POST /projects/{id}/pipelines/` body (CONTRACT §6.3). */
export interface RegisterPipelinesRequest {
  processing_service_name: string;
  pipelines: PipelineConfigResponse[];
}

/** One item of `GET /jobs/?ids_only=1` (CONTRACT §6.4). `id` is an integer in today's Antenna. */
export interface JobSummary {
  id: number | string;
  pipeline_slug: string | null;
}

export interface JobsListResponse {
  count: number;
  next: string | null;
  results: JobSummary[];
}

/** One reserved task (CONTRACT §6.5). `reply_subject` is opaque: stored verbatim, never parsed. */
export interface PullTask {
  id: string;
  image_id: string;
  image_url: string;
  reply_subject: string;
}

export interface TasksResponse {
  tasks: PullTask[];
}

/** Free-form worker description sent with `/tasks/` and `/result/` (CONTRACT §6.5, §6.10). */
export interface ClientInfo {
  hostname: string;
  software: string;
  version: string;
  platform: string;
}

/** A success result: the pipeline's response for exactly one image (CONTRACT §6.6, §3.2 S5). */
export type PullSuccessResult = Omit<PipelineResultsResponse, 'errors' | 'source_images'> & {
  source_images: [SourceImage];
};

/** A failed image (CONTRACT §6.6): counted as processed and failed, not redelivered within the job. */
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
