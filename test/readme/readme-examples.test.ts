/**
 * Every `curl` example of README.md (outside the tutorial, which tutorial.test.ts runs) runs, in the order
 * written, against a live service and the sample server of `npm run samples`, and its output has the shape
 * the README shows (see runExample in ./readme.ts). The commands run as pasted in bash with real curl;
 * only the two ports change.
 */
import * as fs from 'fs';
import * as path from 'path';
import { buildService, type Service } from '../../src/bootstrap';
import { defaultConfig } from '../../src/config';
import { createLogger } from '../../src/util/logger';
import {
  README,
  ROOT,
  TUTORIAL_HEADING,
  examples,
  hasCurl,
  type LiveService,
  runExample,
  sectionRange,
  serveLive,
} from './readme';

const [tutorialStart, tutorialEnd] = sectionRange(README, TUTORIAL_HEADING);
const found = [...examples(README, 0, tutorialStart), ...examples(README, tutorialEnd)];
const curl = hasCurl();

/** The pipelines the README's examples show; a pipeline a user adds does not change what they print. */
const SHIPPED = ['constant', 'random-detection-random-species', 'tfjs_synthetic_moths_2026'];

describe('README examples, run as pasted against a live service', () => {
  let svc: Service;
  let live: LiveService;

  beforeAll(async () => {
    svc = await buildService(
      defaultConfig({
        logLevel: 'silent',
        inferenceThread: 'main',
        tfjsBackend: 'wasm',
        enabledPipelines: SHIPPED,
      }),
      createLogger('silent'),
    );
    await Promise.all(svc.info.pipelines.map((p) => svc.engine.whenReady(p.slug)));
    live = await serveLive(svc);
  }, 120_000);

  afterAll(async () => {
    await live?.close();
    await svc?.close();
  });

  test('the README has the examples this test knows about, each with the output it shows', () => {
    expect(found.length).toBeGreaterThanOrEqual(7);
    for (const ex of found)
      expect({ line: ex.line, shown: ex.expected.length > 0 }).toEqual({ line: ex.line, shown: true });
  });

  test('the sample server is introduced before the first example that needs it', () => {
    const introduced = README.indexOf('npm run samples');
    const firstUse = README.indexOf('127.0.0.1:8000');
    expect(introduced).toBeGreaterThan(0);
    expect(introduced).toBeLessThan(firstUse);
  });

  test('every sample the README names ships in samples/ (missing.jpg is missing on purpose, and says so)', () => {
    const named = [...README.matchAll(/(?:127\.0\.0\.1:8000\/|samples\/)([\w.-]+\.jpg)/g)].map((m) => m[1]);
    const shipped = new Set(fs.readdirSync(path.join(ROOT, 'samples')));
    expect(named.filter((f) => f !== 'missing.jpg' && !shipped.has(f))).toEqual([]);
    expect(README).toMatch(/missing on purpose/);
  });

  (curl ? test.each(found) : test.skip.each(found))(
    curl ? 'README line $line' : 'README line $line (SKIPPED: curl is not installed)',
    async (ex) => {
      await runExample(ex, live.port, live.samples.port);
    },
  );
});
