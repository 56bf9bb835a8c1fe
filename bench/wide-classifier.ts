/**
 * The 29,176-class case (docs/benchmarks.md#29176-class-responses), against the real server (a child process,
 * inference in its worker thread): the shipped moth detector plus a generated classifier as wide as the
 * global moth species map, answering 4096×2160 samples. Reports
 *   - response bytes per image, raw and gzipped, and per detection before/after float32 printing (the same
 *     response written the old way: scores as the float64 softmax of the float32 logits, both as doubles);
 *   - serialisation time (the `process` log line's `serialize`), peak RSS of the server (VmHWM), and `/readyz`
 *     latency (p50/p99, polled every 20 ms) while a BENCH_WIDE_IMAGES-image response (default 21: the request
 *     that answered 500 before) is written.
 * The big body is counted as it streams through gunzip, never held.
 *
 * `node dist/bench/wide-classifier.js` (after `npm run build`), or BENCH_WIDE=1 with `npm run bench`.
 */
import { spawn } from 'child_process';
import { promises as fsp } from 'fs';
import * as http from 'http';
import * as path from 'path';
import * as zlib from 'zlib';
import { softmax } from '../src/algorithms/softmax';
import type { PipelineResultsResponse } from '../src/contract/types';
import { freePort, quantile, root, serveFiles } from './harness';
import { wideModelsDir } from './wide-models';

const IMAGES = Number(process.env.BENCH_WIDE_IMAGES ?? '21');
const SAMPLES = ['trap-4k-1.jpg', 'trap-4k-2.jpg', 'trap-4k-3.jpg'];

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(2)} MB`;

/** POSTs /process and streams the answer through gunzip, counting bytes. Keeps the text only if `keep`. */
function post(
  base: string,
  body: unknown,
  keep: boolean,
): Promise<{ status: number; gzipBytes: number; rawBytes: number; text: string; seconds: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}/process`,
      { method: 'POST', headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip' } },
      (res) => {
        let gzipBytes = 0;
        let rawBytes = 0;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => (gzipBytes += c.length));
        const gunzip = res.headers['content-encoding'] === 'gzip' ? res.pipe(zlib.createGunzip()) : res;
        gunzip.on('data', (c: Buffer) => {
          rawBytes += c.length;
          if (keep) chunks.push(c);
        });
        gunzip.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            gzipBytes,
            rawBytes,
            text: Buffer.concat(chunks).toString('utf8'),
            seconds: (performance.now() - t0) / 1000,
          }),
        );
        gunzip.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** The response as the service wrote it before float32 printing: float64 softmax scores, doubles throughout. */
function oldStyleBytes(response: PipelineResultsResponse): number {
  const old = {
    ...response,
    detections: response.detections.map((d) => ({
      ...d,
      classifications: d.classifications.map((c) => {
        const logits = (c.logits ?? []).map((l) => Math.fround(l));
        return { ...c, scores: softmax(logits), logits };
      }),
    })),
  };
  return Buffer.byteLength(JSON.stringify(old));
}

async function peakRssBytes(pid: number): Promise<number> {
  const status = await fsp.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

export async function runWideClassifierBench(): Promise<Record<string, unknown>> {
  const models = await wideModelsDir(path.join(root, 'models'));
  await fsp.writeFile(path.join(models.dir, 'pipelines.json'), JSON.stringify({ pipelines: [models.spec] }));
  // urls[i] serves SAMPLES[i].
  const samples = await serveFiles(SAMPLES.map((f) => path.join(root, 'samples', f)));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let logs = '';
  const server = spawn(process.execPath, [path.join(root, 'dist', 'src', 'server.js')], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      MODELS_DIR: models.dir,
      ENABLED_PIPELINES: models.spec.slug,
      TFJS_BACKEND: process.env.TFJS_BACKEND ?? 'wasm',
      MAX_IMAGES_PER_REQUEST: String(Math.max(100, IMAGES)),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  server.stdout.on('data', (d: Buffer) => (logs += d.toString()));
  try {
    for (let i = 0; ; i++) {
      const ok = await fetch(`${base}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (i > 600) throw new Error('the server did not become ready in 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const serializeTimes = (): number[] =>
      logs
        .split('\n')
        .filter((l) => l.includes('"msg":"process"'))
        .map((l) => (JSON.parse(l) as { timings: { serialize: number } }).timings.serialize);

    // 1. One image, kept whole: bytes per image and per detection, before and after float32 printing.
    const one = await post(
      base,
      { pipeline: models.spec.slug, source_images: [{ id: 'one', url: samples.urls[0] }] },
      true,
    );
    const response = JSON.parse(one.text) as PipelineResultsResponse;
    const detections = response.detections.length;
    const before = oldStyleBytes(response);

    // 2. IMAGES images in one request, streamed and counted, with /readyz polled while it runs.
    const images = Array.from({ length: IMAGES }, (_, i) => ({
      id: `4k-${i}`,
      url: samples.urls[i % SAMPLES.length],
    }));
    let done = false;
    const readyz: { t: number; seconds: number }[] = [];
    const probe = (async () => {
      while (!done) {
        const t0 = performance.now();
        await fetch(`${base}/readyz`).catch(() => undefined);
        readyz.push({ t: t0, seconds: (performance.now() - t0) / 1000 });
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const t0 = performance.now();
    const big = await post(base, { pipeline: models.spec.slug, source_images: images }, false);
    done = true;
    await probe;
    // The log line is written when the stream ends; give the pipe a moment.
    await new Promise((r) => setTimeout(r, 200));
    const serialize = serializeTimes().at(-1) ?? NaN;
    // /readyz while the body was being written: the last `serialize` seconds of the request.
    const writeStart = t0 + (big.seconds - serialize) * 1000;
    const whileWriting = readyz.filter((r) => r.t >= writeStart).map((r) => r.seconds);
    const all = readyz.map((r) => r.seconds);
    const report = {
      classes: 29_176,
      oneImage: {
        detections,
        rawBytes: one.rawBytes,
        gzipBytes: one.gzipBytes,
        rawBytesBeforeFloat32: before,
        bytesPerDetection: one.rawBytes / Math.max(1, detections),
        bytesPerDetectionBefore: before / Math.max(1, detections),
        shrink: one.rawBytes / before,
      },
      manyImages: {
        images: IMAGES,
        status: big.status,
        seconds: big.seconds,
        rawBytes: big.rawBytes,
        gzipBytes: big.gzipBytes,
        rawBytesPerImage: big.rawBytes / IMAGES,
        gzipBytesPerImage: big.gzipBytes / IMAGES,
        serializeSeconds: serialize,
        peakRssBytes: await peakRssBytes(server.pid ?? 0),
        readyzWhileWriting: {
          n: whileWriting.length,
          p50: quantile(whileWriting, 0.5),
          p99: quantile(whileWriting, 0.99),
        },
        readyzWholeRequest: { n: all.length, p50: quantile(all, 0.5), p99: quantile(all, 0.99) },
      },
    };
    const m = report.manyImages;
    const lines = [
      `29,176-class classifier behind the moth detector, ${process.env.TFJS_BACKEND ?? 'wasm'}, Node ${process.version}`,
      `1 image (${detections} detections): ${mb(one.rawBytes)} raw, ${mb(one.gzipBytes)} gzipped; per detection ${mb(report.oneImage.bytesPerDetection)} (float64 printing: ${mb(report.oneImage.bytesPerDetectionBefore)}, ${(report.oneImage.shrink * 100).toFixed(0)}% of it)`,
      `${IMAGES} images in one request: HTTP ${m.status} in ${m.seconds.toFixed(1)} s; ${mb(m.rawBytes)} raw (${mb(m.rawBytesPerImage)}/image), ${mb(m.gzipBytes)} gzipped (${mb(m.gzipBytesPerImage)}/image)`,
      `serialisation ${m.serializeSeconds.toFixed(2)} s (streamed); server peak RSS ${(m.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
      `/readyz while the body was written: p50 ${(m.readyzWhileWriting.p50 * 1000).toFixed(1)} ms, p99 ${(m.readyzWhileWriting.p99 * 1000).toFixed(1)} ms (${m.readyzWhileWriting.n} probes); whole request p99 ${(m.readyzWholeRequest.p99 * 1000).toFixed(1)} ms`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    await fsp.mkdir(path.join(root, 'bench-results'), { recursive: true });
    await fsp.writeFile(
      path.join(root, 'bench-results', 'wide-classifier.json'),
      JSON.stringify(report, null, 2),
    );
    return report;
  } finally {
    server.kill('SIGTERM');
    samples.close();
    await models.remove();
  }
}

if (require.main === module) {
  runWideClassifierBench().catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
