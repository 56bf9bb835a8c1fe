/**
 * Splits one pipeline response over the tasks of a batch: exactly one result per task
 * (docs/antenna-protocol.md#posting-results). Pure functions; the worker validates what they build before
 * posting.
 */
import type { PipelineResultsResponse } from '../contract/types';
import type { PullErrorResult, PullSuccessResult, PullTask, ResultItem } from './types';

/** The error result of one task. The message names the image and what failed. */
export function errorItem(task: PullTask, message: string): ResultItem {
  const result: PullErrorResult = { error: message, image_id: task.image_id };
  return { reply_subject: task.reply_subject, result };
}

/**
 * One result per task, in task order. A task whose image is in `source_images` gets a success result with that
 * image's detections; any other task gets an error result with the reason from `errors`. Several tasks for one
 * image (a redelivery inside one batch) each get their own copy. `total_time` is the batch's pipeline time
 * shared evenly over its distinct images (Antenna only logs it).
 */
export function splitResponse(tasks: readonly PullTask[], response: PipelineResultsResponse): ResultItem[] {
  const processed = new Set(response.source_images.map((s) => s.id));
  const distinct = new Set(tasks.map((t) => t.image_id)).size;
  const perImage = distinct > 0 ? response.total_time / distinct : 0;
  const reasons = new Map((response.errors ?? []).map((e) => [e.image_id, e.error]));
  return tasks.map((task) => {
    if (!processed.has(task.image_id)) {
      return errorItem(
        task,
        reasons.get(task.image_id) ??
          `image ${task.image_id}: not processed by pipeline ${response.pipeline}`,
      );
    }
    const result: PullSuccessResult = {
      pipeline: response.pipeline,
      total_time: perImage,
      algorithms: {},
      source_images: [{ id: task.image_id, url: task.image_url }],
      detections: response.detections.filter((d) => d.source_image_id === task.image_id),
    };
    return { reply_subject: task.reply_subject, result };
  });
}
