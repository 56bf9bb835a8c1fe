/**
 * The OpenAPI 3.1 document, built from the very schemas that validate requests and responses, so the docs
 * cannot drift from the behaviour.
 */
import {
  errorResponseSchema,
  infoResponseSchema,
  livezResponseSchema,
  pipelineResultsResponseSchema,
  readyzResponseSchema,
} from '../contract/schemas';
import type { RequestValidator } from '../contract/validators';
import { errorCatalogue, type ErrorCode } from '../errors';

type Json = Record<string, unknown>;

/** OpenAPI 3.1 is JSON Schema 2020-12: ajv's `nullable` becomes a `null` type, `$id` goes. */
function toOpenApiSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toOpenApiSchema);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema as Json)) {
    if (k === '$id' || k === 'nullable') continue;
    out[k] = toOpenApiSchema(v);
  }
  const src = schema as Json;
  if (src.nullable === true && typeof src.type === 'string') out.type = [src.type, 'null'];
  return out;
}

const json = (schemaRef: string, extra: Json = {}): Json => ({
  'application/json': { schema: { $ref: `#/components/schemas/${schemaRef}` }, ...extra },
});

/** A realistic `detail` per code, for the examples of /docs; the others show their catalogue meaning. */
const exampleDetail: Partial<Record<ErrorCode, unknown>> = {
  MALFORMED_JSON: 'request body is not valid JSON: Unexpected end of JSON input',
  METHOD_NOT_ALLOWED: 'GET is not allowed on /process; allowed: POST',
  UNSUPPORTED_MEDIA_TYPE: 'POST /process needs Content-Type: application/json',
  VALIDATION_FAILED: [
    { type: 'missing', loc: ['body', 'source_images', 0, 'url'], msg: 'Field required', input: { id: '1' } },
  ],
  UNKNOWN_PIPELINE: [
    {
      type: 'literal_error',
      loc: ['body', 'pipeline'],
      msg: "Input should be 'constant' or 'tfjs_synthetic_moths_2026'",
      input: 'nope',
      ctx: { expected: "'constant' or 'tfjs_synthetic_moths_2026'" },
    },
  ],
  IMAGE_FAILED: 'image 103: HTTP 404 from 127.0.0.1:8000',
  PIPELINE_UNAVAILABLE: 'pipeline tfjs_synthetic_moths_2026 is not available: its models failed to load',
};

/**
 * One response per status, listing every code that can come with it: several codes share a status (422,
 * 500, 503), and a map keyed by status would otherwise keep only the last. Each code is one example body.
 */
const errorResponses = (...codes: ErrorCode[]): Json => {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = errorCatalogue[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, group]) => [
      String(status),
      {
        description: group
          .map((c) => `\`${c}\`: ${errorCatalogue[c].meaning} ${errorCatalogue[c].fix}`)
          .join('\n\n'),
        ...(status === 405
          ? {
              headers: {
                Allow: { description: 'The methods this route accepts.', schema: { type: 'string' } },
              },
            }
          : {}),
        content: json('ErrorResponse', {
          examples: Object.fromEntries(
            group.map((c) => [
              c,
              {
                summary: errorCatalogue[c].meaning,
                value: { detail: exampleDetail[c] ?? errorCatalogue[c].meaning, code: c },
              },
            ]),
          ),
        }),
      },
    ]),
  );
};

/** A 64×48 PNG, small enough to read in /docs; any pipeline accepts it (`constant` needs only its size). */
export const EXAMPLE_DATA_URL =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAEAAAAAwCAYAAAChS3wfAAAAZUlEQVR4AeXBMQEAIAzAsK7+RSGBEzdMSJN593zCJE7iJE7iJE7iJE7iJE7iJE7iJE7iJE7iJE7iJE7iJE7iJE7iJE7iJE7iJE7iJE7iJE7iJE7iJE7iJE7iJE7iJE7iJE7iJG4BLe8Dx4qTBgAAAAAASUVORK5CYII=';

/** The sample server of the README (`npm run samples`) and a shipped sample on it. */
export const EXAMPLE_SAMPLE_URL = 'http://127.0.0.1:8000/trap-1024x768.jpg';

/** Working request bodies for /docs' "Try it out", for the first served pipeline. */
function processExamples(slug: string): Json {
  return {
    sample: {
      summary: 'A shipped sample, from the sample server (`npm run samples`)',
      description:
        'Start the sample server first: `npm run samples` serves samples/ on http://127.0.0.1:8000.',
      value: { pipeline: slug, source_images: [{ id: '1', url: EXAMPLE_SAMPLE_URL }] },
    },
    dataUrl: {
      summary: 'An image sent inline as a data: URL (no server needed)',
      description:
        'Any image as `data:image/<type>;base64,<bytes>`, up to MAX_BODY_BYTES; from a shell: ' +
        '`base64 < photo.jpg | tr -d "\\n"`.',
      value: { pipeline: slug, source_images: [{ id: 'mine', url: EXAMPLE_DATA_URL }] },
    },
    reprocess: {
      summary: 'Classify a given box instead of detecting (re-processing)',
      value: {
        pipeline: slug,
        source_images: [{ id: '1', url: EXAMPLE_DATA_URL }],
        detections: [
          {
            source_image: { id: '1', url: EXAMPLE_DATA_URL },
            bbox: { x1: 8, y1: 6, x2: 40, y2: 30 },
            algorithm: { name: 'My detector', key: 'my-detector' },
          },
        ],
        config: {},
      },
    },
  };
}

/** Route groups in /docs. */
const TAGS = [
  { name: 'processing', description: "Antenna's processing-service contract: what Antenna calls." },
  { name: 'health', description: 'Liveness and readiness, for Antenna and container orchestrators.' },
  { name: 'operations', description: 'Metrics for operators.' },
];

export function buildOpenApi(opts: {
  title: string;
  description: string;
  version: string;
  request: RequestValidator;
}): Json {
  const firstSlug = opts.request.schema.properties.pipeline.enum[0] ?? 'constant';
  return {
    openapi: '3.1.0',
    info: { title: opts.title, description: opts.description, version: opts.version },
    tags: TAGS,
    paths: {
      '/info': {
        get: {
          tags: ['processing'],
          summary: 'Pipelines, algorithms and category maps (what Antenna registers)',
          responses: {
            '200': { description: 'Service info', content: json('ProcessingServiceInfoResponse') },
          },
        },
      },
      '/livez': {
        get: {
          tags: ['health'],
          summary: 'Process is up',
          responses: { '200': { description: 'Alive', content: json('LivezResponse') } },
        },
      },
      '/readyz': {
        get: {
          tags: ['health'],
          summary: 'Pipelines that can process now',
          responses: {
            '200': { description: 'Ready pipelines', content: json('ReadyzResponse') },
            '503': {
              description: 'Still loading, no pipeline usable, or shutting down',
              content: json('ReadyzResponse'),
            },
          },
        },
      },
      '/process': {
        post: {
          tags: ['processing'],
          summary: 'Detect and classify insects in source images',
          description:
            'A failed image never fails the request: it is left out of `source_images` and named in `errors` ' +
            '(a 200), unless STRICT_IMAGE_ERRORS is on. Error bodies are `{detail, code}`; the codes are listed ' +
            'under each status below.',
          requestBody: {
            required: true,
            content: json('PipelineRequest', { examples: processExamples(firstSlug) }),
          },
          responses: {
            '200': {
              description:
                'Results. Images that failed are left out of source_images and described in errors.',
              content: json('PipelineResultsResponse'),
            },
            ...errorResponses(
              'MALFORMED_JSON',
              'METHOD_NOT_ALLOWED',
              'PAYLOAD_TOO_LARGE',
              'UNSUPPORTED_MEDIA_TYPE',
              'VALIDATION_FAILED',
              'UNKNOWN_PIPELINE',
              'DETECTION_IMAGE_NOT_IN_REQUEST',
              'IMAGE_FAILED',
              'PIPELINE_FAILED',
              'INTERNAL_ERROR',
              'PIPELINE_UNAVAILABLE',
              'SHUTTING_DOWN',
            ),
          },
        },
      },
      '/metrics': {
        get: {
          tags: ['operations'],
          summary: 'Prometheus metrics',
          responses: { '200': { description: 'text/plain exposition format' } },
        },
      },
    },
    components: {
      schemas: {
        PipelineRequest: toOpenApiSchema(opts.request.schema),
        PipelineResultsResponse: toOpenApiSchema(pipelineResultsResponseSchema),
        ProcessingServiceInfoResponse: toOpenApiSchema(infoResponseSchema),
        ReadyzResponse: toOpenApiSchema(readyzResponseSchema),
        LivezResponse: toOpenApiSchema(livezResponseSchema),
        ErrorResponse: {
          ...(toOpenApiSchema(errorResponseSchema) as Json),
          description:
            'Every error body: `detail` (a message, or for 422 a FastAPI-style list of `{loc, msg, type}`; ' +
            'Antenna shows it in its job log) and a stable `code` from the catalogue in README.md.',
        },
      },
    },
  };
}
