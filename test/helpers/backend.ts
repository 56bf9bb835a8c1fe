/**
 * Which TensorFlow.js backend the model-facing suites run on. `npm test` runs them on wasm, the backend every
 * machine has; CI's native tier runs the same suites again with TFJS_BACKEND=tensorflow once `npm run native`
 * has built tfjs-node, so every expectation is checked on libtensorflow too.
 */
import * as fs from 'fs';
import { initBackend, nativeAddonPath, type BackendChoice } from '../../src/tf/backend';

export type TestBackend = 'wasm' | 'tensorflow' | 'cpu';

/** TFJS_BACKEND when it names one backend, else wasm. */
export function testBackend(): TestBackend {
  const b = process.env.TFJS_BACKEND;
  return b === 'tensorflow' || b === 'cpu' ? b : 'wasm';
}

/** Initialises the suite's backend (see testBackend). */
export function initTestBackend(): Promise<BackendChoice> {
  return initBackend(testBackend());
}

/** True when `npm run native` has built tfjs-node's addon in this checkout, so `auto` chooses libtensorflow. */
export function nativeBuilt(): boolean {
  const addon = nativeAddonPath('@tensorflow/tfjs-node');
  return addon !== null && fs.existsSync(addon);
}

/** A test title with the reason it is skipped where `npm run native` has built tfjs-node. */
export function withoutNative(title: string): string {
  return nativeBuilt()
    ? `${title} (SKIPPED: npm run native built tfjs-node here; this needs a host without it)`
    : title;
}
