/**
 * Serves the files of one directory over HTTP on 127.0.0.1: the image server of the README's examples
 * (`npm run samples`), the benchmark and the tests, so all three fetch samples the way Antenna fetches
 * images, by URL. Read-only, one directory deep, no listing beyond a plain-text index at `/`.
 *
 * `npm run samples [dir]`: serves `dir` (default samples/) on SAMPLES_HOST:SAMPLES_PORT
 * (default 127.0.0.1:8000) until Ctrl-C.
 */
import { promises as fsp } from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { projectRoot } from '../src/util/paths';

const TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.json': 'application/json',
};

/** A running sample server. */
export interface SampleServer {
  port: number;
  /** The URL of `file` (a name inside the served directory). */
  url(file: string): string;
  close(): Promise<void>;
}

/**
 * Serves `dir` on `host:port` (port 0: any free port). Files are read on each request, so a directory
 * rebuilt by `npm run build-models` is served fresh; unknown names are 404, as a missing image on a real
 * server would be.
 */
export async function serveDirectory(dir: string, host = '127.0.0.1', port = 0): Promise<SampleServer> {
  const root = path.resolve(dir);
  const server = http.createServer((req, res) => {
    const name = path.basename(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (name === '' || name === '/') {
      void fsp.readdir(root).then((files) => {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`${files.sort().join('\n')}\n`);
      });
      return;
    }
    fsp.readFile(path.join(root, name)).then(
      (body) => {
        const type = TYPES[path.extname(name).toLowerCase()] ?? 'application/octet-stream';
        res.writeHead(200, { 'content-type': type, 'content-length': body.length });
        res.end(body);
      },
      () => {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end(`no ${name} in ${root}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    port: actual,
    url: (file) => `http://${host}:${actual}/${file}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function main(): Promise<void> {
  const dir = path.resolve(process.argv[2] ?? path.join(projectRoot(), 'samples'));
  const host = process.env.SAMPLES_HOST ?? '127.0.0.1';
  const port = Number(process.env.SAMPLES_PORT ?? '8000');
  const server = await serveDirectory(dir, host, port);
  const files = (await fsp.readdir(dir)).filter((f) =>
    TYPES[path.extname(f).toLowerCase()]?.startsWith('image/'),
  );
  process.stdout.write(
    `serving ${dir} on http://${host}:${server.port}/ (Ctrl-C stops it)\n` +
      files.map((f) => `  ${server.url(f)}\n`).join(''),
  );
  process.on('SIGINT', () => void server.close().then(() => process.exit(0)));
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
}

if (require.main === module) {
  main().catch((err: Error) => {
    const hint =
      (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? ' (set SAMPLES_PORT to another port)' : '';
    process.stderr.write(`cannot serve the samples: ${err.message}${hint}\n`);
    process.exit(1);
  });
}
