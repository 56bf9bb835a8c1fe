/**
 * One catalogue of error codes, one error class, one JSON body shape.
 *
 * Antenna reads `detail` from error bodies (the FastAPI convention) and appends it to its job log, so every
 * error body carries `detail` plus a stable `code` for machines. The README's error table is generated from
 * (and tested against) `errorCatalogue`.
 */

export interface ErrorSpec {
  status: number;
  /** What happened, for the README. */
  meaning: string;
  /** What the caller or operator should do. */
  fix: string;
}

/** Request-level errors: the whole request gets this status. */
export const errorCatalogue = {
  MALFORMED_JSON: { status: 400, meaning: 'The body is not valid JSON.', fix: 'Send a JSON object.' },
  NOT_FOUND: {
    status: 404,
    meaning: 'No such route.',
    fix: 'Use /info, /livez, /readyz, /process, /metrics, /openapi.json or /docs.',
  },
  METHOD_NOT_ALLOWED: {
    status: 405,
    meaning: 'The route exists but not for this method.',
    fix: 'See the Allow header.',
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    meaning: 'The body is larger than MAX_BODY_BYTES.',
    fix: 'Send fewer images or detections per request, or raise MAX_BODY_BYTES.',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    meaning: 'POST /process needs `Content-Type: application/json`.',
    fix: 'Set the content type.',
  },
  VALIDATION_FAILED: {
    status: 422,
    meaning:
      'The body does not match the request schema; `detail` lists each problem with `loc`, `msg` and `type`.',
    fix: 'Fix the fields named in `loc`.',
  },
  UNKNOWN_PIPELINE: {
    status: 422,
    meaning: 'The `pipeline` slug is not served here; `detail` lists the valid slugs.',
    fix: 'Use a slug from `GET /info`, or enable it with ENABLED_PIPELINES.',
  },
  DETECTION_IMAGE_NOT_IN_REQUEST: {
    status: 422,
    meaning: 'A `detections[].source_image.id` is not among `source_images`.',
    fix: 'List every image that detections refer to in `source_images`.',
  },
  IMAGE_FAILED: {
    status: 500,
    meaning: 'STRICT_IMAGE_ERRORS is on and at least one image failed; `detail` says which and why.',
    fix: 'Fix the image URLs, or turn STRICT_IMAGE_ERRORS off to get partial results.',
  },
  PIPELINE_FAILED: {
    status: 500,
    meaning: 'The pipeline failed for the whole request in a way that could not be isolated to one image.',
    fix: 'Check the service log for the request id; report a bug.',
  },
  INTERNAL_ERROR: {
    status: 500,
    meaning: 'An unexpected error.',
    fix: 'Check the service log for the request id.',
  },
  PIPELINE_UNAVAILABLE: {
    status: 503,
    meaning: 'The pipeline failed to load its models, so it cannot run (it is missing from /readyz).',
    fix: 'Read the startup log for the load error, fix the model directory and restart.',
  },
  SHUTTING_DOWN: {
    status: 503,
    meaning: 'The service is stopping and takes no new work.',
    fix: 'Retry on another instance.',
  },
} satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorCatalogue;

/**
 * Per-image failures, reported in `errors` of a 200 response (docs/antenna-protocol.md#partial-failures); the
 * image is left out.
 */
export const imageErrorCatalogue = {
  IMAGE_URL_INVALID: 'The URL is not an http(s) or data:image URL.',
  IMAGE_URL_DENIED:
    'The URL policy denies the host or its resolved address (IMAGE_URL_POLICY, IMAGE_URL_ALLOW/DENY).',
  IMAGE_DOWNLOAD_FAILED:
    'The server answered with a non-2xx status, too many redirects, or the connection failed.',
  IMAGE_TIMEOUT: 'The download took longer than IMAGE_DOWNLOAD_TIMEOUT_MS.',
  IMAGE_TOO_LARGE: 'The file is larger than IMAGE_MAX_BYTES.',
  IMAGE_TOO_MANY_PIXELS: "The header's width × height exceeds IMAGE_MAX_PIXELS.",
  IMAGE_NOT_AN_IMAGE: 'The bytes are not JPEG, PNG, WebP, GIF, BMP or TIFF (e.g. an HTML error page).',
  IMAGE_DECODE_FAILED: 'The image header was readable but the pixels could not be decoded.',
  IMAGE_TOO_LARGE_FOR_BACKEND:
    "Decoding and processing the image alone needs more memory than the backend's inference budget (INFERENCE_MEMORY_BUDGET_MB; docs/memory.md); the message gives both sizes.",
  INFERENCE_FAILED: 'A model failed on this image; other images are unaffected.',
} as const;

export type ImageErrorCode = keyof typeof imageErrorCatalogue;

/** The base error: status, stable code and a `detail` safe to send. */
export class ServiceError extends Error {
  readonly status: number;
  readonly expose = true;

  constructor(
    readonly code: ErrorCode,
    readonly detail: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof detail === 'string' ? detail : code);
    this.status = errorCatalogue[code].status;
  }

  /** The JSON body: `{detail, code}`. */
  body(): { detail: unknown; code: ErrorCode } {
    return { detail: this.detail, code: this.code };
  }
}

/** A per-image failure; never fails the batch by itself. */
export class ImageError extends Error {
  constructor(
    readonly code: ImageErrorCode,
    message: string,
  ) {
    super(message);
  }
}
