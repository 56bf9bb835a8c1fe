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
import { errorCatalogue } from '../errors';

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

const json = (schemaRef: string): Json => ({
  'application/json': { schema: { $ref: `#/components/schemas/${schemaRef}` } },
});

const errorResponses = (...codes: (keyof typeof errorCatalogue)[]): Json =>
  Object.fromEntries(
    codes.map((code) => [
      String(errorCatalogue[code].status),
      { description: `${code}: ${errorCatalogue[code].meaning}`, content: json('ErrorResponse') },
    ]),
  );

export function buildOpenApi(opts: {
  title: string;
  description: string;
  version: string;
  request: RequestValidator;
}): Json {
  return {
    openapi: '3.1.0',
    info: { title: opts.title, description: opts.description, version: opts.version },
    paths: {
      '/info': {
        get: {
          summary: 'Pipelines, algorithms and category maps (what Antenna registers)',
          responses: {
            '200': { description: 'Service info', content: json('ProcessingServiceInfoResponse') },
          },
        },
      },
      '/livez': {
        get: {
          summary: 'Process is up',
          responses: { '200': { description: 'Alive', content: json('LivezResponse') } },
        },
      },
      '/readyz': {
        get: {
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
          summary: 'Detect and classify insects in source images',
          requestBody: { required: true, content: json('PipelineRequest') },
          responses: {
            '200': {
              description:
                'Results. Images that failed are left out of source_images and described in errors.',
              content: json('PipelineResultsResponse'),
            },
            ...errorResponses(
              'MALFORMED_JSON',
              'PAYLOAD_TOO_LARGE',
              'UNSUPPORTED_MEDIA_TYPE',
              'VALIDATION_FAILED',
              'IMAGE_FAILED',
              'PIPELINE_UNAVAILABLE',
            ),
          },
        },
      },
      '/metrics': {
        get: {
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
        ErrorResponse: toOpenApiSchema(errorResponseSchema),
      },
    },
  };
}
