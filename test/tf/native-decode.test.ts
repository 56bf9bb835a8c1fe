/**
 * Native decode on the real tfjs-node: libtensorflow reads only JPEG, PNG, GIF and BMP and refuses truncated
 * JPEGs, so WebP, TIFF, truncated JPEGs and whatever libtensorflow throws on go to sharp. JPEGs are decoded with
 * the accurate DCT and checked against TF-Python's `decode_jpeg(dct_method="INTEGER_ACCURATE")`
 * (test/fixtures/native/decode.json, scripts/export-native-fixtures.py) and against sharp, which decodes as PIL
 * does; lossless formats against sharp.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { chooseDecoder, DecodeError, nativeDecodeRefusal } from '../../src/images/decode';
import { initBackend, nativeTf } from '../../src/tf/backend';
import { itWithNative, nativeBuilt } from '../helpers/backend';
import { jpeg, png } from '../helpers/images';

const ROOT = path.join(__dirname, '..', '..');

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

describe('the tensorflow decoder on tfjs-node', () => {
  /** TF-Python's decode of a shipped sample: shape and SHA-256 of its uint8 pixels. */
  const reference = JSON.parse(
    fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'native', 'decode.json'), 'utf8'),
  ) as { image: string; shape: number[]; sha256: string };
  let images: Record<'png' | 'webp' | 'tiff' | 'truncated' | 'badCrc', Buffer>;
  let decodeImage: jest.SpyInstance;
  let decodeJpeg: jest.SpyInstance;

  beforeAll(async () => {
    const base = await jpeg(320, 240);
    const rgba = await png(20, 10, 'rgba');
    // A PNG whose IDAT checksum is wrong: libtensorflow refuses it ("Invalid PNG data"), sharp reads it.
    const badCrc = Buffer.from(rgba);
    const idat = badCrc.indexOf('IDAT');
    badCrc[idat + 4 + badCrc.readUInt32BE(idat - 4) + 3] ^= 0xff;
    images = {
      png: rgba,
      webp: await sharp(base).webp({ quality: 90 }).toBuffer(),
      tiff: await sharp(base).tiff().toBuffer(),
      truncated: truncate(base),
      badCrc,
    };
    if (nativeBuilt()) await initBackend('tensorflow');
  });
  beforeEach(() => {
    if (nativeBuilt()) {
      decodeImage = jest.spyOn(nativeTf()!.node, 'decodeImage');
      decodeJpeg = jest.spyOn(nativeTf()!.node, 'decodeJpeg');
    }
  });
  afterEach(() => {
    decodeImage?.mockRestore();
    decodeJpeg?.mockRestore();
  });

  itWithNative('is chosen in auto mode on the native backend', () => {
    expect(chooseDecoder('auto').name).toBe('tensorflow');
    expect(chooseDecoder('sharp').name).toBe('sharp');
  });

  itWithNative("decodes a JPEG to TF-Python's accurate-DCT decode_jpeg pixels, bit for bit", async () => {
    const bytes = fs.readFileSync(path.join(ROOT, reference.image));
    const t = await chooseDecoder().decode(bytes);
    expect(decodeJpeg).toHaveBeenCalledTimes(1);
    expect(decodeJpeg.mock.calls[0]?.[6]).toBe('INTEGER_ACCURATE');
    expect([t.shape, t.dtype]).toEqual([reference.shape, 'int32']);
    const pixels = Uint8Array.from(await t.data());
    t.dispose();
    expect(createHash('sha256').update(pixels).digest('hex')).toBe(reference.sha256);
  });

  itWithNative("decodes a 4K trap JPEG to exactly sharp's pixels, as PIL decodes it", async () => {
    const bytes = fs.readFileSync(path.join(ROOT, 'samples', 'trap-4k-1.jpg'));
    const t = await chooseDecoder().decode(bytes);
    const ours = Buffer.from(Uint8Array.from(await t.data()));
    t.dispose();
    const theirs = await sharp(bytes).raw().toBuffer();
    // Byte comparison of 26.5 M values; jest's deep equality would take minutes.
    expect([ours.length, ours.equals(theirs)]).toEqual([4096 * 2160 * 3, true]);
  });

  itWithNative("decodes an RGBA PNG natively to sharp's RGB pixels", async () => {
    const out = await pixels(await chooseDecoder().decode(images.png));
    expect(decodeImage).toHaveBeenCalledTimes(1);
    expect(out).toEqual(await sharpPixels(images.png));
  });

  for (const key of ['webp', 'tiff', 'truncated'] as const)
    itWithNative(`hands ${key} to sharp without calling native decode`, async () => {
      const out = await pixels(await chooseDecoder().decode(images[key]));
      expect(decodeImage).not.toHaveBeenCalled();
      expect(out).toEqual(await sharpPixels(images[key]));
    });

  itWithNative('hands an image libtensorflow refuses (a PNG with a bad checksum) to sharp', async () => {
    const out = await pixels(await chooseDecoder().decode(images.badCrc));
    expect(decodeImage).toHaveBeenCalledTimes(1);
    expect(decodeImage.mock.results[0]?.type).toBe('throw');
    expect(out).toEqual(await sharpPixels(images.badCrc));
  });

  itWithNative(
    "names both decoders, in libtensorflow's own words, when neither can read the image",
    async () => {
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
        /^TensorFlow could not decode the image \(jpeg::Uncompress failed\. Invalid JPEG data or crop window\.\), nor could sharp: sharp could not decode the image: /,
      );
    },
  );

  itWithNative('leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    for (const key of Object.keys(images) as (keyof typeof images)[])
      (await chooseDecoder().decode(images[key])).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
