/**
 * How `npm run native` ends where it cannot build: CI skips its native tier when no TensorFlow wheel can be had
 * (exit status 3: no python3, or pip finds none) and fails on anything else (status 1).
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EXIT_NO_WHEEL } from '../../src/cli/native-wheel';

const ROOT = path.resolve(__dirname, '../..');

/** Runs src/cli/native.ts with `env` alone (plus HOME); resolves with its exit status and stderr. */
function native(env: Record<string, string>): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'src', 'cli', 'native.ts')],
      { cwd: ROOT, env: { HOME: os.tmpdir(), ...env } },
      (err, _stdout, stderr) => resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

describe('npm run native without a wheel or a build', () => {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'native-exit-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('no python3: exit 3, saying that no wheel can be had', async () => {
    // A PATH with a shell and nothing else.
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
    const { status, stderr } = await native({ PATH: bin, NATIVE_CACHE_DIR: path.join(dir, 'cache') });
    expect(status).toBe(EXIT_NO_WHEEL);
    expect(stderr).toContain(
      'npm run native: no TensorFlow wheel can be had here: python3 is needed to fetch the TensorFlow wheel',
    );
  });

  test("pip finds no wheel: exit 3 with pip's reason", async () => {
    const { status, stderr } = await native({
      PATH: process.env.PATH ?? '',
      NATIVE_CACHE_DIR: path.join(dir, 'cache'),
      TF_PIP_INDEX: `file://${path.join(dir, 'empty-index')}`,
      // Only the index named here: not the machine's configured ones, which hold the wheel.
      PIP_CONFIG_FILE: '/dev/null',
    });
    expect(status).toBe(EXIT_NO_WHEEL);
    expect(stderr).toMatch(
      /npm run native: no TensorFlow wheel can be had here: pip found no tensorflow-cpu==/,
    );
  }, 120_000);

  test('a failure to build is not that: exit 1', async () => {
    const { status, stderr } = await native({
      PATH: process.env.PATH ?? '',
      NATIVE_CACHE_DIR: path.join(dir, 'cache'),
      TF_WHEEL: path.join(dir, 'missing.whl'),
    });
    expect(status).toBe(1);
    // (Or the toolchain it checks first, on a machine without a compiler: a failure as well.)
    expect(stderr).toMatch(/^npm run native: (TF_WHEEL=.* does not exist|building tfjs-node's addon needs)/m);
  });
});
