/**
 * README's "Add your own pipeline" tutorial, followed literally: its pipeline file passes Prettier, ESLint
 * (type-checked rules) and the type check, serves requests, and "whole image" means the whole image; its
 * registry line fits the real registry; its curl example runs as pasted (see runExample in ./readme.ts).
 *
 * The file is written to test/readme/generated/ (git-ignored) with its relative imports pointed back at
 * src/, and removed afterwards; nothing is written into src/.
 */
import { ESLint } from 'eslint';
import * as fs from 'fs';
import * as path from 'path';
import * as prettier from 'prettier';
import { buildService, type Service } from '../../src/bootstrap';
import { defaultConfig } from '../../src/config';
import type { PipelineDefinition } from '../../src/pipelines/definition';
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

const START = '<!-- tutorial-pipeline:start -->';
const END = '<!-- tutorial-pipeline:end -->';
const [from, to] = sectionRange(README, TUTORIAL_HEADING);
const section = README.slice(from, to);

/** The code of the first ```ts block after `after` in the tutorial section. */
function codeBlock(after: number): string {
  const m = /```ts\n([\s\S]*?)```\n/.exec(section.slice(after));
  if (!m) throw new Error('no ```ts block found in the tutorial');
  return m[1];
}

const pipelineCode = codeBlock(section.indexOf(START));
const registryCode = codeBlock(section.indexOf(END));
const GENERATED = path.join(__dirname, 'generated');
const FILE = path.join(GENERATED, 'whole-image.ts');
const curl = hasCurl();
const found = examples(README, from, to);

describe('README tutorial: a pipeline with its own logic', () => {
  beforeAll(() => {
    fs.mkdirSync(GENERATED, { recursive: true });
    // From src/pipelines/whole-image.ts, '../x' is src/x and './x' is src/pipelines/x.
    const here = pipelineCode
      .replaceAll("from '../", "from '../../../src/")
      .replaceAll("from './", "from '../../../src/pipelines/");
    fs.writeFileSync(FILE, here);
  });
  afterAll(() => fs.rmSync(GENERATED, { recursive: true, force: true }));

  test('the markers and both code blocks are there', () => {
    expect(section).toContain(START);
    expect(section).toContain(END);
    expect(pipelineCode).toContain("definePipeline('acme_whole_image_2026'");
  });

  test('the pipeline file is Prettier-formatted as src/pipelines/whole-image.ts', async () => {
    const filepath = path.join(ROOT, 'src', 'pipelines', 'whole-image.ts');
    const options = (await prettier.resolveConfig(filepath)) ?? {};
    const formatted = await prettier.format(pipelineCode, { ...options, filepath });
    expect(pipelineCode).toBe(formatted);
  });

  test('the pipeline file passes ESLint with the project rules', async () => {
    const eslint = new ESLint({ cwd: ROOT });
    const [result] = await eslint.lintFiles([FILE]);
    expect(result.messages.map((m) => `${m.line}:${m.column} ${m.ruleId ?? ''} ${m.message}`)).toEqual([]);
  }, 120_000);

  test('the registry snippet is the real registry plus one line', () => {
    // Compared without that line on both sides: a user who followed the tutorial has it in registry.ts.
    const without = (text: string) =>
      text
        .split('\n')
        .filter((l) => !l.includes('wholeImagePipeline'))
        .join('\n');
    const registry = fs.readFileSync(path.join(ROOT, 'src', 'pipelines', 'registry.ts'), 'utf8');
    expect(without(registry)).toContain(without(registryCode));
  });

  describe('served', () => {
    let svc: Service;
    let live: LiveService;

    beforeAll(async () => {
      // Type-checked by ts-jest on import, like `npm run typecheck` would.
      const mod = (await import(FILE)) as { wholeImagePipeline: PipelineDefinition };
      svc = await buildService(
        defaultConfig({ logLevel: 'silent', inferenceThread: 'main', tfjsBackend: 'wasm' }),
        createLogger('silent'),
        { registry: [mod.wholeImagePipeline] },
      );
      await svc.engine.whenReady('acme_whole_image_2026');
      live = await serveLive(svc);
    }, 120_000);

    afterAll(async () => {
      await live?.close();
      await svc?.close();
    });

    test('"whole image" means the whole image: one box per image, from corner to corner', async () => {
      const url = live.samples.url('trap-1600x1200.jpg');
      const res = await fetch(`http://127.0.0.1:${live.port}/process`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ pipeline: 'acme_whole_image_2026', source_images: [{ id: 'w', url }] }),
      });
      const body = (await res.json()) as {
        detections: { bbox: unknown; classifications: { terminal: boolean; scores: number[] }[] }[];
      };
      expect(res.status).toBe(200);
      expect(body.detections.map((d) => d.bbox)).toEqual([{ x1: 0, y1: 0, x2: 1600, y2: 1200 }]);
      expect(body.detections[0].classifications.map((c) => c.terminal)).toEqual([true]);
      expect(body.detections[0].classifications[0].scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    });

    test('the tutorial has its example request', () => {
      expect(found.length).toBe(1);
    });

    (curl ? test.each(found) : test.skip.each(found))(
      curl ? 'README line $line' : 'README line $line (SKIPPED: curl is not installed)',
      async (ex) => {
        await runExample(ex, live.port, live.samples.port);
      },
    );
  });
});
