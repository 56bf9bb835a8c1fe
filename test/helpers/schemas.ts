/** Strict response schemas: every response body a test sees is checked against them. */
import * as fs from 'fs';
import * as path from 'path';
import { compileResponseValidators, createAjv } from '../../src/contract/validators';

const validators = compileResponseValidators(createAjv());

export type ResponseKind = keyof typeof validators;

/** Asserts `body` matches the strict schema of `kind`, printing ajv's errors when it does not. */
export function expectSchema(kind: ResponseKind, body: unknown): void {
  const validate = validators[kind];
  const ok = validate(body);
  if (!ok)
    throw new Error(
      `response does not match the ${kind} schema: ${JSON.stringify(validate.errors, null, 1)}`,
    );
}

/** Reads a fixture: the test copy (test/fixtures/antenna) of a file in ../shared/fixtures. */
export function fixture<T = unknown>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8')) as T;
}

/** The vendored copies, and where their authority lives (beside the checkout, when present). */
export const FIXTURES = path.join(__dirname, '..', 'fixtures', 'antenna');
export const SHARED_FIXTURES = path.join(__dirname, '..', '..', '..', 'shared', 'fixtures');

/** The shape of a JSON value: keys (sorted) and types, recursively, with arrays reduced to their first element. */
export function jsonShape(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? [] : [jsonShape(value[0])];
  if (value === null) return null;
  if (typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, jsonShape(v)]),
    );
  }
  return typeof value;
}
