/**
 * readManifest: a category-map file may leave out Antenna's optional keys; the service still describes the
 * algorithm with every key, as /info's strict schema requires.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describeManifest } from '../../src/algorithms/descriptor';
import { readManifest } from '../../src/models/manifest';
import { compileResponseValidators, createAjv } from '../../src/contract/validators';

const shipped = path.join(__dirname, '..', '..', 'models', 'moth-nonmoth-classifier');

test('optional category-map keys left out of the file are read as null', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'manifest-'));
  fs.copyFileSync(path.join(shipped, 'manifest.json'), path.join(dir, 'manifest.json'));
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { category_map: string };
  fs.writeFileSync(
    path.join(dir, manifest.category_map),
    JSON.stringify({
      data: [
        { index: 0, label: 'moth', taxon_rank: 'SUPERFAMILY' },
        { index: 1, label: 'nonmoth', taxon_rank: 'SUPERFAMILY' },
      ],
      labels: ['moth', 'nonmoth'],
    }),
  );
  const loaded = await readManifest(dir);
  expect(loaded.categoryMap).toMatchObject({ version: null, description: null, uri: null });
  const validators = compileResponseValidators(createAjv());
  const info = {
    name: 'x',
    description: null,
    pipelines: [{ name: 'p', slug: 'p', version: 1, description: null, algorithms: [describeManifest(loaded)], stages: [] }],
  };
  expect(validators.info(info)).toBe(true);
});
