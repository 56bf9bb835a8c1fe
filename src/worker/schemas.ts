/**
 * Schemas of the pull-mode wire (docs/antenna-protocol.md#pull-mode). Antenna's answers are validated
 * leniently (unknown keys are ignored, docs/antenna-protocol.md#forward-compatibility); the result items the
 * worker posts are validated strictly, because one item that fits neither of Antenna's shapes makes Antenna
 * reject the whole request with a 400 (docs/antenna-protocol.md#posting-results).
 */
import type Ajv from 'ajv';
import type { ErrorObject } from 'ajv';
import { detectionResponseSchema } from '../contract/schemas';
import type { JobsListResponse, PullTask, ResultItem } from './types';

export const jobsListResponseSchema = {
  type: 'object',
  required: ['results'],
  properties: {
    count: { type: 'integer' },
    next: { type: ['string', 'null'] },
    results: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id'],
        properties: { id: { type: ['integer', 'string'] }, pipeline_slug: { type: ['string', 'null'] } },
      },
    },
  },
} as const;

export const tasksResponseSchema = {
  type: 'object',
  required: ['tasks'],
  properties: { tasks: { type: 'array' } },
} as const;

/** One task. Checked one by one so that a malformed task does not cost the rest of the batch. */
export const pullTaskSchema = {
  type: 'object',
  required: ['reply_subject', 'image_id', 'image_url'],
  properties: {
    id: { type: ['string', 'integer'] },
    image_id: { type: 'string', minLength: 1 },
    image_url: { type: 'string', minLength: 1 },
    reply_subject: { type: 'string', minLength: 1 },
  },
} as const;

const strictObject = <P extends Record<string, unknown>>(
  properties: P,
  required: (keyof P & string)[] = Object.keys(properties),
) => ({ type: 'object', additionalProperties: false, required, properties }) as const;

/**
 * Success result: the pipeline's response for exactly one image (docs/antenna-protocol.md#posting-results).
 */
export const pullSuccessResultSchema = strictObject({
  pipeline: { type: 'string', minLength: 1 },
  total_time: { type: 'number' },
  algorithms: { type: 'object', additionalProperties: false },
  source_images: {
    type: 'array',
    minItems: 1,
    maxItems: 1,
    items: strictObject({ id: { type: 'string', minLength: 1 }, url: { type: 'string' } }),
  },
  detections: { type: 'array', items: detectionResponseSchema },
});

/**
 * Error result (docs/antenna-protocol.md#posting-results). `image_id` is always the task's: with null Antenna
 * counts nothing.
 */
export const pullErrorResultSchema = strictObject({
  error: { type: 'string', minLength: 1 },
  image_id: { type: 'string', minLength: 1 },
});

export const resultItemSchema = strictObject({
  reply_subject: { type: 'string', minLength: 1 },
  result: { oneOf: [pullSuccessResultSchema, pullErrorResultSchema] },
});

/** Narrowing validators of the pull-mode wire, compiled once. */
export interface PullValidators {
  jobsList(body: unknown): body is JobsListResponse;
  tasksResponse(body: unknown): body is { tasks: unknown[] };
  task(body: unknown): body is PullTask;
  /** Null when valid, else a one-line description of the first problems. */
  resultItemProblem(item: ResultItem): string | null;
}

const describe = (errors: ErrorObject[] | null | undefined): string =>
  (errors ?? [])
    .slice(0, 3)
    .map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}`)
    .join('; ');

export function compilePullValidators(ajv: Ajv): PullValidators {
  const jobsList = ajv.compile<JobsListResponse>(jobsListResponseSchema);
  const tasksResponse = ajv.compile<{ tasks: unknown[] }>(tasksResponseSchema);
  const task = ajv.compile<PullTask>(pullTaskSchema);
  const item = ajv.compile<ResultItem>(resultItemSchema);
  return {
    jobsList: (body): body is JobsListResponse => jobsList(body),
    tasksResponse: (body): body is { tasks: unknown[] } => tasksResponse(body),
    task: (body): body is PullTask => task(body),
    resultItemProblem(value) {
      if (item(value)) {
        // A rule JSON schema cannot state: every detection belongs to the one echoed image
        // (docs/antenna-protocol.md#processed-images).
        const r = value.result;
        if ('source_images' in r) {
          const stray = r.detections.find((d) => d.source_image_id !== r.source_images[0].id);
          if (stray)
            return `detection for image ${stray.source_image_id} in the result for image ${r.source_images[0].id}`;
        }
        return null;
      }
      return describe(item.errors);
    },
  };
}
