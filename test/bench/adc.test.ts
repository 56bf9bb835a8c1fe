/**
 * The ADC comparison's guards (bench/adc.ts): it skips with a reason rather than failing where ADC or its files
 * are missing, and its import cache is keyed on the checkpoint folder's contents. The comparison itself needs
 * ADC's checkout and Python stack; it is run by `npm run bench:adc` (docs/benchmarks.md).
 */
import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { adcUnavailable, folderKey } from '../../bench/adc';

let dir: string;
beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'adc-bench-'));
});
afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('adcUnavailable', () => {
  it('names ADC_SOURCE when it is not set', () => {
    expect(adcUnavailable({ ADC_CHECKPOINTS: dir })).toBe(
      'ADC_SOURCE (a checkout of RolnickLab/ami-data-companion) is not set',
    );
  });

  it('refuses a folder that is not an ADC checkout', () => {
    expect(adcUnavailable({ ADC_SOURCE: dir, ADC_CHECKPOINTS: dir })).toBe(
      `ADC_SOURCE=${dir} is not an ADC checkout (no trapdata/api/api.py)`,
    );
  });

  it('names ADC_CHECKPOINTS when it is missing or not a folder', async () => {
    await fsp.mkdir(path.join(dir, 'trapdata', 'api'), { recursive: true });
    await fsp.writeFile(path.join(dir, 'trapdata', 'api', 'api.py'), '');
    expect(adcUnavailable({ ADC_SOURCE: dir })).toMatch(/^ADC_CHECKPOINTS .* is not set$/);
    const file = path.join(dir, 'trapdata', 'api', 'api.py');
    expect(adcUnavailable({ ADC_SOURCE: dir, ADC_CHECKPOINTS: file })).toBe(
      `ADC_CHECKPOINTS=${file} is not a folder`,
    );
  });
});

describe('folderKey', () => {
  it('is stable for the same files and changes when one of them changes', async () => {
    await fsp.writeFile(path.join(dir, 'a.pt'), 'weights');
    const first = await folderKey(dir);
    expect(await folderKey(dir)).toBe(first);
    expect(first).toMatch(new RegExp(`^${path.basename(dir)}-[0-9a-f]{12}$`));
    await fsp.writeFile(path.join(dir, 'a.pt'), 'other weights');
    expect(await folderKey(dir)).not.toBe(first);
  });
});
