import sharp from 'sharp';
import { renderScene } from '../scripts/synthetic/scene';
async function main() {
  const t0 = Date.now();
  const s = renderScene({ width: 4096, height: 2160, seed: 7, insects: 20, leaves: 5, twigs: 4, specks: 120, shadows: 4, insectSize: [60, 400], clutterSize: [120, 450] });
  const t1 = Date.now();
  const jpg = await sharp(Buffer.from(s.rgb), { raw: { width: s.width, height: s.height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
  console.log('render ms', t1 - t0, 'encode ms', Date.now() - t1, 'bytes', jpg.length, 'objects', s.objects.length);
  await sharp(jpg).resize(1600).toFile('scratch/render1_small.png');
  await sharp(jpg).extract({ left: 0, top: 0, width: 1400, height: 900 }).toFile('scratch/render1_crop.png');
}
void main();
