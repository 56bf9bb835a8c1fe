/**
 * Reading and running README.md's examples (test/readme/*.test.ts). An example is a bash block whose first
 * command is a `curl` to the service (`localhost:2000`); what the README shows after it is either `# ...`
 * lines inside the block or the ```json block right after it.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { serveDirectory, type SampleServer } from '../../bench/sample-server';
import type { Service } from '../../src/bootstrap';
import { jsonShape } from '../helpers/schemas';

export const ROOT = path.join(__dirname, '..', '..');
export const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The heading of the tutorial section; its examples need the tutorial's pipeline (tutorial.test.ts). */
export const TUTORIAL_HEADING = '## Add your own pipeline';

export interface Example {
  /** 1-based line of the command in README.md, for failure messages. */
  line: number;
  command: string;
  expected: string;
}

/** [start, end) of the `## ` section that starts with `heading`. */
export function sectionRange(markdown: string, heading: string): [number, number] {
  const start = markdown.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README.md has no "${heading}" section`);
  const next = markdown.indexOf('\n## ', start + heading.length + 2);
  return [start, next < 0 ? markdown.length : next];
}

/** The runnable examples of `markdown` whose command lies in `[from, to)`. */
export function examples(markdown: string, from = 0, to = markdown.length): Example[] {
  const fence = /^```(\w*)\n([\s\S]*?)^```\n/gm;
  const blocks = [...markdown.matchAll(fence)].map((m) => ({
    lang: m[1],
    body: m[2],
    start: m.index,
    end: m.index + m[0].length,
  }));
  const out: Example[] = [];
  blocks.forEach((b, i) => {
    if (b.start < from || b.start >= to) return;
    if (b.lang !== 'bash' || !/localhost:2000/.test(b.body.split('\n')[0])) return;
    if (!/^(curl |\(printf )/.test(b.body)) return;
    const lines = b.body.trimEnd().split('\n');
    const shown = lines.filter((l) => l.startsWith('# ')).map((l) => l.slice(2));
    const command = lines.filter((l) => !l.startsWith('# ')).join('\n');
    const next = blocks[i + 1];
    const jsonAfter =
      next && next.lang === 'json' && markdown.slice(b.end, next.start).trim() === '' ? next.body : null;
    out.push({
      line: markdown.slice(0, b.start).split('\n').length + 1,
      command,
      expected: shown.length > 0 ? shown.join('\n') : (jsonAfter ?? ''),
    });
  });
  return out;
}

/** The values of a response that do not change from run to run. */
function stable(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const v = value as Record<string, unknown>;
  return Object.fromEntries(
    ['pipeline', 'status', 'source_images', 'errors'].filter((k) => k in v).map((k) => [k, v[k]]),
  );
}

/** How many detections a response has; a README list may end in `"… N more"`, standing for N left out. */
function detectionCount(value: unknown): number | null {
  const detections = (value as { detections?: unknown[] } | null)?.detections;
  if (!Array.isArray(detections)) return null;
  const last = detections.at(-1);
  const more = typeof last === 'string' ? /^… (\d+) more$/.exec(last) : null;
  return more ? detections.length - 1 + Number(more[1]) : detections.length;
}

/** Runs `script` in bash (pipefail) from the repository root; resolves with its exit status and output. */
function runBash(script: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', script], { cwd: ROOT });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({
        status,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/**
 * Runs an example as pasted, with the README's ports (service 2000, samples 8000) swapped for the live
 * ones and swapped back in the output, and checks the output against what the README shows: a shown output
 * ending in `...` is a prefix of the real one; otherwise both are JSON (optionally followed by an HTTP
 * status) with the same shape, the same stable values and the same number of detections.
 *
 * Asynchronous on purpose: the service answers from the test's own process, so a blocking spawn deadlocks.
 */
export async function runExample(ex: Example, servicePort: number, samplesPort: number): Promise<void> {
  const script = ex.command
    .replaceAll('localhost:2000', `127.0.0.1:${servicePort}`)
    .replaceAll('127.0.0.1:8000', `127.0.0.1:${samplesPort}`);
  const r = await runBash(script);
  // `| head -c N` closes the pipe early; curl's "failed writing body" (exit 23) is the expected end there.
  const cutShort = /\| head -c \d+\s*$/.test(ex.command) && r.status === 23;
  expect({ line: ex.line, status: cutShort ? 0 : r.status, stderr: r.stderr }).toEqual({
    line: ex.line,
    status: 0,
    stderr: '',
  });
  const actual = r.stdout.replaceAll(`127.0.0.1:${samplesPort}`, '127.0.0.1:8000').trim();
  const want = ex.expected.trim();
  if (want.endsWith('...')) {
    // Shortened: everything up to the last value the README shows in full; total_time varies.
    const prefix = want
      .slice(0, -3)
      .replace(/[^,{[]*$/, '')
      .replace(/"total_time":[\d.e-]+/, '');
    expect(actual.replace(/"total_time":[\d.e-]+/, '').slice(0, prefix.length)).toBe(prefix);
    return;
  }
  const withStatus = /^([\s\S]*) (\d{3})$/.exec(want);
  if (withStatus) {
    const got = /^([\s\S]*) (\d{3})$/.exec(actual);
    expect(got?.[2]).toBe(withStatus[2]);
    expect(JSON.parse(got?.[1] ?? 'null')).toEqual(JSON.parse(withStatus[1]));
    return;
  }
  const [w, a] = [JSON.parse(want) as unknown, JSON.parse(actual) as unknown];
  expect(jsonShape(a)).toEqual(jsonShape(w));
  expect(stable(a)).toEqual(stable(w));
  expect(detectionCount(a)).toBe(detectionCount(w));
}

/** Whether curl can run here; the examples need it. */
export function hasCurl(): boolean {
  return spawnSync('curl', ['--version']).status === 0;
}

/** A built service listening on a loopback port, beside the sample server of `npm run samples`. */
export interface LiveService {
  /** The service's port on 127.0.0.1. */
  port: number;
  samples: SampleServer;
  /** Stops listening and the sample server; the service itself stays the caller's to close. */
  close(): Promise<void>;
}

/** Listens `svc` on a free loopback port and starts the sample server on another. */
export async function serveLive(svc: Service): Promise<LiveService> {
  const server = svc.app.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', r));
  const samples = await serveDirectory(path.join(ROOT, 'samples'));
  return {
    port: (server.address() as AddressInfo).port,
    samples,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await samples.close();
    },
  };
}
