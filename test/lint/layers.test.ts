/**
 * The layer rules in eslint.config.mjs bite: each case lints new text under the path of a real file in src/ (so
 * the imports resolve, and a cycle can run back through files on disk) with the project's own configuration,
 * and expects exactly the layer and cycle findings the picture predicts. `npm run lint` proves the tree is clean.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ESLint } from 'eslint';

const root = path.resolve(__dirname, '../..');
const LAYER = 'import-x/no-restricted-paths';
const CYCLE = 'import-x/no-cycle';

interface Case {
  name: string;
  /** A real file in src/, whose text the case replaces. */
  file: string;
  code: string;
  expected: string[];
}

const cases: Case[] = [
  {
    name: 'an upward import (models, floor 2, imports an algorithm helper, floor 3)',
    file: 'src/models/manifest.ts',
    code: "import { softmax } from '../algorithms/softmax';\nexport const s = softmax;\n",
    expected: [LAYER],
  },
  {
    name: 'an upward import that is also a cycle (tf imports the service, which reaches tf through the engine)',
    file: 'src/tf/backend.ts',
    code: "import { ProcessingService } from '../service/processing-service';\nexport const s = ProcessingService;\n",
    expected: [CYCLE, LAYER],
  },
  {
    name: 'an upward import that closes a cycle (the error catalogue imports the error middleware)',
    file: 'src/errors.ts',
    code: "import { errorHandler } from './http/middleware';\nexport const h = errorHandler;\n",
    expected: [CYCLE, LAYER],
  },
  {
    name: 'a type-only upward import (worker imports the Service type from bootstrap)',
    file: 'src/worker/index.ts',
    code: "import type { Service } from '../bootstrap';\nexport type S = Service;\n",
    expected: [LAYER],
  },
  {
    name: 'a sibling on the same floor (http imports the pull worker)',
    file: 'src/http/docs.ts',
    code: "import { PullWorker } from '../worker/pull-worker';\nexport const w = PullWorker;\n",
    expected: [LAYER],
  },
  {
    name: 'the service path importing the converter',
    file: 'src/pipelines/constant.ts',
    code: "import { labelsFrom } from '../convert/category-map';\nexport const l = labelsFrom;\n",
    expected: [LAYER],
  },
  {
    name: 'a cycle inside one layer (a pipeline imports the registry that imports it)',
    file: 'src/pipelines/constant.ts',
    code: "import { registeredPipelines } from './registry';\nexport const r = registeredPipelines;\n",
    expected: [CYCLE],
  },
  {
    name: 'a type-only import back round a loop (erased at runtime, so not a cycle)',
    file: 'src/pipelines/constant.ts',
    code: "import type { registeredPipelines } from './registry';\nexport type R = typeof registeredPipelines;\n",
    expected: [],
  },
  {
    name: 'downward imports (a pipeline uses an algorithm helper and the error catalogue)',
    file: 'src/pipelines/constant.ts',
    code:
      "import { boxArea } from '../algorithms/geometry/box-area';\nimport { ImageError } from '../errors';\n" +
      'export const used = [boxArea, ImageError];\n',
    expected: [],
  },
];

describe('layer and cycle lint rules', () => {
  const eslint = new ESLint({ cwd: root });

  it.each(cases)('$name', async ({ file, code, expected }) => {
    const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
    const found = result.messages
      .map((m) => m.ruleId ?? `fatal: ${m.message}`)
      .filter((id) => id.startsWith('import-x/') || id.startsWith('fatal'))
      .sort();
    expect(found).toEqual(expected);
  });

  it('places every top-level module of src/ on a floor (a new folder cannot slip past the rules)', async () => {
    const config = (await eslint.calculateConfigForFile(path.join(root, 'src/errors.ts'))) as {
      rules: Record<string, [unknown, { zones: { target: string }[] }]>;
    };
    const targets = config.rules[LAYER][1].zones.map((z) => path.relative('src', z.target));
    const modules = fs.readdirSync(path.join(root, 'src')).filter((name) => !name.endsWith('.d.ts'));
    expect(modules.filter((m) => !targets.includes(m))).toEqual([]);
  });
});
