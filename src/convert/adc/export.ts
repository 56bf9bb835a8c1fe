/**
 * Runs scripts/adc/export-onnx.py over the models to import and reads its events: progress as it goes, and for a
 * checkpoint that does not fit its architecture, a message naming the file and the mismatch.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { runCommand } from '../../util/run-command';
import type { AdcArchitecture } from './catalogue';

/** One model for the export script (its JOBS.json entry). */
export interface ExportJob {
  key: string;
  arch: AdcArchitecture;
  /** The checkpoint file. */
  weights: string;
  /** The category map's length (ADC's num_classes); 2 for the detector. */
  classes: number;
  /** Classifier input side; 0 for the detector. */
  size: number;
  /** Where the ONNX file goes. */
  out: string;
  /** For a class-count mismatch: the category-map file whose length gave `classes`. */
  labelsFile?: string;
}

/** The script's events, one JSON object per stdout line. */
export type ExportEvent =
  | { event: 'loaded'; key: string; file: string; tensors: number; seconds: number }
  | { event: 'exported'; key: string; out: string; seconds: number }
  | { event: 'failed'; key: string; file: string; message: string }
  | {
      event: 'mismatch';
      key: string;
      file: string;
      arch: string;
      missing: string[];
      missing_count: number;
      unexpected: string[];
      unexpected_count: number;
      shapes: { key: string; checkpoint: number[]; model: number[] }[];
      shapes_count: number;
    };

/** Thrown when some checkpoint cannot be imported; the message has one line per bad file. */
export class CheckpointError extends Error {
  constructor(readonly problems: string[]) {
    super(
      problems.length === 1
        ? problems[0]
        : `${problems.length} checkpoints cannot be imported:\n  ${problems.join('\n  ')}`,
    );
    this.name = 'CheckpointError';
  }
}

const listed = (items: string[], count: number): string =>
  items.join(', ') + (count > items.length ? `, … (${count} in all)` : '');

const dims = (s: number[]): string => `[${s.join(', ')}]`;

/**
 * The message for a checkpoint that does not fit: the file, then what differs (the first few of each kind), and
 * when only a classifier head's first dimension differs, that the category map's length set it.
 */
export function mismatchMessage(e: Extract<ExportEvent, { event: 'mismatch' }>, job?: ExportJob): string {
  const parts: string[] = [];
  if (e.missing_count > 0) parts.push(`missing keys: ${listed(e.missing, e.missing_count)}`);
  if (e.unexpected_count > 0) parts.push(`unexpected keys: ${listed(e.unexpected, e.unexpected_count)}`);
  if (e.shapes_count > 0) {
    const shapes = e.shapes.map(
      (s) => `${s.key} ${dims(s.checkpoint)} in the file, ${dims(s.model)} in the model`,
    );
    parts.push(`shape differences: ${listed(shapes, e.shapes_count)}`);
  }
  const headOnly =
    job?.labelsFile !== undefined &&
    e.missing_count === 0 &&
    e.unexpected_count === 0 &&
    e.shapes.length > 0 &&
    e.shapes.every((s) => s.model[0] === job.classes && s.checkpoint[0] !== job.classes);
  const hint =
    headOnly && job?.labelsFile
      ? ` (the model's ${job.classes} classes come from the ${job.classes} labels of ${job.labelsFile}; the ` +
        `checkpoint has ${e.shapes[0].checkpoint[0]}: is it the category map that goes with these weights?)`
      : '';
  return `${e.file} does not fit ADC's ${e.arch} for ${e.key}: ${parts.join('; ')}${hint}`;
}

/** How `exportOnnx` reports progress. */
export interface ExportIo {
  log: (line: string) => void;
  detail: (line: string) => void;
}

/**
 * Exports every job with the given Python; resolves when all were exported, throws CheckpointError naming every
 * file that does not fit (the script checks them all, exporting none after the first bad one).
 */
export async function exportOnnx(
  python: string,
  script: string,
  jobs: ExportJob[],
  workDir: string,
  io: ExportIo,
): Promise<void> {
  const jobsFile = path.join(workDir, 'jobs.json');
  await fsp.writeFile(jobsFile, JSON.stringify(jobs.map(({ labelsFile: _, ...job }) => job)));
  const problems: string[] = [];
  const index = new Map(jobs.map((j, i) => [j.key, i]));
  const counter = (key: string): string => `[${(index.get(key) ?? 0) + 1}/${jobs.length}]`;
  const onEvent = (e: ExportEvent): void => {
    const job = jobs[index.get(e.key) ?? -1] as ExportJob | undefined;
    if (e.event === 'loaded') {
      io.log(
        `${counter(e.key)} ${e.key}: ${path.basename(e.file)} fits ADC's ${job?.arch ?? 'architecture'} ` +
          `(${e.tensors} tensors, read in ${e.seconds} s)`,
      );
    } else if (e.event === 'exported') {
      io.detail(`exported to ONNX in ${e.seconds} s`);
    } else if (e.event === 'mismatch') {
      problems.push(mismatchMessage(e, job));
      io.log(`${counter(e.key)} ${e.key}: ${path.basename(e.file)} does not fit (details below)`);
    } else {
      problems.push(`${e.file}: ${e.message}`);
      io.log(`${counter(e.key)} ${e.key}: ${path.basename(e.file)} cannot be read (details below)`);
    }
  };
  const other: string[] = [];
  const result = await runCommand(python, [script, jobsFile], {
    onLine: (line, stream) => {
      if (stream === 'stdout' && line.startsWith('{')) {
        try {
          onEvent(JSON.parse(line) as ExportEvent);
          return;
        } catch {
          // not one of the script's events: shown as it is
        }
      }
      if (line.trim()) other.push(line);
    },
  });
  if (problems.length > 0) throw new CheckpointError(problems);
  if (result.status !== 0) {
    throw new CheckpointError([
      `the export script failed (exit status ${result.status}): ${other.slice(-6).join('\n') || 'no output'}`,
    ]);
  }
}
