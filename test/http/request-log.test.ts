/**
 * The per-request log line names why an image failed, and LOG_FORMAT=pretty gives one readable line.
 */
import { PassThrough } from 'stream';
import request from 'supertest';
import { buildService, type Service } from '../../src/bootstrap';
import { defaultConfig } from '../../src/config';
import { createLogger } from '../../src/util/logger';
import { dataUrl, jpeg } from '../helpers/images';

function capture(): { stream: PassThrough; lines: () => string[] } {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.length > 0),
  };
}

async function serviceLoggingTo(format: 'json' | 'pretty', stream: PassThrough): Promise<Service> {
  const config = defaultConfig({
    inferenceThread: 'main',
    tfjsBackend: 'wasm',
    enabledPipelines: ['constant'],
    metricsEnabled: false,
  });
  const svc = await buildService(config, createLogger('info', 'test', format, stream));
  await svc.engine.whenReady('constant');
  return svc;
}

const body = async () => ({
  pipeline: 'constant',
  source_images: [
    { id: 'ok', url: dataUrl('image/jpeg', await jpeg(160, 120)) },
    { id: 'txt', url: 'data:text/plain;base64,aGVsbG8=' },
    { id: 'ftp', url: 'ftp://example.org/a.jpg' },
  ],
});

describe('the /process log line', () => {
  test('JSON: names each failed image with its code and reason', async () => {
    const log = capture();
    const svc = await serviceLoggingTo('json', log.stream);
    try {
      await request(svc.app.callback())
        .post('/process')
        .send(await body())
        .expect(200);
      const line = log
        .lines()
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg === 'process');
      expect(line).toMatchObject({
        msg: 'process',
        summary:
          'process constant: 3 images, 2 failed (IMAGE_URL_INVALID: image txt: data: URLs must be data:image/<type>;base64,<data>; and 1 more)',
        images: 3,
        processed: 1,
        failed: 2,
        failures: [
          {
            image_id: 'txt',
            code: 'IMAGE_URL_INVALID',
            error: 'image txt: data: URLs must be data:image/<type>;base64,<data>',
          },
          {
            image_id: 'ftp',
            code: 'IMAGE_URL_INVALID',
            error: expect.stringMatching(/^image ftp: unsupported URL scheme ftp:/),
          },
        ],
        failuresNotShown: 0,
      });
      // The image URLs (a data: URL can be megabytes) stay out of the line.
      expect(JSON.stringify(line)).not.toContain('base64,/9j');
    } finally {
      await svc.close();
    }
  });

  test('LOG_FORMAT=pretty: one human-readable line per event, no JSON', async () => {
    const log = capture();
    const svc = await serviceLoggingTo('pretty', log.stream);
    try {
      await request(svc.app.callback())
        .post('/process')
        .send(await body())
        .expect(200);
      const line = log.lines().find((l) => l.includes('process constant:'));
      expect(line).toMatch(
        /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: process constant: 3 images, 2 failed \(IMAGE_URL_INVALID: image txt: /,
      );
      expect(line).toContain('"code":"IMAGE_URL_INVALID"');
      expect(log.lines().every((l) => !l.startsWith('{'))).toBe(true);
    } finally {
      await svc.close();
    }
  });
});
