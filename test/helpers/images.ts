/** Generated test images (sharp), so no test needs a file from the internet. */
import sharp from 'sharp';

/** A JPEG of the given size: light "sheet" with a dark blob, so it is not uniform. */
export async function jpeg(
  width: number,
  height: number,
  options: { exifOrientation?: number } = {},
): Promise<Buffer> {
  const blob = await sharp({
    create: {
      width: Math.max(1, width >> 3),
      height: Math.max(1, height >> 3),
      channels: 3,
      background: { r: 60, g: 40, b: 30 },
    },
  })
    .png()
    .toBuffer();
  let img = sharp({
    create: { width, height, channels: 3, background: { r: 235, g: 232, b: 220 } },
  }).composite([{ input: blob, left: width >> 2, top: height >> 2 }]);
  if (options.exifOrientation) img = img.withMetadata({ orientation: options.exifOrientation });
  return img.jpeg({ quality: 85 }).toBuffer();
}

export async function png(
  width: number,
  height: number,
  mode: 'rgb' | 'grey' | 'rgba' | 'palette' = 'rgb',
): Promise<Buffer> {
  const channels = mode === 'rgba' ? 4 : 3;
  let img = sharp({ create: { width, height, channels, background: { r: 200, g: 120, b: 40, alpha: 0.5 } } });
  if (mode === 'grey') img = img.greyscale();
  return img.png({ palette: mode === 'palette' }).toBuffer();
}

export const dataUrl = (mime: string, bytes: Buffer): string =>
  `data:${mime};base64,${bytes.toString('base64')}`;

/** Raw RGB pixels (row-major, 3 bytes each) as a PNG: lossless, so the service decodes the exact pixels a reference saw. */
export async function rgbPng(rgb: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(Buffer.from(rgb), { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}
