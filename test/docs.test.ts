/**
 * The README's error tables are generated from the catalogue; this keeps them in step. And every citation a
 * reader of a clone meets resolves inside the clone: links into docs/ name real headings, and nothing points at
 * a document beside the repository or at an internal tracker number (say the reason, or link the doc).
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

/** Text files a reader of a clone meets: sources, docs, tests (not their fixture data), benchmarks, scripts. */
function repoTexts(): { file: string; text: string }[] {
  const root = path.join(__dirname, '..');
  const out: { file: string; text: string }[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (rel !== path.join('test', 'fixtures')) walk(rel);
      } else if (/\.(ts|js|mjs|md|py|sh)$/.test(entry.name) || entry.name === 'gpu-smoke') {
        out.push({ file: rel, text: fs.readFileSync(path.join(root, rel), 'utf8') });
      }
    }
  };
  for (const dir of ['src', 'docs', 'test', 'bench', 'scripts']) walk(dir);
  for (const file of [
    'README.md',
    path.join('models', 'README.md'),
    path.join('test', 'fixtures', 'antenna', 'README.md'),
  ])
    out.push({ file, text: fs.readFileSync(path.join(root, file), 'utf8') });
  return out;
}

/** The anchors GitHub gives a markdown file's headings: lowercase, punctuation dropped, spaces to hyphens. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const [, heading] of markdown.matchAll(/^#{1,6} (.+)$/gm)) {
    const base = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-');
    let anchor = base;
    for (let n = 1; anchors.has(anchor); n++) anchor = `${base}-${n}`;
    anchors.add(anchor);
  }
  return anchors;
}

describe('citations resolve inside the repository', () => {
  const texts = repoTexts();

  test('every docs/<page>.md#anchor that is cited names a heading of that page', () => {
    const docs = path.join(__dirname, '..', 'docs');
    const anchors = new Map(
      fs
        .readdirSync(docs)
        .filter((f) => f.endsWith('.md'))
        .map((f) => [f, headingAnchors(fs.readFileSync(path.join(docs, f), 'utf8'))]),
    );
    const cited = texts.flatMap(({ file, text }) =>
      [...text.matchAll(/([\w-]+\.md)#([\w-]+)/g)]
        .filter(([, page]) => anchors.has(page))
        .map(([link, page, anchor]) => ({ file, link, page, anchor })),
    );
    expect(cited.length).toBeGreaterThan(50);
    expect(
      cited.filter((c) => !anchors.get(c.page)!.has(c.anchor)).map((c) => `${c.file}: ${c.link}`),
    ).toEqual([]);
  });

  test('no citation of a protocol document or a tracker number that a clone does not have', () => {
    const outside = /CONTRACT|shared\/CONTRACT\.md|\b[Ii]ssue \d+/;
    const self = path.join('test', 'docs.test.ts'); // its pattern above names what it looks for
    expect(
      texts
        .filter(({ file }) => file !== self)
        .flatMap(({ file, text }) =>
          text
            .split('\n')
            .map((line, i) => ({ line, i }))
            .filter(({ line }) => outside.test(line))
            .map(({ line, i }) => `${file}:${i + 1}: ${line.trim()}`),
        ),
    ).toEqual([]);
  });
});
