/**
 * The configuration docs agree with `settings` (src/config.ts): .env.example, and the README table between
 * the `<!-- config-table:start -->` / `<!-- config-table:end -->` markers (a missing marker is a failure).
 * Fix a failure with `npx ts-node --transpile-only scripts/render-config-docs.ts --env-example` (and
 * `--readme`, which rewrites the table between the README markers).
 */
import { renderDefault, settings } from '../../src/config';
import {
  TABLE_END,
  TABLE_START,
  imageDefaults,
  renderConfigTable,
  renderEnvExample,
} from '../../scripts/render-config-docs';
import { repoFile, repoFileOrNull } from './deploy-files';

const all = Object.values(settings);

/** The cells of a markdown table, trimmed; separator cells normalised to `---`. */
function tableCells(markdown: string): string[][] {
  return markdown
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('|'))
    .map((l) =>
      l
        .slice(1, l.endsWith('|') ? -1 : undefined)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim())
        .map((c) => (/^:?-+:?$/.test(c) ? '---' : c)),
    );
}

describe('.env.example', () => {
  const text = repoFile('.env.example');

  it('is exactly what scripts/render-config-docs.ts --env-example generates', () => {
    expect(text).toBe(renderEnvExample());
  });

  it('lists every setting once, commented out at its default, under its doc line', () => {
    const lines = text.split('\n');
    for (const s of all) {
      const at = lines.flatMap((l, i) => (l.startsWith(`# ${s.env}=`) ? [i] : []));
      expect({ env: s.env, count: at.length }).toEqual({ env: s.env, count: 1 });
      const i = at[0] ?? 0;
      expect(lines[i]).toBe(`# ${s.env}=${renderDefault(s)}`);
      const above = lines.slice(Math.max(0, i - 2), i);
      expect(above).toContain(`# ${s.doc}`);
    }
  });

  it('names no variable that is not a setting in the settings section', () => {
    const section = text.slice(0, text.indexOf('# ---- docker compose only'));
    const names = [...section.matchAll(/^# ([A-Za-z_][A-Za-z0-9_]*)=/gm)].map((m) => m[1]);
    expect(names.sort()).toEqual(all.map((s) => s.env).sort());
  });

  it('notes the image defaults only for real settings', () => {
    const envs = new Set(all.map((s) => s.env));
    for (const name of Object.keys(imageDefaults)) expect(envs.has(name)).toBe(true);
  });
});

describe('README configuration table', () => {
  const readme = repoFileOrNull('README.md');
  const hasMarkers = readme !== null && readme.includes(TABLE_START) && readme.includes(TABLE_END);
  const table = renderConfigTable();

  it('has one row per setting, in order, with its default and doc', () => {
    const rows = table.trimEnd().split('\n').slice(2);
    expect(rows.map((r) => /^\| `([^`]+)`/.exec(r)?.[1])).toEqual(all.map((s) => s.env));
  });

  // A drift test never turns into a skip: without the markers there is nothing to keep in step, so that fails.
  it('matches the table between the config-table markers in README.md', () => {
    if (!hasMarkers) {
      throw new Error(
        `README.md must carry the ${TABLE_START} and ${TABLE_END} markers around the configuration table ` +
          '(generate it with `npx ts-node --transpile-only scripts/render-config-docs.ts --readme`)',
      );
    }
    const current = readme ?? '';
    const between = current.slice(
      current.indexOf(TABLE_START) + TABLE_START.length,
      current.indexOf(TABLE_END),
    );
    // Compared cell by cell, so that prettier's column alignment in README.md does not matter.
    const have = tableCells(between).map((r) => r.join(' | '));
    const want = tableCells(table).map((r) => r.join(' | '));
    const row = want.findIndex((w, i) => have[i] !== w);
    if (row >= 0 || have.length !== want.length) {
      throw new Error(
        'README.md config table differs from src/config.ts; regenerate it with ' +
          '`npx ts-node --transpile-only scripts/render-config-docs.ts --readme`.\n' +
          `first difference at table row ${row >= 0 ? row + 1 : want.length + 1}:\n` +
          `  README:    ${have[row >= 0 ? row : want.length] ?? '(missing)'}\n` +
          `  expected:  ${want[row] ?? '(no more rows)'}`,
      );
    }
  });
});
