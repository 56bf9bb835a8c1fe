/**
 * The Python that reads ADC's checkpoints for `npm run import-adc`: one that imports torch, torchvision and timm,
 * found or set up on first use.
 *
 * Where it looks, in order: ADC_PYTHON (used as given, never changed); the managed venv (ADC_VENV_DIR, default
 * `$XDG_CACHE_HOME/antenna-adc-import/venv`); `python3` on PATH; `/usr/bin/python3`. If none has all three, it
 * makes the managed venv: from a Python with torch and torchvision (installing Debian's python3-torch and
 * python3-torchvision with apt-get where none has them), with --system-site-packages so it sees them, plus timm
 * with --no-deps. PyPI's torch wheels would do on a machine that can reach PyPI, but the wheel indexes of our
 * machines hold only CUDA builds, whose CUDA libraries they lack; Debian's CPU build of torch 1.13 runs everything
 * ADC's models need (scripts/adc/run-adc.sh serves ADC itself on it). timm's own requirements would pull such a torch
 * over Debian's, and timm builds these models without any of them (huggingface_hub and safetensors are for
 * downloading pretrained weights), hence --no-deps.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runCommand, runSetupStep } from '../../util/run-command';

/** What the import needs from Python, and where it stops when it cannot have it. */
export class PythonSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PythonSetupError';
  }
}

/** The timm release installed into the managed venv: known to build ADC's models on torch 1.13 and newer. */
export const TIMM_SPEC = 'timm==1.0.29';

/** Settings, all environment variables (README "Moving from ADC"). */
export interface PythonSettings {
  /** ADC_PYTHON: use this interpreter, as it is. */
  python: string | null;
  /** ADC_VENV_DIR: the managed venv. */
  venvDir: string;
  /** ADC_PIP_INDEX: pip's --index-url for timm; null: pip's own configuration. */
  pipIndex: string | null;
}

export function pythonSettings(env: NodeJS.ProcessEnv = process.env): PythonSettings {
  const blank = (v: string | undefined): string | null => (v && v.trim() !== '' ? v.trim() : null);
  const cacheHome = blank(env.XDG_CACHE_HOME) ?? path.join(os.homedir(), '.cache');
  return {
    python: blank(env.ADC_PYTHON),
    venvDir: blank(env.ADC_VENV_DIR) ?? path.join(cacheHome, 'antenna-adc-import', 'venv'),
    pipIndex: blank(env.ADC_PIP_INDEX),
  };
}

/** The versions a Python reports through `export-onnx.py --versions`. */
export interface PythonVersions {
  python: string;
  torch: string;
  torchvision: string;
  timm: string;
}

/** A Python that can run the export, and where it was found. */
export interface PythonEnv {
  python: string;
  versions: PythonVersions;
  /** How it was found, for the progress line: "ADC_PYTHON", "the managed venv", "python3 on PATH", ... */
  source: string;
}

/** `python --versions` through the export script: the versions, or why they could not be had. */
async function probe(
  python: string,
  script: string,
  run: typeof runCommand,
): Promise<{ versions: PythonVersions } | { error: string }> {
  const r = await run(python, [script, '--versions']);
  if (r.status === 0) {
    try {
      return { versions: JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as PythonVersions };
    } catch {
      return { error: `printed ${JSON.stringify(r.stdout.slice(0, 200))}` };
    }
  }
  return { error: r.stderr.trim().split('\n').pop() || `exit status ${r.status}` };
}

const venvPython = (dir: string): string => path.join(dir, 'bin', 'python');

/**
 * Where a Python for the export is looked for, in order, with how each is named in progress lines: ADC_PYTHON
 * alone when set; else the managed venv, `python3` on PATH and `/usr/bin/python3` (those paths that exist).
 */
export function pythonCandidates(settings: PythonSettings): [string, string][] {
  if (settings.python) return [[settings.python, 'ADC_PYTHON']];
  const candidates: [string, string][] = [
    [venvPython(settings.venvDir), `the managed venv ${settings.venvDir}`],
    ['python3', 'python3 on PATH'],
    ['/usr/bin/python3', '/usr/bin/python3'],
  ];
  return candidates.filter(([python]) => !python.includes('/') || fs.existsSync(python));
}

/**
 * Finds a Python that imports torch, torchvision and timm without changing anything; null when there is none.
 * ADC_PYTHON, when set, is the only candidate, and one that lacks a module is an error naming it.
 */
export async function findPython(
  settings: PythonSettings,
  script: string,
  run: typeof runCommand = runCommand,
): Promise<PythonEnv | null> {
  if (settings.python) {
    const r = await probe(settings.python, script, run);
    if ('error' in r) {
      throw new PythonSetupError(
        `ADC_PYTHON=${settings.python} cannot run the export ` +
          `(it needs torch >= 1.13, torchvision and timm): ${r.error}`,
      );
    }
    return { python: settings.python, versions: r.versions, source: 'ADC_PYTHON' };
  }
  for (const [python, source] of pythonCandidates(settings)) {
    const r = await probe(python, script, run);
    if ('versions' in r) return { python, versions: r.versions, source };
  }
  return null;
}

/** How setup reports progress and runs commands; tests replace `run`. */
export interface SetupIo {
  log: (line: string) => void;
  detail: (line: string) => void;
  run?: typeof runCommand;
  /** process.getuid, where the platform has it. */
  uid?: number;
}

/** True when `python -c code` exits 0. */
async function pythonCan(python: string, code: string, run: typeof runCommand): Promise<boolean> {
  return (await run(python, ['-c', code])).status === 0;
}

/** Runs a setup command, showing its output as details; throws naming the command on failure. */
async function setupStep(command: string, args: string[], io: SetupIo, what: string): Promise<void> {
  const failure = await runSetupStep(command, args, io.detail, io.run);
  if (failure !== null)
    throw new PythonSetupError(`${what} failed (${command} ${args.join(' ')}): ${failure}`);
}

/**
 * Installs Debian's torch and torchvision (and venv support) with apt-get, when the machine is Debian-like and
 * this process may: root, with apt-get on PATH. Otherwise throws saying what to install or set.
 */
async function installDebianTorch(io: SetupIo): Promise<void> {
  const run = io.run ?? runCommand;
  const hasApt = (await run('sh', ['-c', 'command -v apt-get'])).status === 0;
  const packages = ['python3-torch', 'python3-torchvision', 'python3-venv'];
  const manual =
    'Install them (Debian/Ubuntu: apt-get install ' +
    `${packages.join(' ')}), or point ADC_PYTHON at a Python that imports torch, torchvision and timm.`;
  if (!hasApt)
    throw new PythonSetupError(
      `no Python here imports torch and torchvision, and there is no apt-get. ${manual}`,
    );
  if (io.uid !== 0) {
    throw new PythonSetupError(
      "no Python here imports torch and torchvision, and installing Debian's needs root " +
        `(this runs as uid ${io.uid ?? '?'}). ${manual}`,
    );
  }
  io.log(`installing Debian's ${packages.join(', ')} with apt-get (about 1 GB)`);
  await setupStep('apt-get', ['update', '-qq'], io, 'apt-get update');
  await setupStep(
    'apt-get',
    ['install', '-y', '-qq', '--no-install-recommends', ...packages],
    io,
    'apt-get install',
  );
}

/**
 * Finds a Python for the export, or makes the managed venv: a Python with torch and torchvision as its base
 * (Debian's, installed when none has them), --system-site-packages, then timm with --no-deps.
 */
export async function ensurePython(
  settings: PythonSettings,
  script: string,
  io: SetupIo,
): Promise<PythonEnv> {
  const run = io.run ?? runCommand;
  const found = await findPython(settings, script, run);
  if (found) return found;
  io.log(`no Python here imports torch, torchvision and timm: setting up ${settings.venvDir}`);
  const withTorch = 'import torch, torchvision';
  let base: string | null = null;
  for (const python of ['python3', '/usr/bin/python3']) {
    if (await pythonCan(python, withTorch, run)) {
      base = python;
      break;
    }
  }
  if (base === null) {
    await installDebianTorch(io);
    base = '/usr/bin/python3';
    if (!(await pythonCan(base, withTorch, run))) {
      throw new PythonSetupError(
        `apt-get installed python3-torch and python3-torchvision, but ${base} cannot import them`,
      );
    }
  }
  if (!(await pythonCan(base, 'import ensurepip, venv', run))) {
    if (base !== '/usr/bin/python3') {
      throw new PythonSetupError(
        `${base} imports torch but cannot make a venv (no ensurepip); install its venv support`,
      );
    }
    await installDebianTorch(io); // python3-venv is among its packages
  }
  io.log(`creating the venv from ${base} (it sees that Python's torch and torchvision)`);
  fs.rmSync(settings.venvDir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(settings.venvDir), { recursive: true });
  await setupStep(base, ['-m', 'venv', '--system-site-packages', settings.venvDir], io, 'creating the venv');
  io.log(
    `installing ${TIMM_SPEC} with pip --no-deps${settings.pipIndex ? ` from ${settings.pipIndex}` : ''}`,
  );
  const pip = ['-m', 'pip', 'install', '--no-deps', '--progress-bar', 'off', TIMM_SPEC];
  if (settings.pipIndex) pip.push('--index-url', settings.pipIndex);
  await setupStep(venvPython(settings.venvDir), pip, io, `installing ${TIMM_SPEC}`);
  const r = await probe(venvPython(settings.venvDir), script, run);
  if ('error' in r)
    throw new PythonSetupError(`the new venv ${settings.venvDir} cannot run the export: ${r.error}`);
  return {
    python: venvPython(settings.venvDir),
    versions: r.versions,
    source: `the managed venv ${settings.venvDir}`,
  };
}
