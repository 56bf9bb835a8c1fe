/**
 * Turns rendered scenes into JPEG bytes and PipelineImages, exactly as the service would see them.
 */
import sharp from 'sharp';
import { createPipelineImage } from '../../src/images/bytes-image';
import { chooseDecoder } from '../../src/images/decode';
import type { PipelineImage } from '../../src/images/pipeline-image';
import { readImageHeader } from '../../src/images/sniff';

/** JPEG quality of the samples and of the training scenes. */
export const JPEG_QUALITY = 90;

export async function encodeJpeg(rgb: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), {
    raw: { width, height, channels: 3 },
  })
    .jpeg({ quality: JPEG_QUALITY, chromaSubsampling: '4:2:0' })
    .toBuffer();
}

/** A PipelineImage over JPEG bytes, decoded by sharp on first use. */
export function jpegImage(id: string, bytes: Uint8Array): PipelineImage {
  return createPipelineImage(
    { id, url: `file://${id}`, bytes, header: readImageHeader(bytes) },
    chooseDecoder('sharp'),
  );
}
