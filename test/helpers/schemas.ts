/** Strict response schemas: every response body a test sees is checked against them. */
import { compileResponseValidators, createAjv } from '../../src/contract/validators';

const validators = compileResponseValidators(createAjv());

export type ResponseKind = keyof typeof validators;

/** Asserts `body` matches the strict schema of `kind`, printing ajv's errors when it does not. */
export function expectSchema(kind: ResponseKind, body: unknown): void {
  const validate = validators[kind];
  const ok = validate(body);
  if (!ok) throw new Error(`response does not match the ${kind} schema: ${JSON.stringify(validate.errors, null, 1)}`);
}

/** Reads a fixture from ../shared/fixtures. */
export function fixture<T = unknown>(name: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('fs') as typeof import('fs');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const path = require('path') as typeof import('path');
  return JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'shared', 'fixtures', name), 'utf8')) as T;
}
