/**
 * Readers for the deployment files (Dockerfile.gpu, docker-compose.yml, .env.example, docs) shared by the
 * test/deploy suites. Parsing is deliberately small: only the constructs these files use.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { settings } from '../../src/config';
import { composeVariables, runtimeVariables } from '../../scripts/render-config-docs';

export const ROOT = path.resolve(__dirname, '..', '..');

export function repoFile(name: string): string {
  return fs.readFileSync(path.join(ROOT, name), 'utf8');
}

export function repoFileOrNull(name: string): string | null {
  const p = path.join(ROOT, name);
  return fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : null;
}

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, ENV, ... */
  keyword: string;
  args: string;
  /** 1-based line of the keyword. */
  line: number;
}

/** Dockerfile instructions with `\` continuations joined and comment lines dropped. */
export function dockerInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let current: Instruction | null = null;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (current === null) {
      if (line.trim() === '' || line.trimStart().startsWith('#')) return;
      const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(line);
      if (!m) throw new Error(`Dockerfile line ${i + 1}: cannot parse "${line}"`);
      current = { keyword: (m[1] ?? '').toUpperCase(), args: '', line: i + 1 };
      const rest = m[2] ?? '';
      current.args = rest.endsWith('\\') ? rest.slice(0, -1) : rest;
      if (!rest.endsWith('\\')) {
        out.push(current);
        current = null;
      }
      return;
    }
    // Inside a continuation, comment lines are skipped as Docker does.
    if (line.trimStart().startsWith('#')) return;
    const cont = line.endsWith('\\');
    current.args += ' ' + (cont ? line.slice(0, -1) : line).trim();
    if (!cont) {
      out.push(current);
      current = null;
    }
  });
  return out;
}

/** The stages of a multi-stage Dockerfile, by `AS` name (the last stage is the runtime image). */
export function dockerStages(instructions: Instruction[]): { name: string; instructions: Instruction[] }[] {
  const stages: { name: string; instructions: Instruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /\sAS\s+(\S+)/i.exec(ins.args);
      stages.push({ name: m?.[1] ?? `stage${stages.length}`, instructions: [] });
    }
    stages[stages.length - 1]?.instructions.push(ins);
  }
  return stages;
}

/** `ENV A=1 B=2` pairs of the given instructions (values in our Dockerfile contain no spaces). */
export function envOf(instructions: Instruction[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const ins of instructions.filter((i) => i.keyword === 'ENV')) {
    for (const pair of ins.args.trim().split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new Error(`ENV on line ${ins.line}: expected NAME=value, got "${pair}"`);
      env.set(pair.slice(0, eq), pair.slice(eq + 1).replace(/^"(.*)"$/, '$1'));
    }
  }
  return env;
}

/**
 * Parses YAML with js-yaml, which the dev tree already holds (through eslint); docker-compose.yml needs only
 * the JSON-compatible subset plus anchors and merge keys, which js-yaml resolves.
 */
export function parseYaml(text: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const yaml = require('js-yaml') as { load(text: string): unknown };
  return yaml.load(text);
}

export type Yaml = Record<string, unknown>;

export function asObject(v: unknown, what: string): Yaml {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what}: expected a mapping`);
  return v as Yaml;
}

/** Every `${NAME}`, `${NAME:-default}` or `${NAME-default}` in a compose file, with its default. */
export function composeSubstitutions(text: string): { name: string; default: string | null }[] {
  return [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g)].map((m) => ({
    name: m[1] ?? '',
    default: m[2] ?? null,
  }));
}

/** Setting names from src/config.ts. */
export const settingNames: ReadonlySet<string> = new Set(Object.values(settings).map((s) => s.env));

/**
 * Variables that are not service settings but may legitimately appear in ENV, `environment:` or docs:
 * CUDA/TF runtime variables, compose substitutions, build-time mirrors and the few the image sets itself.
 */
export const knownOtherVariables: ReadonlySet<string> = new Set([
  ...runtimeVariables.map((v) => v.name),
  ...composeVariables.map((v) => v.name),
  'NODE_ENV',
  'SCARF_ANALYTICS',
  'NVIDIA_VISIBLE_DEVICES',
  'NVIDIA_DRIVER_CAPABILITIES',
]);

/** Resolves an executable on PATH or in node_modules/.bin; null when absent. */
export function findTool(name: string): string | null {
  const local = path.join(ROOT, 'node_modules', '.bin', name);
  if (fs.existsSync(local)) return local;
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : null;
}
