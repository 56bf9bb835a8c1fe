import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildCategoryMap, CategoryMapError } from '../../src/convert/category-map';
import { main } from '../../src/cli/convert';

describe('buildCategoryMap', () => {
  it('turns a {label: index} dict into Antenna format, ordered by index', () => {
    const map = buildCategoryMap(
      { 'Noctua pronuba': 1, 'Agrotis exclamationis': 0 },
      { taxonRank: 'SPECIES' },
    );
    expect(map).toEqual({
      data: [
        { index: 0, label: 'Agrotis exclamationis', taxon_rank: 'SPECIES' },
        { index: 1, label: 'Noctua pronuba', taxon_rank: 'SPECIES' },
      ],
      labels: ['Agrotis exclamationis', 'Noctua pronuba'],
      version: null,
      description: null,
      uri: null,
    });
  });

  it('takes a plain list in output order, without taxon_rank unless asked', () => {
    const map = buildCategoryMap(['moth', 'nonmoth'], {
      version: '2024-01',
      uri: 'https://example.org/labels',
    });
    expect(map.data).toEqual([
      { index: 0, label: 'moth' },
      { index: 1, label: 'nonmoth' },
    ]);
    expect(map.version).toBe('2024-01');
    expect(map.uri).toBe('https://example.org/labels');
  });

  it('takes the inverse {"index": label} dict', () => {
    expect(buildCategoryMap({ '1': 'b', '0': 'a' }).labels).toEqual(['a', 'b']);
  });

  it('re-validates an Antenna category map and keeps its ranks', () => {
    const input = {
      data: [{ index: 0, label: 'a', taxon_rank: 'GENUS' }],
      labels: ['a'],
      version: 'v1',
      description: null,
      uri: null,
    };
    expect(buildCategoryMap(input)).toEqual(input);
  });

  it.each([
    ['a gap', { a: 0, b: 2 }, 'labels: "b" has index 2; indices must be 0..1'],
    ['a duplicate index', { a: 0, b: 0 }, 'labels: index 0 is used by both "a" and "b"'],
    ['a non-integer index', { a: 0, b: 1.5 }, 'labels: "b" has index 1.5, not an integer'],
    ['a negative index', { a: -1, b: 0 }, 'labels: "a" has index -1; indices must be 0..1'],
    ['a string index', { a: '0' }, 'labels: "a" maps to "0"; expected an integer index'],
    ['a duplicate label in a list', ['a', 'b', 'a'], 'labels: label "a" appears at index 0 and 2'],
    ['a non-string list entry', ['a', 3], 'labels: entry 1 is 3, not a string'],
    ['an empty list', [], 'labels: no labels'],
    ['a number', 42, 'labels: expected {label: index}, a list of labels, or a category map'],
  ])('rejects %s', (_name, input, message) => {
    expect(() => buildCategoryMap(input)).toThrow(new CategoryMapError(message));
  });
});

describe('convert category-map CLI', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'catmap-'));
  });
  afterAll(async () => {
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  it('writes the map with --out and exits 0', async () => {
    const labels = path.join(tmp, 'labels.json');
    await fsp.writeFile(labels, JSON.stringify({ 'Species B': 1, 'Species A': 0 }));
    const out = path.join(tmp, 'category_map.json');
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['category-map', labels, '--taxon-rank', 'SPECIES', '--out', out])).toBe(0);
    } finally {
      stderr.mockRestore();
    }
    const map = JSON.parse(await fsp.readFile(out, 'utf8'));
    expect(map.labels).toEqual(['Species A', 'Species B']);
    expect(map.data[1]).toEqual({ index: 1, label: 'Species B', taxon_rank: 'SPECIES' });
  });

  it('exits 1 with the reason for bad indices, 2 for bad usage', async () => {
    const labels = path.join(tmp, 'bad.json');
    await fsp.writeFile(labels, JSON.stringify({ a: 0, b: 3 }));
    const lines: string[] = [];
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation((s) => {
      lines.push(String(s));
      return true;
    });
    try {
      expect(await main(['category-map', labels])).toBe(1);
      expect(await main(['category-map'])).toBe(2);
      expect(await main(['onnx', 'model.onnx'])).toBe(2);
    } finally {
      stderr.mockRestore();
    }
    expect(lines[0]).toBe(`error: ${labels}: "b" has index 3; indices must be 0..1\n`);
    expect(lines[1]).toContain('error: category-map needs exactly one labels file');
    expect(lines[2]).toContain('error: onnx needs --out <model directory>');
  });
});
