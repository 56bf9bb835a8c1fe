/**
 * Native decode routing with a fake tfjs-node: `tf.node.decodeImage` reads only JPEG, PNG, GIF and BMP and
 * refuses truncated JPEGs, so WebP, TIFF, truncated JPEGs and whatever it throws on go to sharp.
 */
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { chooseDecoder, DecodeError, nativeDecodeRefusal } from '../../src/images/decode';
import { initBackend } from '../../src/tf/backend';
import { jpeg, png } from '../helpers/images';
import { fakeNative, type FakeNative } from './fake-native';

/** Independent expectation: sharp's own RGB pixels, shape [H, W, 3]. */
async function sharpPixels(bytes: Buffer): Promise<{ shape: number[]; data: number[] }> {
  const { data, info } = await sharp(bytes, { failOn: 'none' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { shape: [info.height, info.width, 3], data: Array.from(data) };
}

async function pixels(t: tf.Tensor3D): Promise<{ shape: number[]; data: number[] }> {
  const data = Array.from(await t.data());
  const shape = t.shape.slice();
  t.dispose();
  return { shape, data };
}

/** The first half: headers intact, scan data cut (as test/helpers/image-server.ts serves it). */
const truncate = (b: Buffer): Buffer => b.subarray(0, Math.floor(b.length / 2));

describe('nativeDecodeRefusal', () => {
  let complete: Buffer;
  beforeAll(async () => {
    complete = await jpeg(320, 240);
  });

  it('lets complete JPEGs, PNGs, GIFs and BMPs through', async () => {
    expect(nativeDecodeRefusal(complete)).toBeNull();
    expect(nativeDecodeRefusal(Buffer.concat([complete, Buffer.alloc(16)]))).toBeNull(); // zero padding
    expect(nativeDecodeRefusal(await png(8, 8))).toBeNull();
    expect(nativeDecodeRefusal(Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'))).toBeNull();
    expect(nativeDecodeRefusal(Buffer.from('BM\x3a\x00\x00\x00', 'latin1'))).toBeNull();
  });

  it('refuses WebP, TIFF, truncated JPEGs and unknown bytes, saying why', async () => {
    const webp = await sharp(await png(8, 8))
      .webp()
      .toBuffer();
    const tiff = await sharp(await png(8, 8))
      .tiff()
      .toBuffer();
    expect(nativeDecodeRefusal(webp)).toBe('native TF decode does not read WEBP');
    expect(nativeDecodeRefusal(tiff)).toBe('native TF decode does not read TIFF');
    expect(nativeDecodeRefusal(truncate(complete))).toBe('a truncated JPEG (no end-of-image marker)');
    expect(nativeDecodeRefusal(Buffer.from('hello'))).toBe('not a format native TF decode recognises');
  });
});

describe('the tensorflow decoder with a fake tfjs-node', () => {
  let fake: FakeNative;
  /** Bytes the fake was asked to decode. */
  let calls: Buffer[];
  /** Pixels the fake "libtensorflow" returns for bytes it accepts; it refuses the rest as TF does. */
  let decoded: Map<string, { shape: number[]; data: number[] }>;
  let images: Record<'jpeg' | 'png' | 'webp' | 'tiff' | 'truncated' | 'cmyk', Buffer>;

  beforeAll(async () => {
    const base = await jpeg(320, 240);
    images = {
      jpeg: base,
      png: await png(20, 10, 'rgba'),
      webp: await sharp(base).webp({ quality: 90 }).toBuffer(),
      tiff: await sharp(base).tiff().toBuffer(),
      truncated: truncate(base),
      // A complete JPEG the fake refuses, standing in for anything libtensorflow cannot take.
      cmyk: await sharp(base).jpeg({ quality: 70 }).toBuffer(),
    };
    decoded = new Map();
    for (const key of ['jpeg', 'png'] as const)
      decoded.set(images[key].toString('base64'), await sharpPixels(images[key]));
  });

  beforeEach(async () => {
    calls = [];
    fake = fakeNative({
      gpu: true,
      decodeImage: (bytes, channels, dtype, expandAnimations) => {
        calls.push(Buffer.from(bytes));
        expect([channels, dtype, expandAnimations]).toEqual([3, 'int32', false]);
        const hit = decoded.get(Buffer.from(bytes).toString('base64'));
        if (!hit) throw new Error('Invalid JPEG data or crop window.'); // libtensorflow's words
        return tf.tensor3d(hit.data, hit.shape as [number, number, number], 'int32');
      },
    });
    await initBackend('auto', { load: fake.load });
  });
  afterEach(async () => {
    await initBackend('cpu');
    fake.remove();
  });

  it('is chosen in auto mode on the native backend', () => {
    expect(chooseDecoder('auto').name).toBe('tensorflow');
    expect(chooseDecoder('sharp').name).toBe('sharp');
  });

  it.each(['jpeg', 'png'] as const)('decodes %s natively', async (key) => {
    const out = await pixels(await chooseDecoder().decode(images[key]));
    expect(calls).toHaveLength(1);
    expect(out).toEqual(decoded.get(images[key].toString('base64')));
  });

  it.each(['webp', 'tiff', 'truncated'] as const)(
    'hands %s to sharp without calling native decode',
    async (key) => {
      const out = await pixels(await chooseDecoder().decode(images[key]));
      expect(calls).toHaveLength(0);
      expect(out).toEqual(await sharpPixels(images[key]));
    },
  );

  it('hands an image native decode throws on to sharp', async () => {
    const out = await pixels(await chooseDecoder().decode(images.cmyk));
    expect(calls).toHaveLength(1);
    expect(out).toEqual(await sharpPixels(images.cmyk));
  });

  it('names both decoders when neither can read the image', async () => {
    const garbage = Buffer.concat([
      Buffer.from([0xff, 0xd8, 0xff, 0xe0]),
      Buffer.alloc(64, 7),
      Buffer.from([0xff, 0xd9]),
    ]);
    const err = await chooseDecoder()
      .decode(garbage)
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as Error).message).toMatch(
      /^TensorFlow could not decode the image \(Invalid JPEG data or crop window\.\), nor could sharp: sharp could not decode the image: /,
    );
  });

  it('leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    for (const key of Object.keys(images) as (keyof typeof images)[])
      (await chooseDecoder().decode(images[key])).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
