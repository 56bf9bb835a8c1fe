#!/usr/bin/env node
/**
 * `npm run inspect -- <model dir | model.json | model.onnx | SavedModel dir> [--json]`: inputs, outputs, op
 * histogram and parameter count, read from the files without running the model.
 */
import { parseArgs } from 'util';
import { formatReport, inspectPath } from '../convert/inspect';

const USAGE = 'Usage: npm run inspect -- <model dir | model.json | model.onnx | SavedModel dir> [--json]';

/** Runs the CLI; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
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
      process.stdout.write(
        parsed.values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report),
      );
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
