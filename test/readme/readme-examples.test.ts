/**
 * Every `curl` example of README.md runs, in the order written, against a live service and the sample
 * server of `npm run samples`, and its output has the shape the README shows. The commands run as pasted
 * in bash with real curl; only the two ports change (README: service on 2000, samples on 8000; here: free
 * ports), and they are changed back in the output before comparing.
 *
 * What the README shows after a command: `# ...` lines inside its block, or the ```json block right after
 * it. A shown output ending in `...` is a prefix of the real one. Otherwise both are JSON and must have the
 * same shape (keys and types, arrays by their first element), the same stable values (pipeline slugs,
 * `status`, `source_images`, `errors`) and the same number of detections.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import type { Server } from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { buildService, type Service } from '../../src/bootstrap';
import { defaultConfig } from '../../src/config';
import { createLogger } from '../../src/util/logger';
import { serveDirectory, type SampleServer } from '../../bench/sample-server';

const ROOT = path.join(__dirname, '..', '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

interface Example {
  /** 1-based line of the command in README.md, for failure messages. */
  line: number;
  command: string;
  expected: string;
}

/** The README's runnable examples: bash blocks whose first command is a `curl` to the service. */
function examples(markdown: string): Example[] {
  const fence = /^```(\w*)\n([\s\S]*?)^```\n/gm;
  const blocks = [...markdown.matchAll(fence)].map((m) => ({
    lang: m[1],
    body: m[2],
    start: m.index,
    end: m.index + m[0].length,
  }));
  const out: Example[] = [];
  blocks.forEach((b, i) => {
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

/** Keys and types of a JSON value, recursively; arrays reduced to their first element. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? [] : [shape(value[0])];
  if (value === null) return null;
  if (typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, shape(v)]),
    );
  }
  return typeof value;
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

const found = examples(README);
const curl = spawnSync('curl', ['--version']).status === 0;

describe('README examples, run as pasted against a live service', () => {
  let svc: Service;
  let server: Server;
  let samples: SampleServer;
  let port = 0;

  beforeAll(async () => {
    svc = await buildService(
      defaultConfig({
        logLevel: 'silent',
        inferenceThread: 'main',
        tfjsBackend: 'wasm',
        metricsEnabled: true,
      }),
      createLogger('silent'),
    );
    await Promise.all(svc.info.pipelines.map((p) => svc.engine.whenReady(p.slug)));
    server = svc.app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', r));
    port = (server.address() as AddressInfo).port;
    samples = await serveDirectory(path.join(ROOT, 'samples'));
  }, 120_000);

  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await samples?.close();
    await svc?.close();
  });

  test('the README has the examples this test knows about, each with the output it shows', () => {
    expect(found.length).toBeGreaterThanOrEqual(7);
    for (const ex of found)
      expect({ line: ex.line, shown: ex.expected.length > 0 }).toEqual({ line: ex.line, shown: true });
  });

  test('the sample server is introduced before the first example that needs it', () => {
    const introduced = README.indexOf('npm run samples');
    const firstUse = README.indexOf('127.0.0.1:8000');
    expect(introduced).toBeGreaterThan(0);
    expect(introduced).toBeLessThan(firstUse);
  });

  test('every example the README shows for samples/ names a file that ships there', () => {
    const named = [...README.matchAll(/(?:127\.0\.0\.1:8000\/|samples\/)([\w.-]+\.jpg)/g)].map((m) => m[1]);
    const shipped = new Set(fs.readdirSync(path.join(ROOT, 'samples')));
    // missing.jpg is missing on purpose: the README says so where it uses it.
    expect(named.filter((f) => f !== 'missing.jpg' && !shipped.has(f))).toEqual([]);
    expect(README).toMatch(/missing on purpose/);
  });

  (curl ? test.each(found) : test.skip.each(found))(
    curl ? 'README line $line' : 'README line $line (SKIPPED: curl is not installed)',
    async ({ command, expected }) => {
      const script = command
        .replaceAll('localhost:2000', `127.0.0.1:${port}`)
        .replaceAll('127.0.0.1:8000', `127.0.0.1:${samples.port}`);
      // Asynchronous: the service answers from this very process, so a blocking spawnSync would deadlock.
      const r = await runBash(script);
      // `| head -c N` closes the pipe early; curl's SIGPIPE (exit 23) is the expected end there.
      const cutShort = /\| head -c \d+\s*$/.test(command) && r.status === 23;
      expect({ status: cutShort ? 0 : r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
      const actual = r.stdout.replaceAll(`127.0.0.1:${samples.port}`, '127.0.0.1:8000').trim();
      const want = expected.trim();
      if (want.endsWith('...')) {
        // A shortened output: everything up to the last value the README shows in full.
        const prefix = want.slice(0, -3).replace(/[^,{[]*$/, '');
        const head = prefix.replace(/"total_time":[\d.e-]+/, '');
        expect(actual.replace(/"total_time":[\d.e-]+/, '').startsWith(head)).toBe(true);
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
      expect(shape(a)).toEqual(shape(w));
      expect(stable(a)).toEqual(stable(w));
      expect(detectionCount(a)).toBe(detectionCount(w));
    },
  );
});
