/**
 * The one log line per `/process` request, written for a person reading it: which images failed and why,
 * not only how many. Data URLs are never logged (they can be megabytes); `error` already names the image.
 */
import type { ImageError } from '../contract/types';

/** Most failures named one by one in a log line; a 100-image request with a dead host stays one short line. */
export const MAX_LOGGED_FAILURES = 5;

/** The failures to log: `{image_id, code, error}` for the first few, and how many were left out. */
export function failureSummary(errors: readonly ImageError[] | null): {
  failures: { image_id: string; code: string; error: string }[];
  failuresNotShown: number;
} {
  const all = errors ?? [];
  return {
    failures: all
      .slice(0, MAX_LOGGED_FAILURES)
      .map(({ image_id, code, error }) => ({ image_id, code, error })),
    failuresNotShown: Math.max(0, all.length - MAX_LOGGED_FAILURES),
  };
}

/**
 * The line's `summary`, which LOG_FORMAT=pretty shows as its message (`msg` stays `process` for queries):
 * `process constant: 2 images, 1 failed (IMAGE_DOWNLOAD_FAILED: image 103: HTTP 404 …)`.
 */
export function processLogMessage(
  pipeline: string,
  images: number,
  errors: readonly ImageError[] | null,
): string {
  const failed = errors?.length ?? 0;
  const head = `process ${pipeline}: ${images} image${images === 1 ? '' : 's'}`;
  if (failed === 0) return `${head}, none failed`;
  const first = errors![0];
  const more = failed > 1 ? `; and ${failed - 1} more` : '';
  return `${head}, ${failed} failed (${first.code}: ${first.error}${more})`;
}
