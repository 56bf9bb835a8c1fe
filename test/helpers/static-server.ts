/** Serves files of one directory on 127.0.0.1 (for the shipped samples). */
import { promises as fsp } from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';

export async function serveDirectory(
  dir: string,
): Promise<{ url: (file: string) => string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const file = path.join(dir, path.basename(decodeURIComponent(req.url ?? '')));
    fsp.readFile(file).then(
      (body) => {
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        res.end(body);
      },
      () => {
        res.writeHead(404);
        res.end();
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: (file) => `http://127.0.0.1:${port}/${file}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
