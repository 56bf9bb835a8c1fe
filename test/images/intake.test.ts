/**
 * Image intake: URL policy, retries, caps, data URLs and decoding of every colour mode to RGB.
 */
import * as tf from '@tensorflow/tfjs';
import { ImageError } from '../../src/errors';
import { chooseDecoder } from '../../src/images/decode';
import { ImageFetcher, type FetchOptions } from '../../src/images/fetch-image';
import { readImageHeader, sniffFormat } from '../../src/images/sniff';
import { UrlDeniedError, UrlPolicy } from '../../src/images/url-policy';
import { initTestBackend } from '../helpers/backend';
import { startImageServer, type ImageServer } from '../helpers/image-server';
import { dataUrl, jpeg, png } from '../helpers/images';

const options = (overrides: Partial<FetchOptions> = {}): FetchOptions => ({
  policy: new UrlPolicy({ mode: 'default', allow: [], deny: [] }),
  timeoutMs: 1000,
  attempts: 3,
  maxBytes: 10 * 1024 * 1024,
  maxPixels: 100_000_000,
  maxRedirects: 3,
  userAgent: 'test-agent',
  backoffMs: 5,
  ...overrides,
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof ImageError) return err.code;
    throw err;
  }
}

describe('UrlPolicy', () => {
  const strict = new UrlPolicy({ mode: 'strict', allow: ['minio', '10.0.5.0/24'], deny: [] });
  const standard = new UrlPolicy({
    mode: 'default',
    allow: [],
    deny: ['*.blocked.example', '203.0.113.0/24'],
  });

  test.each([
    ['169.254.169.254', 'default', false],
    ['fe80::1', 'default', false],
    ['0.0.0.0', 'default', false],
    ['127.0.0.1', 'default', true],
    ['10.1.2.3', 'default', true], // docker service names such as minio resolve to private addresses
    ['172.18.0.5', 'default', true],
    ['8.8.8.8', 'default', true],
    ['203.0.113.9', 'default', false], // IMAGE_URL_DENY CIDR
    ['127.0.0.1', 'strict', false],
    ['::1', 'strict', false],
    ['::ffff:127.0.0.1', 'strict', false], // IPv4-mapped IPv6 is unwrapped
    ['192.168.1.10', 'strict', false],
    ['10.0.5.7', 'strict', true], // allow CIDR wins over strict ranges
    ['10.0.6.7', 'strict', false],
    ['8.8.8.8', 'strict', true],
  ])('%s under %s → allowed=%s', (address, mode, allowed) => {
    const policy = mode === 'strict' ? strict : standard;
    const check = () => policy.checkAddress(address, 'some-host');
    if (allowed) expect(check).not.toThrow();
    else expect(check).toThrow(UrlDeniedError);
  });

  test('allowed host names skip address checks; denied names are refused before DNS', () => {
    expect(() => strict.checkAddress('172.20.0.4', 'minio')).not.toThrow();
    expect(() => standard.checkHost('img.blocked.example')).toThrow(/denied by IMAGE_URL_DENY/);
    expect(() => standard.checkHost('[fe80::1]')).toThrow(UrlDeniedError);
  });

  test('lookup() resolves names and refuses denied addresses (checked on the address we connect to)', async () => {
    const lookup = (policy: UrlPolicy) =>
      new Promise<unknown>((resolve, reject) =>
        policy.lookup('localhost', { all: true }, (err, addresses) =>
          err ? reject(err) : resolve(addresses),
        ),
      );
    await expect(lookup(standard)).resolves.toEqual(
      expect.arrayContaining([expect.objectContaining({ address: expect.any(String) })]),
    );
    await expect(lookup(strict)).rejects.toThrow(
      /localhost resolves to .* which the strict URL policy denies/,
    );
  });
});

describe('ImageFetcher', () => {
  let images: ImageServer;
  let fetcher: ImageFetcher;
  beforeAll(async () => {
    images = await startImageServer();
    fetcher = new ImageFetcher(options());
  });
  afterAll(async () => {
    await Promise.all([images.close(), fetcher.close()]);
  });

  test('reads format and size from the header', async () => {
    const got = await fetcher.fetch('1', images.url('/img/1920x1080.jpg'));
    expect(got.header).toEqual({ format: 'jpeg', width: 1920, height: 1080 });
    const pngGot = await fetcher.fetch('2', images.url('/img/300x200.png'));
    expect(pngGot.header).toEqual({ format: 'png', width: 300, height: 200 });
  });

  test('retries 5xx answers with backoff, then succeeds', async () => {
    const got = await fetcher.fetch('f', images.url('/flaky.jpg?case=retry'));
    expect(got.header.width).toBe(320);
    expect(images.requests.filter((r) => r.path === '/flaky.jpg?case=retry')).toHaveLength(3);
  });

  test('gives up after IMAGE_DOWNLOAD_ATTEMPTS', async () => {
    const once = new ImageFetcher(options({ attempts: 2 }));
    try {
      await expect(once.fetch('f', images.url('/flaky.jpg?case=giveup'))).rejects.toThrow(
        /HTTP 503 .* \(after 2 attempts\)/,
      );
    } finally {
      await once.close();
    }
  });

  test('follows a redirect, re-checking the policy', async () => {
    const got = await fetcher.fetch('r', images.url('/redirect-once'));
    expect(got.header.width).toBe(640);
  });

  test('strict policy refuses loopback image servers', async () => {
    const strict = new ImageFetcher(
      options({ policy: new UrlPolicy({ mode: 'strict', allow: [], deny: [] }) }),
    );
    try {
      expect(await codeOf(strict.fetch('s', images.url('/img/10x10.jpg')))).toBe('IMAGE_URL_DENIED');
    } finally {
      await strict.close();
    }
  });

  test('size cap: a declared or streamed body over IMAGE_MAX_BYTES is refused', async () => {
    expect(await codeOf(fetcher.fetch('h', images.url('/huge')))).toBe('IMAGE_TOO_LARGE');
    const small = new ImageFetcher(options({ maxBytes: 1000 }));
    try {
      expect(await codeOf(small.fetch('b', images.url('/img/800x600.jpg')))).toBe('IMAGE_TOO_LARGE');
    } finally {
      await small.close();
    }
  });

  test('pixel cap is checked from the header, before decoding', async () => {
    const capped = new ImageFetcher(options({ maxPixels: 1_000_000 }));
    try {
      await expect(capped.fetch('p', images.url('/img/4096x2160.jpg'))).rejects.toThrow(
        '4096x2160 is 8847360 pixels, more than IMAGE_MAX_PIXELS (1000000)',
      );
    } finally {
      await capped.close();
    }
  });

  test('data:image URLs are decoded; other data: URLs and schemes are refused', async () => {
    const got = await fetcher.fetch('d', dataUrl('image/png', await png(12, 34)));
    expect(got.header).toEqual({ format: 'png', width: 12, height: 34 });
    expect(await codeOf(fetcher.fetch('d', 'data:text/plain;base64,aGVsbG8='))).toBe('IMAGE_URL_INVALID');
    expect(await codeOf(fetcher.fetch('d', 'file:///etc/passwd'))).toBe('IMAGE_URL_INVALID');
    expect(await codeOf(fetcher.fetch('d', 'not a url'))).toBe('IMAGE_URL_INVALID');
  });

  test('a data: URL gets the download size cap (IMAGE_MAX_BYTES) on its decoded bytes', async () => {
    const bytes = await jpeg(640, 480);
    const capped = new ImageFetcher(options({ maxBytes: bytes.length - 1 }));
    try {
      expect(await codeOf(capped.fetch('d', dataUrl('image/jpeg', bytes)))).toBe('IMAGE_TOO_LARGE');
      expect(await codeOf(capped.fetch('d', dataUrl('image/png', await png(4, 4))))).toBe('ok');
    } finally {
      await capped.close();
    }
  });

  test('connection refused is a download failure after retries', async () => {
    expect(await codeOf(fetcher.fetch('c', 'http://127.0.0.1:1/x.jpg'))).toBe('IMAGE_DOWNLOAD_FAILED');
  });
});

describe('sniffing and decoding', () => {
  beforeAll(() => initTestBackend());

  test('magic bytes identify formats; HTML is named as such', () => {
    expect(sniffFormat(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('jpeg');
    expect(sniffFormat(Buffer.from('GIF89a'))).toBe('gif');
    expect(() => readImageHeader(Buffer.from('<!DOCTYPE html><p>hi'))).toThrow(/got an HTML page/);
    expect(() => readImageHeader(Buffer.alloc(0))).toThrow(/got an empty body/);
  });

  test.each(['sharp', 'jimp'] as const)(
    '%s decodes grey, palette and RGBA PNGs and JPEGs to [H, W, 3] RGB',
    async (name) => {
      const decoder = chooseDecoder(name);
      const before = tf.memory().numTensors;
      for (const [bytes, w, h] of [
        [await png(40, 30, 'grey'), 40, 30],
        [await png(40, 30, 'palette'), 40, 30],
        [await png(40, 30, 'rgba'), 40, 30],
        [await jpeg(64, 48), 64, 48],
      ] as const) {
        const t = await decoder.decode(bytes);
        expect(t.shape).toEqual([h, w, 3]);
        expect(t.dtype).toBe('int32');
        const values = t.dataSync();
        expect(Math.max(...values)).toBeLessThanOrEqual(255);
        t.dispose();
      }
      // The grey PNG decodes with equal channels.
      const grey = await decoder.decode(await png(8, 8, 'grey'));
      const px = Array.from(grey.dataSync().slice(0, 3));
      expect(new Set(px).size).toBe(1);
      grey.dispose();
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  test('sharp and jimp agree on the pixels of a PNG', async () => {
    const bytes = await png(16, 16, 'rgba');
    const [a, b] = await Promise.all([
      chooseDecoder('sharp').decode(bytes),
      chooseDecoder('jimp').decode(bytes),
    ]);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([a, b]);
  });

  test('EXIF orientation is ignored by the decoders', async () => {
    const t = await chooseDecoder('sharp').decode(await jpeg(64, 48, { exifOrientation: 6 }));
    expect(t.shape).toEqual([48, 64, 3]);
    t.dispose();
  });
});
