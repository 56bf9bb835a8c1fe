/**
 * The README's error tables are generated from the catalogue; this keeps them in step.
 */
import * as fs from 'fs';
import * as path from 'path';
import { between, errorTable, imageErrorTable } from '../scripts/render-error-docs';

const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');

describe('README', () => {
  test('error table matches src/errors.ts (regenerate: ts-node scripts/render-error-docs.ts --write)', () => {
    expect(between(readme, 'error-table')).toBe(errorTable());
  });
  test('per-image error table matches src/errors.ts', () => {
    expect(between(readme, 'image-error-table')).toBe(imageErrorTable());
  });
  test('the quick start has the two commands', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
  });
});
