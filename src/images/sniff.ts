/**
 * Identifies an image by its magic bytes and reads its size from the header, without decoding pixels.
 */
import { imageSize } from 'image-size';

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'bmp' | 'tiff';

export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
}

/** Thrown when bytes are not a supported image; `reason` is safe to show to clients. */
export class NotAnImageError extends Error {}

const startsWith = (b: Uint8Array, sig: number[], offset = 0): boolean =>
  b.length >= offset + sig.length && sig.every((v, i) => b[offset + i] === v);

/** Detects the format from magic bytes; null when none matches. */
export function sniffFormat(bytes: Uint8Array): ImageFormat | null {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(bytes, [0x52, 0x49, 0x46, 0x46]) && startsWith(bytes, [0x57, 0x45, 0x42, 0x50], 8))
    return 'webp';
  if (startsWith(bytes, [0x47, 0x49, 0x46, 0x38])) return 'gif';
  if (startsWith(bytes, [0x42, 0x4d])) return 'bmp';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a]))
    return 'tiff';
  return null;
}

/** Describes what non-image bytes look like, for error messages ("HTML", "JSON", "empty"). */
function describeNonImage(bytes: Uint8Array): string {
  if (bytes.length === 0) return 'an empty body';
  const head = Buffer.from(bytes.subarray(0, 256)).toString('utf8').trimStart().toLowerCase();
  if (head.startsWith('<!doctype html') || head.startsWith('<html')) return 'an HTML page';
  if (head.startsWith('<?xml') || head.startsWith('<')) return 'an XML/markup document';
  if (head.startsWith('{') || head.startsWith('[')) return 'a JSON document';
  return `unrecognised bytes (starting ${Buffer.from(bytes.subarray(0, 4)).toString('hex')})`;
}

/** Reads format and pixel size from the header. Throws NotAnImageError with a readable reason. */
export function readImageHeader(bytes: Uint8Array): ImageHeader {
  const format = sniffFormat(bytes);
  if (!format) {
    throw new NotAnImageError(
      `not a supported image (JPEG, PNG, WebP, GIF, BMP or TIFF): got ${describeNonImage(bytes)}`,
    );
  }
  let size: { width?: number; height?: number };
  try {
    size = imageSize(bytes);
  } catch (err) {
    throw new NotAnImageError(`${format.toUpperCase()} header is unreadable: ${(err as Error).message}`);
  }
  const { width, height } = size;
  if (!width || !height) throw new NotAnImageError(`${format.toUpperCase()} header has no pixel size`);
  return { format, width, height };
}
