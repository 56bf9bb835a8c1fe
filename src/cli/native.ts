#!/usr/bin/env node
/**
 * `npm run native`: builds the native TensorFlow backend (tfjs-node's addon) against the libtensorflow inside a
 * TensorFlow pip wheel, so that the service runs on libtensorflow where tfjs-node's own install cannot reach
 * Google's storage host, and on a current TensorFlow (2.21, CUDA 12) instead of the 2.9.1 that tfjs-node pins.
 *
 * Steps (each prints one line, and the long ones their progress):
 *   1. toolchain: g++, make, python3, Node's headers and node-gyp, checked before anything is downloaded;
 *   2. the wheel: TF_WHEEL, else `pip download TF_PIP_SPEC` (TF_PIP_INDEX, TF_PYTHON_VERSION), or an installed
 *      TensorFlow package used where it lies (TF_PACKAGE_DIR: the GPU image, whose libraries find NVIDIA's
 *      through paths relative to themselves);
 *   3. libtensorflow: the two shared libraries and the C headers, extracted once into a cache outside
 *      node_modules (NATIVE_CACHE_DIR), so that `npm ci` does not throw 850 MB away;
 *   4. @tensorflow/tfjs-node, installed without its install script (which would try Google's host);
 *   5. its `deps/` linked to the cache, and the addon built with node-gyp (cached too);
 *   6. a check in a fresh process: the service's own backend choice loads it and reports TensorFlow's version
 *      and devices.
 * Run again with nothing changed, it checks and relinks in seconds.
 */
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  cacheKey,
  checkWheel,
  HEADER_PATTERNS,
  LIBRARY_LINKS,
  EXIT_NO_WHEEL,
  NativeBuildError,
  NoWheelError,
  pipFailureMessage,
  WHEEL_INCLUDE_ROOT,
  WHEEL_LIBRARIES,
} from './native-wheel';
import { projectRoot } from '../util/paths';
import { runCommand } from '../util/run-command';

/** The package whose addon is built: the CPU package; its addon runs on whatever libtensorflow it links. */
const PACKAGE = '@tensorflow/tfjs-node';
const DEFAULT_SPEC = 'tensorflow-cpu==2.21.0';

/** The settings of `npm run native`, all environment variables (README, "Native TensorFlow"). */
export interface NativeSettings {
  wheel: string | null;
  packageDir: string | null;
  spec: string;
  index: string | null;
  pythonVersion: string | null;
  cacheDir: string;
}

export function nativeSettings(env: NodeJS.ProcessEnv = process.env): NativeSettings {
  const blank = (v: string | undefined): string | null => (v && v.trim() !== '' ? v.trim() : null);
  const cacheHome = blank(env.XDG_CACHE_HOME) ?? path.join(os.homedir(), '.cache');
  return {
    wheel: blank(env.TF_WHEEL),
    packageDir: blank(env.TF_PACKAGE_DIR),
    spec: blank(env.TF_PIP_SPEC) ?? DEFAULT_SPEC,
    index: blank(env.TF_PIP_INDEX),
    pythonVersion: blank(env.TF_PYTHON_VERSION),
    cacheDir: blank(env.NATIVE_CACHE_DIR) ?? path.join(cacheHome, 'antenna-tfjs-native'),
  };
}

const step = (n: number, text: string): void => {
  process.stderr.write(`[${n}/6] ${text}\n`);
};
const detail = (text: string): void => {
  process.stderr.write(`      ${text}\n`);
};
const seconds = (t0: number): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

const found = (command: string): boolean =>
  spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

interface Toolchain {
  nodeGyp: string;
  nodedir: string;
  python: string;
}

/** Step 1: everything node-gyp needs, found before any download, each absence named with its fix. */
function checkToolchain(): Toolchain {
  if (!found('python3')) {
    throw new NoWheelError(
      'python3 is needed to fetch the TensorFlow wheel with pip and by node-gyp to build the addon, and this ' +
        'machine has none (Debian/Ubuntu: apt-get install python3 python3-pip)',
    );
  }
  const missing = ['g++', 'make'].filter((c) => !found(c));
  if (missing.length > 0) {
    throw new NativeBuildError(
      `building tfjs-node's addon needs a C++ compiler and make, and this machine lacks ${missing.join(', ')}` +
        ' (Debian/Ubuntu: apt-get install g++ make)',
    );
  }
  const candidates = [
    process.env.npm_config_nodedir,
    path.resolve(path.dirname(process.execPath), '..'),
  ].filter((d): d is string => typeof d === 'string' && d !== '');
  const nodedir = candidates.find((d) => fs.existsSync(path.join(d, 'include', 'node', 'node_api.h')));
  if (!nodedir) {
    throw new NativeBuildError(
      `Node's C headers (include/node/node_api.h) are not under ${candidates.join(' or ')}; node-gyp would try ` +
        'to download them. Install them (they come with the official Node tarball) or set npm config nodedir.',
    );
  }
  const gyps = [
    process.env.npm_config_node_gyp,
    path.resolve(
      path.dirname(process.execPath),
      '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    ),
  ].filter((p): p is string => typeof p === 'string' && p !== '');
  const nodeGyp = gyps.find((p) => fs.existsSync(p));
  if (!nodeGyp)
    throw new NativeBuildError(`node-gyp was not found (looked at ${gyps.join(', ')}); run this through npm`);
  return { nodeGyp, nodedir, python: 'python3' };
}

/** Where the wheel's libraries and headers are used from. */
interface LibtensorflowDirs {
  /** Holds libtensorflow_cc.so.2, libtensorflow_framework.so.2 and the LIBRARY_LINKS. */
  lib: string;
  include: string;
  /** Where the built addon is cached for this libtensorflow. */
  addonCache: string;
  /** What it was built from, for the messages. */
  source: string;
}

/**
 * Step 2, pip: downloads the wheel and returns its path. What an earlier run downloaded for the same spec, index
 * and Python version is taken without asking pip again (pip spends seconds reading its indexes even when the
 * file is there); delete the cache's wheels/ to ask again.
 */
async function downloadWheel(settings: NativeSettings, tools: Toolchain): Promise<string> {
  const dir = path.join(settings.cacheDir, 'wheels');
  fs.mkdirSync(dir, { recursive: true });
  const request = [settings.spec, settings.index ?? '', settings.pythonVersion ?? ''].join(' ');
  const memo = path.join(
    dir,
    `request-${createHash('sha256').update(request).digest('hex').slice(0, 12)}.txt`,
  );
  const earlier = fs.existsSync(memo) ? fs.readFileSync(memo, 'utf8').trim() : '';
  if (earlier !== '' && fs.existsSync(earlier)) {
    detail(`${path.basename(earlier)}, downloaded by an earlier run for ${settings.spec}`);
    return earlier;
  }
  const wheel = await pipDownload(settings, tools, dir);
  fs.writeFileSync(memo, `${wheel}\n`);
  return wheel;
}

async function pipDownload(settings: NativeSettings, tools: Toolchain, dir: string): Promise<string> {
  const args = ['-m', 'pip', 'download', '--no-deps', '--progress-bar', 'off', '-d', dir, settings.spec];
  if (settings.index) args.push('--index-url', settings.index);
  if (settings.pythonVersion) args.push('--python-version', settings.pythonVersion, '--only-binary=:all:');
  detail(`pip download ${settings.spec}${settings.index ? ` from ${settings.index}` : ''}`);
  const result = await runCommand(tools.python, args, {
    onLine: (l) => {
      if (/^(Collecting|Downloading|Saved|File was already|Processing)/.test(l.trim())) detail(l.trim());
    },
  });
  if (result.status !== 0) {
    const py = spawnSync(tools.python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])']);
    throw new NoWheelError(
      pipFailureMessage(
        settings.spec,
        result.stderr,
        settings.pythonVersion ?? (py.stdout?.toString().trim() || '?'),
        settings.index,
      ),
    );
  }
  // pip names the file it saved or found; else take the newest wheel in the directory.
  const named = /(?:Saved|File was already downloaded) (\S+\.whl)/.exec(result.stdout + result.stderr)?.[1];
  if (named && fs.existsSync(named)) return path.resolve(named);
  const wheels = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.whl'))
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (!wheels[0]) throw new NativeBuildError(`pip reported success but left no wheel in ${dir}`);
  return wheels[0];
}

/** Step 3: extracts the libraries and headers of `wheel` into the cache, once. */
async function extractWheel(
  wheel: string,
  settings: NativeSettings,
  tools: Toolchain,
): Promise<LibtensorflowDirs> {
  const root = path.join(settings.cacheDir, cacheKey(wheel));
  const dirs = {
    lib: path.join(root, 'lib'),
    include: path.join(root, 'include'),
    addonCache: path.join(root, 'addon'),
    source: path.basename(wheel),
  };
  const stamp = path.join(root, 'complete');
  if (fs.existsSync(stamp)) {
    detail(`libtensorflow already extracted in ${root}`);
    return dirs;
  }
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(dirs.lib, { recursive: true });
  // Python's zipfile, since python3 is needed for node-gyp anyway; one JSON line per member as progress.
  const script = `
import json, os, re, shutil, sys, zipfile
wheel, lib, inc, libs, inc_root, patterns = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), sys.argv[5], json.loads(sys.argv[6])
pats = [re.compile(p) for p in patterns]
with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    missing = [l for l in libs if l not in names]
    if missing:
        print(json.dumps({"missing": missing})); sys.exit(3)
    headers = [n for n in names if n.startswith(inc_root) and any(p.search(n[len(inc_root):]) for p in pats)]
    members = [(l, os.path.join(lib, os.path.basename(l))) for l in libs] + [(h, os.path.join(inc, h[len(inc_root):])) for h in headers]
    total = sum(z.getinfo(m).file_size for m, _ in members)
    done = 0
    for m, dest in members:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(m) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 22)
        done += z.getinfo(m).file_size
        print(json.dumps({"file": m, "done": done, "total": total}), flush=True)
`;
  // The same expressions in Python's dialect, which reads these the same way.
  const patterns = HEADER_PATTERNS.map((p) => p.source.replace(/\\\//g, '/'));
  const t0 = performance.now();
  let lastShown = 0;
  const result = await runCommand(
    tools.python,
    [
      '-c',
      script,
      wheel,
      dirs.lib,
      dirs.include,
      JSON.stringify(WHEEL_LIBRARIES),
      WHEEL_INCLUDE_ROOT,
      JSON.stringify(patterns),
    ],
    {
      onLine: (l) => {
        if (!l.startsWith('{')) return;
        const p = JSON.parse(l) as { file?: string; done?: number; total?: number };
        if (
          p.file &&
          p.done !== undefined &&
          p.total &&
          (p.file.endsWith('.so.2') || performance.now() - lastShown > 2000)
        ) {
          lastShown = performance.now();
          detail(
            `extracted ${p.file.replace(/^tensorflow\/(include\/)?/, '')}: ${Math.round(p.done / 2 ** 20)} of ${Math.round(p.total / 2 ** 20)} MiB`,
          );
        }
      },
    },
  );
  if (result.status === 3) {
    const missing =
      (JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as { missing?: string[] }).missing ?? [];
    fs.rmSync(root, { recursive: true, force: true });
    throw new NativeBuildError(
      `${path.basename(wheel)} has no ${missing.join(' or ')}: it is not a TensorFlow 2.x wheel with the C API inside ` +
        '(tensorflow or tensorflow-cpu 2.16 or later have it)',
    );
  }
  if (result.status !== 0) {
    fs.rmSync(root, { recursive: true, force: true });
    throw new NativeBuildError(
      `extracting ${wheel} failed: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
  linkLibraries(dirs.lib);
  fs.writeFileSync(
    stamp,
    JSON.stringify({ wheel: path.basename(wheel), extracted: new Date().toISOString() }) + '\n',
  );
  detail(`extracted in ${seconds(t0)} into ${root}`);
  return dirs;
}

/** Adds the names binding.gyp links against next to the wheel's two libraries (idempotent). */
function linkLibraries(libDir: string): void {
  for (const [name, target] of Object.entries(LIBRARY_LINKS)) {
    const link = path.join(libDir, name);
    if (fs.existsSync(link) || isLink(link)) {
      if (isLink(link) && fs.readlinkSync(link) === target) continue;
      fs.rmSync(link, { force: true });
    }
    fs.symlinkSync(target, link);
  }
}

function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Step 2/3 for an installed TensorFlow package (TF_PACKAGE_DIR): used where it lies, nothing copied. */
function installedPackage(settings: NativeSettings, packageDir: string): LibtensorflowDirs {
  const dir = path.resolve(packageDir);
  const missing = WHEEL_LIBRARIES.map((l) => path.basename(l)).filter(
    (l) => !fs.existsSync(path.join(dir, l)),
  );
  if (missing.length > 0) {
    throw new NativeBuildError(
      `TF_PACKAGE_DIR=${packageDir} has no ${missing.join(' or ')}: point it at an installed TensorFlow package ` +
        '(…/site-packages/tensorflow) of version 2.16 or later',
    );
  }
  if (!fs.existsSync(path.join(dir, 'include', 'tensorflow', 'c', 'c_api.h'))) {
    throw new NativeBuildError(`TF_PACKAGE_DIR=${packageDir} has no include/tensorflow/c/c_api.h`);
  }
  linkLibraries(dir);
  const real = fs.realpathSync(dir);
  const key = createHash('sha256').update(real).digest('hex').slice(0, 12);
  return {
    lib: dir,
    include: path.join(dir, 'include'),
    addonCache: path.join(settings.cacheDir, `package-${key}`, 'addon'),
    source: real,
  };
}

/** The version of tfjs-node the lockfile pins (package.json's range as a fallback). */
function pinnedVersion(root: string): string {
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
    packages?: Record<string, { version?: string }>;
  };
  const locked = lock.packages?.[`node_modules/${PACKAGE}`]?.version;
  if (locked) return locked;
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    optionalDependencies?: Record<string, string>;
  };
  return (pkg.optionalDependencies?.[PACKAGE] ?? '4.22.0').replace(/^[\^~]/, '');
}

interface PackageJson {
  version: string;
  binary: { module_name: string; module_path: string; napi_versions: number[] };
}

/** Step 4: tfjs-node without its install script, unless this version is already in node_modules. */
async function installPackage(root: string): Promise<{ dir: string; pkg: PackageJson }> {
  const dir = path.join(root, 'node_modules', PACKAGE);
  const version = pinnedVersion(root);
  const read = (): PackageJson | null => {
    try {
      return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as PackageJson;
    } catch {
      return null;
    }
  };
  let pkg = read();
  if (pkg?.version === version && fs.existsSync(path.join(dir, 'binding.gyp'))) {
    detail(`${PACKAGE}@${version} is installed`);
    return { dir, pkg };
  }
  detail(`npm install --no-save --ignore-scripts ${PACKAGE}@${version}`);
  const npm = process.env.npm_execpath;
  const [cmd, args] = npm ? [process.execPath, [npm]] : ['npm', [] as string[]];
  const result = await runCommand(
    cmd,
    [...args, 'install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', `${PACKAGE}@${version}`],
    { cwd: root },
  );
  pkg = read();
  if (result.status !== 0 || !pkg) {
    throw new NativeBuildError(
      `npm could not install ${PACKAGE}@${version}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
  return { dir, pkg };
}

/** The N-API version tfjs-node's addon is built for here: the highest it lists that this Node supports. */
function napiVersion(pkg: PackageJson): number {
  const host = Number(process.versions.napi);
  const usable = pkg.binary.napi_versions.filter((v) => v <= host);
  if (usable.length === 0)
    throw new NativeBuildError(`this Node (N-API ${host}) supports none of ${PACKAGE}'s N-API versions`);
  return Math.max(...usable);
}

/** Points `deps/lib` and `deps/include` of the package at libtensorflow (links, so node_modules stays small). */
function linkDeps(packageDir: string, dirs: LibtensorflowDirs): void {
  const deps = path.join(packageDir, 'deps');
  if (isLink(deps)) fs.rmSync(deps);
  fs.mkdirSync(deps, { recursive: true });
  for (const [name, target] of [
    ['lib', dirs.lib],
    ['include', dirs.include],
  ] as const) {
    const link = path.join(deps, name);
    if (isLink(link) && fs.readlinkSync(link) === target) continue;
    fs.rmSync(link, { recursive: true, force: true });
    fs.symlinkSync(target, link);
  }
}

/** Step 5: the addon, from the cache when this libtensorflow and package version built it before. */
async function buildAddon(
  packageDir: string,
  pkg: PackageJson,
  dirs: LibtensorflowDirs,
  tools: Toolchain,
): Promise<string> {
  const napi = napiVersion(pkg);
  const modulePath = path.resolve(
    packageDir,
    pkg.binary.module_path.replace('{napi_build_version}', String(napi)),
  );
  const addon = path.join(modulePath, `${pkg.binary.module_name}.node`);
  const cached = path.join(dirs.addonCache, `tfjs-node-${pkg.version}-napi-v${napi}.node`);
  if (fs.existsSync(cached)) {
    fs.mkdirSync(modulePath, { recursive: true });
    fs.copyFileSync(cached, addon);
    detail(`addon taken from the cache (${cached})`);
    return addon;
  }
  const t0 = performance.now();
  const log = path.join(dirs.addonCache, `build-${pkg.version}.log`);
  fs.mkdirSync(dirs.addonCache, { recursive: true });
  detail(`node-gyp rebuild (about 15 s; log: ${log})`);
  const result = await runCommand(
    process.execPath,
    [
      tools.nodeGyp,
      'rebuild',
      `--nodedir=${tools.nodedir}`,
      `--napi_build_version=${napi}`,
      `--module_name=${pkg.binary.module_name}`,
      `--module_path=${modulePath}`,
    ],
    {
      cwd: packageDir,
      onLine: (l) => {
        const m = /^\s+(CXX|SOLINK_MODULE)\(target\) (\S+)/.exec(l);
        if (m) detail(`${m[1] === 'CXX' ? 'compiling' : 'linking'} ${path.basename(m[2])}`);
      },
    },
  );
  fs.writeFileSync(log, result.stdout + result.stderr);
  if (result.status !== 0 || !fs.existsSync(addon)) {
    const errors = (result.stdout + result.stderr)
      .split('\n')
      .filter((l) => /error/i.test(l))
      .slice(0, 5)
      .join('\n        ');
    throw new NativeBuildError(`node-gyp failed to build the addon (full log: ${log}):\n        ${errors}`);
  }
  fs.copyFileSync(addon, cached);
  detail(`built in ${seconds(t0)}`);
  return addon;
}

/**
 * An addon without libtensorflow is worse than none: requiring the package registers its kernels before it
 * finds the addon missing. tfjs-node-gpu arrives that way whenever npm installs the optional packages without
 * running their scripts, as step 4 does; remove it unless it has its own addon (Google's install, Docker).
 */
function removeHalfInstalledGpuPackage(root: string): void {
  const gpu = path.join(root, 'node_modules', '@tensorflow', 'tfjs-node-gpu');
  if (!fs.existsSync(gpu)) return;
  const napiDirs = fs.existsSync(path.join(gpu, 'lib'))
    ? fs
        .readdirSync(path.join(gpu, 'lib'))
        .filter((d) => fs.existsSync(path.join(gpu, 'lib', d, 'tfjs_binding.node')))
    : [];
  if (napiDirs.length > 0) return;
  fs.rmSync(gpu, { recursive: true, force: true });
  detail('removed @tensorflow/tfjs-node-gpu, which npm left without an addon');
}

/** What the check in a fresh process reports. */
export interface NativeCheck {
  backend: string;
  package: string;
  tensorflow: string | null;
  gpu: boolean;
  devices: string[];
  sum: number;
}

/**
 * Step 6: loads the backend as the service does (TFJS_BACKEND=tensorflow) in a fresh Node process, with
 * libtensorflow's INFO lines on, to read the devices it created.
 */
async function checkInFreshProcess(root: string): Promise<NativeCheck> {
  const backendModule = path.join(root, 'dist', 'src', 'tf', 'backend.js');
  const script = `
const tf = require('@tensorflow/tfjs');
require(${JSON.stringify(backendModule)}).initBackend('tensorflow').then((choice) => {
  const sum = tf.tidy(() => tf.matMul(tf.ones([64, 64]), tf.ones([64, 64])).sum().dataSync()[0]);
  process.stdout.write(JSON.stringify({ backend: choice.backend, package: choice.package, gpu: choice.gpu,
    tensorflow: choice.tensorflow ?? null, sum }) + '\\n');
}, (err) => { process.stderr.write(String(err.message) + '\\n'); process.exit(1); });
`;
  const result = await runCommand(process.execPath, ['-e', script], {
    cwd: root,
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '0' },
  });
  if (result.status !== 0) {
    throw new NativeBuildError(
      `the addon was built but the service cannot load it: ${result.stderr.trim().split('\n').slice(-4).join(' | ')}`,
    );
  }
  const line = result.stdout.trim().split('\n').pop() ?? '{}';
  const parsed = JSON.parse(line) as Omit<NativeCheck, 'devices'>;
  // TensorFlow logs each device it creates ("Created device /job:localhost/…/device:GPU:0 with … MB memory").
  const devices = [...result.stderr.matchAll(/Created device (\S+)(?: with .*?-> (.*))?$/gm)].map((m) =>
    m[2] ? `${m[1]} (${m[2].trim()})` : m[1],
  );
  return { ...parsed, devices: devices.length > 0 ? devices : ['CPU'] };
}

/** Runs every step; returns what the check reported. */
export async function buildNative(settings: NativeSettings = nativeSettings()): Promise<NativeCheck> {
  const root = projectRoot();
  const t0 = performance.now();
  step(1, 'checking the toolchain (g++, make, python3, Node headers, node-gyp)');
  const tools = checkToolchain();
  detail(`Node ${process.version} headers in ${tools.nodedir}; node-gyp ${tools.nodeGyp}`);

  let dirs: LibtensorflowDirs;
  if (settings.packageDir) {
    step(2, `using the installed TensorFlow package ${settings.packageDir} (TF_PACKAGE_DIR)`);
    step(3, 'libtensorflow stays where pip installed it');
    dirs = installedPackage(settings, settings.packageDir);
  } else {
    let wheel: string;
    if (settings.wheel) {
      step(2, `using the wheel ${settings.wheel} (TF_WHEEL)`);
      if (!fs.existsSync(settings.wheel))
        throw new NativeBuildError(`TF_WHEEL=${settings.wheel} does not exist`);
      wheel = path.resolve(settings.wheel);
    } else {
      step(2, `getting the wheel ${settings.spec} with pip (TF_PIP_SPEC, TF_PIP_INDEX)`);
      wheel = await downloadWheel(settings, tools);
    }
    const name = checkWheel(path.basename(wheel), process.platform, process.arch);
    detail(`${path.basename(wheel)}: ${name.dist} ${name.version} for ${name.platform}`);
    step(3, `extracting libtensorflow into the cache ${settings.cacheDir} (NATIVE_CACHE_DIR)`);
    dirs = await extractWheel(wheel, settings, tools);
  }

  step(4, `installing ${PACKAGE} without its install script`);
  const { dir, pkg } = await installPackage(root);
  removeHalfInstalledGpuPackage(root);

  step(5, `linking ${path.relative(root, path.join(dir, 'deps'))} to libtensorflow and building the addon`);
  linkDeps(dir, dirs);
  const addon = await buildAddon(dir, pkg, dirs, tools);
  detail(path.relative(root, addon));

  step(6, 'loading it in a fresh process, as the service does');
  const check = await checkInFreshProcess(root);
  if (check.sum !== 64 * 64 * 64)
    throw new NativeBuildError(`libtensorflow computed ${check.sum} for a check whose answer is ${64 ** 3}`);
  process.stderr.write(
    `native backend ready in ${seconds(t0)}: TensorFlow ${check.tensorflow ?? '?'} from ${dirs.source}, ` +
      `${check.package}, devices: ${check.devices.join(', ')}${check.gpu ? ' (on the GPU)' : ''}\n` +
      '`npm start` now chooses it (TFJS_BACKEND=auto).\n',
  );
  return check;
}

if (require.main === module) {
  buildNative().then(
    (check) => {
      process.stdout.write(`${JSON.stringify(check)}\n`);
    },
    (err: unknown) => {
      process.stderr.write(
        err instanceof NoWheelError
          ? `npm run native: no TensorFlow wheel can be had here: ${err.message}\n`
          : err instanceof NativeBuildError
            ? `npm run native: ${err.message}\n`
            : `npm run native failed: ${(err as Error).stack}\n`,
      );
      process.exitCode = err instanceof NoWheelError ? EXIT_NO_WHEEL : 1;
    },
  );
}
