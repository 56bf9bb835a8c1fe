/**
 * SLOW (about 1 minute; needs the npm registry or a warm npm cache): the runtime stage of Dockerfile.gpu
 * installs `npm ci --omit=dev`; this test proves that those packages are enough for the built service.
 *
 * In a temporary directory: package.json + package-lock.json + .npmrc, `npm ci --omit=dev --ignore-scripts`,
 * the TypeScript compiled there with tsconfig.build.json. Then:
 * 1. every bare `require()` in the compiled service (dist/src) resolves, optional native packages included;
 * 2. the service really starts: buildService with `constant` (main thread) and the default model pipeline in
 *    the inference worker thread (the server's and worker's whole import graph), both ready, closed again.
 * devDependencies (ts-node, typescript, jest...) are absent there, exactly as in the image.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import { builtinModules } from 'module';
import * as os from 'os';
import * as path from 'path';
import { ROOT } from './deploy-files';

jest.setTimeout(300_000);

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let dir = '';

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runtime-deps-'));
  for (const f of ['package.json', 'package-lock.json', '.npmrc'])
    fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
  execFileSync(
    npm,
    [
      'ci',
      '--omit=dev',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--loglevel=error',
    ],
    {
      cwd: dir,
      stdio: 'pipe',
      env: { ...process.env, SCARF_ANALYTICS: 'false' },
    },
  );
  // Compile from this checkout into the temp tree, as the builder stage does (same tsconfig.build.json).
  const tsc = require.resolve('typescript/bin/tsc');
  const r = spawnSync(
    process.execPath,
    [tsc, '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(dir, 'dist')],
    {
      encoding: 'utf8',
    },
  );
  if (!fs.existsSync(path.join(dir, 'dist', 'src', 'bootstrap.js'))) {
    throw new Error(`tsc produced no dist/src/bootstrap.js:\n${r.stdout}${r.stderr}`);
  }
  // The default models: a model pipeline is what starts the inference thread (constant runs without it).
  fs.cpSync(path.join(ROOT, 'models'), path.join(dir, 'models'), { recursive: true });
});

afterAll(() => {
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

function jsFiles(d: string): string[] {
  return fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(d, e.name);
    if (e.isDirectory()) return jsFiles(p);
    return e.name.endsWith('.js') ? [p] : [];
  });
}

it('installs no dev-only package (the lockfile marks them dev: true)', () => {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  const devOnly = Object.entries(lock.packages)
    .filter(([p, e]) => p !== '' && e.dev === true)
    .map(([p]) => p);
  expect(devOnly).toEqual(expect.arrayContaining(['node_modules/typescript', 'node_modules/ts-node']));
  expect(devOnly.filter((p) => fs.existsSync(path.join(dir, p)))).toEqual([]);
});

/** Requires that only run from TypeScript sources (worker-engine.ts boots its worker through ts-node). */
const SOURCE_ONLY = new Set(['ts-node']);

it('resolves every package the compiled service requires', () => {
  const builtins = new Set(builtinModules);
  const missing: string[] = [];
  for (const file of jsFiles(path.join(dir, 'dist', 'src'))) {
    const source = fs.readFileSync(file, 'utf8');
    for (const m of source.matchAll(/require\((['"])([^'"]+)\1\)/g)) {
      const spec = m[2] ?? '';
      if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec) || SOURCE_ONLY.has(spec))
        continue;
      try {
        require.resolve(spec, { paths: [path.dirname(file)] });
      } catch {
        missing.push(`${path.relative(dir, file)}: ${spec}`);
      }
    }
  }
  expect(missing).toEqual([]);
});

it('starts the service (HTTP app + inference worker thread) from production dependencies only', () => {
  const script = `
    const { buildService } = require('./dist/src/bootstrap.js');
    const { defaultConfig } = require('./dist/src/config.js');
    const { createLogger } = require('./dist/src/util/logger.js');
    (async () => {
      const slugs = ['constant', 'tfjs_synthetic_moths_2026'];
      const svc = await buildService(defaultConfig({ enabledPipelines: slugs }), createLogger('error'));
      for (const slug of slugs) await svc.engine.whenReady(slug);
      const b = svc.engine.backend();
      await svc.close();
      process.stdout.write(JSON.stringify({ ready: svc.engine.readySlugs(), backend: b && b.backend }));
    })().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
  `;
  const r = spawnSync(process.execPath, ['-e', script], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
    // The image's TFJS_BACKEND is auto too; tfjs-node(-gpu) has no binary here (--ignore-scripts), so wasm.
    env: { PATH: process.env.PATH ?? '', TFJS_BACKEND: 'auto', NODE_ENV: 'production' },
  });
  expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr }).toEqual({ status: 0, stderr: '' });
  const out = JSON.parse(r.stdout) as { ready: string[]; backend: string };
  expect(out.ready).toEqual(['constant', 'tfjs_synthetic_moths_2026']);
  expect(out.backend).toMatch(/^(wasm|cpu|tensorflow)$/);
});
