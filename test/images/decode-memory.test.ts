/**
 * Decoding on wasm writes the pixels straight into the wasm heap (docs/memory.md): same tensor, no JS copy.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import sharp from 'sharp';
import { chooseDecoder } from '../../src/images/decode';
import { itOffNative } from '../helpers/backend';
import { jpeg } from '../helpers/images';

describe('decode on wasm', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  itOffNative(
    'the heap-written int32 tensor holds exactly the bytes sharp decodes, and is freed like any tensor',
    'about the wasm heap; native decode is checked in test/tf/native-decode.test.ts',
    async () => {
      const bytes = new Uint8Array(await jpeg(97, 61));
      const { data } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const before = tf.memory();
      const t = await chooseDecoder('sharp').decode(bytes);
      expect(t.shape).toEqual([61, 97, 3]);
      expect(t.dtype).toBe('int32');
      expect(tf.memory().numBytes - before.numBytes).toBe(97 * 61 * 3 * 4);
      expect(Array.from(t.dataSync())).toEqual(Array.from(data));
      // Ops read it like any tensor.
      const sum = tf.tidy(() => tf.sum(t).dataSync()[0]);
      expect(sum).toBe(data.reduce((a, b) => a + b, 0));
      t.dispose();
      expect(tf.memory().numTensors).toBe(before.numTensors);
      expect(tf.memory().numBytes).toBe(before.numBytes);
    },
  );
});
