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

const onNative = testBackend() === 'tensorflow';

/** `it`, or where `skip` is a reason, `it.skip` with `(SKIPPED: reason)` in the title (skip-reasons.js lists it). */
function itUnless(skip: string | null, title: string, fn: jest.ProvidesCallback, timeout?: number): void {
  if (skip === null) it(title, fn, timeout);
  else it.skip(`${title} (SKIPPED: ${skip})`, fn, timeout);
}

/**
 * A test about wasm itself (its heap, WASM_THREADS, restarting a crashed thread) that does not hold on
 * libtensorflow by design: skipped in the native tier, saying `why`.
 */
export function itOffNative(title: string, why: string, fn: jest.ProvidesCallback, timeout?: number): void {
  itUnless(onNative ? `${why}; TFJS_BACKEND=tensorflow` : null, title, fn, timeout);
}

/** A test of what only libtensorflow does, on the suite's backend: it runs in the native tier. */
export function itOnNative(title: string, fn: jest.ProvidesCallback, timeout?: number): void {
  itUnless(onNative ? null : 'native tier only: npm run native && npm run test:native', title, fn, timeout);
}

/** A test that starts the real native backend itself: it runs wherever `npm run native` has built it. */
export function itWithNative(title: string, fn: jest.ProvidesCallback, timeout?: number): void {
  itUnless(
    nativeBuilt() ? null : 'needs the native backend, which npm run native builds',
    title,
    fn,
    timeout,
  );
}
