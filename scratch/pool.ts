import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
async function main() {
  await tf.setBackend("cpu");
  const x0 = tf.randomUniform([1, 20, 30, 1], 0, 1, 'float32', 1);
  const xs = await x0.array();
  const res: Record<string, number[]> = {};
  for (const b of ['cpu', 'wasm']) {
    await tf.setBackend(b);
    const x = tf.tensor(xs);
    res[b] = Array.from(tf.avgPool(x as tf.Tensor4D, [5, 3], 1, 'same').dataSync());
  }
  let d = 0; for (let i = 0; i < res.cpu.length; i++) d = Math.max(d, Math.abs(res.cpu[i] - res.wasm[i]));
  console.log('maxdiff cpu vs wasm same-pad', d, res.cpu[0], res.wasm[0]);
  await tf.setBackend('wasm');
  const big = tf.randomUniform([1, 288, 512, 1]) as tf.Tensor4D;
  for (const k of [[7, 7], [15, 15], [21, 31], [1, 31], [31, 1]]) {
    tf.avgPool(big, k as [number, number], 1, 'same').dispose();
    const t0 = Date.now();
    for (let i = 0; i < 10; i++) tf.avgPool(big, k as [number, number], 1, 'same').dispose();
    console.log(k, (Date.now() - t0) / 10, 'ms');
  }
  const big4 = tf.randomUniform([1, 288, 512, 16]) as tf.Tensor4D;
  for (const k of [[7, 7], [1, 15], [15, 1]]) {
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) tf.avgPool(big4, k as [number, number], 1, 'same').dispose();
    console.log('16ch', k, (Date.now() - t0) / 5, 'ms');
  }
}
void main();
