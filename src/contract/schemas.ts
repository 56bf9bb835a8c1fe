/**
 * JSON schemas of the wire contract. Request schemas validate what Antenna sends and ignore unknown keys
 * (never `additionalProperties: false` on requests: docs/antenna-protocol.md#transport). Response schemas are
 * strict, and the tests validate every response against them. The OpenAPI document is built from these same
 * objects.
 */

/** Limits that shape the request schema. */
export interface RequestSchemaOptions {
  /** Valid pipeline slugs, from the registry. */
  slugs: string[];
  maxImages: number;
  /**
   * Longest `url` or `crop_image_url`: the body limit (MAX_BODY_BYTES). A `data:` URL carries the whole image,
   * so the schema must not cap it below what the body allows; its decoded size is then checked per image
   * against IMAGE_MAX_BYTES and IMAGE_MAX_PIXELS like a download, and an over-long http(s) URL fails only its
   * own image (see src/images/fetch-image.ts).
   */
  maxUrlLength: number;
}

export const ID_MAX_LENGTH = 1024;

const sourceImageRequest = (maxUrlLength: number) =>
  ({
    type: 'object',
    required: ['id', 'url'],
    properties: {
      id: {
        type: 'string',
        minLength: 1,
        maxLength: ID_MAX_LENGTH,
        description: "Antenna's image id, echoed verbatim.",
      },
      url: {
        type: 'string',
        minLength: 1,
        maxLength: maxUrlLength,
        description:
          'http(s) URL (presigned URLs are fetched with their query string), or a data:image/...;base64 URL ' +
          '(up to the body limit; decoded size capped by IMAGE_MAX_BYTES like a download).',
      },
    },
  }) as const;

const boundingBox = {
  type: 'object',
  required: ['x1', 'y1', 'x2', 'y2'],
  properties: {
    x1: { type: 'number' },
    y1: { type: 'number' },
    x2: { type: 'number' },
    y2: { type: 'number' },
  },
} as const;

const algorithmReference = {
  type: 'object',
  required: ['name', 'key'],
  properties: { name: { type: 'string' }, key: { type: 'string' } },
} as const;

/** Keys of `config` that the service reads; all others are ignored (Antenna's `request_*` keys included). */
export const requestConfigSchema = {
  type: 'object',
  nullable: true,
  description: 'Per-request overrides. Unknown keys are ignored.',
  properties: {
    detection_threshold: {
      type: 'number',
      minimum: 0,
      maximum: 1,
      description: "Detector score threshold; overrides the model manifest's `score_threshold`.",
    },
    max_detections: {
      type: 'integer',
      minimum: 1,
      maximum: 5000,
      description: 'Cap on detections per image (default 500).',
    },
    detector_batch_size: {
      type: 'integer',
      minimum: 1,
      maximum: 256,
      description: 'Images per detector call.',
    },
    classifier_batch_size: {
      type: 'integer',
      minimum: 1,
      maximum: 1024,
      description: 'Crops per classifier call.',
    },
    seed: {
      type: 'integer',
      minimum: 0,
      maximum: 4294967295,
      description: 'Seed for the random reference pipeline, for reproducible output.',
    },
  },
} as const;

/** The POST /process request schema for the given slugs and limits. */
export function pipelineRequestSchema(opts: RequestSchemaOptions) {
  return {
    $id: 'PipelineRequest',
    type: 'object',
    required: ['pipeline', 'source_images'],
    properties: {
      pipeline: { type: 'string', enum: opts.slugs, description: 'A pipeline slug from GET /info.' },
      source_images: {
        type: 'array',
        maxItems: opts.maxImages,
        items: sourceImageRequest(opts.maxUrlLength),
      },
      detections: {
        type: 'array',
        nullable: true,
        description:
          'Existing boxes to classify instead of detecting (re-processing). `[]`, null or missing: detect.',
        items: {
          type: 'object',
          required: ['source_image', 'algorithm'],
          properties: {
            source_image: sourceImageRequest(opts.maxUrlLength),
            bbox: { ...boundingBox, nullable: true },
            crop_image_url: { type: 'string', nullable: true, maxLength: opts.maxUrlLength },
            algorithm: algorithmReference,
          },
        },
      },
      config: requestConfigSchema,
    },
  } as const;
}

// ---- Responses: strict ----

const strictObject = <P extends Record<string, unknown>>(
  properties: P,
  required: (keyof P & string)[] = Object.keys(properties),
) => ({ type: 'object', additionalProperties: false, required, properties }) as const;

const nullableString = { type: ['string', 'null'] } as const;
const finiteNumber = { type: 'number' } as const;

const bboxResponse = strictObject({ x1: finiteNumber, y1: finiteNumber, x2: finiteNumber, y2: finiteNumber });
const algorithmRefResponse = strictObject({ name: { type: 'string' }, key: { type: 'string' } });

export const classificationResponseSchema = strictObject({
  classification: { type: 'string' },
  labels: { type: ['array', 'null'], items: { type: 'string' } },
  scores: { type: 'array', minItems: 1, items: finiteNumber },
  logits: { type: ['array', 'null'], items: finiteNumber },
  inference_time: { type: ['number', 'null'] },
  algorithm: algorithmRefResponse,
  terminal: { type: 'boolean' },
  timestamp: { type: 'string', format: 'date-time' },
});

export const detectionResponseSchema = strictObject({
  source_image_id: { type: 'string' },
  bbox: bboxResponse,
  inference_time: { type: ['number', 'null'] },
  algorithm: algorithmRefResponse,
  timestamp: { type: 'string', format: 'date-time' },
  crop_image_url: nullableString,
  classifications: { type: 'array', items: classificationResponseSchema },
});

export const imageErrorSchema = strictObject({
  image_id: { type: 'string' },
  url: { type: 'string' },
  code: { type: 'string' },
  error: { type: 'string' },
});

export const pipelineResultsResponseSchema = {
  $id: 'PipelineResultsResponse',
  ...strictObject({
    pipeline: { type: 'string' },
    total_time: finiteNumber,
    algorithms: { type: 'object', additionalProperties: false },
    source_images: {
      type: 'array',
      items: strictObject({ id: { type: 'string' }, url: { type: 'string' } }),
    },
    detections: { type: 'array', items: detectionResponseSchema },
    errors: { type: ['array', 'null'], items: imageErrorSchema },
  }),
} as const;

/** `data` of a category map: one entry per class; extra keys (gbif_key, source, ...) are kept. */
export const categoryMapDataSchema = {
  type: 'array',
  minItems: 1,
  items: {
    type: 'object',
    required: ['index', 'label'],
    properties: { index: { type: 'integer' }, label: { type: 'string' }, taxon_rank: { type: 'string' } },
  },
} as const;

const categoryMapResponse = strictObject({
  data: categoryMapDataSchema,
  labels: { type: 'array', items: { type: 'string' } },
  version: nullableString,
  description: nullableString,
  uri: nullableString,
});

export const algorithmConfigResponseSchema = strictObject({
  name: { type: 'string', maxLength: 255 },
  key: { type: 'string', pattern: '^[a-z0-9_-]{1,255}$' },
  description: nullableString,
  task_type: { type: 'string' },
  version: { type: 'integer' },
  version_name: { type: ['string', 'null'], maxLength: 255 },
  uri: { type: ['string', 'null'], maxLength: 255 },
  category_map: { oneOf: [{ type: 'null' }, categoryMapResponse] },
});

export const pipelineConfigResponseSchema = strictObject({
  name: { type: 'string', maxLength: 255 },
  slug: { type: 'string', pattern: '^[a-z0-9_-]{1,255}$' },
  version: { type: 'integer' },
  description: nullableString,
  algorithms: { type: 'array', items: algorithmConfigResponseSchema },
  stages: { type: 'array' },
});

export const infoResponseSchema = {
  $id: 'ProcessingServiceInfoResponse',
  ...strictObject({
    name: { type: 'string' },
    description: nullableString,
    pipelines: { type: 'array', items: pipelineConfigResponseSchema },
  }),
} as const;

export const readyzResponseSchema = {
  $id: 'ReadyzResponse',
  ...strictObject({ status: { type: 'array', items: { type: 'string' } } }),
} as const;

export const livezResponseSchema = {
  $id: 'LivezResponse',
  ...strictObject({ status: { const: true } }),
} as const;

/** Every error body: `detail` (string or FastAPI-style list) plus a stable `code`. */
export const errorResponseSchema = {
  $id: 'ErrorResponse',
  ...strictObject({
    detail: {
      oneOf: [
        { type: 'string' },
        {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['type', 'loc', 'msg'],
            properties: {
              type: { type: 'string' },
              loc: { type: 'array', items: { type: ['string', 'integer'] } },
              msg: { type: 'string' },
              input: {},
              ctx: { type: 'object' },
            },
          },
        },
      ],
    },
    code: { type: 'string' },
  }),
} as const;
