/**
 * Decodes image bytes into an RGB tensor `[H, W, 3]` (int32, 0..255), once per image; docs/memory.md says
 * what that costs.
 *
 * Decoder order in `auto`: native TF decode when tfjs-node(-gpu) is the backend (JPEG, PNG, GIF and BMP; the
 * rest goes to the next decoder), else sharp (libvips, shipped in its npm packages, about 80 ms for a 4K JPEG),
 * else jimp (pure JS, about 900 ms). EXIF orientation is never applied: Antenna crops the stored pixel grid with
 * our boxes (docs/antenna-protocol.md#downloading-images).
 */
import * as tf from '@tensorflow/tfjs';
import { nativeTf, tensorflowErrorMessage, type NativeTfModule } from '../tf/backend';
import { sniffFormat, type ImageFormat } from './sniff';

export type DecoderName = 'tensorflow' | 'sharp' | 'jimp';

/** Thrown when bytes that look like an image cannot be decoded. */
export class DecodeError extends Error {}

export interface ImageDecoder {
  readonly name: DecoderName;
  decode(bytes: Uint8Array): Promise<tf.Tensor3D>;
}

type SharpModule = typeof import('sharp');

let sharpModule: SharpModule | null | undefined;

/** sharp is an optionalDependency; returns null where it is not installed or fails to load. */
export function loadSharp(): SharpModule | null {
  if (sharpModule === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      sharpModule = require('sharp') as SharpModule;
    } catch {
      sharpModule = null;
    }
  }
  return sharpModule;
}

/** The part of tfjs-backend-wasm's public class used to fill a tensor in place. */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: 'int32'): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Int32Array;
}

/**
 * On wasm, allocates the int32 tensor in the wasm heap and writes the bytes straight into it. The generic
 * path below first builds an Int32Array in JS memory (12 B/px, 1.2 GB for a 100-megapixel image) only for
 * the backend to copy it into the heap; this skips that copy. Null on other backends.
 */
function wasmHeapTensor(rgb: Uint8Array, shape: [number, number, number]): tf.Tensor3D | null {
  if (tf.getBackend() !== 'wasm') return null;
  const backend = tf.backend() as unknown as Partial<WasmHeapBackend>;
  if (typeof backend.makeOutput !== 'function' || typeof backend.typedArrayFromHeap !== 'function')
    return null;
  const info = backend.makeOutput(shape, 'int32');
  const tensor = tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor3D;
  // A view on the heap, used before anything else can grow (and so move) the heap.
  backend.typedArrayFromHeap(info).set(rgb);
  return tensor;
}

/**
 * Interleaved RGB bytes → `[H, W, 3]` int32 tensor. int32 is the smallest dtype tfjs has for pixels (no uint8)
 * and what resizeBilinear and cropAndResize take; the bytes stay uint8 until this point.
 */
function rgbToTensor(rgb: Uint8Array, width: number, height: number): tf.Tensor3D {
  const shape: [number, number, number] = [height, width, 3];
  return wasmHeapTensor(rgb, shape) ?? tf.tensor3d(Int32Array.from(rgb), shape, 'int32');
}

const sharpDecoder: ImageDecoder = {
  name: 'sharp',
  async decode(bytes) {
    const sharp = loadSharp();
    if (!sharp) throw new DecodeError('sharp is not installed');
    try {
      // failOn 'none' tolerates truncated JPEGs like the reference (PIL); no rotate(): no EXIF orientation.
      const { data, info } = await sharp(bytes, { failOn: 'none', limitInputPixels: false })
        .removeAlpha()
        .toColourspace('srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
      if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
      return rgbToTensor(data, info.width, info.height);
    } catch (err) {
      throw new DecodeError(`sharp could not decode the image: ${(err as Error).message}`);
    }
  },
};

const jimpDecoder: ImageDecoder = {
  name: 'jimp',
  async decode(bytes) {
    try {
      // Loaded on first use: jimp is only the fallback, and its import costs ~100 ms.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { Jimp } = require('jimp') as typeof import('jimp');
      const img = await Jimp.fromBuffer(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      const { data, width, height } = img.bitmap; // RGBA
      const rgb = new Uint8Array(width * height * 3);
      for (let src = 0, dst = 0; dst < rgb.length; src += 4, dst += 3) {
        rgb[dst] = data[src];
        rgb[dst + 1] = data[src + 1];
        rgb[dst + 2] = data[src + 2];
      }
      return rgbToTensor(rgb, width, height);
    } catch (err) {
      throw new DecodeError(`jimp could not decode the image: ${(err as Error).message}`);
    }
  },
};

/** Formats `tf.node.decodeImage` takes (tfjs-node/src/image.ts getImageType); WebP and TIFF are not among them. */
const NATIVE_FORMATS: ReadonlySet<ImageFormat> = new Set(['jpeg', 'png', 'gif', 'bmp']);

/** True when the JPEG ends with its EOI marker (FF D9), ignoring trailing zero padding. */
function jpegComplete(bytes: Uint8Array): boolean {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return end >= 4 && bytes[end - 2] === 0xff && bytes[end - 1] === 0xd9;
}

/**
 * Whether native TF decode can take these bytes: JPEG, PNG, GIF or BMP, and for JPEG a complete file.
 * libtensorflow's DecodeJpeg refuses truncated JPEGs (tfjs-node never sets `try_recover_truncated`), which
 * sharp decodes like the reference (PIL) does. The reason is null when native decode fits.
 */
export function nativeDecodeRefusal(bytes: Uint8Array): string | null {
  const format = sniffFormat(bytes);
  if (format === null) return 'not a format native TF decode recognises';
  if (!NATIVE_FORMATS.has(format)) return `native TF decode does not read ${format.toUpperCase()}`;
  if (format === 'jpeg' && !jpegComplete(bytes)) return 'a truncated JPEG (no end-of-image marker)';
  return null;
}

/**
 * Native TF decode (`tf.node.decodeJpeg` with the accurate DCT, `decodeImage` for PNG, GIF and BMP) for what it
 * takes; `fallback` (sharp, else jimp) for WebP, TIFF, truncated JPEGs, and any image native decode throws on.
 */
function nativeDecoder(native: NativeTfModule, fallback: ImageDecoder): ImageDecoder {
  return {
    name: 'tensorflow',
    async decode(bytes) {
      if (nativeDecodeRefusal(bytes) !== null) return fallback.decode(bytes);
      let nativeError: string;
      try {
        // JPEG with libjpeg's accurate integer DCT, as PIL and sharp decode it: TF's default, INTEGER_FAST, moves
        // pixels by about one level on average (up to 8), enough to change which boxes a detector finds and so
        // to part from answers computed on PIL's pixels (ADC's, and models trained on them). channels=3 converts
        // grey and RGBA to RGB; expandAnimations=false keeps a GIF's first frame, 3-D.
        return sniffFormat(bytes) === 'jpeg'
          ? native.node.decodeJpeg(bytes, 3, 1, true, false, 1, 'INTEGER_ACCURATE')
          : (native.node.decodeImage(bytes, 3, 'int32', false) as tf.Tensor3D);
      } catch (err) {
        nativeError = tensorflowErrorMessage((err as Error).message);
      }
      try {
        return await fallback.decode(bytes);
      } catch (err) {
        throw new DecodeError(
          `TensorFlow could not decode the image (${nativeError}), nor could ${fallback.name}: ${(err as Error).message}`,
        );
      }
    },
  };
}

/**
 * Picks the decoder: `preference` wins when available, else native TF, sharp, jimp in that order. Native TF
 * hands what it cannot read to sharp (or jimp without sharp).
 */
export function chooseDecoder(preference: DecoderName | 'auto' = 'auto'): ImageDecoder {
  const native = nativeTf();
  const available: Record<DecoderName, boolean> = {
    tensorflow: native !== null,
    sharp: loadSharp() !== null,
    jimp: true,
  };
  if (preference !== 'auto' && !available[preference])
    throw new Error(`IMAGE_DECODER=${preference} is not available on this host`);
  const fallback = available.sharp ? sharpDecoder : jimpDecoder;
  if ((preference === 'auto' || preference === 'tensorflow') && native)
    return nativeDecoder(native, fallback);
  if (preference === 'jimp') return jimpDecoder;
  return fallback;
}
