/**
 * Renders the README's error tables from the catalogue in src/errors.ts.
 *
 *   ts-node --transpile-only scripts/render-error-docs.ts          # print both tables
 *   ts-node --transpile-only scripts/render-error-docs.ts --write  # rewrite them in README.md
 *
 * test/docs.test.ts fails when README.md drifts from the catalogue.
 */
import * as fs from 'fs';
import * as path from 'path';
import { errorCatalogue, imageErrorCatalogue } from '../src/errors';
import { projectRoot } from '../src/util/paths';

const cell = (s: string): string => s.replace(/\|/g, '\\|');

export function errorTable(): string {
  return [
    '| code | status | meaning | what to do |',
    '| --- | --- | --- | --- |',
    ...Object.entries(errorCatalogue).map(
      ([code, e]) => `| \`${code}\` | ${e.status} | ${cell(e.meaning)} | ${cell(e.fix)} |`,
    ),
  ].join('\n');
}

export function imageErrorTable(): string {
  return [
    '| code | meaning |',
    '| --- | --- |',
    ...Object.entries(imageErrorCatalogue).map(([code, m]) => `| \`${code}\` | ${cell(m)} |`),
  ].join('\n');
}

/** Replaces the text between `<!-- name:start -->` and `<!-- name:end -->`. */
export function replaceBetween(doc: string, name: string, body: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) throw new Error(`README.md has no ${start} … ${end} block`);
  return `${doc.slice(0, i + start.length)}\n${body}\n${doc.slice(j)}`;
}

/** The text between the markers, trimmed. */
export function between(doc: string, name: string): string {
  const start = `<!-- ${name}:start -->`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(`<!-- ${name}:end -->`);
  if (i < 0 || j < i) return '';
  return doc.slice(i + start.length, j).trim();
}

if (require.main === module) {
  if (process.argv.includes('--write')) {
    const file = path.join(projectRoot(), 'README.md');
    let doc = fs.readFileSync(file, 'utf8');
    doc = replaceBetween(doc, 'error-table', errorTable());
    doc = replaceBetween(doc, 'image-error-table', imageErrorTable());
    fs.writeFileSync(file, doc);
  } else {
    process.stdout.write(`${errorTable()}\n\n${imageErrorTable()}\n`);
  }
}
