/**
 * A local HTTP server for image tests, on 127.0.0.1 with an ephemeral port. Routes cover the good and the
 * bad cases Antenna's images can hit: 404, slow, HTML, truncated JPEG, redirects (also to denied addresses),
 * flaky 5xx, oversize.
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import { jpeg, png } from './images';

export interface ImageServer {
  url: (path: string) => string;
  /** Requests seen, by path, with their headers. */
  requests: { path: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

export async function startImageServer(): Promise<ImageServer> {
  const cache = new Map<string, Buffer>();
  const flaky = new Map<string, number>();
  const requests: ImageServer['requests'] = [];
  const sizes = /^\/img\/(\d+)x(\d+)\.(jpg|png)$/;

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const path = url.pathname;
      requests.push({ path: req.url ?? '', headers: req.headers });
      const send = (status: number, type: string, body: Buffer | string): void => {
        res.writeHead(status, { 'content-type': type });
        res.end(body);
      };
      const m = sizes.exec(path);
      if (m) {
        const key = path;
        if (!cache.has(key))
          cache.set(key, m[3] === 'jpg' ? await jpeg(+m[1], +m[2]) : await png(+m[1], +m[2]));
        return send(200, m[3] === 'jpg' ? 'image/jpeg' : 'image/png', cache.get(key)!);
      }
      const delay = /^\/delay\/(\d+)\.jpg$/.exec(path);
      if (delay) {
        const body = await jpeg(320, 240);
        setTimeout(() => send(200, 'image/jpeg', body), Number(delay[1])).unref();
        return undefined;
      }
      switch (path) {
        case '/grey.png':
          return send(200, 'image/png', await png(320, 240, 'grey'));
        case '/rgba.png':
          return send(200, 'image/png', await png(320, 240, 'rgba'));
        case '/palette.png':
          return send(200, 'image/png', await png(320, 240, 'palette'));
        case '/exif6.jpg':
          return send(200, 'image/jpeg', await jpeg(640, 480, { exifOrientation: 6 }));
        case '/html':
          return send(200, 'text/html', '<!doctype html><html><body>Access denied</body></html>');
        case '/truncated.jpg': {
          const full = await jpeg(800, 600);
          return send(200, 'image/jpeg', full.subarray(0, Math.floor(full.length / 2)));
        }
        case '/header-only.jpg': {
          const full = await jpeg(800, 600);
          return send(200, 'image/jpeg', full.subarray(0, 100));
        }
        case '/slow':
          // Answers after 10 s; tests use a short timeout and never wait for this.
          setTimeout(() => send(200, 'image/jpeg', Buffer.alloc(0)), 10_000).unref();
          return undefined;
        case '/flaky.jpg': {
          const n = (flaky.get(url.search) ?? 0) + 1;
          flaky.set(url.search, n);
          if (n <= 2) return send(503, 'text/plain', 'try again');
          return send(200, 'image/jpeg', await jpeg(320, 240));
        }
        case '/always-500':
          return send(500, 'text/plain', 'broken');
        case '/redirect-to-metadata':
          res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
          return res.end();
        case '/redirect-once':
          res.writeHead(302, { location: '/img/640x480.jpg' });
          return res.end();
        case '/redirect-loop':
          res.writeHead(302, { location: '/redirect-loop' });
          return res.end();
        case '/huge':
          res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': String(200 * 1024 * 1024) });
          return res.end();
        default:
          return send(404, 'text/plain', 'not found');
      }
    })().catch((err: Error) => {
      res.writeHead(500);
      res.end(err.message);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (p) => `http://127.0.0.1:${port}${p}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
