#!/usr/bin/env node
/**
 * `npm run inspect -- <model dir | model.json | model.onnx | SavedModel dir> [--json]`: inputs, outputs, op
 * histogram, parameter count and weight dtypes, read from the files without running the model. On a model directory
 * the manifest is checked against the model; any mismatch is printed and the exit status is 1. `--run` also loads
 * a model directory as the service does (warm-up checks included) and reports the real output shapes.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { formatReport, inspectPath } from '../convert/inspect';
import { runModelDir } from '../convert/inspect-run';
import { initBackend } from '../tf/backend';

const USAGE =
  'Usage: npm run inspect -- <model dir | model.json | model.onnx | SavedModel dir> [--json] [--run]\n' +
  '  --run   model directories: load and warm up as the service does (TFJS_BACKEND, default wasm), print real output shapes';

/** Runs the CLI; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        run: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (parsed.positionals.length === 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  let status = 0;
  for (const target of parsed.positionals) {
    try {
      const report = await inspectPath(target);
      if (parsed.values.run && (await fsp.stat(path.join(target, 'manifest.json')).catch(() => null))) {
        await initBackend(process.env.TFJS_BACKEND === 'cpu' ? 'cpu' : 'wasm');
        const ran = await runModelDir(target);
        // Keep the signature's "key (node:0)" names; the run knows only node names.
        const label = (node: string): string =>
          report.outputs.find((o) => o.name === node || o.name.endsWith(`(${node}:0)`))?.name ?? node;
        if (ran.outputs.length > 0) report.outputs = ran.outputs.map((o) => ({ ...o, name: label(o.name) }));
        report.details.push([
          'output shapes',
          ran.outputs.length > 0 ? 'measured by running a blank input' : '?',
        ]);
        report.problems.push(...ran.problems);
      }
      process.stdout.write(
        parsed.values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report),
      );
      if (report.problems.length > 0) status = 1;
    } catch (err) {
      process.stderr.write(`error: ${(err as Error).message}\n`);
      status = 1;
    }
  }
  return status;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
