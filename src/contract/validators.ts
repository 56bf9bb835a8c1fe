/**
 * Compiled validators. Each schema is compiled once; `validateRequest` narrows the body to PipelineRequest.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { findTooDeep } from '../util/json-depth';
import type { PipelineRequest } from './types';
import {
  errorResponseSchema,
  infoResponseSchema,
  livezResponseSchema,
  pipelineRequestSchema,
  pipelineResultsResponseSchema,
  readyzResponseSchema,
  type RequestSchemaOptions,
} from './schemas';

/** One ajv instance for the whole process: schemas share formats and compile once. */
export function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strict: true, strictRequired: false });
  addFormats(ajv);
  return ajv;
}

/** A FastAPI-style validation error item (what Antenna and its admins already know how to read). */
export interface ValidationDetail {
  type: string;
  loc: (string | number)[];
  msg: string;
  input?: unknown;
  ctx?: Record<string, unknown>;
}

const typeNames: Record<string, [string, string]> = {
  string: ['string_type', 'Input should be a valid string'],
  number: ['float_type', 'Input should be a valid number'],
  integer: ['int_type', 'Input should be a valid integer'],
  boolean: ['bool_type', 'Input should be a valid boolean'],
  array: ['list_type', 'Input should be a valid list'],
  object: ['dict_type', 'Input should be a valid dictionary'],
};

/**
 * Deepest JSON nesting a /process body may have (the body object is level 1). The contract's own fields reach
 * level 4 (`detections[i].bbox`); the rest is headroom for `config` keys we ignore. Checked iteratively before
 * ajv or anything else that recurses sees the body (10,000 levels overflowed the stack of the recursive
 * validators).
 */
export const MAX_JSON_DEPTH = 64;

/** Keeps echoed inputs small: long strings are cut, big or deeply nested structures left out. */
function compactInput(value: unknown): unknown {
  if (typeof value === 'string') return value.length > 200 ? `${value.slice(0, 200)}…` : value;
  if (value !== null && typeof value === 'object') {
    if (findTooDeep(value, MAX_JSON_DEPTH) !== null) return undefined;
    const json = JSON.stringify(value);
    return json.length > 1000 ? undefined : value;
  }
  return value;
}

function pointerToLoc(pointer: string): (string | number)[] {
  if (pointer === '') return ['body'];
  return [
    'body',
    ...pointer
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((p) => (/^\d+$/.test(p) ? Number(p) : p)),
  ];
}

const quoteList = (values: unknown[]): string => {
  const q = values.map((v) => `'${String(v)}'`);
  return q.length <= 1 ? q.join('') : `${q.slice(0, -1).join(', ')} or ${q[q.length - 1]}`;
};

/** Maps one ajv error to the FastAPI shape. */
export function toValidationDetail(err: ErrorObject, input: unknown): ValidationDetail {
  const loc = pointerToLoc(err.instancePath);
  const value = err.instancePath
    .split('/')
    .slice(1)
    .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], input);
  const params = err.params as Record<string, unknown>;
  const detail = (type: string, msg: string, ctx?: Record<string, unknown>): ValidationDetail => {
    const d: ValidationDetail = { type, loc, msg };
    const compact = compactInput(value);
    if (compact !== undefined) d.input = compact;
    if (ctx) d.ctx = ctx;
    return d;
  };
  switch (err.keyword) {
    case 'required':
      return { ...detail('missing', 'Field required'), loc: [...loc, String(params.missingProperty)] };
    case 'type': {
      const expected = String(params.type).split(',')[0];
      const [type, msg] = typeNames[expected] ?? ['type_error', `Input should be of type ${expected}`];
      return detail(type, msg);
    }
    case 'enum': {
      const expected = quoteList(params.allowedValues as unknown[]);
      return detail('literal_error', `Input should be ${expected}`, { expected });
    }
    case 'maxLength':
      return detail('string_too_long', `String should have at most ${String(params.limit)} characters`, {
        max_length: params.limit,
      });
    case 'minLength':
      return detail('string_too_short', `String should have at least ${String(params.limit)} character(s)`, {
        min_length: params.limit,
      });
    case 'maxItems':
      return detail(
        'too_long',
        `List should have at most ${String(params.limit)} items, not ${Array.isArray(value) ? value.length : '?'}`,
        { max_length: params.limit },
      );
    case 'minimum':
      return detail(
        'greater_than_equal',
        `Input should be greater than or equal to ${String(params.limit)}`,
        {
          ge: params.limit,
        },
      );
    case 'maximum':
      return detail('less_than_equal', `Input should be less than or equal to ${String(params.limit)}`, {
        le: params.limit,
      });
    default:
      return detail(err.keyword, err.message ?? 'invalid value');
  }
}

/** Most detail items returned for one request; a 1000-item body should not produce a 1000-item error. */
export const MAX_VALIDATION_DETAILS = 20;

export interface RequestValidator {
  schema: ReturnType<typeof pipelineRequestSchema>;
  /** Returns the narrowed request, or the FastAPI-style problems. */
  validate(body: unknown): { ok: true; value: PipelineRequest } | { ok: false; details: ValidationDetail[] };
}

/** The one detail for a body nested deeper than MAX_JSON_DEPTH; `loc` names the field, not the whole path. */
function tooDeepDetail(path: (string | number)[]): ValidationDetail {
  return {
    type: 'json_too_deep',
    loc: ['body', ...path.slice(0, 3)],
    msg: `JSON nesting is too deep: more than ${MAX_JSON_DEPTH} levels`,
    ctx: { max_depth: MAX_JSON_DEPTH },
  };
}

/** Compiles the /process request schema for the registry's slugs. Call once at startup. */
export function compileRequestValidator(ajv: Ajv, opts: RequestSchemaOptions): RequestValidator {
  const schema = pipelineRequestSchema(opts);
  const fn = ajv.compile<PipelineRequest>(schema);
  return {
    schema,
    validate(body) {
      const deep = findTooDeep(body, MAX_JSON_DEPTH);
      if (deep !== null) return { ok: false, details: [tooDeepDetail(deep.path)] };
      if (fn(body)) return { ok: true, value: body };
      const details = (fn.errors ?? [])
        .slice(0, MAX_VALIDATION_DETAILS)
        .map((e) => toValidationDetail(e, body));
      return { ok: false, details };
    },
  };
}

/** Strict response validators, for tests and the pull worker's pre-post check. */
export interface ResponseValidators {
  info: ValidateFunction;
  readyz: ValidateFunction;
  livez: ValidateFunction;
  process: ValidateFunction;
  error: ValidateFunction;
}

export function compileResponseValidators(ajv: Ajv): ResponseValidators {
  return {
    info: ajv.compile(infoResponseSchema),
    readyz: ajv.compile(readyzResponseSchema),
    livez: ajv.compile(livezResponseSchema),
    process: ajv.compile(pipelineResultsResponseSchema),
    error: ajv.compile(errorResponseSchema),
  };
}
