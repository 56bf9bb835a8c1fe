/**
 * The scaling comparisons side by side (docs/benchmarks.md#scaling-on-the-wasm-path), in one process tree:
 * INFERENCE_THREADS 1 vs N on the default pipeline (bench/threads.ts), then the classifier stage on
 * tfjs-wasm, onnxruntime-node and PyTorch (bench/classifier-stage.ts). Prints both tables and writes
 * bench-results/scaling.json. `npm run bench` runs it after its own report (BENCH_SCALING=0 skips it);
 * `npm run bench:scaling` runs it alone.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { runClassifierStageBench, type StageReport } from './classifier-stage';
import { machine, root } from './harness';
import { runThreadsBench } from './threads';

/** Runs both; returns the classifier-stage report (for bench/backends.ts), or null when BENCH_SCALING=0. */
export async function runScalingBenches(): Promise<StageReport | null> {
  if (process.env.BENCH_SCALING === '0') return null;
  const host = machine();
  process.stderr.write(`scaling benches on ${JSON.stringify(host)}\n`);
  const threads = await runThreadsBench();
  const stage = await runClassifierStageBench();
  const report = {
    date: new Date().toISOString(),
    machine: host,
    loadAfter: machine().loadAverage,
    threads,
    stage,
  };
  await fsp.mkdir(path.join(root, 'bench-results'), { recursive: true });
  await fsp.writeFile(path.join(root, 'bench-results', 'scaling.json'), JSON.stringify(report, null, 2));
  const lines = [
    `machine: ${JSON.stringify(host)}; load average after: ${JSON.stringify(report.loadAfter)}`,
    ...threads.lines,
    ...stage.lines,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return stage;
}

if (require.main === module) {
  runScalingBenches().catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
