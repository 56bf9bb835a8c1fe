/**
 * A tfjs-node package installed without its addon (what npm leaves wherever Google's storage host is
 * unreachable) is refused before it is required: requiring one registers its ~150 `tensorflow` kernels before it
 * looks for the addon, and the next native package's registration then printed one "already registered" line per
 * kernel. The package here is a copy of the installed tfjs-node without lib/ (where the addon lives), found as
 * tfjs-node-gpu through NODE_PATH by a child process that chooses its backend as the service does.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { nativeBuilt } from '../helpers/backend';

const ROOT = path.resolve(__dirname, '../..');
const run = promisify(execFile);

/** The installed tfjs-node, to copy; null where npm left none. */
function installedTfjsNode(): string | null {
  try {
    return path.dirname(require.resolve('@tensorflow/tfjs-node/package.json', { paths: [ROOT] }));
  } catch {
    return null;
  }
}

/** The service's backend choice, logged as the service logs it, then how many `tensorflow` kernels exist. */
const CHOOSE = `
const tf = require('@tensorflow/tfjs');
const { initBackend } = require('./src/tf/backend');
const { logEngineEvent } = require('./src/bootstrap');
const { createLogger } = require('./src/util/logger');
initBackend('auto').then((choice) => {
  logEngineEvent(createLogger('info'), { type: 'backend', choice, decoder: 'sharp' });
  setTimeout(() => console.log(JSON.stringify({ kernels: tf.getKernelsForBackend('tensorflow').length })), 100);
});
`;

/** What the loader did before it checked for the addon: require each native package in turn. */
const REQUIRE_BOTH = `
for (const name of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
  try { require(name); } catch {}
}
`;

const source = installedTfjsNode();

describe('a tfjs-node package without its addon', () => {
  let dir = '';
  const exec = (script: string): Promise<{ stdout: string; stderr: string }> =>
    run(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? dir,
        // The copies, then this checkout's packages, which the copies require (@tensorflow/tfjs and others).
        NODE_PATH: [path.join(dir, 'node_modules'), path.join(ROOT, 'node_modules')].join(path.delimiter),
        TF_CPP_MIN_LOG_LEVEL: '1',
      },
      maxBuffer: 16 * 1024 * 1024,
    });

  beforeAll(() => {
    if (!source) return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'addonless-'));
    // tfjs-node-gpu, and tfjs-node too where `npm run native` has not built the real one.
    const names = nativeBuilt() ? ['tfjs-node-gpu'] : ['tfjs-node-gpu', 'tfjs-node'];
    for (const name of names) {
      fs.cpSync(source, path.join(dir, 'node_modules', '@tensorflow', name), {
        recursive: true,
        // lib/ holds the addon; deps/ (libtensorflow, where built) and build/ are only the addon's.
        filter: (p) => !['lib', 'deps', 'build'].includes(path.relative(source, p).split(path.sep)[0] ?? ''),
      });
    }
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  (source ? it : it.skip)(
    source
      ? 'is refused without being required: no kernel registered twice, and the backend log says why'
      : 'is refused without being required (SKIPPED: npm installed no @tensorflow/tfjs-node here to copy)',
    async () => {
      // Control: requiring the packages as the loader once did prints the defect in this very layout.
      const before = await exec(REQUIRE_BOTH);
      expect(before.stderr).toMatch(/The kernel '\w+' for backend 'tensorflow' is already registered/);

      const { stdout, stderr } = await exec(CHOOSE);
      expect(stderr).not.toContain('already registered');
      const lines = stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const log = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('TensorFlow.js backend: '));
      // The copy, or an addon-less tfjs-node-gpu npm left in this checkout, which comes first.
      const reasons = log?.reasons as string[];
      expect(reasons[0]).toMatch(
        /^tfjs-node-gpu: installed without its native addon \S+\/tfjs-node-gpu\/lib\/napi-v\d+\/tfjs_binding\.node /,
      );
      if (nativeBuilt()) {
        expect(log).toMatchObject({ backend: 'tensorflow', package: '@tensorflow/tfjs-node' });
      } else {
        expect(log).toMatchObject({ backend: 'wasm' });
        expect(reasons[1]).toMatch(/^tfjs-node: installed without its native addon /);
        // Neither package registered anything.
        expect(lines.at(-1)).toEqual({ kernels: 0 });
      }
    },
    120_000,
  );
});
